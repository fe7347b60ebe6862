"""How far a continued DeblurNet moved from the one it started from, and what that cost.

    python experiments/fresh_validation/continuation_drift.py OUT.md START.pt CONTINUED.pt

For the two checkpoints: the relative change of each weight tensor (``|W1 - W0| / |W0|``, Frobenius
norms; the largest and the median), and the validation gain over the blurry input on
data/wild_cpu's 48 validation pairs of four networks: each checkpoint as it is, and each one's
weights with the other's batch-norm running statistics (which separates what training changed
in the weights from what it changed in the statistics). Nothing here reads the test split.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fresh_val import gains_on  # noqa: E402

from repro.core.checkpoint import load_model  # noqa: E402
from repro.io.provenance import provenance, provenance_line  # noqa: E402


def _is_bn_buffer(name: str) -> bool:
    return "running_" in name or "num_batches_tracked" in name


def with_statistics(weights: torch.nn.Module, statistics: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``weights`` whose batch-norm running statistics are those of ``statistics``."""
    out = copy.deepcopy(weights)
    state, other = out.state_dict(), statistics.state_dict()
    out.load_state_dict({k: other[k].clone() if _is_bn_buffer(k) else v for k, v in state.items()})
    return out.eval()


def drift(a: torch.nn.Module, b: torch.nn.Module) -> list[tuple[str, float]]:
    """``(name, |b - a| / |a|)`` for every weight tensor of more than 100 values, largest first."""
    sa, sb = a.state_dict(), b.state_dict()
    rows = [(k, float((sb[k].float() - sa[k].float()).norm() / sa[k].float().norm().clamp_min(1e-12)))
            for k in sa if sa[k].is_floating_point() and not _is_bn_buffer(k) and sa[k].numel() > 100]
    return sorted(rows, key=lambda r: -r[1])


def main(out: Path, start: Path, continued: Path) -> None:
    torch.set_num_threads(2)
    a, b = (load_model(p)[0].float().eval() for p in (start, continued))
    moved = drift(a, b)
    nets = {"start": a, "continued": b, "continued weights, start's BN statistics": with_statistics(b, a),
            "start weights, continued BN statistics": with_statistics(a, b)}
    gains = {name: float(gains_on(net, "val")[0].mean()) for name, net in nets.items()}
    lines = [f"# How far {continued} moved from {start}", "",
             "| network | validation gain (dB, 48 pairs) |", "|---|---|"]
    lines += [f"| {name} | {g:+.3f} |" for name, g in gains.items()]
    lines += ["", f"Relative change of the weights, |W1 - W0| / |W0| over {len(moved)} tensors: median "
                  f"{np.median([m for _, m in moved]):.4f}; the largest:", "",
              "| tensor | relative change |", "|---|---|"]
    lines += [f"| {k} | {m:.4f} |" for k, m in moved[:6]]
    lines += ["", f"_Made by: {provenance_line(provenance(device='cpu', script='experiments/fresh_validation/continuation_drift.py'))}_", ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
