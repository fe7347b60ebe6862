#!/usr/bin/env bash
# Train the shipped pair (DeblurNet^WILD and DeblurNet^SI, width 0.25, preset "fast") side by side
# on one GPU for the same wall-clock budget, and export each run's FINAL checkpoint (last.pt, not
# the one with the best test-split PSNR: choosing by the test split would tune on it).
#   OUT=/tmp/o TRAIN_MIN=2.3 bash experiments/first_gpu_camera/gpu_ship.sh   ->  $OUT/deblurnet_{wild,si}.{pt,json}, $OUT/ship.tgz
set -uo pipefail
O=${OUT:-$PWD/gpu_out}
W=${W:-/tmp/gpu_ship}
PY=${PY:-python3}
TRAIN_MIN=${TRAIN_MIN:-2.3}
mkdir -p "$O" "$W"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
OUT="$W/t" PY=$PY TRAIN_MIN=$TRAIN_MIN TRAIN_PAIRS=${TRAIN_PAIRS:-600} TEST_PAIRS=${TEST_PAIRS:-96} KEEP_CKPT=1 \
  RUNS="fast:wild:0.25 fast:si:0.25" SHIP=fast:0.25 bash experiments/first_gpu_camera/gpu_train.sh > "$W/train.log" 2>&1
tail -n 6 "$W/train.log"
$PY - "$W/t" "$O" "$TRAIN_MIN" <<'PYEOF'
import json, sys
from pathlib import Path
from repro.train import export_weights
src, dst, minutes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for data in ("wild", "si"):
    run = src / "runs" / f"gpu_fast_{data}_w0.25"
    summary = json.loads((run / "summary.json").read_text())
    export_weights(run / "last.pt", dst / f"deblurnet_{data}.pt", half=True,
                   command=f"TRAIN_MIN={minutes} bash experiments/first_gpu_camera/gpu_ship.sh  (on one GPU; = python -m repro train "
                           f"--preset fast --data {data} --set width=0.25 --max-minutes {minutes} --device cuda --seed 0 "
                           f"on build-wild virtual --split train --pairs 600 / --split test --pairs 96)",
                   exported_from="last.pt (final weights; not selected on the test split)",
                   final_psnr=summary["final_psnr"], minutes=summary["minutes"],
                   seconds_per_step=summary["seconds_per_step"], peak_memory_mb=summary["peak_memory_mb"],
                   device="NVIDIA GPU (see env.txt in ship.tgz)",
                   note="trained concurrently with the other model of the pair on the same GPU")
    print(data, summary["steps"], "steps, final", summary["final_psnr"], "input", summary["input_psnr"])
PYEOF
tar czf "$O/ship.tgz" --exclude='*.pt' -C "$W/t" . && ls -la "$O"
