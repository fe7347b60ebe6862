"""Notebook 04's tables beyond Table 2 itself: gains by blur size, and Table 2 on the wallpaper
corpus's test photos (issue 28), each written by one call so that the notebook stays thin."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["CORPUS_ROOT", "gains_by_blur_table", "by_blur_record", "corpus_table2"]

CORPUS_ROOT = Path("data/corpus")  # where `make corpus-data` builds the corpus's pairs (repository-relative)


def gains_by_blur_table(ctx, per_image: list[dict], data_root: Path, *, name: str = "table2_by_blur",
                        images: str = "the test images of Table 2's second column") -> tuple[str, dict | None]:
    """Write ``<name>.csv``/``.md`` (mean gain over the input per method and blur-size bin, from the
    dataset's manifest) with ``ctx.write_table``. Returns the Markdown and the blur sizes (image
    name -> px), or why it was skipped and None (a dataset without a WILD manifest has no blur sizes)."""
    from .residuals import BLUR_BINS, blur_sizes, gains_by_blur, gains_by_input_psnr_columns
    from .methods import label
    from ..wild import read_manifest

    names = sorted({r["name"] for r in per_image})
    try:
        sizes = dict(zip(names, blur_sizes(read_manifest(data_root), names)))
    except (FileNotFoundError, KeyError) as exc:
        return f"no gains by blur size: {exc}", None
    by_input = gains_by_input_psnr_columns(per_image)
    rows = [{**r, **by_input.get(r["method"], {}), "method": label(r["method"])}
            for r in gains_by_blur(per_image, sizes, edges=BLUR_BINS)]
    if not rows:
        return "no gains by blur size: no method beside the blurry input (identity)", sizes
    ctx.write_table(rows, name, title="Table 2 by blur size and by input PSNR: mean PSNR gain over the blurry input (dB)",
                    notes=[f"images: {images} ({len(names)}); blur size: the mean per-pixel length of the "
                           "motion over the averaged window (repro.wild.blur_size_map), from the dataset's "
                           "manifest.csv; input PSNR: the blurry image's against the sharp one (how sharp "
                           "the input already is; the still split, results/do_no_harm/, has more near-sharp images)",
                           "n: images in each bin; a bin is [low, high)"])
    return (Path(ctx.results_dir) / f"{name}.md").read_text(), sizes


def by_blur_record(per_image: list[dict], sizes: dict[str, float] | None) -> dict[str, dict]:
    """The gains of :func:`gains_by_blur_table` for a notebook's record: ``{method key: {bin: mean gain
    over the input (dB) or None}, "n": {bin: images}}`` with bins named ``< 4 px``, ``4-8 px``, ...;
    ``{}`` without blur sizes."""
    from ..io.reports import blur_bin_label
    from .residuals import BLUR_BINS, gains_by_blur

    if not sizes:
        return {}
    bins = [blur_bin_label(lo, hi) for lo, hi in zip(BLUR_BINS[:-1], BLUR_BINS[1:])]
    record: dict[str, dict] = {}
    for row in gains_by_blur(per_image, sizes, edges=BLUR_BINS):
        columns = {column.split(" (n=")[0]: (column, value) for column, value in row.items()}
        record[row["method"]] = {b: columns[b][1] for b in bins}
        record["n"] = {b: int(columns[b][0].split(" (n=")[1].rstrip(")")) for b in bins}
    return record


def corpus_table2(methods: Sequence, ctx, *, n_random: int, limit: int | None, seed: int = 0,
                  corpus_root: str | Path | None = None, limit_classical: int | None = None) -> str:
    """Table 2 on the corpus's test photos: ``table2_corpus.csv``/``.md``/``_per_image.csv`` and
    ``table2_corpus_by_blur.*`` in ``ctx.results_dir``, the same methods and columns as Table 2;
    the classical methods on the first ``limit_classical`` of the seeded permutation
    (:func:`repro.evaluate.classical_limits`), cached in ``ctx.runs_dir / "eval_cache"``.

    Without the corpus's pairs (``make corpus-data``) nothing is written and the returned line
    says that the table was skipped and why; otherwise it is the table's Markdown.
    """
    from ..io.paths import resolve_in_repo
    from .runner import classical_limits, evaluate

    root = resolve_in_repo(corpus_root or CORPUS_ROOT)
    if not (root / "test").is_dir():
        return (f"Table 2 on the corpus: skipped, no corpus test pairs in {root} "
                "(`make corpus-data` fetches the wallpaper photos and builds them)")
    result = evaluate(list(methods), root, split="test", n_random=n_random, seed=seed, out=ctx.results_dir,
                      limit=limit, limits=classical_limits(methods, limit_classical), cache=ctx.runs_dir / "eval_cache",
                      resume=True, save_outputs="none", table="table2_corpus",
                      provenance=ctx.provenance(corpus=str(root)))
    by_blur, _ = gains_by_blur_table(ctx, result["per_image"], root, name="table2_corpus_by_blur",
                                  images="the corpus's test images of the table's second column")
    return result["markdown"] + "\n" + by_blur
