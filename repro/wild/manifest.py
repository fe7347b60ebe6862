"""The build's manifest, ``OUT/manifest.csv``: one row per window tried, every split of the folder."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from ..io.files import atomic_write_text

__all__ = ["MANIFEST_COLUMNS", "read_manifest", "write_manifest"]

MANIFEST_COLUMNS = ("split", "scene", "start", "n", "center", "flow_stat", "flow_max", "match_error",
                    "blur_size", "input_psnr", "accepted", "reason", "blur", "sharp")


def _fmt(v: Any) -> str:
    """A manifest cell: booleans as 0/1, floats to 6 digits (NaN empty)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_manifest(out: Path, split: str, rows: list[dict]) -> Path:
    """Write ``OUT/manifest.csv``: the rows of the other splits already there, then ``rows`` of ``split``."""
    path = out / "manifest.csv"
    kept: list[dict] = []
    if path.is_file():
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r.get("split") != split]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in kept:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_COLUMNS})
    for r in rows:
        writer.writerow({k: _fmt(r.get(k, split if k == "split" else "")) for k in MANIFEST_COLUMNS})
    atomic_write_text(path, buf.getvalue())
    return path


def read_manifest(out: str | os.PathLike) -> list[dict]:
    """Rows of ``OUT/manifest.csv`` with types: ints, floats (``nan`` where empty), ``accepted`` bool."""
    path = Path(out) / "manifest.csv" if Path(out).is_dir() else Path(out)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (build the dataset with `python -m repro build-wild`)")
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in ("start", "n", "center"):
                r[k] = int(r[k])
            for k in ("flow_stat", "flow_max", "match_error", "blur_size", "input_psnr"):
                r[k] = float(r[k]) if r.get(k, "") != "" else float("nan")
            r["accepted"] = r["accepted"] == "1"
            rows.append(r)
    return rows
