#!/usr/bin/env bash
# Runs heartmula-gen with the tuning environment for the device it will use, passing every
# argument on. The device is taken from --device / --mula-device (default: auto).
#   scripts/run_optimized.sh --lyrics song.txt --tags "pop" -o song.mp3
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${HEARTMULA_GEN:-$here/build/tools/heartmula-gen}"
[ -x "$bin" ] || { echo "run_optimized.sh: $bin not found; build first (see README.md)" >&2; exit 1; }

device=auto
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --device|--mula-device|--mula_device) device="${args[$((i + 1))]:-auto}" ;;
    --device=*|--mula-device=*|--mula_device=*) device="${args[$i]#*=}" ;;
  esac
done
if [ "$device" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda
  elif [ -e /dev/dri/renderD128 ] && command -v sycl-ls >/dev/null 2>&1; then device=xpu
  else device=cpu; fi
fi

case "$device" in
  xpu*)
    # Level Zero immediate command lists: lower launch latency for the many small per-frame kernels.
    export SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS=${SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS:-1}
    export UR_L0_USE_IMMEDIATE_COMMANDLISTS=${UR_L0_USE_IMMEDIATE_COMMANDLISTS:-1}
    # Persistent JIT kernel cache: the second run skips kernel compilation.
    export SYCL_CACHE_PERSISTENT=${SYCL_CACHE_PERSISTENT:-1}
    export SYCL_CACHE_DIR=${SYCL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/heartmula-sycl}
    mkdir -p "$SYCL_CACHE_DIR"
    ;;
  cpu)
    cores=$(nproc)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$cores}
    export OMP_PROC_BIND=${OMP_PROC_BIND:-close}
    export OMP_PLACES=${OMP_PLACES:-cores}
    ;;
  cuda*)
    # Expandable segments keep the caching allocator from fragmenting across the LM and codec.
    export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
    export CUDA_MODULE_LOADING=${CUDA_MODULE_LOADING:-LAZY}
    ;;
esac
exec "$bin" "$@"
