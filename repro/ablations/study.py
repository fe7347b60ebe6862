"""Running the ablation study: the variants' training data, their training runs (resumable, one
record per finished variant) and their evaluation on the standard WILD splits."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_text

from .report import write_report
from .variants import SIZES, VARIANT_NAMES, VARIANTS, StudySize, Variant, _variant

log = logging.getLogger(__name__)


def _n_pairs(root: Path, split: str) -> int:
    from ..io.datasets import PairedFolder

    return len(PairedFolder(root, split)) if (root / split).is_dir() else 0


def ensure_standard_data(root: Path, size: StudySize, *, seed: int = 0, build: bool = True) -> dict[str, int]:
    """The standard WILD splits in ``root``: kept as they are when present (e.g. built by notebook
    01), built from the virtual camera otherwise (the same call as notebook 01). Returns counts."""
    from ..wild import build_wild

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
    from ..camera.motion import PEAK_FLOW_RANGE, draw_peak_flow
    from ..camera.render import DEFAULT_SIZE
    from ..camera.source import VirtualSource, clip_seed
    from ..wild.recipe import draw_window_sizes, scene_rng

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
    from ..wild import build_wild

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
    from ..wild import read_manifest

    try:
        rows = read_manifest(root)
    except FileNotFoundError:
        return {}
    return {f"{r['scene']}/{r['center']:06d}": r["blur_size"] for r in rows if r["split"] == split and r["accepted"]}


def evaluate_checkpoint(checkpoint: str | os.PathLike, root: str | os.PathLike, split: str, *,
                        device: str = "auto") -> list[dict]:
    """PSNR and SSIM (:mod:`repro.core.metrics`, data range 1) of the restored and of the blurry image
    against the sharp one, for every pair of ``root``'s ``split``, with the pair's blur size
    from the manifest. The network runs on whole images; its output is clipped to [0, 1]."""
    import torch

    from ..core.checkpoint import load_model
    from ..io.datasets import PairedFolder
    from ..core.devices import resolve_device
    from ..core.metrics import psnr, ssim

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
    from ..io.provenance import portable_path

    return {"config": config.to_dict(), "data_root": portable_path(data_root), "val_root": portable_path(val_root),
            "seed": seed, "pairs": n}


def _set_aside_other_run(out: Path, fp: dict) -> None:
    """A ``last.pt`` in ``out`` made with another config or seed is not resumed: its folder is
    renamed ``<variant>.old-<time>`` (nothing is deleted) and the variant starts afresh."""
    last = out / "last.pt"
    if not last.is_file():
        return
    from ..core.checkpoint import load_checkpoint

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
    from ..train import TrainConfig

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
    from ..io.provenance import describe_device
    from ..train import train as train_run

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


