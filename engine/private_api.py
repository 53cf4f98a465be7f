"""The private Keras and TensorFlow API the engine cannot do without, in one place.

Neither has a public way to do these things; each function below wraps one
private name, and ``tests/engine/test_private_api.py`` fails loudly when an
upgrade changes it.

* ``BackupAndRestore`` tells ``fit`` which epoch to resume from by setting
  ``model._initial_epoch`` in ``on_train_begin`` (Keras's own trainers read it
  and never reset it).
* An optimizer's ``update_step`` receives backend variables, which match the
  model's variables only through the optimizer's ``_var_key``.
* TensorFlow can turn op determinism on (``tf.config.experimental.enable_op_determinism``)
  but has no public way to turn it off again, which a process that runs a
  deterministic run and then another needs.
"""

from __future__ import annotations

import keras


def restored_epoch(model: keras.Model) -> int | None:
    """The epoch ``BackupAndRestore`` restored ``model`` to, or None if it restored none."""
    return getattr(model, "_initial_epoch", None)


def forget_restored_epoch(model: keras.Model) -> None:
    """Clears what an earlier ``BackupAndRestore`` left on ``model`` (before a new fit)."""
    model._initial_epoch = None


def variable_key(optimizer: keras.optimizers.Optimizer, variable) -> str:
    """The key ``optimizer`` files ``variable`` (or the backend variable ``update_step``
    receives for it) under."""
    return optimizer._var_key(variable)


def set_op_determinism(enabled: bool) -> None:
    """Turns TensorFlow's op determinism on or off."""
    from tensorflow.python.framework import config

    (config.enable_op_determinism if enabled else config.disable_op_determinism)()


def op_determinism() -> bool:
    """Whether TensorFlow's op determinism is on."""
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()
