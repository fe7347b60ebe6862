"""Writing result tables (CSV + Markdown) that say how they were made."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from .files import atomic_write_text
from .provenance import provenance_line

__all__ = ["markdown_table", "write_csv", "write_table", "BLUR_BINS", "blur_bin_label", "PSNR_BINS", "psnr_bin_label"]

# the blur-size bins (px) that the reports group test images by: [0, 4), [4, 8), [8, 16), [16, inf):
# nearly sharp, moderate, strong, beyond
BLUR_BINS = (0.0, 4.0, 8.0, 16.0, float("inf"))
# the input-PSNR bins (dB) of the do-no-harm tables: < 30, 30-35, 35-40, >= 40 (how sharp the input already is)
PSNR_BINS = (-float("inf"), 30.0, 35.0, 40.0, float("inf"))


def _fmt(v: object, digits: int) -> str:
    if isinstance(v, float):
        if v != 0 and abs(v) < 0.5 * 10 ** -digits:  # e.g. a p-value: keep it readable, not 0.00
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return "" if v is None else str(v)


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None, *, digits: int = 2) -> str:
    """A GitHub Markdown table of ``rows`` (floats to ``digits`` decimals)."""
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    columns = list(columns or rows[0].keys())
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_fmt(r.get(c), digits) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def write_csv(rows: Sequence[dict], path: str | os.PathLike, *, provenance: dict, title: str,
              columns: Sequence[str] | None = None) -> Path:
    """Write ``path.csv`` alone (first line a ``# made by: ...`` comment), atomically: for per-item
    tables too long to read as Markdown."""
    if not rows:
        raise ValueError("write_csv needs at least one row")
    columns = list(columns or rows[0].keys())
    buf = io.StringIO()
    buf.write(f"# {title}; made by: {provenance_line(provenance)}\n")
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = Path(path).with_suffix(".csv")
    atomic_write_text(csv_path, buf.getvalue())
    return csv_path


def write_table(rows: Sequence[dict], path: str | os.PathLike, *, provenance: dict, title: str,
                notes: Sequence[str] = (), columns: Sequence[str] | None = None, digits: int = 2) -> tuple[Path, Path]:
    """Write ``path.csv`` (first line a ``# made by: ...`` comment) and ``path.md``, atomically."""
    path = Path(path)
    columns = list(columns or rows[0].keys())
    csv_path, md_path = write_csv(rows, path, provenance=provenance, title=title, columns=columns), path.with_suffix(".md")
    md = [f"# {title}", "", markdown_table(rows, columns, digits=digits), ""]
    md += [f"- {n}" for n in notes]
    md += ["", f"_Made by: {provenance_line(provenance)}_", ""]
    atomic_write_text(md_path, "\n".join(md))
    return csv_path, md_path


def psnr_bin_label(lo: float, hi: float) -> str:
    """The name of the input-PSNR bin ``[lo, hi)`` dB: ``< 30 dB``, ``30-35 dB``, ``>= 40 dB``."""
    if lo == -float("inf"):
        return f"< {hi:g} dB"
    if hi == float("inf"):
        return f">= {lo:g} dB"
    return f"{lo:g}-{hi:g} dB"


def blur_bin_label(lo: float, hi: float) -> str:
    """The name of the blur-size bin ``[lo, hi)`` (px): ``< 4 px``, ``4-8 px``, ``>= 16 px``."""
    if lo <= 0:
        return f"< {hi:g} px"
    return f">= {lo:g} px" if hi == float("inf") else f"{lo:g}-{hi:g} px"
