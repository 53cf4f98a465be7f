"""Distribution strategies and who writes what under them.

``--distribute=none`` runs on TensorFlow's default strategy (one device),
``mirrored`` on every local GPU (``tf.distribute.MirroredStrategy``) and
``multi_worker`` on several machines (``tf.distribute.MultiWorkerMirroredStrategy``,
the cluster described by the ``TF_CONFIG`` environment variable). The batch size is
global: each of the N replicas computes 1/N of every batch and the gradients are
summed, so a run gives the same updates whatever N is, wherever the batch divides by
N (Keras averages the replicas' mean losses, so in an epoch's last, partial batch
the examples of a smaller share weigh a little more); scale the learning rate
yourself if you also scale the batch (the linear scaling rule).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging

from layers.errors import UsageError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of :data:`engine.choices.DISTRIBUTE_MODES`);
    create it before any other TensorFlow work."""
    if name == "mirrored":
        if not tf.config.list_physical_devices("GPU"):
            logging.warning("--distribute=mirrored found no GPU: it runs on one CPU replica, "
                            "as --distribute=none would.")
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        tf_config()
        if not os.environ.get("TF_CONFIG"):
            raise UsageError(
                "--distribute=multi_worker needs the TF_CONFIG environment variable "
                "describing the cluster and this worker's task (see README).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def check_batch(strategy: tf.distribute.Strategy, batch_size: int, mode: str) -> None:
    """Refuses a global ``batch_size`` smaller than ``strategy``'s replicas, once the
    strategy is made (a mirrored strategy's count is the machine's GPUs): a replica left
    with no example makes the step's loss NaN, which would read as a divergence."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < replicas:
        raise UsageError(f"--batch_size={batch_size} is smaller than the {replicas} replicas of "
                         f"--distribute={mode}: a replica with no example would make the loss "
                         f"NaN; pass --batch_size={replicas} or more, or --distribute=none.")


def tf_config() -> dict:
    """The ``TF_CONFIG`` environment variable, parsed ({} where it is unset)."""
    text = os.environ.get("TF_CONFIG") or "{}"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"The TF_CONFIG environment variable is not valid JSON ({error}); "
                         "see README's distributed training for its form.") from None
    if not isinstance(config, dict) or not isinstance(config.get("task", {}), dict) \
            or not isinstance(config.get("cluster", {}), dict):
        raise UsageError("The TF_CONFIG environment variable must be a JSON object with "
                         "\"cluster\" and \"task\" objects; see README's distributed training.")
    return config


def task() -> tuple[str | None, int]:
    """This process's (task type, index) in TF_CONFIG; (None, 0) outside a cluster."""
    entry = tf_config().get("task") or {}
    return entry.get("type"), int(entry.get("index", 0))


def is_chief() -> bool:
    """True for the one process that writes the run: the chief, or worker 0 where the
    cluster names no chief, or the only process."""
    task_type, index = task()
    if task_type is None:
        return True
    cluster = tf_config().get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and index == 0


def worker_dir(model_dir: str) -> str:
    """Where this process keeps its state: ``model_dir`` for the chief, a private
    ``worker-<index>`` folder beside the chief's files for the others (every worker
    must save its backup for a resume; only the chief writes the run's results)."""
    if is_chief():
        return model_dir
    task_type, index = task()
    return os.path.join(model_dir, f"{task_type}-{index}")
