"""The ablation report: one row per variant, the verdict on each of the paper's claims (from the
numbers, against the two-seed spread), the learning-curve and no-flow-rule figures."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_text
from ..io.reports import blur_bin_label

from .variants import BLUR_BINS, CURVE_FLOOR_DB, MIN_BAR_DB, REFERENCE, SIZES, VARIANTS

log = logging.getLogger(__name__)


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None and not math.isnan(r[key])]
    return float(np.mean(vals)) if vals else math.nan


def _bin_gains(rows: list[dict]) -> list[tuple[float, int]]:
    """Mean PSNR gain (restored - input) and count in each :data:`BLUR_BINS` bin."""
    out = []
    for lo, hi in BLUR_BINS:
        sel = [r["psnr"] - r["psnr_input"] for r in rows if lo <= r.get("blur_size", math.nan) < hi]
        out.append((float(np.mean(sel)) if sel else math.nan, len(sel)))
    return out


def verdict(delta: float, bar: float, expect: str = "worse", val_delta: float | None = None,
            val_bar: float | None = None) -> str:
    """The verdict on a claim from ``delta`` = variant - reference (dB, test split) and the
    reference's run-to-run spread ``bar`` (at least :data:`MIN_BAR_DB`): a difference not larger
    than the bar is not resolved. With ``val_delta`` and ``val_bar`` (the same on the validation
    split), a verdict also needs the validation difference beyond its bar and of the same sign:
    where the two splits disagree the claim is not resolved either."""
    if any(math.isnan(x) for x in (delta, bar)):
        return "not tested"
    if abs(delta) <= bar:
        return "not resolved at this budget"
    if val_delta is not None and val_bar is not None and not math.isnan(val_delta) and not math.isnan(val_bar):
        if abs(val_delta) <= val_bar or (val_delta < 0) != (delta < 0):
            return "not resolved at this budget (validation and test disagree)"
    variant_worse = delta < 0
    if expect == "worse":
        return "supported" if variant_worse else "contradicted"
    if expect == "not better":
        return "contradicted" if not variant_worse else "supported"
    raise ValueError(f"expect must be 'worse' or 'not better', got {expect!r}")


def seed_bar(records: dict[str, dict], split: str) -> float:
    """The run-to-run spread on ``split``: the difference between the mean PSNRs of `paper`'s two
    seeds, at least :data:`MIN_BAR_DB` (NaN until both have run)."""
    if not all(r in records for r in REFERENCE):
        return math.nan
    return max(MIN_BAR_DB, abs(_mean(records["paper"][split], "psnr") - _mean(records["paper-seed1"][split], "psnr")))


def summary_rows(records: dict[str, dict]) -> tuple[list[dict], float, float]:
    """One row per variant (in :data:`VARIANTS` order) and ``(reference PSNR, bar)`` on the test split."""
    ref = [records[r] for r in REFERENCE if r in records]
    ref_psnr = float(np.mean([_mean(r["test"], "psnr") for r in ref])) if ref else math.nan
    bar, val_bar = seed_bar(records, "test"), seed_bar(records, "val")
    ref_val = float(np.mean([_mean(r["val"], "psnr") for r in ref])) if ref else math.nan
    rows = []
    for v in VARIANTS:
        if v.name not in records:
            continue
        rec = records[v.name]
        val, test = rec["val"], rec["test"]
        row = {"variant": v.name, "seed": rec["seed"], "steps": rec["steps"],
               "train min": rec["train_minutes"],
               "val PSNR": _mean(val, "psnr"), "val SSIM": _mean(val, "ssim"),
               "val gain dB": _mean(val, "psnr") - _mean(val, "psnr_input"),
               "test PSNR": _mean(test, "psnr"), "test SSIM": _mean(test, "ssim"),
               "test gain dB": _mean(test, "psnr") - _mean(test, "psnr_input")}
        for (lo, hi), (gain, count) in zip(BLUR_BINS, _bin_gains(test)):
            row[f"gain {blur_bin_label(lo, hi)}"] = gain
            row[f"n {blur_bin_label(lo, hi)}"] = count
        row["vs paper, test dB"] = row["test PSNR"] - ref_psnr
        row["vs paper, val dB"] = row["val PSNR"] - ref_val
        row["verdict"] = (verdict(row["vs paper, test dB"], bar, v.expect, row["vs paper, val dB"], val_bar)
                          if v.claim else "reference")
        rows.append(row)
    return rows, ref_psnr, bar


def claims(rows: list[dict], bar: float) -> list[str]:
    """One plain sentence per claim of the paper, from the numbers in ``rows``."""
    out = []
    by_name = {r["variant"]: r for r in rows}
    for v in VARIANTS:
        if not v.claim:
            continue
        r = by_name.get(v.name)
        if r is None:
            out.append(f"{v.claim}: not tested yet (variant `{v.name}` not run).")
            continue
        if math.isnan(bar):
            out.append(f"{v.claim}: no verdict yet: `{v.name}` scores {r['vs paper, test dB']:+.2f} dB test PSNR "
                       f"against `paper`, but the reference's second seed has not run, so there is no bar.")
            continue
        word = r["verdict"]
        out.append(f"{v.claim}: **{word}**. `{v.name}` scores {r['vs paper, test dB']:+.2f} dB test PSNR "
                   f"({r['vs paper, val dB']:+.2f} dB validation) against the mean of `paper`'s two seeds; "
                   f"the bar (their difference, at least {MIN_BAR_DB:g} dB) is {bar:.2f} dB.")
    return out


def _no_flow_rule_stats(runs_records: dict[str, dict]) -> str | None:
    rec = runs_records.get("no-flow-rule")
    if rec is None:
        return None
    from ..wild import read_manifest

    try:
        rows = [r for r in read_manifest(rec["data_root"]) if r["split"] == "train" and r["accepted"]]
    except FileNotFoundError:
        return None
    flows = np.array([r["flow_stat"] for r in rows])
    sizes = np.array([r["blur_size"] for r in rows])
    return (f"no-flow-rule training set: {len(rows)} pairs, {100 * np.mean(flows > 1.0):.0f} % of them with an "
            f"estimated flow statistic above 1 px/frame (median {np.median(flows):.2f}, max {flows.max():.2f} px), "
            f"blur size median {np.median(sizes):.1f} px")


def plot_study(records: dict[str, dict], runs_dir: Path, out: Path | None = None, *, footer: str = ""):
    """Left: validation PSNR gain against training step, one line per variant. Right: test
    PSNR gain by blur size, one bar per variant and bin."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..train import read_log

    fig, (ax_c, ax_b) = plt.subplots(1, 2, figsize=(13, 4.6))
    names = [v.name for v in VARIANTS if v.name in records]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, name in enumerate(names):
        log_csv = runs_dir / name / "log.csv"
        if log_csv.is_file():
            pts = [(r["step"], r["val_psnr"] - r["val_psnr_input"]) for r in read_log(log_csv)
                   if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None]
            if pts:
                ax_c.plot(*zip(*pts), marker="o", ms=3, color=colours[j % len(colours)], label=name,
                          ls="--" if name in REFERENCE else "-")
    ax_c.axhline(0, color="k", lw=0.8)
    low, high = ax_c.get_ylim()
    if low < CURVE_FLOOR_DB:
        ax_c.set_ylim(CURVE_FLOOR_DB, max(high, 0.5))
        ax_c.text(0.01, 0.01, f"cut at {CURVE_FLOOR_DB:g} dB", transform=ax_c.transAxes, fontsize=7)
    ax_c.set_xlabel("training step")
    ax_c.set_ylabel("validation PSNR gain over the input (dB)")
    ax_c.set_title("learning curves")
    ax_c.grid(alpha=0.3)
    ax_c.legend(fontsize=8)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(BLUR_BINS))
    counts = _bin_gains(records[names[0]]["test"]) if names else []
    for j, name in enumerate(names):
        gains = np.array([g for g, _ in _bin_gains(records[name]["test"])])
        xs = x + (j - (len(names) - 1) / 2) * width
        ax_b.bar(xs, np.maximum(gains, CURVE_FLOOR_DB), width, color=colours[j % len(colours)], label=name)
        for xi, gi in zip(xs, gains):
            if gi < CURVE_FLOOR_DB:
                ax_b.text(xi, CURVE_FLOOR_DB, f"{gi:.0f}", rotation=90, fontsize=6, ha="center", va="bottom")
    ax_b.set_xticks(x, [f"{blur_bin_label(lo, hi)}\n(n = {c})" for (lo, hi), (_, c) in zip(BLUR_BINS, counts)])
    ax_b.axhline(0, color="k", lw=0.8)
    ax_b.set_xlabel("blur size of the test pair (mean trajectory length)")
    ax_b.set_ylabel("test PSNR gain over the input (dB)")
    ax_b.set_title("gain by blur size")
    ax_b.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    if out is not None:
        from ..io.figures import save_figure

        save_figure(fig, out, formats=("png",), footer=footer or None)
    return fig


def plot_no_flow_rule(standard_root: Path, fast_root: Path, out: Path | None = None, *, footer: str = ""):
    """The clip of the no-flow-rule set with the fastest motion, beside the same clip as the
    standard set has it (<= 1 px/frame): whole images and a zoom on the sharpest region."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io.images import read_image, to_float, to_rgb
    from ..wild import read_manifest

    std = {r["scene"]: r for r in read_manifest(standard_root) if r["split"] == "train" and r["accepted"]}
    fast = [r for r in read_manifest(fast_root) if r["split"] == "train" and r["accepted"] and r["scene"] in std]
    if not fast:
        return None
    pick = max(fast, key=lambda r: r["flow_stat"])
    s_row = std[pick["scene"]]

    def load(root: Path, rel: str) -> np.ndarray:
        return to_rgb(to_float(read_image(root / rel)))

    sharp = load(standard_root, s_row["sharp"])
    images = [sharp, load(standard_root, s_row["blur"]), load(fast_root, pick["blur"])]
    # zoom: the 64x64 window of the sharp frame with the most gradient energy
    g = np.abs(np.diff(sharp.mean(-1), axis=1))[:-1] + np.abs(np.diff(sharp.mean(-1), axis=0))[:, :-1]
    k = min(64, min(g.shape) // 2)
    H, W = g.shape
    best, yx = -1.0, (0, 0)
    for y in range(0, H - k, 8):
        for x in range(0, W - k, 8):
            e = float(g[y:y + k, x:x + k].sum())
            if e > best:
                best, yx = e, (y, x)
    y, x = yx
    titles = [f"sharp (central frame, {pick['scene']})",
              f"WILD, <= 1 px rule: N = {s_row['n']}, flow {s_row['flow_stat']:.2f} px/frame",
              f"no flow rule: N = {pick['n']}, flow {pick['flow_stat']:.2f} px/frame"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for j, (img, title) in enumerate(zip(images, titles)):
        axes[0, j].imshow(np.clip(img, 0, 1))
        axes[0, j].add_patch(plt.Rectangle((x, y), k, k, fill=False, color="yellow", lw=1))
        axes[0, j].set_title(title, fontsize=9)
        axes[1, j].imshow(np.clip(img[y:y + k, x:x + k], 0, 1), interpolation="nearest")
        axes[1, j].set_title("zoom", fontsize=9)
        for ax in axes[:, j]:
            ax.axis("off")
    fig.suptitle("what the no-flow-rule pairs look like: the same clip within the 1 px rule and filmed faster "
                 "(frames more than 1 px apart average into copies, ghosting, rather than a smooth streak)",
                 fontsize=10)
    fig.tight_layout()
    if out is not None:
        from ..io.figures import save_figure

        save_figure(fig, out, formats=("png",), footer=footer or None)
    return fig


def write_report(records: dict[str, dict], *, size: str, results_dir: str | os.PathLike,
                 figures_dir: str | os.PathLike, runs_dir: str | os.PathLike, data_root: str | os.PathLike,
                 counts: dict[str, int], device: str = "auto", seed: int = 0,
                 wall_minutes: float | None = None) -> dict:
    """``ablations.md``/``.csv`` in ``results_dir`` and the two figures in ``figures_dir``."""
    import matplotlib.pyplot as plt

    from ..io.figures import figure_footer
    from ..io.provenance import portable_path, provenance, provenance_line
    from ..io.reports import markdown_table, write_table

    results_dir, figures_dir, runs_dir = Path(results_dir), Path(figures_dir), Path(runs_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    sz = SIZES[size]
    rows, ref_psnr, bar = summary_rows(records)
    sentences = claims(rows, bar)
    any_rec = next(iter(records.values()))
    cfg = any_rec["config"]
    n_pairs = any_rec["pairs"]
    devices = sorted({str(r.get("device", "?")) for r in records.values()})
    prov = provenance(preset=f"ablation-{size}", device=device, seed=seed, data="virtual",
                      data_root=portable_path(Path(data_root)))
    recipe = (f"width {cfg['width']}, {cfg['steps']} steps, batch {cfg['batch_size']} of {cfg['crop']}x{cfg['crop']} "
              f"crops, learning rate {cfg['lr']:g} (x{cfg['decay_factor']} every {cfg['decay_every']} steps, "
              f"warm-up {cfg['warmup_steps']}), training preset `{sz.base_preset}` otherwise; {n_pairs} training "
              f"pairs for every variant; evaluated after the last step on the standard WILD validation "
              f"({counts.get('val')} pairs) and test ({counts.get('test')} pairs) splits")
    notes = [recipe,
             f"bar: {bar:.2f} dB, the difference between the test PSNRs of `paper`'s two seeds (at least "
             f"{MIN_BAR_DB:g} dB); a difference to `paper` (the mean of its two seeds, {ref_psnr:.2f} dB) not "
             f"larger than the bar is not resolved at this budget; nor is one whose validation difference is "
             f"not larger than the validation bar ({seed_bar(records, 'val'):.2f} dB, the same on the validation "
             f"split) or has the other sign"
             if not math.isnan(bar) else "bar: `paper`'s two seeds have not both run yet",
             "gain: PSNR of the restored image minus the PSNR of the blurry input, mean over the pairs; "
             "by blur size: the pair's mean trajectory length from the WILD manifest, n pairs per bin",
             "train min: training time (validation excluded), all sittings together; devices: " + ", ".join(devices)]
    missing = [v.name for v in VARIANTS if v.name not in records]
    if missing:
        notes.append("not run yet: " + ", ".join(missing))
    stats = _no_flow_rule_stats(records)
    if stats:
        notes.append(stats + f" (footage: the same clips, peak flow stretched to 0.3-{sz.fast_peak_flow:g} px/frame)")
    if wall_minutes is not None:
        notes.append(f"wall time of this invocation: {wall_minutes:.1f} min")
    notes.append(f"size {size}: {sz.notes}")
    title = "Ablation study: the paper's design choices"
    csv_path, md_path = write_table(rows, results_dir / "ablations", provenance=prov, title=title, notes=notes)
    # the Markdown report (the CSV has every column at full precision): the main table, the gains
    # by blur size, the claims, and what each variant is
    main_cols = ["variant", "seed", "steps", "train min", "val PSNR", "val SSIM", "val gain dB", "test PSNR",
                 "test SSIM", "test gain dB", "vs paper, test dB", "verdict"]
    bin_cols = ["variant"] + [c for lo, hi in BLUR_BINS for c in (f"gain {blur_bin_label(lo, hi)}",
                                                                  f"n {blur_bin_label(lo, hi)}")]

    def rounded(cols: list[str], digits: int) -> list[dict]:
        return [{c: (("-" if math.isnan(r[c]) else round(r[c], digits)) if isinstance(r[c], float) else r[c])
                 for c in cols} for r in rows]

    md = [f"# {title}", "", f"_Made by: {provenance_line(prov)}_", "",
          markdown_table(rounded(main_cols, 2), main_cols, digits=2), "",
          *[f"- {note}" for note in notes], "",
          "## Test PSNR gain over the input by blur size (dB; n = test pairs per bin)", "",
          markdown_table(rounded(bin_cols, 2), bin_cols, digits=2), "",
          "## The paper's claims, from these numbers", "", *[f"- {s}" for s in sentences], "",
          "## Variants", "",
          markdown_table([{"variant": v.name, "what changes": v.what, "claim tested": v.claim or "(reference)"}
                          for v in VARIANTS]), ""]
    if size == "full":
        md += ["![ablations](../figures/ablations.png)", "",
               "![no-flow-rule pairs](../figures/ablations_no_flow_rule.png)", ""]
    atomic_write_text(md_path, "\n".join(md))
    footer = figure_footer(f"ablation-{size}", len(records), "training runs", seed=seed)
    fig = plot_study(records, runs_dir, figures_dir / "ablations", footer=footer)
    plt.close(fig)
    ghost = None
    if "no-flow-rule" in records:
        fig = plot_no_flow_rule(Path(data_root), Path(records["no-flow-rule"]["data_root"]),
                                figures_dir / "ablations_no_flow_rule",
                                footer=figure_footer(f"ablation-{size}", None, seed=seed))
        if fig is not None:
            ghost = figures_dir / "ablations_no_flow_rule.png"
            plt.close(fig)
    return {"rows": rows, "claims": sentences, "bar": bar, "reference_psnr": ref_psnr, "records": records,
            "markdown": md_path, "csv": csv_path, "figure": figures_dir / "ablations.png",
            "ghosting_figure": ghost}


