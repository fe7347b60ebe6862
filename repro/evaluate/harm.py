"""Do no harm (issue 41): how much a network changes images that have little or no blur.

Three measures, all on validation or test pairs, never used to train (computed by
:mod:`repro.measure.harm`, which shipping a network uses too; this module reports them):

- **identity PSNR** (:func:`identity_score`): the network run on the *sharp* frames of both photo
  sets' validation pairs, its output compared with the frame it was fed (mean dB; ``inf`` would be
  untouched). A deblurring network that sharpens everything loses here.
- **gains by input PSNR** (:func:`gains_by_input_psnr`): the mean gain (output PSNR minus input
  PSNR) of pairs binned by how sharp their input already is (:data:`PSNR_BINS`: < 30, 30-35,
  35-40, >= 40 dB). Pairs whose input *is* the sharp frame (a one-frame window, input PSNR
  ``inf``) have no finite gain: they are counted apart, by their output PSNR.
- the **still split** (:func:`still_roots`): WILD pairs of one, three or five frames under a slow
  sway (`make corpus-data` builds them: ``data/still_bundled``, ``data/still_corpus``), whose input
  PSNR spreads from about 30 to above 45 dB: the near-sharp photos a user feeds a deblurring tool.

``python -m repro.evaluate.harm --checkpoint NAME=PATH ... --out results/do_no_harm/choice.md``
measures checkpoints on validation (the do-no-harm choice is made on it, never on test).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ..io.reports import PSNR_BINS, psnr_bin_label
from ..measure.harm import (IDENTICAL, choice_score, gains_by_input_psnr, harm_rows, identity_score, pair_record,
                            still_roots)

__all__ = ["PSNR_BINS", "psnr_bin_label", "IDENTICAL", "gains_by_input_psnr", "identity_score", "still_roots",
           "still_rows", "identity_rows", "still_table", "still_residual_rows", "still_residual_table",
           "harm_rows", "harm_markdown", "choice_score", "main"]

log = logging.getLogger(__name__)

def _cell(v, fmt: str = "{:+.2f}") -> str:
    return "" if v is None else fmt.format(v)


def harm_markdown(rows: dict[str, dict], *, provenance: str, split: str = "val") -> str:
    """A table, one row per checkpoint: identity PSNR, WILD gain, still gains by input PSNR, and
    :func:`choice_score`."""
    bins = [psnr_bin_label(lo, hi) for lo, hi in zip(PSNR_BINS[:-1], PSNR_BINS[1:])]
    first = next(iter(rows.values()), {})
    counts = ", ".join(f"{b} {first.get('still', {}).get(b, {}).get('n', 0)}" for b in bins + [IDENTICAL])
    lines = [f"# Do no harm on the {split} split", "", provenance, "",
             f"Identity PSNR: the network on the sharp frames of both photo sets' {split} pairs, against "
             "those frames (mean dB). WILD gain: mean gain on both photo sets' WILD pairs "
             f"(n = {first.get('n_wild')}). Still split: gains (dB) binned by the input's PSNR (pairs: {counts}); "
             f"'{IDENTICAL}': the output PSNR of one-frame pairs, whose input is the sharp frame. "
             "Score: WILD gain + the still split's mean gain (the recipe's choice).", "",
             "| checkpoint | identity dB | min | WILD gain | " + " | ".join(f"still {b}" for b in bins)
             + f" | still {IDENTICAL} | score |", "|---" * (6 + len(bins)) + "|"]
    for name, r in rows.items():
        still = r.get("still") or {}
        cells = [_cell(still.get(b, {}).get("gain")) for b in bins]
        lines.append(f"| {name} | {r['identity']:.2f} | {r['identity_min']:.2f} | {r['wild_gain']:+.2f} | "
                     + " | ".join(cells) + f" | {_cell(still.get(IDENTICAL, {}).get('output'), '{:.2f}')} | "
                     f"{choice_score(r):+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from ..io.files import atomic_write_text
    from ..core.inference import load_deblurnet
    from ..io.provenance import provenance, provenance_line

    p = argparse.ArgumentParser(prog="python -m repro.evaluate.harm", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH",
                   help="a checkpoint to measure (repeatable)")
    p.add_argument("--data", type=Path, default=Path("data"), help="the folder holding bundled/, corpus/ and still_*/")
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    wild_roots = [args.data / "bundled", args.data / "corpus"]
    for root in wild_roots:
        if not (root / args.split).is_dir():
            p.error(f"{root}/{args.split}: not built (make corpus-data)")
    still = still_roots(args.data)
    if not still:
        p.error(f"{args.data}: no still split (still_bundled/, still_corpus/; make corpus-data)")
    rows = {}
    for item in args.checkpoint:
        name, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            p.error(f"--checkpoint {item}: expected NAME=PATH of an existing checkpoint")
        rows[name] = harm_rows(load_deblurnet(path, device=args.device), wild_roots=wild_roots, still=still,
                               split=args.split, device=args.device)
        log.info("%s: %s", name, rows[name])
    prov = provenance_line(provenance(preset="do-no-harm choice", device=args.device, seed=0))
    atomic_write_text(args.out, harm_markdown(rows, provenance=prov, split=args.split))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())


def still_rows(methods: list, roots: list[Path], *, split: str = "test") -> list[dict]:
    """Per method (:class:`repro.evaluate.method.Method`, e.g. ``make_method("deblurnet-wild")``) and
    photo set, the still split's gains by input PSNR: one row per (method, set, bin) with ``n`` and
    the mean gain (dB), and for one-frame pairs their mean output PSNR. Every pair of ``split`` of
    each root; the input PSNR is the blurry image's against the sharp one."""
    from tqdm.auto import tqdm

    from ..io.datasets import PairedFolder
    from ..core.metrics import psnr

    rows = []
    for root in roots:
        ds = PairedFolder(root, split)
        if len(ds) == 0:
            raise FileNotFoundError(f"{root}/{split}: no still pairs (make corpus-data)")
        images = [(b.permute(1, 2, 0).numpy(), s.permute(1, 2, 0).numpy())
                  for b, s in (ds[i] for i in range(len(ds)))]
        p_in = np.array([psnr(s, b, data_range=1.0) for b, s in images])
        for method in methods:
            p_out = np.array([psnr(s, np.clip(method.deblur(b), 0, 1), data_range=1.0)
                              for b, s in tqdm(images, desc=f"{method.name} on {root.name}", leave=False)])
            for label, b in gains_by_input_psnr(p_in, p_out).items():
                rows.append({"method": method.name, "photos": root.name, "input PSNR": label, "n": b["n"],
                             "mean gain dB": b.get("gain"), "output dB": b.get("output")})
    return rows


def identity_rows(methods: list, roots: list[Path], *, split: str = "val") -> list[dict]:
    """Each method's identity PSNR (its output on each sharp frame of ``split`` of ``roots``
    against that frame, mean dB, an exact copy counted as 100 dB) as rows of :func:`still_table`."""
    from ..io.datasets import PairedFolder
    from ..core.metrics import psnr

    folders = [PairedFolder(root, split) for root in roots]  # each folder listed once
    sharp = [ds[i][1].permute(1, 2, 0).numpy() for ds in folders for i in range(len(ds))]
    return [{"method": m.name, "photos": f"{' + '.join(r.name for r in roots)} ({split})",
             "input PSNR": "the sharp frame itself (identity PSNR)", "n": len(sharp), "mean gain dB": None,
             "output dB": float(np.mean([min(100.0, psnr(s, np.clip(m.deblur(s), 0, 1), data_range=1.0))
                                         for s in sharp]))} for m in methods]


def still_table(ctx, methods: list, *, data: Path, split: str = "test", name: str = "do_no_harm/still_split") -> str:
    """Notebook 04's still-split table (``<results>/<name>.csv``/``.md``): :func:`still_rows` of
    ``methods`` on both photo sets' still pairs, and each network's identity PSNR on the validation
    sharp frames (:func:`identity_rows`). Without the still split (``make corpus-data``) nothing is written and the returned
    line says why; otherwise the table's Markdown."""
    from .methods import label

    roots = [r for r in still_roots(data) if (r / split).is_dir()]
    if not roots:
        return (f"the still split: skipped, no still pairs in {data}/still_bundled or still_corpus "
                "(`make corpus-data` builds them)")
    rows = still_rows(methods, roots, split=split)
    val_roots = [data / "bundled", data / "corpus"]
    if all((r / "val").is_dir() for r in val_roots):
        rows += identity_rows(methods, val_roots)
    rows = [{**r, "method": label(r["method"])} for r in rows]
    (Path(ctx.results_dir) / name).parent.mkdir(parents=True, exist_ok=True)
    ctx.write_table(rows, name, title="The still split: gains of the networks on near-sharp photos, by input PSNR",
                    notes=[f"pairs: the {split} split of {', '.join(r.name for r in roots)} (windows of N = 1, 3, "
                           "5 frames under a slow sway, `make corpus-data`); gain = output PSNR minus input PSNR (dB), "
                           "averaged over the pairs of each bin of input PSNR",
                           f"'{IDENTICAL}': pairs whose input is the sharp frame itself (no finite gain); "
                           "their mean output PSNR is given instead (the identity PSNR on those frames)"])
    return (Path(ctx.results_dir) / f"{name}.md").read_text()


def still_residual_rows(model, roots: list[Path], *, split: str = "test", device: str = "cpu",
                        precision: str = "auto", seed: int = 0) -> list[dict]:
    """Fig. 9 on the still split: per photo set and both together, how N3's residual norm (mean
    ``|r3|``) follows the input's PSNR (Pearson and Spearman with p-values and bootstrap 95 %
    intervals, :func:`repro.evaluate.stats.correlation_interval`), over the pairs with a finite
    input PSNR, and the mean residual of the one-frame pairs (input = sharp frame) beside that of the
    others. A network that leaves sharp inputs alone has a residual that falls as the input's PSNR
    rises (a negative correlation) and near 0 on one-frame pairs."""
    from .stats import correlation_interval

    parts = {}
    for root in roots:
        record = pair_record(model, root, split, device=device, precision=precision)
        parts[root.name] = (np.asarray(record.psnr_blurry), np.asarray(record.residual_l1))
    if len(parts) > 1:
        parts["both"] = tuple(np.concatenate([p[i] for p in list(parts.values())]) for i in (0, 1))
    rows = []
    for name, (p_in, res) in parts.items():
        finite = np.isfinite(p_in)
        c = correlation_interval(p_in[finite], res[finite], seed=seed)
        rows.append({"photos": name, "n": c.n, "pearson_r": c.pearson_r, "pearson_p": c.pearson_p,
                     "pearson 95% interval": f"[{c.pearson_low:+.2f}, {c.pearson_high:+.2f}]",
                     "spearman_r": c.spearman_r, "spearman_p": c.spearman_p,
                     "spearman 95% interval": f"[{c.spearman_low:+.2f}, {c.spearman_high:+.2f}]",
                     "mean |r3|, one-frame pairs": float(res[~finite].mean()) if (~finite).any() else None,
                     "mean |r3|, other pairs": float(res[finite].mean())})
    return rows


def still_residual_table(ctx, model, *, data: Path, split: str = "test", device: str = "cpu",
                         name: str = "do_no_harm/residual_vs_input_psnr") -> str:
    """Notebook 07's table of :func:`still_residual_rows` (``<results>/<name>.csv``/``.md``); without
    the still split a line saying it was skipped."""
    roots = [r for r in still_roots(data) if (r / split).is_dir()]
    if not roots:
        return "Fig. 9 on the still split: skipped, no still pairs (`make corpus-data` builds them)"
    rows = still_residual_rows(model, roots, split=split, device=device, seed=ctx.seed)
    (Path(ctx.results_dir) / name).parent.mkdir(parents=True, exist_ok=True)
    ctx.write_table(rows, name, title="Fig. 9 on the still split: N3's residual norm against the input's PSNR",
                    notes=[f"pairs: the {split} split of {', '.join(r.name for r in roots)} with a finite input "
                           "PSNR (one-frame pairs, whose input is the sharp frame, apart); |r3|: the mean absolute "
                           "value of the residual the last stage adds; intervals: 10 000 bootstrap resamples "
                           "of the pairs", "a network that leaves sharp inputs alone: a negative correlation "
                           "(sharper input, smaller residual) and |r3| near 0 on one-frame pairs"])
    return (Path(ctx.results_dir) / f"{name}.md").read_text()
