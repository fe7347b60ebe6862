"""Training logs: the CSV rows a run writes, their header, a one-row summary of a run, and the
learning-curve figure."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_text


LOG_FIELDS = ("step", "epoch", "lr", "loss", "val_psnr", "val_psnr_input", "minutes", "steps_per_s", "data_fraction")


def read_log(path: str | os.PathLike) -> list[dict]:
    """Rows of a training CSV log: ``step`` an int, other numbers floats (``None`` where empty)."""
    path = Path(path)
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            r = {k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
            r["step"] = int(r["step"])  # written back as an integer when a run resumes
            rows.append(r)
    return rows


def read_log_header(path: str | os.PathLike) -> dict:
    """The ``# run=...; data=...; config={...}`` line of a training log as a dict (``config``
    parsed from JSON); ``{}`` for a log without one."""
    with open(path) as f:
        first = f.readline()
    if not first.startswith("# "):
        return {}
    head, _, config = first[2:].strip().partition("; config=")
    out: dict = dict(item.split("=", 1) for item in head.split("; ") if "=" in item)
    if config:
        out["config"] = json.loads(config)
    return out


def summarise_log(path: str | os.PathLike) -> dict:
    """One row about a training run from its log: run, data (with the names of ``--extra-root``
    folders, e.g. "wild + wild_dl"), preset, learning rate, start
    (``init``), steps and minutes trained, and the validation PSNR gain over the input (dB) at
    the start, at its best (and that step) and at the last validation, and where the time went."""
    path = Path(path)
    head, rows = read_log_header(path), read_log(path)
    cfg = head.get("config", {})
    val = [r for r in rows if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None]
    gains = [r["val_psnr"] - r["val_psnr_input"] for r in val]
    best = int(np.argmax(gains)) if gains else None
    # a run with --extra-root trained on several roots (comma-joined): name the extra ones
    extra = [Path(root).name for root in str(head.get("data_root", "")).split(",")[1:] if root]
    data = " + ".join([head.get("data", ""), *extra])
    # where the time went: seconds per training step and the share of it spent making batches
    # (medians over the logged rows; logs written before that column existed have no share)
    step_seconds = [1 / r["steps_per_s"] for r in rows if r.get("steps_per_s")]
    data_shares = [r["data_fraction"] for r in rows if r.get("data_fraction") is not None]
    return {
        "run": head.get("run", path.stem), "data": data, "preset": cfg.get("name", ""),
        "lr": cfg.get("lr"), "init": "/".join(Path(cfg["init"]).parts[-2:]) if cfg.get("init") else "random",
        "augment": "yes" if cfg.get("rotate") or cfg.get("permute_colours") else "flips",
        "steps": int(max((r["step"] for r in rows), default=0)),
        "minutes": max((r["minutes"] for r in rows if r.get("minutes") is not None), default=0.0),
        "val input dB": val[0]["val_psnr_input"] if val else None,
        "gain at start": gains[0] if gains else None,
        "best gain": gains[best] if gains else None,
        "best at step": int(val[best]["step"]) if gains else None,
        "last gain": gains[-1] if gains else None,
        "s/step": float(np.median(step_seconds)) if step_seconds else None,
        "data share": float(np.median(data_shares)) if data_shares else None,
    }


def _write_log(path: Path, rows: list[dict], header: str = "") -> None:
    buf = io.StringIO()
    if header:
        buf.write(f"# {header}\n")
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def plot_training(log_csv: str | os.PathLike | Sequence[str | os.PathLike], png: str | os.PathLike | None = None, *,
                  labels: Sequence[str] | None = None, title: str | None = None, x: str = "both"):
    """Plot training loss (against steps) and validation PSNR gain over the blurry input (the
    input is the dashed line at 0 dB) against ``x``: "step", "minutes" of training, or "both"
    (one panel each); saved as PNG when ``png`` is given.

    Returns the matplotlib ``Figure``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if x not in ("minutes", "step", "both"):
        raise ValueError(f"x must be 'minutes', 'step' or 'both', got {x!r}")
    xs = ("step", "minutes") if x == "both" else (x,)
    logs = [log_csv] if isinstance(log_csv, (str, os.PathLike)) else list(log_csv)
    labels = list(labels) if labels else [Path(p).stem for p in logs]
    fig, axes = plt.subplots(1, 1 + len(xs), figsize=(5.5 * (1 + len(xs)), 4))
    ax_loss, psnr_axes = axes[0], axes[1:]
    for path, label in zip(logs, labels):
        rows = read_log(path)
        loss = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
        if loss:
            ax_loss.plot(*zip(*loss), label=label, lw=1)
        for ax, key in zip(psnr_axes, xs):
            val = [(r[key], r["val_psnr"] - r["val_psnr_input"]) for r in rows
                   if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None]
            if val:
                ax.plot(*zip(*val), marker="o", ms=3, label=label)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss (3-scale)")
    ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    for ax, key in zip(psnr_axes, xs):
        ax.axhline(0.0, color="k", lw=0.8, ls="--", label="blurry input")
        ax.set_xlabel("minutes of training" if key == "minutes" else "iteration")
        ax.set_ylabel("validation PSNR gain over the input (dB)")
        ax.grid(alpha=0.3)
    psnr_axes[-1].legend(fontsize=7)
    if len(logs) > 1:
        ax_loss.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if png is not None:
        from ..io.figures import save_figure

        save_figure(fig, png, formats=("png",))
    return fig


def training_steps(path: str | os.PathLike) -> int:
    """The training steps a log reaches (its last ``step``): the budget to give another run, e.g.
    DeblurNet^SI as many steps as DeblurNet^WILD trained (steps, not minutes: the same work on
    machines of different speed). ``ValueError`` for a log of a run that has not trained."""
    steps = max((r["step"] for r in read_log(path)), default=0)
    if steps <= 0:
        raise ValueError(f"{path}: no training step in it; has the run trained?")
    return steps
