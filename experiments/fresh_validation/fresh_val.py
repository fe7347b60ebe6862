"""Networks side by side on the validation pairs that chose their checkpoints and on fresh ones.

    python experiments/fresh_validation/fresh_val.py OUT.md TITLE NAME=CHECKPOINT[:x8] [NAME=CHECKPOINT[:x8] ...]

For each checkpoint: the mean PSNR gain over the blurry input on data/wild_cpu's 48 validation
pairs (which picked the checkpoints of every run of issue 15) and on data/wild_val2's 200 fresh
pairs (new clips of the validation photos: ``python -m repro build-wild virtual data/wild_val2
--split val --seed 1 --pairs 200``), which chose nothing; the paired difference of each network
with the first one on the fresh pairs; and the identity PSNR (the network run on the sharp
validation frames). A checkpoint ending in ``:x8`` is run as the x8 self-ensemble
(``repro.core.inference.SelfEnsemble``: the 8 flips and quarter turns, averaged). Nothing here reads
the test split. Writes OUT.md.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

from repro.evaluate.residuals import identity_psnr
from repro.io.datasets import PairedFolder
from repro.core.inference import SelfEnsemble, deblur_tensor, load_deblurnet
from repro.core.metrics import psnr
from repro.io.provenance import provenance, provenance_line

SETS = {"val": ("data/wild_cpu", "val"), "fresh": ("data/wild_val2", "val")}


@functools.lru_cache(maxsize=None)
def dataset(key: str) -> PairedFolder:
    """The pairs ``SETS[key]`` (indexed once)."""
    return PairedFolder(*SETS[key])


def gains_on(net, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(gains, inputs)``: per-image PSNR gain (dB) of ``net`` over the blurry input on the pairs
    ``SETS[key]``, and the blurry inputs' PSNR (dB); whole images, in order."""
    from tqdm import tqdm

    ds = dataset(key)
    p_in, p_out = [], []
    for i in tqdm(range(len(ds)), desc=key, leave=False):
        blurry, sharp = ds[i]
        restored = deblur_tensor(net, blurry[None], tile=None)[0].clamp(0, 1)
        s = sharp.permute(1, 2, 0).numpy()
        p_in.append(psnr(s, blurry.permute(1, 2, 0).numpy(), data_range=1.0))
        p_out.append(psnr(s, restored.permute(1, 2, 0).numpy(), data_range=1.0))
    return np.array(p_out) - np.array(p_in), np.array(p_in)


def load(spec: str):
    """The network of ``CHECKPOINT`` or ``CHECKPOINT:x8`` (its x8 self-ensemble), on the CPU."""
    path, x8 = (spec[:-3], True) if spec.endswith(":x8") else (spec, False)
    net = load_deblurnet(path, "cpu")
    return SelfEnsemble(net) if x8 else net


def measure(nets: dict[str, Path]) -> tuple[dict, dict, dict]:
    """For each named checkpoint: its gains on every set of SETS and its identity PSNR on the sharp
    validation frames. Returns ``(gains[name][key], identity[name], inputs[key])`` (arrays)."""
    import torch

    torch.set_num_threads(2)
    gains, ident, inputs = {}, {}, {}
    for name, path in nets.items():
        net = load(str(path))
        gains[name] = {}
        for key in SETS:
            gains[name][key], inputs[key] = gains_on(net, key)
        ident[name] = identity_psnr(net, dataset("val"), device="cpu")
        print(name, {k: round(float(v.mean()), 3) for k, v in gains[name].items()}, flush=True)
    return gains, ident, inputs


def paired(a: np.ndarray, b: np.ndarray) -> str:
    """Mean of ``a - b`` with its standard error (per-image differences)."""
    d = np.asarray(a) - np.asarray(b)
    return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}"


def main(out: Path, title: str, nets: dict[str, Path]) -> None:
    gains, ident, inputs = measure(nets)
    first = next(iter(nets))
    lines = [f"# {title}", "",
             f"| network | checkpoint | val gain ({len(inputs['val'])} pairs, chose the checkpoints) | fresh val gain "
             f"({len(inputs['fresh'])} new pairs) | fresh: minus {first} (mean ± s.e.) | identity PSNR, median (dB) |",
             "|---|---|---|---|---|---|"]
    for name, path in nets.items():
        g = gains[name]
        lines.append(f"| {name} | {path} | {g['val'].mean():+.3f} | {g['fresh'].mean():+.3f} | "
                     f"{paired(g['fresh'], gains[first]['fresh'])} | {np.median(ident[name]):.2f} |")
    lines += ["", f"- blurry inputs: {inputs['val'].mean():.2f} dB ({SETS['val'][0]} validation pairs), "
                  f"{inputs['fresh'].mean():.2f} dB ({SETS['fresh'][0]}: the validation photos, other clips)",
              "- gain: mean PSNR of the network's output minus that of the blurry input, whole 240x320 images",
              "- identity PSNR: the network run on the sharp validation frames, against them (inf: untouched)", "",
              f"_Made by: {provenance_line(provenance(device='cpu', script='experiments/fresh_validation/fresh_val.py'))}_", ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) < 4 or not all("=" in a for a in sys.argv[3:]):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:]))
