#!/usr/bin/env bash
# One lent-GPU session, everything that needs the accelerator in one call (issues 3, 5, 9, 10):
#   1. GPU benchmarks (benchmarks/run.py --gpu-only --quick), overlapping the CPU-only dataset build,
#   2. training runs (experiments/first_gpu_camera/gpu_train.sh: build WILD on all cores, then concurrent runs),
#   3. the renderer's CPU-vs-CUDA check and the CUDA kernel-blur test, during training.
# Writes at most 3 files to $OUT: the two shipped checkpoints and results.tgz with the rest.
#   OUT=/tmp/o TRAIN_MIN=3.5 TRAIN_PAIRS=1200 bash experiments/first_gpu_camera/gpu_session.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}
W=${W:-/tmp/gpu_session}
PY=${PY:-python3}
mkdir -p "$W" "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
stamp "start"; nvidia-smi -L
$PY benchmarks/run.py --gpu-only --quick --out "$W/bench" > "$W/bench.log" 2>&1 &
bench=$!
OUT="$W/train" PY=$PY TRAIN_MIN=${TRAIN_MIN:-3.5} TRAIN_PAIRS=${TRAIN_PAIRS:-1200} bash experiments/first_gpu_camera/gpu_train.sh > "$W/train.log" 2>&1 &
train=$!
wait $bench; stamp "benchmarks done (rc $?)"; tail -n 30 "$W/bench.log"
$PY benchmarks/camera.py "$W/render_gpu.json" > "$W/render_gpu.log" 2>&1; stamp "render check rc $?"
$PY -m pytest -q -p no:cacheprovider tests/test_kernels.py -k cuda > "$W/pytest_cuda.log" 2>&1; stamp "cuda pytest rc $?"
tail -n 3 "$W/pytest_cuda.log"
wait $train; stamp "training done (rc $?)"; tail -n 25 "$W/train.log"
cp "$W"/train/ship/deblurnet_wild.pt "$W"/train/ship/deblurnet_si.pt "$OUT"/ 2>/dev/null
tar czf "$OUT/results.tgz" --exclude='*.pt' -C "$W" . && ls -la "$OUT"
stamp "end"
