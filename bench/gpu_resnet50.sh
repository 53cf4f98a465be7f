#!/usr/bin/env bash
# ResNet-50 at bf16 on one GPU, in one call: the recipe on Keras's JAX backend against
# torchvision's resnet50 (torch.compile, bf16 autocast), interleaved in one process, with
# the model FLOP utilization against the GPU's dense bf16 peak. torchvision's resnet50
# strides on the 3x3 convolutions, the layout of recipe resnet50_v1_5 (the default here;
# RECIPE=resnet50 times He et al.'s original, 6% fewer multiply-adds).
#
#   bash bench/gpu_resnet50.sh            # PEAK_TFLOPS=790
#
# 790 TFLOP/s is the issue's dense bf16 peak of the H200, as measured there; an H100 SXM
# has the same tensor cores (989 on paper for both): set PEAK_TFLOPS for another card.
# nvidia-smi names the card first, and the result line records the peak it divided by.
#
# The GPU machine has JAX and PyTorch but no TensorFlow, so the JAX path imports none.
# Nor has it Keras: `bash bench/gpu_deps.sh` unpacks Keras and the two packages it needs
# there into .gpu_deps/ (git-ignored), which the call carries and this puts on the path.
# Sized to about 5 minutes: compilation of both models, then 5 windows of 20 steps each.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .gpu_deps ]; then export PYTHONPATH="$PWD/.gpu_deps${PYTHONPATH:+:$PYTHONPATH}"; fi
export KERAS_BACKEND=jax  # Keras's default, TensorFlow, is not there
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
python3 -c "import jax, keras, torch, torchvision; print('jax', jax.__version__, jax.devices(), \
'keras', keras.__version__, 'torch', torch.__version__)"
python3 bench/throughput.py --backend=jax --recipe="${RECIPE:-resnet50_v1_5}" --baseline=torchvision \
  --precision=mixed_bfloat16 --batch_size="${BATCH_SIZE:-256}" --steps="${STEPS:-20}" \
  --windows="${WINDOWS:-5}" --warmup_steps=3 --peak_tflops="${PEAK_TFLOPS:-790}"
