"""Issue 15: does training on dead-leaves footage help DeblurNet^WILD on photos it has not seen?

    python experiments/dead_leaves/export_deadleaves.py runs/dl/deadleaves_sym runs/cpu_polish/sharp0.125_sym

The first run continues the shipped DeblurNet^WILD on data/wild_cpu's 1600 training pairs plus
800 pairs filmed by the virtual camera over 48 dead-leaves images (``python -m repro
dead-leaves``); the second is its control, the same command without the dead leaves (issue 15's
``polish_sharp0.125_sym``). Both pick their best checkpoint on the 48 validation pairs.

Those 48 pairs cannot also judge between the runs: the shipped weights are the best of 28
validations of a curve that swings by +-0.3 dB, so their +1.59 dB there may carry the luck of
that draw (on the fresh pairs they kept +1.54 dB: most of it was not luck). The networks are therefore compared on **fresh validation pairs**
(data/wild_val2: 200 pairs of new clips of the validation photos, ``build-wild virtual
data/wild_val2 --split val --seed 1 --pairs 200``), which chose nothing. A run replaces the
shipped weights only if it beats them there. Nothing here reads the test split.

Writes experiments/dead_leaves/train_polish_deadleaves_sym.csv, experiments/dead_leaves/deadleaves_wild.md and, if the run wins,
repro/weights/deblurnet_wild.{pt,json}.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fresh_validation"))
from fresh_val import measure, paired  # noqa: E402  (experiments/fresh_validation/fresh_val.py: the fresh validation pairs)

from repro.core.checkpoint import load_model
from repro.io.provenance import provenance, provenance_line
from repro.train import export_weights, overrides, summarise_log

SHIPPED = Path("repro/weights/deblurnet_wild.pt")
LOG = Path("experiments/dead_leaves/train_polish_deadleaves_sym.csv")


def main(run: Path, control: Path) -> None:
    shutil.copyfile(run / "results" / LOG.name, LOG)
    s_run = summarise_log(LOG)
    s_ctl = summarise_log(control / "log.csv")
    nets = {"shipped": SHIPPED, "dead leaves, best": run / "best.pt", "dead leaves, last": run / "last.pt",
            "control, last": control / "last.pt"}
    if s_ctl["best at step"]:
        nets["control, best"] = control / "best.pt"
    gains, ident, inputs = measure(nets)
    candidates = [n for n in nets if n.startswith("dead leaves")]
    best = max(candidates, key=lambda n: gains[n]["fresh"].mean())
    wins = gains[best]["fresh"].mean() > gains["shipped"]["fresh"].mean()

    lines = ["# DeblurNet^WILD continued with dead-leaves footage, against the same run without it", "",
             "Both runs continue the shipped DeblurNet^WILD on 2 CPU cores for at most 1000 steps or 38 minutes: "
             "batch 8 of 96x96 crops, learning rate 1e-4 (warm-up 50 steps, cosine to 0), all 8 symmetries and "
             "colour permutations, one item in 8 a sharp -> sharp window, seed 0. "
             "The dead-leaves run draws from 2400 training pairs: data/wild_cpu's "
             "1600 and 800 filmed over 48 dead-leaves images (`python -m repro dead-leaves data/deadleaves --n 48`, "
             "`build-wild virtual data/wild_dl --split train --photos data/deadleaves --pairs 800`); the control "
             "(`polish_sharp0.125_sym`) draws from the 1600 alone.", "",
             "| network | steps | val gain (48 pairs, chose the checkpoints) | fresh val gain (200 new pairs) | "
             "identity PSNR, median (dB) |",
             "|---|---|---|---|---|"]
    steps = {"shipped": "4750 (GPU)", "dead leaves, best": s_run["best at step"], "dead leaves, last": s_run["steps"],
             "control, best": s_ctl["best at step"], "control, last": s_ctl["steps"]}
    for name in nets:
        g = gains[name]
        lines.append(f"| {name} | {steps[name]} | {g['val'].mean():+.3f} | {g['fresh'].mean():+.3f} | "
                     f"{np.median(ident[name]):.2f} |")
    lines += ["",
              f"- paired differences on the fresh pairs (mean ± standard error over the fresh images): dead leaves last − "
              f"control last {paired(gains['dead leaves, last']['fresh'], gains['control, last']['fresh'])} dB; "
              f"{best} − shipped {paired(gains[best]['fresh'], gains['shipped']['fresh'])} dB",
              f"- blurry inputs: {inputs['val'].mean():.2f} dB on the 48 validation pairs, {inputs['fresh'].mean():.2f} dB "
              f"on the {len(inputs['fresh'])} fresh ones (data/wild_val2: the validation photos, other clips)",
              "- the dead-leaves run's curve: experiments/dead_leaves/train_polish_deadleaves_sym.csv; the control's: "
              "experiments/cpu_polish/train_polish_sharp0.125_sym.csv",
              f"- decision (validation only): {best + ' replaces the shipped weights' if wins else 'the shipped weights stay'}",
              "- the test split's gains are in results/table2.md (made by `make reproduce`)", "",
              f"_Made by: {provenance_line(provenance(device='cpu', seed=0, script='experiments/dead_leaves/export_deadleaves.py'))}_",
              ""]
    Path("experiments/dead_leaves/deadleaves_wild.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if not wins:
        return
    path = nets[best]
    _, meta = load_model(path)
    cfg = meta["train_config"]
    old = json.loads(SHIPPED.with_suffix(".json").read_text())
    command = ("python -m repro train --preset fast --data wild --data-root data/wild_cpu --extra-root data/wild_dl "
               f"--out {run} --seed 0 --threads 2 --run polish_deadleaves_sym --results {run}/results "
               + " ".join(f"--set {o.split(' (preset')[0]}" for o in overrides(cfg)))
    export_weights(path, SHIPPED, half=True, command=command,
                   exported_from=f"{path} ({best}; chosen against the shipped weights on fresh validation pairs)",
                   final_psnr=meta["psnr"], minutes=s_run["minutes"], seconds_per_step=s_run["s/step"],
                   device="cpu (2 cores, x86_64)", run="polish_deadleaves_sym",
                   data_build=("data/wild_cpu (1600 train, 48 val pairs) + data/wild_dl: python -m repro dead-leaves "
                               "data/deadleaves --n 48; python -m repro build-wild virtual data/wild_dl --split train "
                               "--photos data/deadleaves --pairs 800"),
                   training_log=str(LOG), earlier_logs=["results/training_logs/train_gpu_w0.5_wild.csv"],
                   continued_from={k: old.get(k) for k in ("run", "command", "device", "minutes", "steps", "data_build",
                                                            "training_log", "best_psnr")},
                   selection=f"fresh validation gain {gains[best]['fresh'].mean():+.3f} dB against the shipped "
                             f"{gains['shipped']['fresh'].mean():+.3f} dB (experiments/dead_leaves/deadleaves_wild.md)",
                   identity_psnr_val_median=float(np.median(ident[best])))
    print("shipped", best)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
