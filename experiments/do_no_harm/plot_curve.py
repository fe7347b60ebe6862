"""The do-no-harm curves: identity PSNR, validation gain and the still split's near-sharp bins of the
two continuations against their steps (step 0: the networks shipped before), from the tables that
`python -m repro.evaluate.harm` wrote here (curve.md: steps 1000-2000, choice.md: 0 and 2500).

    python experiments/do_no_harm/plot_curve.py   # -> experiments/do_no_harm/curve.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
COLUMNS = ("identity dB", "WILD gain", "still 35-40 dB", "still >= 40 dB")


def read_table(path: Path) -> dict[str, dict[str, float]]:
    """The rows of a harm table: checkpoint -> {column: value}."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = {h: float(c) for h, c in zip(head[1:], cells[1:]) if c}
    return rows


def main() -> None:
    rows = {**read_table(HERE / "choice.md"), **read_table(HERE / "curve.md")}
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(4 * len(COLUMNS), 3.4))
    for kind, shipped, final in (("wild", "shipped-wild", "wild_log46_w3e-3"), ("si", "shipped-si", "si_log46_w3e-3")):
        steps = [0, 1000, 1500, 2000, 2500]
        names = [shipped, f"{kind}@1000", f"{kind}@1500", f"{kind}@2000", final]
        for ax, column in zip(axes, COLUMNS):
            ax.plot(steps, [rows[n][column] for n in names], "o-", label=f"DeblurNet^{kind.upper()}")
    for ax, column in zip(axes, COLUMNS):
        ax.set_title(column.replace("still", "still split,").replace("WILD gain", "gain on WILD pairs"), fontsize=9)
        ax.set_xlabel("continuation step (0: shipped before)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("dB (validation)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Do no harm: the continuations on validation (experiments/do_no_harm, issue 41)", fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "curve.png", dpi=110)


if __name__ == "__main__":
    main()
