"""Table 2's files: the per-image CSV, the summary (mean and sample std per method and subset) as
CSV and Markdown, beside the PSNR the paper reports."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from . import methods as methods_table

__all__ = ["PAPER_TABLE2", "PER_IMAGE_FIELDS", "SUMMARY_FIELDS", "METRIC_KEYS", "failed_row", "csv_text",
           "parse_number", "read_per_image", "summarise", "markdown"]

# Table 2 of the paper, as REPORTED there (docs/paper.md, "Table 2"), shown beside ours only: a
# read-only view of the paper_psnr column of repro.evaluate.methods.METHODS, the one table of methods.
PAPER_TABLE2: dict[str, float] = {k: s.paper_psnr for k, s in methods_table.METHODS.items()
                                  if s.paper_psnr is not None}

PER_IMAGE_FIELDS = ["method", "name", "index", "in_random", "psnr", "ssim", "psnr_shift", "shift_dy", "shift_dx",
                    "seconds", "error", "fingerprint", "shift_radius", "image_sha"]
SUMMARY_FIELDS = ["method", "subset", "n", "n_failed", "psnr_mean", "psnr_std", "ssim_mean", "ssim_std",
                  "psnr_shift_mean", "psnr_shift_std", "gain_mean", "gain_low", "gain_high", "gain_median",
                  "n_improved", "seconds_mean", "paper_psnr", "data", "provenance"]
INPUT = "identity"  # the method whose PSNR the gains are measured from: the blurry input
METRIC_KEYS = ("psnr", "ssim", "psnr_shift", "shift_dy", "shift_dx", "seconds")  # the numbers of a per-image row


def failed_row(error: str = "") -> dict:
    """The numbers of a per-image row with nothing measured (all NaN) and its ``error``."""
    return {**{k: math.nan for k in METRIC_KEYS}, "error": error}


def _fmt(x: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals; empty for None or NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _signed(x: float, digits: int = 2) -> str:
    """A signed number with ``digits`` decimals; an en dash for None or NaN."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{digits}f}"


def _gain_cell(r: dict) -> str:
    """``+0.55 [+0.21, +0.90]``: a summary row's mean gain and its interval (en dash without one)."""
    if _signed(r["gain_mean"]) == "–":
        return "–"
    return f"{_signed(r['gain_mean'])} [{_signed(r['gain_low'])}, {_signed(r['gain_high'])}]"


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of the finite ``values`` (NaN where undefined)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else math.nan)


def csv_text(rows: list[dict], fields: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) and math.isfinite(v) else
                             ("" if isinstance(v, float) else v)) for k, v in r.items()})
    return buf.getvalue()


def parse_number(text: str | None) -> float | int:
    if text in ("", None):
        return math.nan
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def read_per_image(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _paper(key: str) -> float:
    """The PSNR the paper reports for method ``key`` (NaN if none)."""
    value = methods_table.paper_psnr(key)
    return math.nan if value is None else value


def _gain(rows: list[dict], inputs: dict[str, float], seed: int) -> dict:
    """The paired PSNR gain of ``rows`` (one method's error-free rows) over the blurry input's PSNR
    (``inputs``: image name -> PSNR): mean, bootstrap 95 % interval, median, images improved
    (:func:`repro.evaluate.stats.bootstrap_mean`); NaN without the input's rows."""
    from .stats import bootstrap_mean

    d = [float(r["psnr"]) - inputs[r["name"]] for r in rows if r["name"] in inputs and math.isfinite(float(r["psnr"]))]
    if not d:
        return {"gain_mean": math.nan, "gain_low": math.nan, "gain_high": math.nan, "gain_median": math.nan,
                "n_improved": ""}
    g = bootstrap_mean(d, seed=seed)
    return {"gain_mean": g.mean, "gain_low": g.low, "gain_high": g.high, "gain_median": g.median,
            "n_improved": f"{g.n_positive}/{g.n}"}


def summarise(per_image: list[dict], method_names: list[str], data_line: str, prov_line: str,
              seed: int = 0) -> list[dict]:
    """One row per method and subset ("random": the seeded random images; "split": every image
    the method ran on): n, mean and std of each metric, and the paired gain over the input
    (:func:`_gain`, bootstrap seeded by ``seed``)."""
    inputs = {r["name"]: float(r["psnr"]) for r in per_image if r["method"] == INPUT and not r["error"]}
    summary = []
    for name in method_names:
        mine = [r for r in per_image if r["method"] == name]
        for subset in ("random", "split"):
            rows = [r for r in mine if subset == "split" or r["in_random"]]
            ok = [r for r in rows if not r["error"]]
            out = {"method": name, "subset": subset, "n": len(ok), "n_failed": len(rows) - len(ok),
                   "paper_psnr": _paper(name), "data": data_line, "provenance": prov_line}
            for key in ("psnr", "ssim", "psnr_shift"):
                out[f"{key}_mean"], out[f"{key}_std"] = _stats([float(r[key]) for r in ok])
            out["seconds_mean"] = _stats([float(r["seconds"]) for r in ok])[0]
            out.update(_gain(ok, inputs, seed) if name != INPUT else _gain([], {}, seed))
            summary.append(out)
    return summary


def markdown(summary: list[dict], *, data_line: str, prov_line: str, n_random: int, n_eval: int, n_total: int,
              random_names: list[str], descriptions: dict[str, str], shift_radius: int, failures: list[dict]) -> str:
    by = {(r["method"], r["subset"]): r for r in summary}
    methods = list(dict.fromkeys(r["method"] for r in summary))
    split_label = f"n of {n_total}"

    def cell(r: dict, key: str, digits: int) -> str:
        if not r["n"]:  # no image scored: every one failed (listed below), or none was evaluated
            return f"FAILED on {r['n_failed']}" if r["n_failed"] else "n/a"
        std = _fmt(r[f"{key}_std"], digits)
        return f"{_fmt(r[f'{key}_mean'], digits)}" + (f" ± {std}" if std else "")

    lines = [
        "# Table 2: PSNR / SSIM of deblurring methods",
        "",
        f"**Ours on:** {data_line}",
        f"**Made:** {prov_line}",
        "",
        f"Paper column: PSNR (dB) REPORTED in the paper (Table 2, 15 images of the authors' WILD test set), "
        "not measured here. Ours: mean ± sample std (ddof=1) over n images; PSNR/SSIM on the full image, "
        "data range 1, SSIM with Gaussian window sigma 1.5, use_sample_covariance=False, averaged over RGB; "
        f"shift PSNR: best over integer shifts within ±{shift_radius} px, border {shift_radius + 1} px left out.",
        f"Columns '{split_label}': every image the method ran on ({n_eval} of the split's {n_total} in all; a "
        "method on fewer ran on the first n of the same seeded permutation, which hold the random ones). "
        "Gain: PSNR minus the blurry input's on the same image, mean [paired bootstrap 95 % interval, "
        "10 000 resamples, seeded], median, and the images it is above 0 on.",
        "",
        f"| method | paper PSNR (reported) | PSNR, {n_random} random | SSIM, {n_random} random | n | "
        f"PSNR, {split_label} | SSIM, {split_label} | shift PSNR, {split_label} | gain dB [95 % CI], {split_label} | "
        "median gain | improved | n | failed | s/image |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        r, s = by[(m, "random")], by[(m, "split")]
        paper = _fmt(_paper(m)) or "–"
        lines.append(f"| {methods_table.label(m)} | {paper} | {cell(r, 'psnr', 2)} | {cell(r, 'ssim', 3)} | {r['n']} | "
                     f"{cell(s, 'psnr', 2)} | {cell(s, 'ssim', 3)} | {cell(s, 'psnr_shift', 2)} | {_gain_cell(s)} | "
                     f"{_signed(s['gain_median'])} | {s['n_improved'] or '–'} | {s['n']} | "
                     f"{s['n_failed']} | {_fmt(s['seconds_mean'], 2)} |")
    lines += ["", f"Random images (seeded): {', '.join(random_names)}"]
    if descriptions:
        lines += ["", "Methods:"] + [f"- {methods_table.label(k)}: {v}" for k, v in descriptions.items()]
    if failures:
        lines += ["", f"Failures ({len(failures)}; first 20):"]
        lines += [f"- {r['method']} on {r['name']}: {r['error']}" for r in failures[:20]]
    return "\n".join(lines) + "\n"
