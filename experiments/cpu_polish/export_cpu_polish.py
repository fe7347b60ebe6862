"""Ship DeblurNet^WILD from the CPU continuation runs of issue 15 (`runs/cpu_polish`), if one beats it.

    python experiments/cpu_polish/export_cpu_polish.py runs/cpu_polish

The runs continue the shipped DeblurNet^WILD (width 0.5, 4.8 GPU-minutes) on 2 CPU cores. Two ran
side by side, one thread each, same seed, same data and schedule: "sharp0.125" trains one item of
every batch of 8 on sharp -> sharp (a one-frame window), "control" does not. A third,
"sharp0.125_sym", ran alone afterwards with all the GPU run's symmetries. The shipped network's own
validation score is the runs' step-0 validation. A run replaces it only with a better best
validation gain; nothing here looks at the test split.

Writes experiments/cpu_polish/train_polish_<run>.csv, experiments/cpu_polish/polish_wild.md (the runs' gains and how much each
network changes the sharp validation frames) and, when a run wins, repro/weights/deblurnet_wild.{pt,json}.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from repro.evaluate.residuals import identity_psnr
from repro.core.checkpoint import load_model
from repro.io.datasets import PairedFolder
from repro.core.inference import load_deblurnet
from repro.io.provenance import provenance, provenance_line
from repro.train import export_weights, overrides, summarise_log

RUNS = ("sharp0.125", "control", "sharp0.125_sym")
SHIPPED = Path("repro/weights/deblurnet_wild.pt")
VAL = ("data/wild_cpu", "val")


def main(root: Path) -> None:
    import torch

    torch.set_num_threads(2)
    logs = {}
    for run in RUNS:
        src = root / run / "results" / f"train_polish_{run}.csv"
        logs[run] = Path("experiments/cpu_polish") / src.name
        shutil.copyfile(src, logs[run])
    summaries = {run: summarise_log(log) for run, log in logs.items()}
    shipped_gain = summaries[RUNS[0]]["gain at start"]  # every run validates the shipped weights at step 0
    assert all(abs(s["gain at start"] - shipped_gain) < 1e-6 for s in summaries.values()), "runs started apart"
    val = PairedFolder(*VAL)
    nets = {"shipped": load_deblurnet(SHIPPED, "cpu")}
    # a run whose best is its step 0 kept the shipped weights: they are measured once
    nets.update({run: load_deblurnet(root / run / "best.pt", "cpu") for run in RUNS if summaries[run]["best at step"]})
    nets.update({f"{run}/last": load_deblurnet(root / run / "last.pt", "cpu") for run in RUNS})
    ident = {name: identity_psnr(net, val, device="cpu") for name, net in nets.items()}
    ident.update({run: ident["shipped"] for run in RUNS if run not in ident})
    best_run = max(RUNS, key=lambda r: summaries[r]["best gain"])
    wins = summaries[best_run]["best gain"] > shipped_gain
    old = json.loads(SHIPPED.with_suffix(".json").read_text())

    rows = [("shipped before (gpu_w0.5_wild)", shipped_gain, old["steps"], ident["shipped"])]
    for r in RUNS:
        rows.append((f"polish_{r}, best checkpoint", summaries[r]["best gain"], summaries[r]["best at step"], ident[r]))
        rows.append((f"polish_{r}, last (learning rate annealed to 0)", summaries[r]["last gain"], summaries[r]["steps"],
                     ident[f"{r}/last"]))
    lines = ["# DeblurNet^WILD continued on the CPU: sharp -> sharp items against a control", "",
             "Every run starts from the shipped DeblurNet^WILD and trains on data/wild_cpu (1600 training pairs), "
             "batch 8 of 96x96 crops, warm-up and a cosine learning rate to 0, seed 0.",
             "",
             "- `sharp0.125` and `control`: side by side on the 2 cores (one thread each), 1500 steps, learning rate "
             "2e-4, horizontal flips only (the fast preset's; the shipped GPU run also had quarter turns and colour "
             "permutations). They differ in one setting: `sharp_fraction` 0.125 (one item of each batch is its own "
             "sharp crop, target = input) or 0.",
             "- `sharp0.125_sym`: afterwards, alone on the 2 cores, at most 1000 steps or 38 minutes, learning rate "
             "1e-4, all 8 symmetries and colour permutations (as the GPU run), `sharp_fraction` 0.125.",
             "",
             "| network | best val gain (dB) | at step | identity PSNR on val sharp frames, median (dB) | min (dB) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {gain:+.3f} | {step} | {np.median(p):.2f} | {np.min(p):.2f} |"
              for name, gain, step, p in rows]
    lines += ["", "- val gain: mean PSNR gain over the blurry input on data/wild_cpu's 48 validation pairs "
              f"(input {summaries[RUNS[0]]['val input dB']:.2f} dB); the best checkpoint of each run is kept",
              "- identity PSNR: the network run on the 48 *sharp* validation frames, against those frames "
              "(inf = leaves a sharp image untouched): how much it invents where there is no blur",
              f"- decision (validation only): {'polish_' + best_run + ' replaces the shipped weights' if wins else 'the shipped weights stay'}",
              "- the test split's gains are in results/table2.md (made afterwards by `make reproduce`)", "",
              f"_Made by: {provenance_line(provenance(device='cpu', seed=0, script='experiments/cpu_polish/export_cpu_polish.py'))}_",
              ""]
    Path("experiments/cpu_polish/polish_wild.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if not wins:
        return
    s = summaries[best_run]
    _, meta = load_model(root / best_run / "best.pt")
    cfg = meta["train_config"]
    # the run's command: its preset and every setting it changed (init: the weights shipped at 4ffa49a)
    threads = 2 if best_run.endswith("_sym") else 1
    command = (f"python -m repro train --preset fast --data wild --data-root data/wild_cpu --out runs/cpu_polish/{best_run} "
               f"--seed 0 --threads {threads} --run polish_{best_run} --results runs/cpu_polish/{best_run}/results "
               + " ".join(f"--set {o.split(' (preset')[0]}" for o in overrides(cfg)))
    export_weights(root / best_run / "best.pt", SHIPPED, half=True, command=command,
                   exported_from=(f"runs/cpu_polish/{best_run}/best.pt (best validation PSNR, step {s['best at step']}; "
                                  "chosen on the validation split, never on test)"),
                   final_psnr=meta["best_psnr"], minutes=s["minutes"], seconds_per_step=s["s/step"],
                   device=("cpu (2 cores, x86_64)" if threads == 2 else
                           "cpu (2 cores, x86_64; two runs side by side, one thread each)"), run=f"polish_{best_run}",
                   data_build="data/wild_cpu: python -m repro build-wild virtual data/wild_cpu (camera v3, 1600 train "
                              "and 48 validation pairs; the validation pairs of every run)",
                   training_log=str(logs[best_run]), earlier_logs=["results/training_logs/train_gpu_w0.5_wild.csv"],
                   init_weights="repro/weights/deblurnet_wild.pt of commit 4ffa49a (git show 4ffa49a:repro/weights/deblurnet_wild.pt)",
                   continued_from={k: old.get(k) for k in ("run", "command", "device", "minutes", "steps", "data_build",
                                                            "training_log", "best_psnr")},
                   selection=(f"best validation gain among {{shipped: {shipped_gain:.3f}, "
                              + ", ".join(f"polish_{r}: {summaries[r]['best gain']:.3f}" for r in RUNS)
                              + "} (experiments/cpu_polish/polish_wild.md)"),
                   identity_psnr_val_median=float(np.median(ident[best_run])),
                   run_departures=[
                       "width 0.5 instead of 1; batch 8 of 96x96 crops (the paper: batch 10)",
                       ("augmentation: the 8 flips and quarter turns of the crop and permuted colour channels"
                        if cfg.get("rotate") else "augmentation: horizontal flips"),
                       "trained in two parts: 4.8 minutes on a GPU from scratch (continued_from), then on 2 CPU cores "
                       f"from those weights, learning rate {cfg['lr']:g}, cosine to 0",
                   ] + (["one item of every batch of 8 is a one-frame window (sharp -> sharp): the paper averages "
                         "7 or more frames; without it the network sharpens sharp images too"]
                        if cfg.get("sharp_fraction") else []))
    print("shipped", best_run)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
