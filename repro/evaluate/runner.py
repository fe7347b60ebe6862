"""The Table 2 run: every method on every evaluated pair, CPU-bound methods in worker processes,
a crash recorded as the row's error, resumable from the per-image CSV."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_text
from ..io.images import write_image
from ..io.provenance import portable_path
from .cache import RowCache, method_settings
from .data import checked_output, list_pairs, load_rgb, output_path, pair_digest, select_images
from .method import Method, fingerprint, make_method
from .tables import (METRIC_KEYS, PER_IMAGE_FIELDS, SUMMARY_FIELDS, csv_text, failed_row, markdown, parse_number,
                     read_per_image, summarise)

__all__ = ["evaluate", "classical_limits"]

log = logging.getLogger(__name__)


def classical_limits(methods: Sequence[Method], limit: int | None) -> dict[str, int | None]:
    """:func:`evaluate`'s ``limits`` that run the slow methods (those run in worker processes,
    ``parallel`` not False: the classical baselines) on the first ``limit`` images of the seeded
    permutation; empty (every method on the same images) when ``limit`` is None."""
    if limit is None:
        return {}
    return {m.name: limit for m in methods if getattr(m, "parallel", True)}


def _metrics_row(output: np.ndarray, sharp: np.ndarray, shift_radius: int) -> dict:
    """PSNR, SSIM and (``shift_radius > 0``) the shift-search PSNR of ``output`` against ``sharp``,
    both ``(H, W, 3)`` float32 in [0, 1]."""
    from ..core.metrics import psnr, shift_search_psnr, ssim

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
    row = failed_row()
    try:
        blurry, sharp = load_rgb(blur_path), load_rgb(sharp_path)
        if blurry.shape != sharp.shape:
            raise ValueError(f"{blur_path}: shape {blurry.shape} differs from {sharp_path}: {sharp.shape}")
        start = time.perf_counter()
        output = np.asarray(method.deblur(blurry))
        row["seconds"] = time.perf_counter() - start
        output = checked_output(output, sharp.shape)
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


def _worker_task(task: tuple) -> dict:
    """``task``: ``(method index, image index, blur path, sharp path, shift_radius, save path)``."""
    mi, _, blur_path, sharp_path, shift_radius, save_path = task
    return _evaluate_one(_WORKER_METHODS[mi], blur_path, sharp_path, shift_radius, save_path)


def _run_tasks(methods: list[Method], tasks: list[tuple[int, int]], pairs: list[tuple[Path, Path]],
               rows: dict[tuple[int, int], dict], *, workers: int, shift_radius: int,
               save_path: Callable[[int, int], Path | None], checkpoint: Callable[[int, int], None],
               progress: bool) -> None:
    """Compute ``rows[(method index, image index)]`` for every task: methods that may run in parallel
    (``parallel`` not False) in ``workers`` processes (:class:`repro.io.pool.TaskPool`), the others here
    meanwhile; a worker that dies leaves its row failed. ``checkpoint(mi, ii)`` runs after every
    row; what was computed stays in ``rows`` whatever happens."""
    from tqdm.auto import tqdm

    from ..io.pool import TaskPool

    pool_tasks = [t for t in tasks if workers > 1 and getattr(methods[t[0]], "parallel", True)]
    in_pool = set(pool_tasks)
    pool_methods = {mi for mi, _ in pool_tasks}  # only these are sent to the workers
    local_tasks = [t for t in tasks if t not in in_pool]
    bar = tqdm(total=len(tasks), desc="evaluate", unit="run", disable=not progress)

    def record(mi: int, ii: int, row: dict) -> None:
        rows[(mi, ii)] = row
        bar.set_postfix_str(methods[mi].name, refresh=False)
        bar.update()
        checkpoint(mi, ii)

    def record_done(done) -> None:
        if done.error is not None:  # the worker died (BrokenProcessPool) or could not start
            kind = "worker process died" if isinstance(done.error, BrokenProcessPool) else "worker failed"
            record(*done.task[:2], failed_row(f"{kind}: {type(done.error).__name__}: {done.error}"[:500]))
        else:
            record(*done.task[:2], done.value)

    pool = None
    try:
        if pool_tasks:
            jobs = [(mi, ii, *pairs[ii], shift_radius, save_path(mi, ii)) for mi, ii in pool_tasks]
            pool = TaskPool(_worker_task, jobs, workers=workers, context=_mp_context(), initializer=_init_worker,
                            in_flight=0, initargs=([m if i in pool_methods else None for i, m in enumerate(methods)],))
        for mi, ii in local_tasks:
            b, s = pairs[ii]
            record(mi, ii, _evaluate_one(methods[mi], b, s, shift_radius, save_path(mi, ii)))
            for done in pool.poll() if pool is not None else []:
                record_done(done)
        for done in pool.results() if pool is not None else []:
            record_done(done)
    finally:
        bar.close()
        if pool is not None:
            pool.close()


def _data_line(data: Path, split: str, image_names: Sequence[str]) -> str:
    """The tables' line naming the data: folder, split, pairs and scenes (and the builder's manifest)."""
    n_scenes = len({n.split("/")[0] for n in image_names})
    line = f"{portable_path(data)} (split '{split}': {len(image_names)} pairs in {n_scenes} scenes"
    if (data / "manifest.csv").is_file():
        line += "; built by repro.wild, see manifest.csv"
    return line + ")"


def _default_provenance(seed: int) -> dict:
    """:func:`repro.io.provenance.provenance`, or only the seed when it cannot be collected."""
    try:
        from ..io.provenance import provenance

        return provenance(seed=seed)
    except Exception as exc:  # provenance is informative; never fail the run for it
        log.warning("could not collect provenance: %s", exc)
        return {"seed": seed}


def _earlier_rows(per_image_path: Path, names: Sequence[str], index_of: dict[str, int], random_set: set[int],
                  shift_radius: int, digests: dict[int, str]) -> tuple[dict[tuple, dict], list[dict]]:
    """What a resumed run takes from ``per_image_path``: ``previous`` (error-free rows of this run's
    methods, keyed by method, fingerprint, image, shift radius and image digest) and ``carried``
    (rows of other methods on the same images, content and shift radius, kept in the tables)."""
    previous, carried = {}, []
    for r in read_per_image(per_image_path):
        if r["method"] not in names:
            if (r["name"] in index_of and r.get("shift_radius", "") == str(shift_radius)
                    and r.get("image_sha", "") == digests[index_of[r["name"]]]):
                ii = index_of[r["name"]]
                carried.append({**r, **{k: parse_number(r.get(k)) for k in METRIC_KEYS},
                                "index": ii, "in_random": ii in random_set, "error": r.get("error") or ""})
        elif not r.get("error"):
            previous[(r["method"], r.get("fingerprint", ""), r["name"], r.get("shift_radius", ""),
                      r.get("image_sha", ""))] = r
    return previous, carried


def _reuse(previous: dict[tuple, dict], names: Sequence[str], fingerprints: Sequence[str], image_names: Sequence[str],
           method_idx: Sequence[Sequence[int]], shift_radius: int, digests: dict[int, str],
           cached: Callable[[int, int], dict | None]) -> tuple[dict[tuple[int, int], dict], list[tuple[int, int]]]:
    """``(rows, tasks)``: the metrics of ``previous`` rows that match a (method, image) of this run
    (:func:`_earlier_rows`), else of the cache (``cached(mi, ii)``: a record or None), keyed
    ``(method index, image index)``, and the pairs still to compute. ``method_idx[mi]``: the image
    indices method ``mi`` runs on; ``image_names``: every image of the split."""
    rows: dict[tuple[int, int], dict] = {}
    tasks: list[tuple[int, int]] = []
    n_cached = 0
    for mi, name in enumerate(names):
        for ii in method_idx[mi]:
            key = (name, fingerprints[mi], image_names[ii], str(shift_radius), digests.get(ii, ""))
            if key in previous:
                rows[(mi, ii)] = {**{k: parse_number(previous[key].get(k)) for k in METRIC_KEYS}, "error": ""}
            elif (record := cached(mi, ii)) is not None:
                rows[(mi, ii)] = {**{k: record.get(k, math.nan) for k in METRIC_KEYS}, "error": ""}
                n_cached += 1
            else:
                tasks.append((mi, ii))
    if rows:
        log.info("resume: reused %d of %d rows (%d from the cache)", len(rows), len(rows) + len(tasks), n_cached)
    return rows, tasks


def _descriptions(methods: Sequence[Method], carried: list[dict], per_image_name: str) -> dict[str, str]:
    """Each method's description for the table's notes (``describe()``; carried methods: where from)."""
    descriptions = {}
    for m in methods:
        if hasattr(m, "describe"):
            try:
                descriptions[m.name] = m.describe()
            except Exception as exc:
                descriptions[m.name] = f"(no description: {exc})"
    for r in carried:
        descriptions.setdefault(r["method"], f"rows kept from an earlier run into {per_image_name} "
                                             f"(fingerprint {r.get('fingerprint', '?')})")
    return descriptions


def _check_arguments(names: Sequence[str], save_outputs: str, shift_radius: int, table: str,
                     limits: Mapping[str, int | None]) -> None:
    """Refuse, in one line each, what :func:`evaluate` cannot do."""
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    if unknown := sorted(set(limits) - set(names)):
        raise ValueError(f"limits name methods not evaluated: {unknown} (methods: {names})")
    if save_outputs not in ("random", "all", "none"):
        raise ValueError(f"save_outputs must be 'random', 'all' or 'none', got {save_outputs!r}")
    if shift_radius < 0:
        raise ValueError(f"shift_radius must be >= 0, got {shift_radius}")
    if not table or any(c in table for c in "/\\"):
        raise ValueError(f"table must be a file stem (no folder), got {table!r}")


def evaluate(methods: Sequence[Method | str], data: str | os.PathLike, *, split: str = "test", n_random: int = 15,
             seed: int = 0, out: str | os.PathLike, workers: int | None = None,
             limit: int | None = None, shift_radius: int = 10, save_outputs: str = "random", resume: bool = False,
             provenance: dict | None = None, progress: bool = True, table: str = "table2",
             limits: Mapping[str, int | None] | None = None, cache: str | os.PathLike | None = None) -> dict:
    """Evaluate ``methods`` on the pairs of ``data/<split>`` and write the Table 2 files to ``out``.

    Parameters
    ----------
    methods : :class:`Method` objects or names for :func:`make_method`; names must be unique.
    data : a GoPro-layout folder (see :func:`list_pairs`).
    out : folder of the tables (and of ``outputs/``); required, so nothing lands in the current
        folder unasked.
    n_random, seed, limit : the random subset and the evaluated images (see :func:`select_images`).
    limits : method name -> its own ``limit`` (e.g. the slow classical methods on a seeded subset,
        the networks on every pair); the subsets are nested (the first images of one seeded
        permutation), so two methods are compared on the images both ran.
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
        :func:`repro.io.provenance.provenance`.
    table : the tables' file stem: ``<table>.csv``, ``<table>.md``, ``<table>_per_image.csv``
        (e.g. "table2_corpus" for the corpus's test photos beside Table 2 itself).
    cache : a folder of per-image records (:class:`repro.evaluate.cache.RowCache`) for the methods
        that run in worker processes (``parallel`` not False: the slow classical ones): found there,
        a row is not computed again, whatever the per-image CSV holds; computed, it is kept there.

    Returns ``{"summary": [...], "per_image": [...], "files": {...}, "random_names": [...],
    "data": str, "provenance": str}``.
    """
    methods = [make_method(m) if isinstance(m, str) else m for m in methods]
    names = [m.name for m in methods]
    limits = dict(limits or {})
    _check_arguments(names, save_outputs, shift_radius, table, limits)
    out, data = Path(out), Path(data)
    image_names, pairs = list_pairs(data, split)
    method_idx = [select_images(len(pairs), n_random=n_random, seed=seed, limit=limits.get(n, limit))[1] for n in names]
    eval_idx = sorted(set().union(*method_idx))
    random_idx = select_images(len(pairs), n_random=n_random, seed=seed, limit=len(eval_idx))[0]
    random_set = set(random_idx)
    workers = min(4, os.cpu_count() or 1) if workers is None else int(workers)

    data_line = _data_line(data, split, image_names)
    provenance = {**(provenance if provenance is not None else _default_provenance(seed)), "random_seed": seed,
                  "n_random": n_random, "split": split, "limit": limit, "shift_radius": shift_radius}
    prov_line = "; ".join(f"{k}={v}" for k, v in provenance.items() if v is not None)

    per_image_path = out / f"{table}_per_image.csv"
    # resume matches rows by the images' content too, so a rebuilt dataset with the same file
    # names never reuses stale numbers
    caching = cache is not None and any(getattr(m, "parallel", True) for m in methods)
    digests = {ii: pair_digest(pairs[ii]) for ii in eval_idx} if resume or caching else {}
    previous, carried = {}, []  # carried: resume's rows of methods not in this run, kept in the tables
    if resume:
        previous, carried = _earlier_rows(per_image_path, names, {image_names[i]: i for i in eval_idx}, random_set,
                                          shift_radius, digests)

    fingerprints = [fingerprint(m) for m in methods]
    store = RowCache(cache) if caching else None
    cache_keys = {mi: {ii: RowCache.key(fingerprints[mi], method_settings(m), digests[ii], shift_radius)
                       for ii in method_idx[mi]}
                  for mi, m in enumerate(methods) if store is not None and getattr(m, "parallel", True)}

    def cached(mi: int, ii: int) -> dict | None:
        return store.get(names[mi], cache_keys[mi][ii]) if mi in cache_keys else None

    # rows[(method index, image index)]: the reused ones now, the others as ``tasks`` are computed
    rows, tasks = _reuse(previous, names, fingerprints, image_names, method_idx, shift_radius, digests, cached)
    for (mi, ii), row in rows.items():  # rows resumed from the CSV complete the cache
        if mi in cache_keys and cached(mi, ii) is None:
            store.put(names[mi], cache_keys[mi][ii], row, fingerprint=fingerprints[mi], image=image_names[ii],
                      image_sha=digests[ii], shift_radius=shift_radius)

    def save_path(mi: int, ii: int) -> Path | None:
        if save_outputs == "all" or (save_outputs == "random" and ii in random_set):
            return output_path(out, methods[mi].name, image_names[ii])
        return None

    def full_row(mi: int, ii: int) -> dict:
        return {"method": methods[mi].name, "name": image_names[ii], "index": ii, "in_random": ii in random_set,
                "fingerprint": fingerprints[mi], "shift_radius": shift_radius,
                "image_sha": digests.get(ii) or pair_digest(pairs[ii]), **rows[(mi, ii)]}

    def per_image_rows() -> list[dict]:
        return carried + [full_row(mi, ii) for mi in range(len(methods)) for ii in method_idx[mi] if (mi, ii) in rows]

    last_write = [time.monotonic()]

    def checkpoint_rows(mi: int | None = None, ii: int | None = None, force: bool = False) -> None:
        if mi in cache_keys:
            store.put(names[mi], cache_keys[mi][ii], rows[(mi, ii)], fingerprint=fingerprints[mi],
                      image=image_names[ii], image_sha=digests[ii], shift_radius=shift_radius)
        if force or time.monotonic() - last_write[0] > 30:
            atomic_write_text(per_image_path, csv_text(per_image_rows(), PER_IMAGE_FIELDS))
            last_write[0] = time.monotonic()

    try:
        _run_tasks(methods, tasks, pairs, rows, workers=workers, shift_radius=shift_radius, save_path=save_path,
                   checkpoint=checkpoint_rows, progress=progress)
    finally:  # what was computed is kept for a resume, whatever stopped the run
        if rows:
            checkpoint_rows(force=True)

    per_image = per_image_rows()
    summary = summarise(per_image, list(dict.fromkeys([r["method"] for r in carried] + names)), data_line, prov_line,
                        seed=seed)
    random_names = [image_names[i] for i in random_idx]
    md = markdown(summary, data_line=data_line, prov_line=prov_line, n_random=len(random_idx),
                   n_eval=len(eval_idx), n_total=len(pairs), random_names=random_names,
                   descriptions=_descriptions(methods, carried, per_image_path.name), shift_radius=shift_radius,
                   failures=[r for r in per_image if r["error"]])
    files = {"per_image": per_image_path, "csv": out / f"{table}.csv", "md": out / f"{table}.md"}
    atomic_write_text(files["csv"], csv_text(summary, SUMMARY_FIELDS))
    atomic_write_text(files["md"], md)
    return {"summary": summary, "per_image": per_image, "files": files, "random_names": random_names,
            "data": data_line, "provenance": prov_line, "markdown": md}
