"""A network between two of the same shape: weights (and BN statistics) ``(1 - a) * A + a * B``.

The do-no-harm continuation trades gain on blurred pairs for leaving sharp ones alone; the networks
between the shipped one (A) and its continuation (B) trace that trade without training (a point of
the curve in experiments/do_no_harm/README.md, measured on validation like the rest).

    python experiments/do_no_harm/interpolate.py A.pt B.pt 0.5 OUT.pt
"""

from __future__ import annotations

import sys

import torch

from repro.core.checkpoint import load_model, save_checkpoint


def interpolate(a_path: str, b_path: str, alpha: float, out: str) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise SystemExit(f"alpha must be in [0, 1], got {alpha}")
    a, meta_a = load_model(a_path)
    b, meta_b = load_model(b_path)
    if a.config != b.config:
        raise SystemExit(f"{a_path} and {b_path} are not the same network: {a.config} vs {b.config}")
    sa, sb = a.state_dict(), b.state_dict()
    mixed = {k: (sa[k] * (1 - alpha) + sb[k] * alpha) if sa[k].is_floating_point() else sb[k] for k in sa}
    a.load_state_dict(mixed)
    meta = {k: meta_b.get(k) for k in ("preset", "data", "steps", "seed", "precision")}
    meta["interpolated"] = f"(1 - {alpha}) x {a_path} + {alpha} x {b_path}"
    save_checkpoint(out, a, meta)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    torch.set_num_threads(1)
    interpolate(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
