"""A quiet start: TensorFlow's start-up chatter kept off a user's terminal.

TensorFlow writes lines such as ``E0000 ... failed call to cuInit`` and
``I0000 ... cudart_stub.cc ... Could not find cuda drivers`` straight to file
descriptor 2 from C++ while it loads and finds its devices, before any Python
logging setting applies (``TF_CPP_MIN_LOG_LEVEL`` does not silence them). On a CPU
machine they are expected, not problems. :func:`import_tensorflow` loads
TensorFlow and looks for GPUs with descriptor 2 captured, then writes back every
captured line that is not such chatter, so real errors still show.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# Start-up lines that say nothing is wrong: no CUDA driver on a CPU machine, the CPU
# instruction sets the wheel was built for, oneDNN's banner, the duplicate-registration
# notices of CUDA plugins.
CHATTER = re.compile(
    r"absl::InitializeLog\(\)|cudart_stub\.cc|cuda_platform\.cc|failed call to cuInit|"
    r"cpu_feature_guard\.cc|rebuild TensorFlow with the appropriate compiler flags|"
    r"oneDNN custom operations are on|Unable to register cu(DNN|BLAS|FFT) factory|"
    r"computation_placer\.cc")


def import_tensorflow() -> None:
    """Imports TensorFlow and initializes its devices without its start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Python-side INFO and WARNING
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not CHATTER.search(line):
                    print(line, file=sys.stderr)
