"""Several replicas on one machine: two logical CPU devices under MirroredStrategy, as
a machine of two GPUs runs (the command line's mirrored strategy takes the GPUs)."""

import json
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from engine import distribute, loop
    from layers.errors import UsageError

    rng = np.random.default_rng(0)
    x, y = rng.random((24, 8), np.float32), rng.integers(0, 3, 24)

    def trained(strategy, steps_per_execution):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
            model.compile(keras.optimizers.SGD(0.1),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            # 3 batches of 8: calls of 2 steps and of 1.
            loop.fit(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=2,
                     verbose=0, steps_per_execution=steps_per_execution)
            return model.get_weights()

    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one = trained(tf.distribute.get_strategy(), 1)
    result = {"difference": max(float(np.abs(a - b).max())
                                for a, b in zip(one, trained(two, 2)))}
    try:
        distribute.check_batch(two, 1, "mirrored")
    except UsageError as error:
        result["refusal"] = str(error)
    print(json.dumps(result))
""")


def test_two_replicas_run_several_steps_per_call_and_refuse_a_batch_smaller_than_them():
    # A call of several steps failed on two replicas ("You must feed a value for
    # placeholder tensor"), and a batch of 1 on two replicas made a NaN loss, told as a
    # divergence.
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["difference"] < 1e-6
    assert outcome["refusal"] == (
        "--batch_size=1 is smaller than the 2 replicas of --distribute=mirrored: a replica with "
        "no example would make the loss NaN; pass --batch_size=2 or more, or --distribute=none.")
