"""Issue 41's "no loss where it deblurs": the networks shipped before the do-no-harm continuation
and those shipped after it, side by side on the same test pairs of Table 2 and of the corpus's
Table 2, overall and by blur size (mean gain over the blurry input, dB).

    git show 436cf43:repro/weights/deblurnet_wild.pt > runs/before/deblurnet_wild.pt   # (and _si)
    python experiments/do_no_harm/side_by_side.py --before runs/before --out experiments/do_no_harm/side_by_side.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from repro.evaluate import make_method
from repro.evaluate.data import list_pairs, load_rgb
from repro.evaluate.residuals import BLUR_BINS, blur_bin_label, blur_sizes
from repro.io.files import atomic_write_text
from repro.core.metrics import psnr
from repro.io.provenance import provenance, provenance_line
from repro.wild import read_manifest

SETS = {"Table 2 (data/wild, test)": Path("data/wild"), "the corpus's Table 2 (data/corpus, test)": Path("data/corpus")}


def gains(checkpoints: dict[str, Path], root: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each network's gain on every test pair of ``root`` ``(n,)``, and the pairs' blur sizes ``(n,)``."""
    names, pairs = list_pairs(root, "test")
    sizes = np.asarray(blur_sizes(read_manifest(root), names))
    images = [(load_rgb(b), load_rgb(s)) for b, s in pairs]
    p_in = np.array([psnr(s, b, data_range=1.0) for b, s in images])
    out = {}
    for label, ckpt in checkpoints.items():
        kind = "deblurnet-si" if "SI" in label else "deblurnet-wild"
        method = make_method(kind, checkpoint=ckpt, device="cpu")
        out[label] = np.array([psnr(s, np.clip(method.deblur(b), 0, 1), data_range=1.0)
                               for b, s in tqdm(images, desc=f"{label} on {root.name}", leave=False)]) - p_in
    return out, sizes


def table(title: str, result: dict[str, np.ndarray], sizes: np.ndarray) -> list[str]:
    bins = list(zip(BLUR_BINS[:-1], BLUR_BINS[1:]))
    head = ["network", f"all (n={sizes.size})"] + [f"{blur_bin_label(lo, hi)} (n={int(((sizes >= lo) & (sizes < hi)).sum())})"
                                                  for lo, hi in bins]
    lines = [f"## {title}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, g in result.items():
        cells = [f"{g.mean():+.2f}"] + [f"{g[(sizes >= lo) & (sizes < hi)].mean():+.2f}" if ((sizes >= lo) & (sizes < hi)).any()
                                        else "" for lo, hi in bins]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def still(checkpoints: dict[str, Path]) -> list[str]:
    """The still split's test pairs (both photo sets together), the same networks: gains by input PSNR."""
    from repro.evaluate.harm import IDENTICAL, PSNR_BINS, psnr_bin_label, still_roots, still_rows

    roots = still_roots(Path("data"))
    methods = []
    for label, ckpt in checkpoints.items():
        method = make_method("deblurnet-si" if "SI" in label else "deblurnet-wild", checkpoint=ckpt, device="cpu")
        method.name = label
        methods.append(method)
    rows = still_rows(methods, roots)
    bins = [psnr_bin_label(lo, hi) for lo, hi in zip(PSNR_BINS[:-1], PSNR_BINS[1:])]
    lines = [f"## the still split ({', '.join(r.name for r in roots)}, test): gains by input PSNR", "",
             "| network | photos | " + " | ".join(bins) + f" | {IDENTICAL}: output PSNR |", "|---" * (3 + len(bins)) + "|"]
    for label in checkpoints:
        for root in roots:
            mine = {r["input PSNR"]: r for r in rows if r["method"] == label and r["photos"] == root.name}
            cells = [f"{mine[b]['mean gain dB']:+.2f} (n={mine[b]['n']})" if mine[b]["n"] else "" for b in bins]
            lines.append(f"| {label} | {root.name} | " + " | ".join(cells) + f" | {mine[IDENTICAL]['output dB']:.2f} |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="folder with the networks shipped before")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(2)
    checkpoints = {"DeblurNet^WILD before": args.before / "deblurnet_wild.pt",
                   "DeblurNet^WILD now": Path("repro/weights/deblurnet_wild.pt"),
                   "DeblurNet^SI before": args.before / "deblurnet_si.pt",
                   "DeblurNet^SI now": Path("repro/weights/deblurnet_si.pt")}
    lines = ["# No loss where it deblurs? The networks before and after the do-no-harm continuation", "",
             provenance_line(provenance(preset="quick", device="cpu", seed=0)), "",
             "Mean gain over the blurry input (dB) on every test pair, the same pairs for both networks; "
             "'before': the networks shipped at 436cf43 (the long runs), 'now': the do-no-harm continuations.", ""]
    for title, root in SETS.items():
        result, sizes = gains(checkpoints, root)
        lines += table(title, result, sizes)
    lines += still(checkpoints)
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
