"""Does storing the shipped DeblurNets in float16 move the study's numbers? (issue 44)

The shipped weights were float32 until commit 5657395 and are float16 since. For each network this
runs the float32 original (read from git at that commit) and the float16 file on every test pair of
the still split (``data/still_bundled``, ``data/still_corpus``: the near-sharp images where a
change shows most), once in float32 arithmetic and once in bf16 autocast (what ``auto`` resolves to
on a CPU with AVX512-BF16, and what ``make reproduce`` used there), and writes each image's PSNR
difference and the >= 40 dB bin's mean gain with each file to ``bf16_check.md`` beside this script.

    python experiments/fp16_weights/bf16_check.py        # about 3 minutes on 2 cores
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from repro.core.checkpoint import load_model  # noqa: E402
from repro.io.datasets import PairedFolder  # noqa: E402
from repro.io.files import atomic_write_text  # noqa: E402
from repro.io.provenance import provenance, provenance_line  # noqa: E402
from repro.measure.records import residual_norms  # noqa: E402

FP32_COMMIT = "5657395"  # the last commit whose shipped weights were float32
NETWORKS = ("deblurnet_wild", "deblurnet_si")
ROOTS = ("still_bundled", "still_corpus")


def original(stem: str, folder: Path) -> Path:
    """The float32 file of ``stem`` as shipped at :data:`FP32_COMMIT`, written into ``folder``."""
    blob = subprocess.run(["git", "show", f"{FP32_COMMIT}:repro/weights/{stem}.pt"], cwd=ROOT,
                          capture_output=True, check=True).stdout
    path = folder / f"{stem}_fp32.pt"
    path.write_bytes(blob)
    return path


def compare(fp32: Path, fp16: Path, root: Path, precision: str) -> dict:
    """Both files on every test pair of ``root`` in ``precision``: per-image PSNR differences and the
    >= 40 dB bin's mean gain (finite input PSNR only) with each."""
    dataset = PairedFolder(root, "test")
    a = residual_norms(load_model(fp32)[0], dataset, device="cpu", precision=precision)
    b = residual_norms(load_model(fp16)[0], dataset, device="cpu", precision=precision)
    d = b.psnr_restored - a.psnr_restored
    top = np.isfinite(a.psnr_blurry) & (a.psnr_blurry >= 40)
    return {"n": len(d), "max": float(np.abs(d).max()), "mean": float(d.mean()), "n40": int(top.sum()),
            "gain40_fp32": float((a.psnr_restored - a.psnr_blurry)[top].mean()),
            "gain40_fp16": float((b.psnr_restored - b.psnr_blurry)[top].mean())}


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem in NETWORKS:
            fp32 = original(stem, Path(tmp))
            for name in ROOTS:
                for precision in ("fp32", "bf16"):
                    r = compare(fp32, ROOT / "repro" / "weights" / f"{stem}.pt", ROOT / "data" / name, precision)
                    rows.append(f"| {stem} | {name} | {precision} | {r['n']} | {r['max']:.4f} | {r['mean']:+.4f} | "
                                f"{r['n40']} | {r['gain40_fp32']:+.3f} | {r['gain40_fp16']:+.3f} |")
                    print(rows[-1], flush=True)
    text = "\n".join([
        "# The float16 weights against their float32 originals, in float32 and in bf16 arithmetic",
        "",
        f"The shipped files against those of commit {FP32_COMMIT}, on every test pair of the still split. "
        "Delta: PSNR with the float16 file minus PSNR with the float32 one, per image (dB).",
        "",
        "| network | pairs | arithmetic | n | max abs delta | mean delta | n >= 40 dB | gain >= 40 dB, fp32 file | "
        "gain >= 40 dB, fp16 file |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"_Made by: experiments/fp16_weights/bf16_check.py; {provenance_line(provenance(device='cpu'))}_",
        ""])
    atomic_write_text(Path(__file__).with_name("bf16_check.md"), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
