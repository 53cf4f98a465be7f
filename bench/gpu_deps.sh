#!/usr/bin/env bash
# Unpacks into .gpu_deps/ (git-ignored) what bench/gpu_resnet50.sh needs on the GPU machine
# and the machine lacks: Keras and the two packages of Keras's that its image does not hold
# (namex, optree). That machine has JAX, PyTorch, NumPy, absl-py, h5py, ml-dtypes, packaging
# and rich, runs Python 3.12 on x86-64 Linux and reaches no package index, so the wheels are
# fetched here, for that platform, at the versions installed here.
#
#   bash bench/gpu_deps.sh      # then carry .gpu_deps with the call that runs gpu_resnet50.sh
#
# PYTHON_VERSION (default 3.12) names the GPU machine's Python (its `python3`, which holds PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
version() {
  python -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || {
    echo "bench/gpu_deps.sh: $1 is not installed in this Python; install the project first" \
         "(pip install -e .)." >&2
    return 2
  }
}
keras=$(version keras)
namex=$(version namex)
optree=$(version optree)
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
python -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version "${PYTHON_VERSION:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d "$wheels" \
  "keras==$keras" "namex==$namex" "optree==$optree"
# Unpacked beside the wheels first, so a failure leaves any earlier .gpu_deps as it was.
for wheel in "$wheels"/*.whl; do python -m zipfile -e "$wheel" "$wheels/unpacked"; done
rm -rf .gpu_deps
mv "$wheels/unpacked" .gpu_deps
echo "unpacked into .gpu_deps: $(cd "$wheels" && ls -- *.whl) ($(du -sh .gpu_deps | cut -f1))"
