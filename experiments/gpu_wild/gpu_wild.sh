#!/usr/bin/env bash
# Issue 15's GPU recipe: everything in one call of about 9 minutes on one GPU.
#   1. a WILD training split from the virtual camera, built on all CPU cores for BUILD_MIN minutes
#      (at most PAIRS pairs; the build stops cleanly at the deadline: build-wild --max-minutes), and
#      beside it one filmed over DL_IMAGES dead-leaves images (at most DL_PAIRS pairs);
#   2. the runs below, side by side on the one GPU, each for TRAIN_MIN minutes of training (by
#      default what is left of DEADLINE after the build)
#      (bf16 autocast and channels_last on CUDA: TrainConfig's defaults), validated on VAL_ROOT's
#      validation split (carry data/wild_cpu: the 48 pairs every CPU run was chosen on);
#   3. every run's best-on-validation checkpoint exported as float16 weights with a card.
# $OUT receives the weights of the runs that fit the 16 MiB-per-file limit of what comes back
# (the full-width one, ~48 MB in float16, stays there: its log and card come back) and
# gpu_wild.tgz (logs, cards, summaries, build manifest, GPU load). Run from the repository root:
#   OUT=/tmp/o bash experiments/gpu_wild/gpu_wild.sh
# Dry run on a CPU (the numbers mean nothing; 1.5 minutes on 2 cores; the width stays 0.5, which
# the runs that start from the shipped weights need):
#   DEVICE=cpu BUILD_MIN=0.3 PAIRS=12 DL_PAIRS=8 DL_IMAGES=4 TRAIN_MIN=0.2 WORKERS=2 THREADS=1 \
#   EXTRA="--set crop=32 --set batch_size=2 --set val_images=2 --set val_every=5" \
#   OUT=/tmp/o W=/tmp/gw bash experiments/gpu_wild/gpu_wild.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}
W=${W:-/tmp/gpu_wild}
PY=${PY:-python3}
DATA=${DATA:-$W/wild}
VAL_ROOT=${VAL_ROOT:-data/wild_cpu}
BUILD_MIN=${BUILD_MIN:-2.2}
PAIRS=${PAIRS:-4000}
TRAIN_MIN=${TRAIN_MIN:-}        # default: what is left of DEADLINE seconds after the build, less RESERVE
DEADLINE=${DEADLINE:-575}       # the whole script's wall-time target (a device call may run 600 s)
RESERVE=${RESERVE:-130}         # data loading, validations, checkpoints and the export after training
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-$(nproc)}
THREADS=${THREADS:-3}
EXTRA=${EXTRA:-}
DL_IMAGES=${DL_IMAGES:-48}      # dead-leaves photos (python -m repro dead-leaves), filmed for @DL@
DL_PAIRS=${DL_PAIRS:-1500}      # at most this many dead-leaves training pairs (built beside the photos' pairs)
# name, preset, data, then options (the last --set of a key wins; EXTRA comes last); @DL@ is the
# dead-leaves training set. Issue 15's A/B at GPU scale: dead leaves or not, weight averaging or
# not, all with sharp -> sharp items, from scratch and from the shipped network.
WILD5="--set width=0.5 --set rotate=true --set permute_colours=true --set sharp_fraction=0.125"
RUNS=(
  "gpu5_w0.5_dl_ema fast wild $WILD5 --set ema_decay=0.999 --extra-root @DL@"
  "gpu5_w0.5_ema fast wild $WILD5 --set ema_decay=0.999"
  "gpu5_w0.5_dl fast wild $WILD5 --extra-root @DL@"
  "gpu5_w0.5_ft_dl_ema fast wild $WILD5 --set init=repro/weights/deblurnet_wild.pt --set lr=2e-4 --set warmup_steps=100 --set ema_decay=0.999 --extra-root @DL@"
  "gpu5_w0.5_ft_ema fast wild $WILD5 --set init=repro/weights/deblurnet_wild.pt --set lr=2e-4 --set warmup_steps=100 --set ema_decay=0.999"
)
mkdir -p "$W" "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
exec > >(tee -a "$W/log.txt") 2>&1
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; echo "cores $(nproc)"; echo "commit ${COMMIT:-$(git rev-parse HEAD 2>/dev/null)}"
  $PY -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$W/env.txt" 2>&1
cat "$W/env.txt"
$PY -c "import repro.train, repro.wild, cv2, skimage, sklearn, scipy, tqdm" || { echo "missing packages"; exit 3; }
[ -f "$VAL_ROOT/manifest.csv" ] || { echo "no validation set at $VAL_ROOT (carry it)"; exit 4; }
(nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 > "$W/gpu_load.csv" 2>/dev/null &)

# ---- 1. training pairs: the bundled photos' and the dead leaves', side by side on the cores
DL_DATA=$W/wild_dl
DL_WORKERS=$(( WORKERS / 3 > 0 ? WORKERS / 3 : 1 ))
stamp "building WILD train (<= $PAIRS pairs, <= $BUILD_MIN min, $WORKERS workers; dead leaves: $DL_WORKERS of them)"
( $PY -m repro dead-leaves "$W/deadleaves" --n "$DL_IMAGES" > "$W/deadleaves.log" 2>&1 &&
  $PY -m repro build-wild virtual "$DL_DATA" --split train --photos "$W/deadleaves" --pairs "$DL_PAIRS" \
      --workers "$DL_WORKERS" --max-minutes "$BUILD_MIN" --no-progress >> "$W/deadleaves.log" 2>&1 ) &
dl_pid=$!
$PY -m repro build-wild virtual "$DATA" --split train --pairs "$PAIRS" --workers $(( WORKERS - DL_WORKERS > 0 ? WORKERS - DL_WORKERS : 1 )) \
    --max-minutes "$BUILD_MIN" --no-progress || exit 5
wait "$dl_pid" || { echo "dead-leaves build failed: $W/deadleaves.log"; tail -5 "$W/deadleaves.log"; exit 5; }
cp "$DATA/manifest.csv" "$W/train_manifest.csv"
cp "$DL_DATA/manifest.csv" "$W/train_deadleaves_manifest.csv"
stamp "built: $(awk -F, 'NR>1 && $11==1' "$DATA/manifest.csv" | wc -l) accepted pairs of photos, $(awk -F, 'NR>1 && $11==1' "$DL_DATA/manifest.csv" | wc -l) of dead leaves"
[ -n "$TRAIN_MIN" ] || TRAIN_MIN=$(awk -v d="$DEADLINE" -v e="$(( $(date +%s) - t0 ))" -v r="$RESERVE" \
                                   'BEGIN { m = (d - e - r) / 60; printf "%.2f", (m < 0.5 ? 0.5 : m) }')
stamp "training for $TRAIN_MIN minutes"

# ---- 2. the runs, side by side
pids=()
for spec in "${RUNS[@]}"; do
  read -r run preset data sets <<< "$spec"
  sets=${sets//@DL@/$DL_DATA}
  # shellcheck disable=SC2086  # the --set options split on spaces on purpose
  $PY -m repro train --preset "$preset" --data "$data" --data-root "$DATA" --val-root "$VAL_ROOT" \
      --out "$W/runs/$run" --run "$run" --results "$W/results" --figures "$W/figures" --device "$DEVICE" \
      --seed 0 --steps 1000000 --max-minutes "$TRAIN_MIN" --threads "$THREADS" --workers 2 $sets $EXTRA \
      > "$W/$run.log" 2>&1 &
  pids+=($!)
  stamp "started $run ($preset, $data): $sets"
done
for p in "${pids[@]}"; do wait "$p" || echo "a run failed (pid $p): see $W/*.log"; done
stamp "training done"
nvidia-smi --query-gpu=memory.used --format=csv >> "$W/env.txt" 2>&1

# ---- 3. float16 weights with cards; the ones under 16 MiB go to $OUT
$PY - "$W" "$OUT" "$TRAIN_MIN" "$DEVICE" "${RUNS[@]}" <<'PYEOF'
import json, shutil, subprocess, sys
from pathlib import Path
from repro.train import export_weights, summarise_log
w, out, minutes, device, runs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.strip() or device
except OSError:
    gpu = device
for spec in runs:
    run, preset, data, *sets = spec.split()
    best = w / "runs" / run / "best.pt"
    if not best.exists():
        print(run, "has no best.pt"); continue
    s = summarise_log(w / "results" / f"train_{run}.csv")
    dest = w / "weights" / f"{run}.pt"
    export_weights(best, dest, half=True,
                   command=(f"bash experiments/gpu_wild/gpu_wild.sh (its run {run}: python -m repro train --preset {preset} "
                            f"--data {data} --data-root <WILD train> --val-root data/wild_cpu {' '.join(sets).replace('@DL@', '<dead-leaves WILD train>')} "
                            f"--steps 1000000 --max-minutes {minutes} --device cuda --seed 0)"),
                   exported_from=f"{run}/best.pt (best validation PSNR; chosen on the validation split, never on test)",
                   minutes=s["minutes"], seconds_per_step=s["s/step"], data_share_of_step=s["data share"],
                   device=f"{gpu} (shared by {len(runs)} runs at once)", run=run,
                   training_log=f"train_{run}.csv", note="trained side by side with the other runs of gpu_wild.sh")
    print(f"{run:20s} steps {s['steps']:6d}  {s['s/step'] * 1000:7.1f} ms/step  val gain best "
          f"{s['best gain']:+.2f} dB at step {s['best at step']}, last {s['last gain']:+.2f} dB "
          f"(input {s['val input dB']:.2f} dB)  data share {s['data share']}")
    if dest.stat().st_size < 15.5 * 2**20:
        shutil.copyfile(dest, out / dest.name)
PYEOF
pkill -f "nvidia-smi --query-gpu=timestamp" 2>/dev/null
tar czf "$OUT/gpu_wild.tgz" --exclude='*.pt' --exclude='wild' --exclude='wild_dl' --exclude='deadleaves' -C "$W" . && ls -la "$OUT"
stamp "all done"
