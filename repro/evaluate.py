"""Table 2 and Fig. 4: evaluate deblurring methods on a paired test split.

Every method is a :class:`Method`: a ``name`` and ``deblur(image) -> image`` on ``(H, W, 3)``
float32 images in [0, 1]. :func:`make_method` builds a method of the table in
:mod:`repro.methods` by its key (``identity``, the blurry input; the classical baselines of
``repro.baselines``; ``deblurnet-si`` and ``deblurnet-wild``), importing each lazily. That table
also gives the labels of the rows and the paper's reported PSNR.

:func:`evaluate` runs them on a GoPro-layout folder (``ROOT/<split>/<scene>/{blur,sharp}/*.png``)
and writes, atomically, under ``out``:

* ``table2_per_image.csv`` -- one row per (method, image): PSNR, SSIM, shift-search PSNR, time,
  and the error message if the method crashed on that image (a crash is recorded, not fatal);
* ``table2.csv`` / ``table2.md`` -- mean and sample standard deviation (ddof=1) per method on
  ``n_random`` seeded random images (15, as the paper) and on the whole split, the number of
  images, the paper's reported PSNR beside ours, the data and how the run was made.

Metrics: PSNR and SSIM from :mod:`repro.metrics` on the full image, data range 1 (uint8 files
scaled by 1/255), SSIM with Gaussian weights (sigma 1.5, Wang et al. 2004 constants,
``use_sample_covariance=False``) averaged over RGB; ``psnr_shift`` is the best PSNR over integer
shifts within ``shift_radius`` pixels on the image without a border of ``shift_radius + 1``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from . import methods as methods_table
from .files import atomic_write_text
from .images import natural_key, read_image, to_float, to_rgb, write_image
from .paths import weights_dir
from .provenance import portable_path

__all__ = [
    "Method",
    "Identity",
    "DeblurNetMethod",
    "PAPER_TABLE2",
    "make_method",
    "list_pairs",
    "select_images",
    "evaluate",
    "figure4",
    "figure4_figure",
    "add_arguments",
    "run",
]

log = logging.getLogger(__name__)

# Table 2 of the paper, as REPORTED there (docs/paper.md, "Table 2"), shown beside ours only: a
# read-only view of the paper_psnr column of repro.methods.METHODS, the one table of methods.
PAPER_TABLE2: dict[str, float] = {k: s.paper_psnr for k, s in methods_table.METHODS.items()
                                  if s.paper_psnr is not None}

_WEIGHTS_DIR = weights_dir()

PER_IMAGE_FIELDS = ["method", "name", "index", "in_random", "psnr", "ssim", "psnr_shift", "shift_dy", "shift_dx",
                    "seconds", "error", "fingerprint", "shift_radius", "image_sha"]
SUMMARY_FIELDS = ["method", "subset", "n", "n_failed", "psnr_mean", "psnr_std", "ssim_mean", "ssim_std",
                  "psnr_shift_mean", "psnr_shift_std", "seconds_mean", "paper_psnr", "data", "provenance"]


# --------------------------------------------------------------------------- methods


@runtime_checkable
class Method(Protocol):
    """A deblurring method: ``deblur`` maps ``(H, W, 3)`` float32 in [0, 1] to the same shape.

    Optional attributes read by :func:`evaluate`: ``parallel: bool`` (default True: CPU-bound,
    run in worker processes; False: run in the main process, e.g. a network on a GPU),
    ``fingerprint: str`` (identifies weights/settings for resuming) and ``describe() -> str``.
    """

    name: str

    def deblur(self, image: np.ndarray) -> np.ndarray: ...


@dataclass
class Identity:
    """The blurry input itself."""

    name: str = "identity"
    parallel: bool = False  # nothing to compute

    def deblur(self, image: np.ndarray) -> np.ndarray:
        return np.array(image, dtype=np.float32, copy=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class DeblurNetMethod:
    """DeblurNet from a checkpoint; the network is loaded on the first :meth:`deblur` call.

    ``checkpoint=None`` takes the shipped ``repro/weights/deblurnet_wild.pt`` (names containing
    "si": ``deblurnet_si.pt``); a missing file is an error (never a random network). Runs in the
    main process (``parallel = False``) on ``device``; ``tile`` as :func:`repro.inference.deblur`.
    """

    parallel = False

    def __init__(self, checkpoint: str | os.PathLike | None, name: str = "deblurnet-wild", device: str = "auto",
                 tile: int | None = 512) -> None:
        self.name = name
        if checkpoint is None:
            shipped = "deblurnet_si.pt" if name.endswith("si") else "deblurnet_wild.pt"
            checkpoint = _WEIGHTS_DIR / shipped
            if not checkpoint.is_file():
                raise FileNotFoundError(f"{checkpoint}: no shipped weights for {name!r}; train them "
                                        "(python -m repro train) or pass a checkpoint")
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"{self.checkpoint}: checkpoint for {name!r} not found")
        self.device = device
        self.tile = tile
        self.fingerprint = f"{name}:sha256={_sha256(self.checkpoint)[:16]}"
        self.meta: dict = {}
        self._model = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None  # reload in the other process rather than pickling weights
        return state

    def _load(self):
        if self._model is None:
            from .checkpoint import load_model
            from .devices import resolve_device

            model, self.meta = load_model(self.checkpoint)
            self._model = model.to(resolve_device(self.device)).eval()
        return self._model

    def describe(self) -> str:
        self._load()
        keys = ("preset", "data", "steps", "psnr", "date")
        meta = ", ".join(f"{k}={self.meta[k]}" for k in keys if k in self.meta)
        return f"{self.checkpoint.name} ({self.fingerprint.split(':')[1]}{', ' + meta if meta else ''})"

    def deblur(self, image: np.ndarray) -> np.ndarray:
        from .inference import deblur as _deblur

        model = self._load()
        return _deblur(np.asarray(image, dtype=np.float32), model=model, tile=self.tile)


def make_method(name: str, *, checkpoint: str | os.PathLike | None = None, device: str = "auto",
                **options) -> Method:
    """A :class:`Method` by its key in :data:`repro.methods.METHODS` (see :func:`repro.methods.build`).

    ``checkpoint``: weights for methods that have them (DeblurNet, the kernel CNN of ``sun``;
    None = shipped). ``device`` for DeblurNet. Other ``options`` go to the method's constructor.
    Raises ``ValueError`` for an unknown name or a method whose module cannot be imported.
    """
    return methods_table.build(name, checkpoint=checkpoint, device=device, **options)


def _pair_digest(pair) -> str:
    """sha256 (16 hex digits) of a (blurry, sharp) pair's file bytes: what resume matches on."""
    h = hashlib.sha256()
    for path in pair:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def _fingerprint(method: Method) -> str:
    fp = getattr(method, "fingerprint", None)
    return str(fp) if fp else f"{method.name}:{type(method).__module__}.{type(method).__qualname__}"


# --------------------------------------------------------------------------- data


def list_pairs(data: str | os.PathLike, split: str = "test") -> tuple[list[str], list[tuple[Path, Path]]]:
    """``(names, pairs)`` of a GoPro-layout folder, sorted by name (``"<scene>/<stem>"``).

    Reads the pairs with :class:`repro.datasets.PairedFolder`.
    """
    data = Path(data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such data folder")
    from .datasets import PairedFolder

    ds = PairedFolder(data, split)
    names, pairs = list(ds.names), [(Path(b), Path(s)) for b, s in ds.pairs]
    if not pairs:
        raise FileNotFoundError(f"{data}: no blur/sharp pairs in split {split!r} "
                                f"(expected {data}/{split}/<scene>/blur/*.png and sharp/*.png)")
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    return [names[i] for i in order], [pairs[i] for i in order]


def select_images(n_total: int, *, n_random: int = 15, seed: int = 0,
                  limit: int | None = None) -> tuple[list[int], list[int]]:
    """``(random_indices, evaluated_indices)``, both sorted, the first a subset of the second.

    A seeded permutation of the split: its first ``n_random`` are the random subset and its first
    ``limit`` (all without ``limit``) are evaluated, so the random subset does not depend on
    ``limit`` (as long as ``limit >= n_random``).
    """
    if n_total < 1:
        raise ValueError("no images to select from")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    perm = np.random.default_rng(seed).permutation(n_total)
    n_eval = n_total if limit is None else min(limit, n_total)
    return sorted(int(i) for i in perm[:min(n_random, n_eval)]), sorted(int(i) for i in perm[:n_eval])


# --------------------------------------------------------------------------- one image


def _load_rgb(path: Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` float32 in [0, 1] (gray replicated, alpha dropped)."""
    return to_rgb(to_float(read_image(path)))


def _metrics_row(output: np.ndarray, sharp: np.ndarray, shift_radius: int) -> dict:
    from .metrics import psnr, shift_search_psnr, ssim

    row = {"psnr": psnr(sharp, output, data_range=1.0), "ssim": ssim(sharp, output, data_range=1.0),
           "psnr_shift": math.nan, "shift_dy": math.nan, "shift_dx": math.nan}
    if shift_radius > 0:
        try:
            s = shift_search_psnr(output, sharp, radius=shift_radius, border=shift_radius + 1, subpixel=False)
            row.update(psnr_shift=s.psnr, shift_dy=s.integer_shift[0], shift_dx=s.integer_shift[1])
        except ValueError:  # image too small for the radius: leave NaN
            pass
    return row


def _evaluate_one(method: Method, blur_path: Path, sharp_path: Path, shift_radius: int,
                  save_path: Path | None) -> dict:
    """Run ``method`` on one pair and score it; any exception becomes the row's ``error``."""
    row: dict = {"psnr": math.nan, "ssim": math.nan, "psnr_shift": math.nan, "shift_dy": math.nan,
                 "shift_dx": math.nan, "seconds": math.nan, "error": ""}
    try:
        blurry, sharp = _load_rgb(blur_path), _load_rgb(sharp_path)
        if blurry.shape != sharp.shape:
            raise ValueError(f"{blur_path}: shape {blurry.shape} differs from {sharp_path}: {sharp.shape}")
        start = time.perf_counter()
        output = np.asarray(method.deblur(blurry))
        row["seconds"] = time.perf_counter() - start
        if output.shape != sharp.shape:
            raise ValueError(f"output shape {output.shape} differs from the input's {sharp.shape}")
        if not np.all(np.isfinite(output)):
            raise ValueError("output has NaN or infinite values")
        output = np.clip(output.astype(np.float32), 0.0, 1.0)
        row.update(_metrics_row(output, sharp, shift_radius))
        if save_path is not None:
            write_image(save_path, output)
    except Exception as exc:  # recorded, not fatal: one method failing on one image
        row["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        log.warning("%s failed on %s: %s", getattr(method, "name", "?"), blur_path, row["error"])
    return row


def _mp_context():
    """Worker processes that start clean (no inherited torch/OpenMP threads, which ``fork`` would
    copy in a broken state) but fast: forked from a server that has imported ``repro`` once."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["repro.evaluate"])
        return ctx
    return multiprocessing.get_context("spawn")


_WORKER_METHODS: list = []  # set in each worker process by _init_worker


def _init_worker(methods: list) -> None:
    _WORKER_METHODS[:] = methods
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _worker_task(index: int, blur_path: Path, sharp_path: Path, shift_radius: int, save_path: Path | None) -> dict:
    return _evaluate_one(_WORKER_METHODS[index], blur_path, sharp_path, shift_radius, save_path)


# --------------------------------------------------------------------------- tables


def _fmt(x: float, digits: int = 2) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _stats(values: list[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else math.nan)


def _csv_text(rows: list[dict], fields: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) and math.isfinite(v) else
                             ("" if isinstance(v, float) else v)) for k, v in r.items()})
    return buf.getvalue()


def _parse_number(text: str | None) -> float | int:
    if text in ("", None):
        return math.nan
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _read_per_image(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _paper(key: str) -> float:
    value = methods_table.paper_psnr(key)
    return math.nan if value is None else value


def _summarise(per_image: list[dict], method_names: list[str], data_line: str, prov_line: str) -> list[dict]:
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
            summary.append(out)
    return summary


def _markdown(summary: list[dict], *, data_line: str, prov_line: str, n_random: int, n_eval: int, n_total: int,
              random_names: list[str], descriptions: dict[str, str], shift_radius: int, failures: list[dict]) -> str:
    by = {(r["method"], r["subset"]): r for r in summary}
    methods = list(dict.fromkeys(r["method"] for r in summary))
    split_label = "whole split" if n_eval == n_total else f"{n_eval} of {n_total} (seeded subset, --limit)"

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
        "",
        f"| method | paper PSNR (reported) | PSNR, {n_random} random | SSIM, {n_random} random | n | "
        f"PSNR, {split_label} | SSIM, {split_label} | shift PSNR, {split_label} | n | failed | s/image |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        r, s = by[(m, "random")], by[(m, "split")]
        paper = _fmt(_paper(m)) or "–"
        lines.append(f"| {methods_table.label(m)} | {paper} | {cell(r, 'psnr', 2)} | {cell(r, 'ssim', 3)} | {r['n']} | "
                     f"{cell(s, 'psnr', 2)} | {cell(s, 'ssim', 3)} | {cell(s, 'psnr_shift', 2)} | {s['n']} | "
                     f"{s['n_failed']} | {_fmt(s['seconds_mean'], 2)} |")
    lines += ["", f"Random images (seeded): {', '.join(random_names)}"]
    if descriptions:
        lines += ["", "Methods:"] + [f"- {methods_table.label(k)}: {v}" for k, v in descriptions.items()]
    if failures:
        lines += ["", f"Failures ({len(failures)}; first 20):"]
        lines += [f"- {r['method']} on {r['name']}: {r['error']}" for r in failures[:20]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the runner


def _output_path(out: Path, method: str, name: str) -> Path:
    return out / "outputs" / method / f"{name}.png"


def evaluate(methods: Sequence[Method | str], data: str | os.PathLike, *, split: str = "test", n_random: int = 15,
             seed: int = 0, out: str | os.PathLike, workers: int | None = None,
             limit: int | None = None, shift_radius: int = 10, save_outputs: str = "random", resume: bool = False,
             provenance: dict | None = None, progress: bool = True) -> dict:
    """Evaluate ``methods`` on the pairs of ``data/<split>`` and write the Table 2 files to ``out``.

    Parameters
    ----------
    methods : :class:`Method` objects or names for :func:`make_method`; names must be unique.
    data : a GoPro-layout folder (see :func:`list_pairs`).
    out : folder of the tables (and of ``outputs/``); required, so nothing lands in the current
        folder unasked.
    n_random, seed, limit : the random subset and the evaluated images (see :func:`select_images`).
    workers : processes for CPU-bound methods (``parallel`` not False); 0 or 1 runs everything in
        this process. Default: ``min(4, cpu count)``.
    shift_radius : radius of the shift-search PSNR column (0 = skip it).
    save_outputs : "random" (outputs of the random subset), "all" or "none", as PNG under
        ``out/outputs/<method>/<scene>/<stem>.png`` (used by :func:`figure4`).
    resume : reuse rows of an existing ``table2_per_image.csv`` computed without error for the
        same method fingerprint, image and ``shift_radius``; rows of methods not in ``methods``
        are kept and appear in the tables too (so DeblurNet on a GPU and the classical methods
        on a CPU can be run separately into one table, with the same seed/n_random/limit).
    provenance : how the run was made (preset, device, seed, date, ...); default
        :func:`repro.provenance.provenance`.

    Returns ``{"summary": [...], "per_image": [...], "files": {...}, "random_names": [...],
    "data": str, "provenance": str}``.
    """
    methods = [make_method(m) if isinstance(m, str) else m for m in methods]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    if save_outputs not in ("random", "all", "none"):
        raise ValueError(f"save_outputs must be 'random', 'all' or 'none', got {save_outputs!r}")
    if shift_radius < 0:
        raise ValueError(f"shift_radius must be >= 0, got {shift_radius}")
    out = Path(out)
    data = Path(data)
    image_names, pairs = list_pairs(data, split)
    random_idx, eval_idx = select_images(len(pairs), n_random=n_random, seed=seed, limit=limit)
    random_set = set(random_idx)
    workers = min(4, os.cpu_count() or 1) if workers is None else int(workers)

    n_scenes = len({n.split("/")[0] for n in image_names})
    data_line = f"{portable_path(data)} (split '{split}': {len(pairs)} pairs in {n_scenes} scenes"
    if (data / "manifest.csv").is_file():
        data_line += "; built by repro.wild, see manifest.csv"
    data_line += ")"
    if provenance is None:
        try:
            from .provenance import provenance as _prov

            provenance = _prov(seed=seed)
        except Exception as exc:  # provenance is informative; never fail the run for it
            log.warning("could not collect provenance: %s", exc)
            provenance = {"seed": seed}
    provenance = {**provenance, "random_seed": seed, "n_random": n_random, "split": split, "limit": limit,
                  "shift_radius": shift_radius}
    prov_line = "; ".join(f"{k}={v}" for k, v in provenance.items() if v is not None)

    per_image_path = out / "table2_per_image.csv"
    previous = {}
    carried: list[dict] = []  # resume: rows of methods not in this run, kept in the tables
    # resume matches rows by the images' content too, so a rebuilt dataset with the same file
    # names never reuses stale numbers
    digests = {ii: _pair_digest(pairs[ii]) for ii in eval_idx} if resume else {}
    if resume:
        index_of = {image_names[i]: i for i in eval_idx}
        for r in _read_per_image(per_image_path):
            if r["method"] not in names:
                if (r["name"] in index_of and r.get("shift_radius", "") == str(shift_radius)
                        and r.get("image_sha", "") == digests[index_of[r["name"]]]):
                    ii = index_of[r["name"]]
                    carried.append({**r, **{k: _parse_number(r.get(k)) for k in
                                            ("psnr", "ssim", "psnr_shift", "shift_dy", "shift_dx", "seconds")},
                                    "index": ii, "in_random": ii in random_set, "error": r.get("error") or ""})
            elif not r.get("error"):
                previous[(r["method"], r.get("fingerprint", ""), r["name"], r.get("shift_radius", ""),
                          r.get("image_sha", ""))] = r

    rows: dict[tuple[int, int], dict] = {}
    tasks: list[tuple[int, int]] = []  # (method index, image index) still to compute
    fingerprints = [_fingerprint(m) for m in methods]
    for mi, m in enumerate(methods):
        for ii in eval_idx:
            key = (m.name, fingerprints[mi], image_names[ii], str(shift_radius), digests.get(ii, ""))
            if key in previous:
                old = previous[key]
                rows[(mi, ii)] = {k: _parse_number(old.get(k))
                                  for k in ("psnr", "ssim", "psnr_shift", "shift_dy", "shift_dx", "seconds")}
                rows[(mi, ii)]["error"] = ""
            else:
                tasks.append((mi, ii))
    if previous:
        log.info("resume: reused %d of %d rows", len(rows), len(rows) + len(tasks))

    def save_path(mi: int, ii: int) -> Path | None:
        if save_outputs == "all" or (save_outputs == "random" and ii in random_set):
            return _output_path(out, methods[mi].name, image_names[ii])
        return None

    def full_row(mi: int, ii: int) -> dict:
        return {"method": methods[mi].name, "name": image_names[ii], "index": ii, "in_random": ii in random_set,
                "fingerprint": fingerprints[mi], "shift_radius": shift_radius,
                "image_sha": digests.get(ii) or _pair_digest(pairs[ii]), **rows[(mi, ii)]}

    def per_image_rows() -> list[dict]:
        return carried + [full_row(mi, ii) for mi in range(len(methods)) for ii in eval_idx if (mi, ii) in rows]

    last_write = [time.monotonic()]

    def checkpoint_rows(force: bool = False) -> None:
        if force or time.monotonic() - last_write[0] > 30:
            atomic_write_text(per_image_path, _csv_text(per_image_rows(), PER_IMAGE_FIELDS))
            last_write[0] = time.monotonic()

    from tqdm.auto import tqdm

    pool_tasks = [t for t in tasks if workers > 1 and getattr(methods[t[0]], "parallel", True)]
    in_pool = set(pool_tasks)
    pool_methods = {mi for mi, _ in pool_tasks}  # only these are sent to the workers
    local_tasks = [t for t in tasks if t not in in_pool]
    bar = tqdm(total=len(tasks), desc="evaluate", unit="run", disable=not progress)
    pending: dict[Future, tuple[int, int]] = {}
    executor = None
    try:
        if pool_tasks:
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                                           initializer=_init_worker,
                                           initargs=([m if i in pool_methods else None
                                                      for i, m in enumerate(methods)],))
            for mi, ii in pool_tasks:
                b, s = pairs[ii]
                pending[executor.submit(_worker_task, mi, b, s, shift_radius, save_path(mi, ii))] = (mi, ii)

        def collect(block: bool) -> None:
            done = as_completed(list(pending)) if block else [f for f in pending if f.done()]
            for fut in done:
                mi, ii = pending.pop(fut)
                try:
                    rows[(mi, ii)] = fut.result()
                except Exception as exc:  # the worker died (BrokenProcessPool) or could not start
                    kind = "worker process died" if isinstance(exc, BrokenProcessPool) else "worker failed"
                    rows[(mi, ii)] = {"psnr": math.nan, "ssim": math.nan, "psnr_shift": math.nan,
                                      "shift_dy": math.nan, "shift_dx": math.nan, "seconds": math.nan,
                                      "error": f"{kind}: {type(exc).__name__}: {exc}"[:500]}
                bar.set_postfix_str(methods[mi].name, refresh=False)
                bar.update()
                checkpoint_rows()

        for mi, ii in local_tasks:
            b, s = pairs[ii]
            rows[(mi, ii)] = _evaluate_one(methods[mi], b, s, shift_radius, save_path(mi, ii))
            bar.set_postfix_str(methods[mi].name, refresh=False)
            bar.update()
            collect(block=False)
            checkpoint_rows()
        collect(block=True)
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if rows:
            checkpoint_rows(force=True)

    per_image = per_image_rows()
    summary = _summarise(per_image, list(dict.fromkeys([r["method"] for r in carried] + names)), data_line,
                         prov_line)
    descriptions = {}
    for m in methods:
        if hasattr(m, "describe"):
            try:
                descriptions[m.name] = m.describe()
            except Exception as exc:
                descriptions[m.name] = f"(no description: {exc})"
    for r in carried:
        descriptions.setdefault(r["method"], f"rows kept from an earlier run into {per_image_path.name} "
                                             f"(fingerprint {r.get('fingerprint', '?')})")
    failures = [r for r in per_image if r["error"]]
    random_names = [image_names[i] for i in random_idx]
    md = _markdown(summary, data_line=data_line, prov_line=prov_line, n_random=len(random_idx),
                   n_eval=len(eval_idx), n_total=len(pairs), random_names=random_names, descriptions=descriptions,
                   shift_radius=shift_radius, failures=failures)
    files = {"per_image": per_image_path, "csv": out / "table2.csv", "md": out / "table2.md"}
    atomic_write_text(files["csv"], _csv_text(summary, SUMMARY_FIELDS))
    atomic_write_text(files["md"], md)
    return {"summary": summary, "per_image": per_image, "files": files, "random_names": random_names,
            "data": data_line, "provenance": prov_line, "markdown": md}


# --------------------------------------------------------------------------- Fig. 4


def _pick_crops(blurry: np.ndarray, sharp: np.ndarray, size: int, n: int) -> list[tuple[int, int]]:
    """Top-left corners of ``n`` non-overlapping ``size`` squares where the blur changes the image most."""
    from scipy.ndimage import uniform_filter

    H, W = sharp.shape[:2]
    energy = uniform_filter(np.abs(blurry - sharp).mean(axis=2), size=size, mode="constant")
    half = size // 2
    valid = np.full_like(energy, -np.inf)
    valid[half:H - size + half + 1, half:W - size + half + 1] = energy[half:H - size + half + 1, half:W - size + half + 1]
    corners = []
    for _ in range(n):
        cy, cx = np.unravel_index(int(np.argmax(valid)), valid.shape)
        if not np.isfinite(valid[cy, cx]):
            break
        y0, x0 = int(cy) - half, int(cx) - half
        corners.append((y0, x0))
        valid[max(0, y0 - half):y0 + size + half, max(0, x0 - half):x0 + size + half] = -np.inf
    return corners


def figure4_figure(blurry: np.ndarray, sharp: np.ndarray, outputs: dict[str, np.ndarray | BaseException], *,
                   n_crops: int = 2, crop_size: int | None = None, title: str | None = None):
    """Fig. 4 layout: blurry, sharp and each output side by side (row 1) with zoomed crops (rows 2+).

    Shapes: all ``(H, W, 3)`` float in [0, 1]. ``outputs`` maps a method key (labelled by
    :func:`repro.methods.label`) to its output, or to the exception it raised: a failed method
    keeps its column, titled "FAILED" and showing the error. Column titles give the PSNR against
    ``sharp``. Crops are where ``|blurry - sharp|`` is largest. Returns a matplotlib ``Figure``.
    """
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .metrics import psnr

    H, W = sharp.shape[:2]
    size = crop_size or max(16, min(H, W) // 4)
    corners = _pick_crops(blurry, sharp, size, n_crops)
    columns = [("identity", blurry), ("sharp (ground truth)", sharp)] + list(outputs.items())
    colors = ["#ff3030", "#30a0ff", "#30d030", "#ffb000"]
    n_rows, n_cols = 1 + len(corners), len(columns)
    cell = 2.6
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * (H / W + len(corners)) + 0.6),
                             squeeze=False, gridspec_kw={"height_ratios": [H / W] + [1] * len(corners)})
    for j, (key, img) in enumerate(columns):
        head = methods_table.label(key)
        if isinstance(img, BaseException):  # the method failed: say so where its result would be
            message = textwrap.fill(f"{type(img).__name__}: {img}", 30, max_lines=6, placeholder=" ...")
            for i in range(n_rows):
                axes[i, j].imshow(np.full((H, W) if i == 0 else (size, size), 0.85), cmap="gray", vmin=0, vmax=1)
                axes[i, j].text(0.5, 0.5, "FAILED\n" + message if i == 0 else "FAILED", ha="center", va="center",
                                fontsize=7 if i == 0 else 9, color="#c00000", transform=axes[i, j].transAxes)
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
            axes[0, j].set_title(f"{head}\nFAILED", fontsize=9, color="#c00000")
            continue
        img = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        if key != "sharp (ground truth)":
            head += f"\n{psnr(sharp.astype(np.float32), img, data_range=1.0):.2f} dB"
        ax = axes[0, j]
        ax.imshow(img)
        ax.set_title(head, fontsize=9)
        for k, (y0, x0) in enumerate(corners):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), size, size, fill=False, lw=1.2, ec=colors[k % len(colors)]))
            axc = axes[1 + k, j]
            axc.imshow(img[y0:y0 + size, x0:x0 + size], interpolation="nearest")
            for side in axc.spines.values():
                side.set_edgecolor(colors[k % len(colors)])
                side.set_linewidth(2)
        for i in range(n_rows):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_ylabel("full image", fontsize=9)
    for k in range(len(corners)):
        axes[1 + k, 0].set_ylabel(f"crop {k + 1} ({size} px)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def figure4(methods: Sequence[Method | str], data: str | os.PathLike, *, split: str = "test",
            image: str | int | None = None, seed: int = 0, n_random: int = 15,
            out: str | os.PathLike, results: str | os.PathLike | None = None,
            n_crops: int = 2, crop_size: int | None = None) -> list[Path]:
    """Fig. 4: one test image deblurred by each method, with crops; writes ``out`` as PNG and PDF.

    A method that raises (or returns a wrong shape or non-finite values) keeps its column,
    marked FAILED with the error (:func:`figure4_figure`).

    ``image``: a name ``"<scene>/<stem>"`` or an index into the split; default the first of the
    seeded random subset of :func:`evaluate` (same ``seed``/``n_random``). With ``results`` (an
    :func:`evaluate` output folder), saved outputs ``results/outputs/<method>/<name>.png`` are
    used instead of running a method again. Returns the written paths.
    """
    from .figures import save_figure

    methods = [make_method(m) if isinstance(m, str) else m for m in methods]
    names, pairs = list_pairs(data, split)
    if image is None:
        index = select_images(len(pairs), n_random=max(1, n_random), seed=seed)[0][0]
    elif isinstance(image, int):
        if not 0 <= image < len(pairs):
            raise ValueError(f"image index {image} out of range: the split has {len(pairs)} pairs")
        index = image
    else:
        if image not in names:
            raise ValueError(f"image {image!r} is not in {data}/{split} (e.g. {names[0]!r})")
        index = names.index(image)
    blurry, sharp = _load_rgb(pairs[index][0]), _load_rgb(pairs[index][1])
    outputs = {}
    for m in methods:
        if isinstance(m, Identity):  # the blurry input is already the first column
            continue
        saved = _output_path(Path(results), m.name, names[index]) if results is not None else None
        if saved is not None and saved.is_file():
            outputs[m.name] = _load_rgb(saved)
            continue
        try:
            output = np.asarray(m.deblur(blurry), dtype=np.float32)
            if output.shape != blurry.shape:
                raise ValueError(f"output shape {output.shape} differs from the input's {blurry.shape}")
            if not np.all(np.isfinite(output)):
                raise ValueError("output has NaN or infinite values")
            outputs[m.name] = np.clip(output, 0, 1)
        except Exception as exc:  # shown as FAILED in the figure, never left out
            log.warning("figure4: %s failed on %s: %s", m.name, names[index], exc)
            outputs[m.name] = exc
    fig = figure4_figure(blurry, sharp, outputs, n_crops=n_crops, crop_size=crop_size,
                         title=f"{Path(data).name}/{split}/{names[index]}")
    try:
        return save_figure(fig, out)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=",".join(methods_table.keys()),
                        help=f"comma-separated methods (default: all of {','.join(methods_table.keys())})")
    parser.add_argument("--data", required=True, type=Path, help="GoPro-layout folder: DATA/<split>/<scene>/{blur,sharp}")
    parser.add_argument("--split", default="test", help="split folder to evaluate (default: test)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--n-random", type=int, default=15, help="size of the seeded random subset (default: 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random subset (default: 0)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only a seeded subset of N images")
    for spec in methods_table.METHODS.values():  # --checkpoint-wild, --checkpoint-si, --checkpoint-sun
        if spec.checkpoint_flag:
            parser.add_argument(spec.checkpoint_flag, type=Path, default=None,
                                help=f"weights of {spec.label} (default: shipped)")
    parser.add_argument("--device", default="auto", help="device for DeblurNet (default: auto)")
    parser.add_argument("--workers", type=int, default=None, help="processes for CPU-bound methods (default: min(4, cores))")
    parser.add_argument("--shift-radius", type=int, default=10, help="radius of the shift-search PSNR (0 = off)")
    parser.add_argument("--save-outputs", choices=("random", "all", "none"), default="random",
                        help="which deblurred images to save under OUT/outputs (default: random)")
    parser.add_argument("--resume", action="store_true", help="reuse rows of an existing per-image CSV")
    parser.add_argument("--preset", default=None, help="training preset of the checkpoints, for the provenance line")
    parser.add_argument("--fig4", type=Path, default=None, help="also write Fig. 4 to this path (e.g. figures/fig4.png)")


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    if not names:
        raise ValueError("--methods is empty")
    checkpoints = {key: getattr(args, spec.checkpoint_flag.lstrip("-").replace("-", "_"))
                   for key, spec in methods_table.METHODS.items() if spec.checkpoint_flag}
    methods = [make_method(n, checkpoint=checkpoints.get(n), device=args.device) for n in names]
    try:
        from .provenance import provenance as _prov

        prov = _prov(preset=args.preset, device=args.device, seed=args.seed)
    except Exception as exc:
        log.warning("could not collect provenance: %s", exc)
        prov = {"preset": args.preset, "device": args.device, "seed": args.seed}
    result = evaluate(methods, args.data, split=args.split, n_random=args.n_random, seed=args.seed, out=args.out,
                      workers=args.workers, limit=args.limit, shift_radius=args.shift_radius,
                      save_outputs=args.save_outputs, resume=args.resume, provenance=prov)
    for path in result["files"].values():
        log.info("wrote %s", path)
    if args.fig4 is not None:
        for path in figure4(methods, args.data, split=args.split, seed=args.seed, n_random=args.n_random,
                            out=args.fig4, results=args.out):
            log.info("wrote %s", path)
    print(result["markdown"])
    return 0
