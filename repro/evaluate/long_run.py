"""The long run between sittings (issue 28): each long run's best checkpoint (the one chosen on
validation) measured by blur size on pairs it trained on and on the validation pairs of both photo
sets, beside the shipped DeblurNet^WILD, with the do-no-harm check: images blurred less than 4 px
may lose at most 0.5 dB.

The test pairs are left out on purpose: a run under way is looked at on validation only; its test
numbers come once, from the network that ships (Table 2 and the corpus table).

    python -m repro.evaluate.long_run --runs runs/long --run wild_w0.25 --run si_w0.25 \\
        --out results/long_run/by_blur.md
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from ..io.files import atomic_write_text
from ..io.reports import BLUR_BINS, blur_bin_label
from .diversity import (RESIDUAL_R_NOTE, checkpoint_rows, gains_table, made_by, pair_sets, report_parser,
                        shipped_reference, validation_gains)

__all__ = ["HARM_FLOOR_DB", "NEAR_SHARP", "harm_verdicts", "long_run_markdown", "main"]

log = logging.getLogger(__name__)

HARM_FLOOR_DB = -0.5  # issue 28's "do no harm": the least gain allowed on images blurred < 4 px
NEAR_SHARP = blur_bin_label(BLUR_BINS[0], BLUR_BINS[1])  # "< 4 px"


def harm_verdicts(rows: list[dict], *, floor: float = HARM_FLOOR_DB) -> dict[str, str]:
    """Per checkpoint (``arm``), whether its mean gain on the near-sharp pairs (< 4 px) of every
    validation set is at least ``floor`` dB: ``"met"``, ``"missed (set -1.20)"`` naming the sets
    below it, or ``"no near-sharp pairs"``. Training and test pairs never count."""
    measured: dict[str, list[tuple[str, float]]] = {r["arm"]: [] for r in rows}
    for r in rows:
        gain = r.get(NEAR_SHARP)
        if r["set"].startswith("val") and gain is not None:
            measured[r["arm"]].append((r["set"], gain))
    verdicts = {}
    for arm, gains in measured.items():
        missed = [f"{pair_set} {gain:+.2f}" for pair_set, gain in gains if gain < floor]
        verdicts[arm] = ("no near-sharp pairs" if not gains else
                         f"missed ({'; '.join(missed)})" if missed else "met")
    return verdicts


def long_run_markdown(rows: list[dict], *, provenance: str, logs: dict[str, dict]) -> str:
    """The report: each run's training so far (from its log), the table of gains by pair set and
    blur size, and the do-no-harm verdict on validation."""
    lines = ["# The long run by blur size, on validation", "", provenance, "",
             "Each run's `best.pt`: the checkpoint with the best mean validation gain so far (both photo "
             "sets' validation pairs, the number early stopping watches). Gain = mean PSNR of the output "
             "minus that of the blurry input, in dB, on whole 240x320 pairs; blur-size bins in px (the "
             "manifest's blur size). 'train pairs' are pairs the run trained on; 'val' pairs are unseen. "
             "Test pairs are not measured while a run is under way. 'shipped (reference)' is the shipped "
             "DeblurNet^WILD (width 0.5, trained on a GPU on an earlier build's bundled pairs): a yardstick, "
             "measured on validation only. " + RESIDUAL_R_NOTE,
             "", "## Training so far", "", "| run | steps | minutes | best val gain | at step | last val gain |",
             "|---|---|---|---|---|---|"]
    for run, s in logs.items():
        best, last = s.get("best gain"), s.get("last gain")
        lines.append(f"| {run} | {s.get('steps')} | {s.get('minutes', 0):.0f} | "
                     f"{'' if best is None else f'{best:+.2f}'} | {s.get('best at step')} | "
                     f"{'' if last is None else f'{last:+.2f}'} |")
    both = validation_gains(rows, names={r["arm"] for r in rows})
    lines += ["", "## Gains of each best checkpoint", "", *gains_table(rows, first="checkpoint"), "",
              "Over both validation sets together (pair-weighted, the number checkpoints are chosen on): "
              + ", ".join(f"{arm} {gain:+.2f} dB" for arm, gain in both.items()) + ".", "",
              f"## Do no harm: {NEAR_SHARP} on validation, at least {HARM_FLOOR_DB:+.1f} dB", ""]
    lines += [f"- {arm}: {verdict}" for arm, verdict in harm_verdicts(rows).items()]
    return "\n".join(lines) + "\n"


def _frozen_copy(path: Path, folder: Path) -> Path:
    """``path`` copied into ``folder`` (where it exists; else ``path``, which the evaluation skips)."""
    if not path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, folder / path.name))


def main(argv: list[str] | None = None) -> int:
    module = "repro.evaluate.long_run"
    parser = report_parser(module, __doc__.splitlines()[0], runs=Path("runs/long"), runs_help="folder of the long runs",
                           out=Path("results/long_run/by_blur.md"))
    parser.add_argument("--run", action="append", required=True, help="a run's folder name under --runs (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    missing = [run for run in args.run if not (args.runs / run / "log.csv").is_file()]
    if missing:
        parser.error(f"no training log in {', '.join(str(args.runs / run) for run in missing)}; "
                     f"start the run first (make -C experiments/long_run long-run)")
    from ..train.logs import summarise_log

    with tempfile.TemporaryDirectory() as frozen:
        # a run may still be training: measure the best.pt that its log's summary describes, copied
        # at once, not one written while the shipped network is being measured
        logs = {run: summarise_log(args.runs / run / "log.csv") for run in args.run}
        checkpoints = {run: _frozen_copy(args.runs / run / "best.pt", Path(frozen) / run) for run in args.run}
        sets = pair_sets(args.data, test=False)
        # the yardstick on validation only: its training pairs were another build's, and its train/validation
        # gap is in results/photo_diversity.md (this saves two thirds of the time its width-0.5 network takes)
        rows = [*checkpoint_rows(shipped_reference(), [s for s in sets if s.split == "val"], device=args.device,
                                 precision=args.precision),
                *checkpoint_rows(checkpoints, sets, device=args.device, precision=args.precision)]
    text = long_run_markdown(rows, logs=logs, provenance=made_by(module, preset="cpu-12h", device=args.device))
    atomic_write_text(args.out, text)
    log.info("wrote %s (%d rows)", args.out, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
