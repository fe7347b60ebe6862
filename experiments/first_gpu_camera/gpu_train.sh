#!/usr/bin/env bash
# GPU training of DeblurNet^WILD and DeblurNet^SI for a fixed wall-clock budget (issue 10).
#
# Self-contained: builds a WILD dataset from the virtual 240 fps camera on the machine's CPU
# cores, then trains on the one GPU, several runs at once (full width = the paper, width 0.5,
# width 0.25; WILD and SI data), each for TRAIN_MIN minutes, and writes everything to $OUT:
#   $OUT/runs/<run>/{last.pt,best.pt,log.csv,summary.json}, $OUT/results/train_<run>.csv,
#   $OUT/figures/train_<run>.png, $OUT/weights/deblurnet_{wild,si}[_w*].pt + .json cards,
#   $OUT/ship/deblurnet_{wild,si}.pt+.json (the SHIP pair, to copy into repro/weights/),
#   $OUT/compare.json (val PSNR of every run on the WILD test split), $OUT/env.txt, $OUT/log.txt
# Total wall time ~ BUILD (about 2-3 min) + TRAIN_MIN + 0.5 min. Run from the repository root:
#   OUT=/tmp/out TRAIN_MIN=2.5 bash experiments/first_gpu_camera/gpu_train.sh
# Knobs (environment): OUT, PY, TRAIN_PAIRS, TEST_PAIRS, WORKERS, TRAIN_MIN, RUNS, DATA, DEVICE,
#   SKIP_BUILD=1 (use an existing DATA), KEEP_CKPT=1 (keep last.pt files).
# Dry run on a CPU: DEVICE=cpu SKIP_BUILD=1 DATA=some/wild RUNS="smoke:wild:0.0625 smoke:si:0.0625" TRAIN_MIN=0.05
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}
PY=${PY:-python3}
TRAIN_PAIRS=${TRAIN_PAIRS:-320}
TEST_PAIRS=${TEST_PAIRS:-96}     # ~12 clips: a 24-pair split holds only 4 clips (their blur sizes differ a lot)
WORKERS=${WORKERS:-$(nproc)}
TRAIN_MIN=${TRAIN_MIN:-2.5}
DATA=${DATA:-/tmp/wild_gpu}      # the dataset stays outside $OUT (not shipped back)
DEVICE=${DEVICE:-cuda}
# preset:data:width; "fast" = the paper's batch/crops/schedule with quick's fast start
RUNS=${RUNS:-"paper:wild:1.0 fast:wild:1.0 fast:wild:0.5 fast:si:0.5 fast:wild:0.25 fast:si:0.25"}
SHIP=${SHIP:-fast:0.25}            # preset:width of the pair copied to $OUT/ship/ (0.25: 3 MB each in fp16; 0.5: 12.4 MB each)
mkdir -p "$OUT"
export TRAIN_PAIRS TEST_PAIRS SHIP
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
exec > >(tee -a "$OUT/log.txt") 2>&1
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

{ nvidia-smi --query-gpu=name,memory.total --format=csv; nproc; $PY -c "import torch, sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
$PY -c "import repro.train, repro.wild, repro.io.datasets, repro.synthetic.kernels, cv2, skimage, scipy, tqdm" \
  || { echo "missing packages: install the project's dependencies (pip install -e .) first"; exit 3; }

# ---- 1. the WILD dataset (test split first: small; then train), on all CPU cores
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  stamp "building WILD test ($TEST_PAIRS pairs) and train ($TRAIN_PAIRS pairs) with $WORKERS workers"
  $PY -m repro build-wild virtual "$DATA" --split test --pairs "$TEST_PAIRS" --workers "$WORKERS" --no-progress || exit 4
  $PY -m repro build-wild virtual "$DATA" --split train --pairs "$TRAIN_PAIRS" --workers "$WORKERS" --no-progress || exit 4
fi
stamp "dataset built: $(find "$DATA/train" -name '*.png' -path '*blur*' | wc -l) train, $(find "$DATA/test" -name '*.png' -path '*blur*' | wc -l) test pairs"

# ---- 2. training runs, concurrently on the one GPU, each for TRAIN_MIN minutes of training
nruns=$(echo $RUNS | wc -w)
threads=$(( $(nproc) / nruns )); [ "$threads" -lt 1 ] && threads=1
pids=()
for spec in $RUNS; do
  IFS=: read -r preset data width <<< "$spec"
  run="gpu_${preset}_${data}_w${width}"
  # quick on a GPU: the quick recipe (zero-init, warm-up, mean loss) but batches as the paper
  extra=(--set "width=$width")
  $PY -m repro train --preset "$preset" --data "$data" --data-root "$DATA" --out "$OUT/runs/$run" \
      --run "$run" --results "$OUT/results" --figures "$OUT/figures" --device "$DEVICE" --seed 0 \
      --steps 1000000 --max-minutes "$TRAIN_MIN" --threads "$threads" --workers 4 "${extra[@]}" \
      > "$OUT/runs_$run.txt" 2>&1 &
  pids+=($!)
  stamp "started $run (pid $!)"
done
for p in "${pids[@]}"; do wait "$p" || echo "a run failed (pid $p): see $OUT/runs_*.txt"; done
stamp "training done"
nvidia-smi --query-gpu=memory.used --format=csv >> "$OUT/env.txt" 2>&1

# ---- 3. weights with cards (float16 copies of best.pt) and a comparison of every run
$PY - "$OUT" <<'PYEOF'
import json, os, shutil, sys
from pathlib import Path
from repro.train import export_weights
out = Path(sys.argv[1])
rows = []
for s in sorted(out.glob("runs/*/summary.json")):
    d = json.loads(s.read_text()); rows.append(d)
    run = s.parent.name
    parts = run.split("_")            # gpu_<preset>_<data>_w<width>
    preset, data, width = parts[1], parts[-2], parts[-1]
    cmd = (f"TRAIN_MIN={d['minutes']} bash experiments/first_gpu_camera/gpu_train.sh   # its run {run} = python -m repro train "
           f"--preset {preset} --data {data} --data-root <WILD> --out <DIR> --set width={width[1:]} --steps 1000000 "
           f"--max-minutes {d['minutes']} --device cuda --seed 0 (data: build-wild virtual <WILD> --split train "
           f"--pairs {os.environ.get('TRAIN_PAIRS')}; --split test --pairs {os.environ.get('TEST_PAIRS')})")
    export_weights(s.parent / "best.pt", out / "weights" / f"deblurnet_{preset}_{data}_{width}.pt", command=cmd, half=True,
                   device="GPU (see env.txt)", minutes=d["minutes"], seconds_per_step=d["seconds_per_step"],
                   peak_memory_mb=d["peak_memory_mb"], note="trained concurrently with the other runs of gpu_train.sh")
for d in rows:  # paths relative to $OUT, so the committed copy names no temporary folder
    for key in ("checkpoint", "best_checkpoint", "log_csv", "figure"):
        if d.get(key) and os.path.isabs(d[key]):
            d[key] = os.path.relpath(d[key], out)
(out / "compare.json").write_text(json.dumps(rows, indent=2))
ship_preset, ship_width = os.environ["SHIP"].split(":")
for data in ("wild", "si"):
    src = out / "weights" / f"deblurnet_{ship_preset}_{data}_w{ship_width}.pt"
    if src.exists():
        (out / "ship").mkdir(exist_ok=True)
        shutil.copyfile(src, out / "ship" / f"deblurnet_{data}.pt")
        shutil.copyfile(src.with_suffix(".json"), out / "ship" / f"deblurnet_{data}.json")
for d in rows:
    print(f"{d['run']:32s} steps {d['steps']:6d}  {d['seconds_per_step']*1000:7.1f} ms/step  "
          f"val {d['final_psnr']:.2f} (best {d['best_psnr']:.2f}) vs input {d['input_psnr']:.2f} dB  "
          f"gain {d['gain_db']:+.2f} dB  peak {d['peak_memory_mb']:.0f} MB")
PYEOF
# training checkpoints with optimizer state are large (full width: ~300 MB): keep only the small ones
[ "${KEEP_CKPT:-0}" = 1 ] || { rm -f "$OUT"/runs/*/last.pt; rm -f "$OUT"/runs/*_w1.0/best.pt; }
du -sh "$OUT"/weights/* "$OUT"/runs 2>/dev/null
stamp "all done"
