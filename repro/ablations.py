"""The ablation study: which of the paper's design choices matter? ``python -m repro ablate``.

Every variant below is trained with the same recipe (width, steps, batch, crops, learning rate,
seed) and evaluated on the *standard* WILD validation and test splits:

=====================  ==========================================================================
``paper``              DeblurNet as in Table 1, on standard WILD pairs (the reference)
``paper-seed1``        the same with the next seed: the two seeds' spread is the bar below which
                       a difference is "not resolved at this budget"
``no-skip``            every stage outputs its image, not a residual added to its input
``single-scale``       the same layers as one full-resolution network (no intermediate images,
                       no downsampled inputs), +1.7 % parameters and +1.4 % FLOPs at width 0.25,
                       trained with the loss at full scale (the only scale it has)
``final-loss-only``    DeblurNet, loss at full scale only
``no-flow-rule``       WILD built without the <= 1 px selection: every window accepted, N pairs
``linear-averaging``   WILD frames averaged in linear light (sRGB -> linear, mean, -> sRGB), as
                       GoPro's ``blur_gamma``
``wild+si``            half of every batch is synthetic shift-invariant blur of the WILD sharp frames
=====================  ==========================================================================

**The no-flow-rule footage.** The virtual camera (:mod:`repro.camera`) draws each clip's peak
flow on 0.3-1 px/frame: it films what the paper's rule keeps. Building WILD from it with the
rule switched off would change nothing. The variant therefore films the *same clips faster*:
clip ``i`` keeps its scene, its camera path and its window size ``N``; its peak flow ``p``
(drawn on 0.3-1 px with a density rising as ``(p - 0.3)^2``) is stretched to
``0.3 + (p - 0.3) * (hi - 0.3) / 0.7`` with ``hi`` = :attr:`StudySize.fast_peak_flow` (2 px).
That is the same law on 0.3-``hi`` px, whose part below 1 px is exactly the standard camera's:
the standard WILD set is this footage after the paper's selection. With the rule off (and the
flow-reliability check off) every window is kept; the report gives the share above 1 px.

Each variant's folder (``RUNS/<variant>/``) holds its training run (``last.pt``, ``best.pt``,
``log.csv``; killed runs resume) and, once trained and evaluated, ``ablation.json`` (written
atomically): a rerun skips the variants done, so the study continues over several sittings.
The report (:func:`write_report`): ``RESULTS/ablations.md`` and ``.csv``,
``FIGURES/ablations.png`` (learning curves, gain by blur size) and
``FIGURES/ablations_no_flow_rule.png`` (what the no-flow-rule data look like).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["StudySize", "Variant", "SIZES", "VARIANTS", "BLUR_BINS", "run_study", "evaluate_checkpoint",
           "fast_sources", "verdict", "claims", "summary_rows", "write_report", "notebook_size", "add_arguments",
           "run"]

BLUR_BINS: tuple[tuple[float, float], ...] = ((0.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, math.inf))
SIZE_PRESET = {"full": "quick", "smoke": "smoke"}  # whose output folders (repro.paths.output_dirs) a size uses


def _bin_label(lo: float, hi: float) -> str:
    if lo == 0:
        return f"<{hi:g} px"
    if math.isinf(hi):
        return f">{lo:g} px"
    return f"{lo:g}-{hi:g} px"


@dataclass(frozen=True)
class StudySize:
    """How big the study is: data sizes, the common training recipe (repro.train preset + changes)."""

    name: str
    train_pairs: int  # N: training pairs of every variant (the standard split's first N, or N built)
    val_pairs: int  # standard validation pairs built when the split is missing
    test_pairs: int  # standard test pairs built when the split is missing
    base_preset: str  # repro.train preset the recipe starts from
    recipe: tuple[tuple[str, Any], ...]  # TrainConfig changes, identical for every variant
    fast_peak_flow: float = 2.0  # no-flow-rule footage: top of the peak-flow law, px/frame
    build_workers: int = 2
    notes: str = ""

    def train_config(self):
        from .train import get_preset

        base = get_preset(self.base_preset)
        changes = dict(self.recipe)
        changes.setdefault("name", f"ablation-{self.name}")
        config = base.replace(**changes)
        budget = (f"ablation study ({self.name}): {config.steps} steps, learning rate x{config.decay_factor:g} every "
                  f"{config.decay_every} steps, warm-up {config.warmup_steps} steps, the same for every variant "
                  f"(these replace the preset's own length and schedule)")
        return config.replace(departures=config.departures + (budget,))


SIZES: dict[str, StudySize] = {
    "smoke": StudySize(
        name="smoke", train_pairs=4, val_pairs=2, test_pairs=3, base_preset="smoke", build_workers=1,
        recipe=(("steps", 4), ("val_every", 2), ("checkpoint_every", 2), ("val_images", 0),
                ("si_kernel_size", 13), ("si_psz", (6, 4, 3))),
        notes="seconds, for the tests; numbers meaningless"),
    # 8 runs of 1500 steps: ~0.45 s a step on 2 free cores (width 0.25, batch 8, 96x96) -> ~11-12 min a run
    "full": StudySize(
        name="full", train_pairs=120, val_pairs=48, test_pairs=120, base_preset="cpu",
        recipe=(("steps", 1500), ("decay_every", 500), ("warmup_steps", 100), ("val_every", 250),
                ("val_images", 0), ("checkpoint_every", 100), ("max_minutes", 0.0)),
        notes="8 training runs of 1500 steps at width 0.25 (about 1.5-2 hours on a 2-core CPU)"),
}


@dataclass(frozen=True)
class Variant:
    """One arm of the study: what changes against ``paper``, and the claim of the paper it tests."""

    name: str
    what: str
    changes: tuple[tuple[str, Any], ...] = ()  # TrainConfig changes
    data: str = "standard"  # "standard", "no-flow-rule" or "linear"
    seed_offset: int = 0
    claim: str = ""  # the paper's claim this variant tests ("" for the reference runs)
    expect: str = "worse"  # what the claim predicts for the variant: "worse" or "not better"


VARIANTS: tuple[Variant, ...] = (
    Variant("paper", "DeblurNet as in Table 1 (the reference)"),
    Variant("paper-seed1", "the reference with the next seed (run-to-run spread)", seed_offset=1),
    Variant("no-skip", "each stage outputs the image itself, not a residual added to its input "
            "(residual layers not zero-initialised: with no skip that would start from a black image)",
            changes=(("skip", False), ("zero_init_residual", False)),
            claim="Residual learning (each stage adds its output to its input) makes a better network"),
    Variant("single-scale", "the same layers as one full-resolution network, one loss",
            changes=(("architecture", "single-scale"), ("loss_scales", (0.0, 0.0, 1.0))),
            claim="The coarse-to-fine multi-scale design beats a single-scale network of the same size"),
    Variant("final-loss-only", "DeblurNet with the loss at full scale only",
            changes=(("loss_scales", (0.0, 0.0, 1.0)),),
            claim="Training with the loss at all three scales beats the loss at full scale only"),
    Variant("no-flow-rule", "WILD built without the <= 1 px flow selection (same N pairs, faster footage)",
            data="no-flow-rule",
            claim="Keeping only windows whose inter-frame flow is at most 1 px gives better training pairs"),
    Variant("linear-averaging", "WILD frames averaged in linear light (inverse sRGB, mean, sRGB)", data="linear",
            claim="Averaging the recorded frames directly, without linearising them, is adequate",
            expect="not better"),
    Variant("wild+si", "half of every batch synthetic shift-invariant blur of the WILD sharp frames",
            changes=(("si_fraction", 0.5),),
            claim="WILD pairs are the better training data: adding synthetic shift-invariant blur does not help",
            expect="not better"),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)
REFERENCE = ("paper", "paper-seed1")
MIN_BAR_DB = 0.01  # the report's precision: a smaller difference is never "resolved", whatever the spread
CURVE_FLOOR_DB = -5.0  # the figure cuts gains below this (a network far worse than its input)


def _variant(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANT_NAMES)}")


def notebook_size(preset: str) -> tuple[str, bool]:
    """``(size, train)`` of notebook 08 under a reproduction preset: smoke trains the smoke study;
    paper (a GPU) trains the full one; quick and demo only report the runs that
    ``python -m repro ablate`` has done (the full study takes 1.5-2 hours of CPU)."""
    return {"smoke": ("smoke", True), "paper": ("full", True)}.get(preset, ("full", False))


# --------------------------------------------------------------------------- data


def _n_pairs(root: Path, split: str) -> int:
    from .datasets import PairedFolder

    return len(PairedFolder(root, split)) if (root / split).is_dir() else 0


def ensure_standard_data(root: Path, size: StudySize, *, seed: int = 0, build: bool = True) -> dict[str, int]:
    """The standard WILD splits in ``root``: kept as they are when present (e.g. built by notebook
    01), built from the virtual camera otherwise (the same call as notebook 01). Returns counts."""
    from .wild import build_wild

    wanted = {"train": size.train_pairs, "val": size.val_pairs, "test": size.test_pairs}
    counts = {}
    for split, n in wanted.items():
        have = _n_pairs(root, split)
        if have < n and build:
            log.info("building the standard WILD %s split in %s (%d pairs)", split, root, n)
            build_wild("virtual", root, split=split, pairs=n, seed=seed, workers=size.build_workers,
                       progress=False)
            have = _n_pairs(root, split)
        counts[split] = have
    return counts


def fast_sources(n: int, *, seed: int = 0, hi: float = 2.0, split: str = "train"):
    """The first ``n`` clips of the virtual camera (same seeds, names and window sizes as
    ``build_wild("virtual", ...)``) filmed faster: each clip's peak flow ``p`` stretched from
    0.3-1 px/frame to 0.3-``hi`` (see the module docstring)."""
    from .camera.motion import PEAK_FLOW_RANGE, draw_peak_flow
    from .camera.render import DEFAULT_SIZE
    from .camera.source import VirtualSource, clip_seed
    from .wild.recipe import draw_window_sizes, scene_rng

    lo, top = PEAK_FLOW_RANGE
    sources = []
    for i in range(n):
        name = f"virtual_{i:04d}"
        sd = clip_seed(seed, split, i)
        n_frames = next(draw_window_sizes(scene_rng(seed, name), (7, 23)))  # the builder's draw for the scene
        p = draw_peak_flow(np.random.default_rng([sd, 2]))  # the renderer's own draw for the clip
        fast = lo + (p - lo) * (hi - lo) / (top - lo)
        sources.append(VirtualSource(sd, name=name, n_frames=n_frames, size=DEFAULT_SIZE, split=split,
                                     peak_flow=float(fast)))
    return sources


def variant_data(variant: Variant, root: Path, size: StudySize, n: int, *, seed: int = 0,
                 build: bool = True) -> Path:
    """The training data root of ``variant`` (built when missing): the standard ``root`` or
    ``<root>-ablations/<variant>`` with ``n`` training pairs."""
    if variant.data == "standard":
        return root
    from .wild import build_wild

    out = Path(f"{root}-ablations") / variant.name
    if build and _n_pairs(out, "train") < n:
        log.info("building the %s training set in %s (%d pairs)", variant.name, out, n)
        if variant.data == "linear":
            build_wild("virtual", out, split="train", pairs=n, seed=seed, workers=size.build_workers, linear=True,
                       progress=False)
        elif variant.data == "no-flow-rule":
            # every clip is one window and every window is accepted: n clips (a few spare)
            build_wild(fast_sources(n + 2, seed=seed, hi=size.fast_peak_flow), out, split="train", pairs=n,
                       seed=seed, workers=size.build_workers, downsample=1, max_flow=math.inf,
                       max_match_error=None, progress=False)
        else:
            raise ValueError(f"unknown data kind {variant.data!r}")
    return out


# --------------------------------------------------------------------------- evaluation


def _blur_sizes(root: Path, split: str) -> dict[str, float]:
    """``{"<scene>/<center:06d>": blur size}`` from the WILD manifest (empty without one)."""
    from .wild import read_manifest

    try:
        rows = read_manifest(root)
    except FileNotFoundError:
        return {}
    return {f"{r['scene']}/{r['center']:06d}": r["blur_size"] for r in rows if r["split"] == split and r["accepted"]}


def evaluate_checkpoint(checkpoint: str | os.PathLike, root: str | os.PathLike, split: str, *,
                        device: str = "auto") -> list[dict]:
    """PSNR and SSIM (:mod:`repro.metrics`, data range 1) of the restored and of the blurry image
    against the sharp one, for every pair of ``root``'s ``split``, with the pair's blur size
    from the manifest. The network runs on whole images; its output is clipped to [0, 1]."""
    import torch

    from .checkpoint import load_model
    from .datasets import PairedFolder
    from .devices import resolve_device
    from .metrics import psnr, ssim

    dev = resolve_device(device)
    model, _ = load_model(checkpoint)
    model = model.to(dev).eval()
    ds = PairedFolder(Path(root), split)
    sizes = _blur_sizes(Path(root), split)
    rows = []
    with torch.no_grad():
        for i, name in enumerate(ds.names):
            blurry, sharp = ds[i]
            restored = model(blurry[None].to(dev)).restored.float().clamp(0, 1)[0].cpu()
            b, s, o = (t.permute(1, 2, 0).numpy() for t in (blurry, sharp, restored))
            rows.append({"name": name, "psnr": psnr(s, o, data_range=1.0), "ssim": ssim(s, o, data_range=1.0),
                         "psnr_input": psnr(s, b, data_range=1.0), "ssim_input": ssim(s, b, data_range=1.0),
                         "blur_size": sizes.get(name, math.nan)})
    return rows


# --------------------------------------------------------------------------- the study


def _fingerprint(config, data_root: Path, val_root: Path, seed: int, n: int) -> dict:
    """What makes a variant's run: its training config, data, seed and number of pairs."""
    from .provenance import portable_path

    return {"config": config.to_dict(), "data_root": portable_path(data_root), "val_root": portable_path(val_root),
            "seed": seed, "pairs": n}


def _set_aside_other_run(out: Path, fp: dict) -> None:
    """A ``last.pt`` in ``out`` made with another config or seed is not resumed: its folder is
    renamed ``<variant>.old-<time>`` (nothing is deleted) and the variant starts afresh."""
    last = out / "last.pt"
    if not last.is_file():
        return
    from .checkpoint import load_checkpoint

    meta = load_checkpoint(last, map_location="cpu").get("meta", {})
    saved = {"config": meta.get("train_config") or {}, "seed": meta.get("seed")}
    if _same_run({**fp, **saved}, fp):
        return
    aside = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    log.warning("%s was made with other settings: moved to %s, training %s afresh", last, aside, out.name)
    out.rename(aside)


def _same_run(saved: dict | None, current: dict) -> bool:
    """Whether a recorded fingerprint is ``current``'s; TrainConfig fields added since the record
    was written count as their defaults (so a new option does not invalidate finished runs)."""
    from .train import TrainConfig

    if not isinstance(saved, dict):
        return False
    config = {**TrainConfig().to_dict(), **saved.get("config", {})}
    json_ = lambda d: json.loads(json.dumps(d))  # noqa: E731 (tuples as lists, as stored)
    return (json_(config) == json_(current["config"])
            and all(saved.get(k) == current[k] for k in ("data_root", "val_root", "seed", "pairs")))


def run_study(size: str = "full", *, data_root: str | os.PathLike, runs_dir: str | os.PathLike,
              results_dir: str | os.PathLike | None = None, figures_dir: str | os.PathLike | None = None,
              device: str = "auto", seed: int = 0, variants: list[str] | None = None, train: bool = True,
              progress: bool = True, workers: int = 2) -> dict | None:
    """Train (resuming) and evaluate every variant not done yet, then write the report.

    ``variants``: train only these (default all); the report has every variant done.
    ``train=False`` trains and builds nothing: it reports the variants already done (returns
    None and writes nothing when none is). Returns what :func:`write_report` returns.
    """
    from .provenance import describe_device
    from .train import train as train_run

    if size not in SIZES:
        raise ValueError(f"unknown study size {size!r}; choose from {', '.join(SIZES)}")
    sz = SIZES[size]
    chosen = set(VARIANT_NAMES) if not variants else {_variant(v).name for v in variants}
    root, runs = Path(data_root), Path(runs_dir)
    t0 = time.perf_counter()
    counts = ensure_standard_data(root, sz, seed=seed, build=train)
    if train and (counts["val"] == 0 or counts["test"] == 0 or counts["train"] == 0):
        raise FileNotFoundError(f"{root}: the standard WILD splits are missing ({counts})")
    n = min(sz.train_pairs, counts["train"]) if counts["train"] else sz.train_pairs
    base = sz.train_config().replace(max_pairs=n)
    records: dict[str, dict] = {}
    for v in VARIANTS:
        name = v.name
        out = runs / name
        record_path = out / "ablation.json"
        config = base.replace(**dict(v.changes)) if v.changes else base
        if v.name != "paper":
            config = config.replace(departures=config.departures + (f"ablation variant {v.name}: {v.what}",))
        vseed = seed + v.seed_offset
        vroot = variant_data(v, root, sz, n, seed=seed, build=False)
        fp = _fingerprint(config, vroot, root, vseed, n)
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            if _same_run(record.get("fingerprint"), fp):
                log.info("ablation %s: done (%s)", name, record_path)
                records[name] = record
                continue
            log.warning("ablation %s: %s was made with other settings; %s", name, record_path,
                        "redoing it" if train and name in chosen else "not reported")
        if not train or name not in chosen:
            continue
        vroot = variant_data(v, root, sz, n, seed=seed, build=True)
        _set_aside_other_run(out, fp)
        result = train_run(config, data="wild", data_root=vroot, val_root=root, out=out, device=device,
                           resume=(out / "last.pt").is_file(), seed=vseed, run_name=f"ablation_{name}",
                           progress=progress, workers=workers)
        record = {"variant": name, "fingerprint": fp, "seed": vseed, "steps": result.steps,
                  "train_minutes": result.seconds / 60, "seconds_per_step": result.seconds_per_step,
                  "data_root": str(vroot), "pairs": n, "config": config.to_dict(),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": describe_device(device),
                  "val": evaluate_checkpoint(result.checkpoint, root, "val", device=device),
                  "test": evaluate_checkpoint(result.checkpoint, root, "test", device=device)}
        atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
        records[name] = record
        log.info("ablation %s: %d steps in %.1f min", name, result.steps, result.seconds / 60)
    if not records:
        log.warning("no ablation variant done under %s: run `python -m repro ablate --size %s`", runs, size)
        return None
    if results_dir is None or figures_dir is None:
        return {"records": records}
    return write_report(records, size=size, results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs,
                        data_root=root, counts=counts, device=device, seed=seed,
                        wall_minutes=(time.perf_counter() - t0) / 60)


# --------------------------------------------------------------------------- the report


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


def verdict(delta: float, bar: float, expect: str = "worse") -> str:
    """The verdict on a claim from ``delta`` = variant - reference (dB) and the reference's
    run-to-run spread ``bar`` (at least :data:`MIN_BAR_DB`): a difference not larger than the
    bar is not resolved."""
    if any(math.isnan(x) for x in (delta, bar)):
        return "not tested"
    if abs(delta) <= bar:
        return "not resolved at this budget"
    variant_worse = delta < 0
    if expect == "worse":
        return "supported" if variant_worse else "contradicted"
    if expect == "not better":
        return "contradicted" if not variant_worse else "supported"
    raise ValueError(f"expect must be 'worse' or 'not better', got {expect!r}")


def summary_rows(records: dict[str, dict]) -> tuple[list[dict], float, float]:
    """One row per variant (in :data:`VARIANTS` order) and ``(reference PSNR, bar)`` on the test split."""
    ref = [records[r] for r in REFERENCE if r in records]
    ref_psnr = float(np.mean([_mean(r["test"], "psnr") for r in ref])) if ref else math.nan
    bar = (max(MIN_BAR_DB, abs(_mean(records["paper"]["test"], "psnr") - _mean(records["paper-seed1"]["test"], "psnr")))
           if all(r in records for r in REFERENCE) else math.nan)
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
            row[f"gain {_bin_label(lo, hi)}"] = gain
            row[f"n {_bin_label(lo, hi)}"] = count
        row["vs paper, test dB"] = row["test PSNR"] - ref_psnr
        row["vs paper, val dB"] = row["val PSNR"] - ref_val
        row["verdict"] = verdict(row["vs paper, test dB"], bar, v.expect) if v.claim else "reference"
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
    from .wild import read_manifest

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

    from .train import read_log

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
    ax_b.set_xticks(x, [f"{_bin_label(lo, hi)}\n(n = {c})" for (lo, hi), (_, c) in zip(BLUR_BINS, counts)])
    ax_b.axhline(0, color="k", lw=0.8)
    ax_b.set_xlabel("blur size of the test pair (mean trajectory length)")
    ax_b.set_ylabel("test PSNR gain over the input (dB)")
    ax_b.set_title("gain by blur size")
    ax_b.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    if out is not None:
        from .figures import save_figure

        save_figure(fig, out, formats=("png",), footer=footer or None)
    return fig


def plot_no_flow_rule(standard_root: Path, fast_root: Path, out: Path | None = None, *, footer: str = ""):
    """The clip of the no-flow-rule set with the fastest motion, beside the same clip as the
    standard set has it (<= 1 px/frame): whole images and a zoom on the sharpest region."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .images import read_image, to_float, to_rgb
    from .wild import read_manifest

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
        from .figures import save_figure

        save_figure(fig, out, formats=("png",), footer=footer or None)
    return fig


def write_report(records: dict[str, dict], *, size: str, results_dir: str | os.PathLike,
                 figures_dir: str | os.PathLike, runs_dir: str | os.PathLike, data_root: str | os.PathLike,
                 counts: dict[str, int], device: str = "auto", seed: int = 0,
                 wall_minutes: float | None = None) -> dict:
    """``ablations.md``/``.csv`` in ``results_dir`` and the two figures in ``figures_dir``."""
    import matplotlib.pyplot as plt

    from .figures import figure_footer
    from .provenance import portable_path, provenance, provenance_line
    from .reports import markdown_table, write_table

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
             f"larger than the bar is not resolved at this budget"
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
    bin_cols = ["variant"] + [c for lo, hi in BLUR_BINS for c in (f"gain {_bin_label(lo, hi)}",
                                                                  f"n {_bin_label(lo, hi)}")]

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


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=list(SIZES), default="full",
                        help="full (default: 8 runs of 1500 steps at width 0.25, 1.5-2 h on 2 CPU cores) or "
                             "smoke (seconds, for tests)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="standard WILD dataset (built when missing; default data/wild for full, "
                             "data/wild-smoke for smoke); variants' own sets go to <data-root>-ablations/")
    parser.add_argument("--runs", type=Path, default=None,
                        help="training runs (default runs/ablations for full, runs/smoke/ablations for smoke)")
    parser.add_argument("--results", type=Path, default=None,
                        help="ablations.md/.csv (default results/ for full, results/smoke/ for smoke)")
    parser.add_argument("--figures", type=Path, default=None,
                        help="ablations.png (default figures/ for full, figures/smoke/ for smoke)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every variant (paper-seed1: seed + 1)")
    parser.add_argument("--only", default=None, help=f"comma-separated variants ({', '.join(VARIANT_NAMES)})")
    parser.add_argument("--report-only", action="store_true", help="train nothing: report the variants done")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=2, help="threads reading the dataset")


def run(args: argparse.Namespace) -> int:
    from .paths import output_dirs

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    where = output_dirs(SIZE_PRESET[args.size])
    report = run_study(args.size, data_root=args.data_root or where["data_root"],
                       runs_dir=args.runs or where["runs"] / "ablations",
                       results_dir=args.results or where["results"], figures_dir=args.figures or where["figures"],
                       device=args.device, seed=args.seed,
                       variants=[v.strip() for v in args.only.split(",") if v.strip()] if args.only else None,
                       train=not args.report_only, workers=args.workers)
    if report is None:
        print("no variant done yet", flush=True)
        return 0
    for line in report["claims"]:
        print(line)
    print(f"report: {report['markdown']}")
    return 0
