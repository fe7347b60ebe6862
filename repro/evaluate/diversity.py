"""Which photos to train on: networks trained at equal budget on different photo sets, compared on
the same pairs (``results/photo_diversity.md``, issue 28).

Each *arm* is a training run (same preset, seed, steps and precision) on another set of photos:
the bundled sample photos, the wallpaper corpus (:mod:`repro.camera.corpus`), or both. Every arm's
best checkpoint (chosen on the validation pairs of both photo sets) is measured on its training
pairs, on both validation sets and on both test sets, overall and by blur size: the gap between
training and unseen pairs says whether a network learnt its photos or deblurring.

``python -m repro.evaluate.diversity --runs runs/diversity --out results/photo_diversity.md``
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..io.files import atomic_write_text
from ..io.reports import BLUR_BINS, blur_bin_label
from ..measure.gains import RESIDUAL_R, RESIDUAL_R_NOTE, PairSet, checkpoint_rows, gains_on, validation_gains

__all__ = ["ARMS", "PairSet", "pair_sets", "gains_on", "arm_rows", "checkpoint_rows", "validation_gains", "gains_table",
           "diversity_markdown", "RESIDUAL_R", "RESIDUAL_R_NOTE", "report_parser", "shipped_reference", "made_by", "main"]

log = logging.getLogger(__name__)

# arm -> (training roots, in the order of --data-root then --extra-root), by dataset folder name
ARMS: dict[str, tuple[str, ...]] = {
    "bundled": ("bundled",),
    "corpus": ("corpus",),
    "both": ("bundled", "corpus"),
    # arm (d): the best of the three on validation plus dead-leaves footage
    # (`make -C experiments/photo_diversity photo-diversity-deadleaves`)
    "bundled+deadleaves": ("bundled", "deadleaves_wild"),
    "corpus+deadleaves": ("corpus", "deadleaves_wild"),
    "both+deadleaves": ("bundled", "corpus", "deadleaves_wild"),
}


def pair_sets(data: Path, *, train_limit: int = 96, test: bool = True) -> list[PairSet]:
    """The measured sets under ``data`` (``data/bundled``: the bundled photos, ``data/corpus``: the
    corpus; both built by ``make corpus-data``, apart from ``data/wild``, which ``make reproduce`` builds
    to its own sizes):
    each root's training pairs (``train_limit`` evenly spaced ones: the seen pairs), both validation
    splits and, unless ``test`` is false, both test splits."""
    bundled, corpus = data / "bundled", data / "corpus"
    sets = [PairSet("train pairs, bundled", bundled, "train", train_limit),
            PairSet("train pairs, corpus", corpus, "train", train_limit),
            PairSet("val, bundled", bundled, "val"), PairSet("val, corpus", corpus, "val")]
    if test:
        sets += [PairSet("test, bundled", bundled, "test"), PairSet("test, corpus", corpus, "test")]
    return sets


def arm_rows(runs: Path, data: Path, *, device: str = "cpu", precision: str = "auto",
             checkpoint: str = "best.pt", references: dict[str, Path] | None = None) -> list[dict]:
    """One row per (arm, pair set) for every arm trained under ``runs/<arm>/``, after the rows of
    ``references`` (name -> checkpoint, e.g. the shipped network, measured on the same pairs)."""
    # arms never started are left out quietly; a started arm without its checkpoint is worth a warning
    candidates = {**(references or {}), **{arm: runs / arm / checkpoint for arm in ARMS if (runs / arm).is_dir()}}
    return checkpoint_rows(candidates, pair_sets(data), device=device, precision=precision)


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:+.2f}" if isinstance(value, float) else str(value)


def gains_table(rows: list[dict], *, first: str = "arm") -> list[str]:
    """The lines of a markdown table of :func:`checkpoint_rows`' rows: name (headed ``first``), pair
    set, pairs, mean input PSNR, mean gain, the gain in each blur-size bin (empty where no pair) and
    the residual norm's correlation with the blur size (:data:`RESIDUAL_R`; empty where not measured)."""
    bins = [blur_bin_label(lo, hi) for lo, hi in zip(BLUR_BINS[:-1], BLUR_BINS[1:])]
    head = [first, "pairs", "n", "input dB", "gain dB", *bins, RESIDUAL_R]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["arm"], r["set"], str(r["n"]), f"{r['input dB']:.2f}", _cell(r["gain dB"]),
                 *(_cell(r.get(b)) for b in bins), _cell(r.get(RESIDUAL_R))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def diversity_markdown(rows: list[dict], *, provenance: str, logs: dict[str, dict]) -> str:
    """The report: one table of gains per arm and pair set (with blur-size bins), and each arm's
    training (steps, minutes, best validation gain and its step) from its log summary."""
    lines = ["# Which photos to train on: equal-budget arms", "", provenance, "",
             "Gain = mean PSNR of the network's output minus that of the blurry input, in dB, on "
             "whole 240x320 pairs; blur-size bins in px (the manifest's blur size). 'train pairs' are "
             "pairs the arm may have trained on (only the roots it trained on); the others are unseen. "
             "'shipped (reference)' is the shipped DeblurNet^WILD (width 0.5, trained on a GPU on the "
             "bundled photos' pairs of an earlier build): not an arm of equal budget, a yardstick. " + RESIDUAL_R_NOTE,
             "", *gains_table(rows)]
    chosen = validation_gains(rows, names=ARMS)
    if chosen:
        ranked = sorted(chosen.items(), key=lambda kv: -kv[1])
        lines += ["", "**Decision (validation pairs of both photo sets together, never the test pairs):** "
                  + ", ".join(f"{arm} {gain:+.2f} dB" for arm, gain in ranked)
                  + f"; the best is **{ranked[0][0]}**."]
    lines += ["", "## Training of each arm", "", "| arm | trained on | steps | minutes | best val gain | at step |",
              "|---|---|---|---|---|---|"]
    for arm, s in logs.items():
        lines.append(f"| {arm} | {' + '.join(ARMS.get(arm, ()))} | {s.get('steps')} | {s.get('minutes', 0):.0f} | "
                     f"{_cell(s.get('best gain'))} | {s.get('best at step')} |")
    return "\n".join(lines) + "\n"


def report_parser(module: str, description: str, *, runs: Path, runs_help: str, out: Path) -> argparse.ArgumentParser:
    """The options every checkpoint-by-blur report takes (this one and :mod:`repro.evaluate.long_run`):
    ``--runs``, ``--data``, ``--out``, ``--device`` and ``--precision``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--runs", type=Path, default=runs, help=runs_help)
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder holding bundled/ and corpus/")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (repro.core.precision)")
    return parser


def shipped_reference() -> dict[str, Path]:
    """The yardstick measured beside the runs: the shipped DeblurNet^WILD (trained on the bundled
    photos, on a GPU), under the name the reports give it."""
    from ..io.paths import shipped_checkpoint

    return {"shipped (reference)": shipped_checkpoint("wild")}


def made_by(module: str, *, preset: str, device: str) -> str:
    """A report's provenance line: the command, how it ran (:func:`repro.io.provenance.provenance`) and the date."""
    from ..io.provenance import provenance, provenance_line

    prov = provenance_line(provenance(preset=preset, device=device, seed=0))
    return f"Made by `python -m {module}` ({prov}, {time.strftime('%Y-%m-%d')})."


def main(argv: list[str] | None = None) -> int:
    module = "repro.evaluate.diversity"
    parser = report_parser(module, __doc__.splitlines()[0], runs=Path("runs/diversity"),
                           runs_help="folder of the arms' runs", out=Path("results/photo_diversity.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..train.logs import summarise_log

    rows = arm_rows(args.runs, args.data, device=args.device, precision=args.precision, references=shipped_reference())
    logs = {arm: summarise_log(args.runs / arm / "log.csv") for arm in ARMS if (args.runs / arm / "log.csv").is_file()}
    text = diversity_markdown(rows, provenance=made_by(module, preset="data-arm", device=args.device), logs=logs)
    atomic_write_text(args.out, text)
    log.info("wrote %s (%d rows)", args.out, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
