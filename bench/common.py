"""What the benchmark scripts share: the machine they ran on, medians, JSON lines.

Imports ``keras`` and the standard library only, so ``bench/throughput.py
--backend=jax`` can use it without TensorFlow. The scripts print one JSON object
per line; the last line is the result.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import re
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGURES = ROOT / "bench" / "figures"
SHARED_TFDS = ROOT.parent / "shared" / "tfds"  # the prepared datasets beside the checkout


def emit(record: dict) -> None:
    """Prints ``record`` as one JSON line (strict JSON: non-finite numbers, at any depth,
    are null)."""
    from engine.rundir import strict

    print(json.dumps(strict(record), allow_nan=False), flush=True)


SHOWN_VALUE = 24  # characters of a setting in a file name; a longer one is cut and hashed


def variant_stem(base: str, names: tuple[str, ...]) -> str:
    """``base``, then ``<flag><value>`` for each of the absl flags ``names`` given another
    value than its default (``initialization_seed1``): the file name of a variant of
    README's command, which then does not overwrite README's figure. A value that holds
    other characters than letters, digits and ``.+-`` (a folder's path), or is long, is
    cut and followed by a hash of it, so that two values never share a name."""
    from absl import flags

    parts = [base]
    for name in names:
        flag = flags.FLAGS[name]
        if flag.value != flag.default:
            value = flag.value
            shown = "-".join(map(str, value)) if isinstance(value, list) \
                else f"{value:g}" if isinstance(value, float) else str(value)
            safe = re.sub(r"[^A-Za-z0-9.+-]+", "-", shown).strip("-")
            if safe != shown or len(safe) > SHOWN_VALUE:
                digest = hashlib.sha256(shown.encode()).hexdigest()[:8]
                safe = f"{safe[-SHOWN_VALUE:].strip('-')}-{digest}"
            parts.append(name + safe)
    return "_".join(parts)


def median(values) -> float:
    return float(statistics.median(values))


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device() -> str:
    """The device Keras trains on: the first GPU's name where there is one, else the CPU
    and its core count."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        first = jax.devices()[0]
        if first.platform != "cpu":
            return f"{first.platform.upper()}: {first.device_kind}"
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {cpu_name()}, {os.cpu_count()} cores"


def machine() -> dict:
    """The header line of every benchmark: when, where, with what."""
    import keras

    return {"date": datetime.date.today().isoformat(), "device": device(),
            "backend": keras.backend.backend(), "keras": keras.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(value, 2) for value in os.getloadavg()],
            "command": " ".join([pathlib.Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}


def prepared_or_skip(dataset: str, data_dir: str | None) -> bool:
    """Whether to go on with TFDS dataset ``dataset`` from ``data_dir``: where the script's
    default ``--data_dir`` (the shared folder) does not hold it, says so on stderr and as
    the last JSON line (a reproduction skips, it does not fail, on a machine without that
    folder). A ``--data_dir`` given on the command line is read, and refused in one
    sentence where it does not hold the dataset; so is a name TFDS does not register.
    The embedded ``digits``, ``synthetic`` and an image folder are always there."""
    from absl import flags

    from engine.data.sources import is_tfds
    from engine.data.tfds_source import check_name

    if not is_tfds(dataset):
        return True
    check_name(dataset)
    if flags.FLAGS["data_dir"].present or (
            data_dir and (pathlib.Path(data_dir) / dataset).is_dir()):
        return True
    reason = (f"skipped: the prepared TFDS dataset {dataset!r} is not in --data_dir={data_dir} "
              "(prepare it with train.py --dataset=... --data_dir=... --manual_dir=...)")
    print(reason, file=sys.stderr)
    emit({"skipped": reason})
    return False


# The scripts' flags that name a folder: a leading ``~`` is the user's home, as train.py
# reads its path flags (the shell leaves the ``~`` of ``--output_dir=~/figures`` alone).
PATH_FLAGS = ("data_dir", "output_dir", "work", "out")


def expand_path_flags() -> None:
    """Expands a leading ``~`` in the :data:`PATH_FLAGS` the running script defines."""
    from absl import flags

    for name in PATH_FLAGS:
        if name in flags.FLAGS and isinstance(flags.FLAGS[name].value, str):
            flags.FLAGS[name].value = os.path.expanduser(flags.FLAGS[name].value)


def run(main) -> None:
    """``absl.app.run(main)``, a caller's mistake (:class:`layers.UsageError`, a bad flag)
    printed as its one sentence with exit code 2, a failed run (:class:`layers.RunFailure`:
    a diverged loss) as its sentence with exit code 1, and ``--help`` ending in 0, as
    train.py does; ``~`` in the path flags expanded first."""
    from absl import app, flags

    from engine import command
    from engine.endings import FAILURE_EXIT, USAGE_EXIT
    from layers.errors import InputTooSmall, RunFailure, UsageError

    def guarded(argv):
        expand_path_flags()
        try:
            if len(argv) > 1:  # a value whose flag lost its '--', read as nothing by absl
                raise UsageError(f"unexpected arguments {' '.join(argv[1:])!r}; every option "
                                 "is a --flag (see --help).")
            main(argv)
        except UsageError as error:
            if isinstance(error, InputTooSmall) and "image_size" in flags.FLAGS:
                error = error.with_remedy("pass a larger --image_size")
            print(f"{command.program()}: error: {error}", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        except RunFailure as error:  # a diverged loss, damaged data: its sentence
            print(f"{command.program()}: error: {error}", file=sys.stderr)
            sys.exit(FAILURE_EXIT)

    command.launched()  # the script's own name in its messages
    app.run(guarded, flags_parser=command.parse_flags)


def recipe_and_training(name: str, batch_size: int | None = None):
    """The registered recipe ``name`` and its training configuration, with ``batch_size``
    in place of the recipe's where given."""
    import recipes

    recipe = recipes.get(name)
    config = recipe.training
    if batch_size:
        config = dataclasses.replace(config, batch_size=batch_size)
    return recipe, config
