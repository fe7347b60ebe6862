"""The statistics figure of a WILD dataset (notebook 01's ``figures/wild_statistics.png``)."""

from __future__ import annotations

import numpy as np

from .recipe import BuildConfig

__all__ = ["wild_statistics"]


def wild_statistics(manifest_rows: list[dict], config: BuildConfig | None = None):
    """WILD build statistics, train and test side by side: N of accepted windows, the flow
    statistic of every window tried (accepted and rejected, with the rule), the mean blur size and
    the input PSNR (blurry vs sharp) of accepted pairs.

    ``config``: the settings the dataset was built with (:func:`repro.wild.read_build_config`),
    whose ``max_flow`` is the rule drawn and whose ``n_range`` sets the N axis; default the
    paper's (:class:`BuildConfig`). The blur-size panel marks the implied upper bound
    ``(N_max - 1) * max_flow`` px (the paper's: 22 px for N = 23 at 1 px/frame).
    """
    import matplotlib.pyplot as plt

    config = config or BuildConfig()
    max_flow, (n_min, n_max) = config.max_flow, config.n_range

    splits = [s for s in ("train", "val", "test") if any(r["split"] == s for r in manifest_rows)]
    splits += sorted({r["split"] for r in manifest_rows} - set(splits))
    acc = {s: [r for r in manifest_rows if r["accepted"] and r["split"] == s] for s in splits}
    rej = [r for r in manifest_rows if not r["accepted"]]
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    kw = dict(histtype="step", lw=1.6, density=True)
    for s in splits:
        axes[0].hist([r["n"] for r in acc[s]], bins=np.arange(n_min - 0.5, n_max + 1.5, 2), label=f"{s} ({len(acc[s])})", **kw)
    axes[0].set_xticks(range(n_min + 1 - n_min % 2, n_max + 1, 2))
    axes[0].set_xlabel("N (frames averaged)")
    axes[0].set_ylabel("density of accepted pairs")
    axes[0].legend(fontsize=8)
    flows_a = [r["flow_stat"] for s in splits for r in acc[s] if np.isfinite(r["flow_stat"])]
    flows_r = [r["flow_stat"] for r in rej if np.isfinite(r["flow_stat"])]
    hi = max(flows_a + flows_r + [max_flow * 1.5])
    bins = np.linspace(0, min(hi, 3 * max_flow), 40)
    axes[1].hist([flows_a, flows_r], bins=bins, stacked=True, label=["accepted", "rejected"])
    axes[1].axvline(max_flow, color="k", ls="--", lw=1, label=f"{max_flow:g} px rule")
    axes[1].set_xlabel("flow statistic of the window (px/frame, estimated)")
    axes[1].set_ylabel("windows (all splits)")
    axes[1].legend(fontsize=8)
    bound = (n_max - 1) * max_flow
    whose = "paper's" if (n_max, max_flow) == (BuildConfig.n_range[1], BuildConfig.max_flow) else "the build's"
    for s in splits:
        b = np.array([r["blur_size"] for r in acc[s]])
        axes[2].hist(b, bins=np.linspace(0, bound + 2, 30), label=f"{s}: median {np.median(b):.1f}, p90 {np.percentile(b, 90):.1f} px", **kw)
    axes[2].axvline(bound, color="k", ls="--", lw=1, label=f"{whose} bound {bound:g} px (N={n_max}, {max_flow:g} px/frame)")
    axes[2].set_xlabel("mean blur size of the pair (px)")
    axes[2].set_ylabel("density")
    axes[2].legend(fontsize=7)
    for s in splits:
        p = np.array([r.get("input_psnr", np.nan) for r in acc[s]], dtype=float)
        p = p[np.isfinite(p)]
        if len(p):
            axes[3].hist(p, bins=30, label=f"{s}: median {np.median(p):.1f} dB", **kw)
    axes[3].set_xlabel("input PSNR, blurry vs sharp (dB)")
    axes[3].set_ylabel("density")
    axes[3].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
