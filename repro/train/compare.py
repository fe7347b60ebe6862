"""Training runs compared at equal training time, from their logs: the long run's width choice.

Each run (e.g. ``runs/long/wild_w0.5/log.csv``) trained for about the same budget of training time
(``TrainConfig.max_minutes``, on :func:`repro.train.loop.training_clock`). Only the validations
made within ``minutes`` count, so a run that went on longer gains nothing from it. The winner is
the run with the best validation gain over the blurry input; the test split never takes part.

``python -m repro.train.compare runs/long/wild_w*/log.csv --minutes 45 --out results/long_run/width_choice.md``
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..io.files import atomic_write_text
from .logs import read_log, read_log_header

__all__ = ["within_budget", "budget_row", "comparison_markdown", "main"]

log = logging.getLogger(__name__)


def _started_within(row: dict, minutes: float) -> bool:
    """Whether a log row's last step started within ``minutes`` of training time: a run stops at
    the first step past its budget, and validates there, so that step's row counts. The step's
    length comes from the row's logged rate (``steps_per_s``); rows without one count by ``minutes``."""
    if row.get("minutes") is None:
        return False
    step_minutes = 1 / (60 * row["steps_per_s"]) if row.get("steps_per_s") else 0.0
    return row["minutes"] - step_minutes <= minutes


def within_budget(rows: Sequence[dict], minutes: float) -> list[dict]:
    """The validation rows of a log (``read_log``) whose last step started within ``minutes`` of
    training time."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    return [r for r in rows if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None
            and _started_within(r, minutes)]


def budget_row(path: str | os.PathLike, minutes: float) -> dict:
    """One run's row at a budget of ``minutes``: run, preset, width, steps and minutes trained within it,
    seconds per step, and the validation gain over the input (dB): its best (and that step) and
    its last within the budget. Gains are ``None`` for a run with no validation in the budget."""
    path = Path(path)
    head, rows = read_log_header(path), read_log(path)
    val = within_budget(rows, minutes)
    timed = [r for r in rows if _started_within(r, minutes)]
    gains = [r["val_psnr"] - r["val_psnr_input"] for r in val]
    best = max(range(len(gains)), key=gains.__getitem__) if gains else None
    steps = max((r["step"] for r in timed), default=0)
    spent = max((r["minutes"] for r in timed), default=0.0)
    return {
        "run": head.get("run", path.parent.name), "preset": head.get("config", {}).get("name", ""),
        "width": head.get("config", {}).get("width"),
        "steps": steps, "minutes": spent, "s/step": 60 * spent / steps if steps else None,
        "best gain": gains[best] if gains else None, "best at step": val[best]["step"] if gains else None,
        "last gain": gains[-1] if gains else None, "validations": len(val),
    }


def _cell(value: object, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def comparison_markdown(rows: Sequence[dict], minutes: float, *, title: str, provenance: str = "") -> str:
    """A Markdown table of ``budget_row`` rows and the decision line: the run with the best
    validation gain within the budget (runs without a validation in it cannot win)."""
    lines = [f"# {title}", "",
             f"Each run's validations within **{minutes:g} minutes** of training time (validation pairs only; "
             "the test pairs never choose).", "",
             "| run | width | steps | minutes | s/step | best val gain (dB) | at step | last val gain (dB) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {_cell(r['width'], 'g')} | {r['steps']} | {r['minutes']:.1f} | "
                     f"{_cell(r['s/step'], '.2f')} | {_cell(r['best gain'], '+.2f')} | {_cell(r['best at step'], 'd')} | "
                     f"{_cell(r['last gain'], '+.2f')} |")
    ranked = sorted((r for r in rows if r["best gain"] is not None), key=lambda r: -r["best gain"])
    short = [r["run"] for r in rows if r["minutes"] < 0.95 * minutes]
    if ranked:
        label = "Provisional decision (not every run has had the budget)" if short else "Decision"
        lines += ["", f"**{label}, on the best validation gain within the budget:** "
                  + ", ".join(f"{r['run']} {r['best gain']:+.2f} dB" for r in ranked)
                  + f"; the best is **{ranked[0]['run']}**."]
    if short:
        lines += ["", f"Not yet trained for the whole budget (resume them before deciding): {', '.join(short)}."]
    if provenance:
        lines += ["", f"_{provenance}_"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.train.compare", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="the runs' log.csv (or results/.../train_<run>.csv)")
    parser.add_argument("--minutes", type=float, required=True, help="the equal budget of training time")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write; a PNG of the curves beside it")
    parser.add_argument("--title", default="Equal-time comparison of training runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    missing = [str(p) for p in args.logs if not p.is_file()]
    if missing:
        parser.error(f"no such log: {', '.join(missing)}")
    if args.minutes <= 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    from ..io.provenance import provenance, provenance_line
    from .logs import plot_training

    rows = [budget_row(p, args.minutes) for p in args.logs]
    presets = sorted({r["preset"] for r in rows} - {""})
    prov = provenance_line(provenance(preset=",".join(presets) or None, device="cpu", minutes=args.minutes,
                                      logs=",".join(str(p) for p in args.logs)))
    text = comparison_markdown(rows, args.minutes, title=args.title,
                               provenance=f"Made by `python -m repro.train.compare` ({prov})")
    atomic_write_text(args.out, text)
    plot_training(args.logs, args.out.with_suffix(".png"), labels=[r["run"] for r in rows], title=args.title, x="minutes")
    log.info("wrote %s and %s", args.out, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
