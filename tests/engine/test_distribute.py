"""Two workers on 127.0.0.1 train one model with MultiWorkerMirroredStrategy."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow
def test_two_workers_end_with_identical_weights_and_the_chief_writes_the_run(tmp_path):
    import keras

    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    model_dir = tmp_path / "run"
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), "--distribute=multi_worker", "--epochs=2",
             "--batch_size=64", f"--model_dir={model_dir}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]

    report = json.loads((model_dir / "report.json").read_text())
    assert report["hardware"]["distribute"] == "multi_worker"
    assert report["hardware"]["replicas"] == 2
    assert (model_dir / "export" / "1" / "saved_model.pb").is_file()  # TF Serving's layout
    assert report["export_dir"] == str(model_dir / "export" / "1")
    assert not (model_dir / "worker-1" / "report.json").exists()
    assert "test accuracy" in outputs[0][0] and "test accuracy" not in outputs[1][0]

    chief = keras.saving.load_model(model_dir / "model.keras", safe_mode=True)
    other = keras.saving.load_model(model_dir / "worker-1" / "model.keras", safe_mode=True)
    for chief_weight, other_weight in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(chief_weight, other_weight)
    assert report["test_accuracy"] > 0.5


@pytest.mark.parametrize("distribute, ordered", [("none", False), ("mirrored", False),
                                                 ("multi_worker", True)])
def test_multi_worker_runs_keep_the_input_pipelines_order(distribute, ordered):
    # Each worker shards its own copy of the pipeline by element position: with parallel
    # maps free to reorder, two workers trained 111 of the digits' 1,293 images twice an
    # epoch and skipped 111 (a review's count).
    import recipes
    from engine import spec

    run = spec.resolve("lenet5_modern", recipes.get("lenet5_modern").training,
                       model_dir="unused", distribute=distribute)
    assert run.data.deterministic is ordered and run.deterministic is False
