"""What the ablation study compares: its sizes (:data:`SIZES`), its variants (:data:`VARIANTS`)
and the blur-size bins of its report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..io.reports import BLUR_BINS as _EDGES

# the report's blur-size bins [lo, hi) in px: Table 2's (repro.io.reports.BLUR_BINS)
BLUR_BINS: tuple[tuple[float, float], ...] = tuple(zip(_EDGES[:-1], _EDGES[1:]))
SIZE_PRESET = {"full": "quick", "smoke": "smoke"}  # whose output folders (repro.io.paths.output_dirs) a size uses


@dataclass(frozen=True)
class StudySize:
    """How big the study is: data sizes, the common training recipe (repro.train preset + changes)."""

    name: str
    train_pairs: int  # N: training pairs of every variant (the standard split's first N, or N built)
    val_pairs: int  # standard validation pairs built when the split is missing
    test_pairs: int  # standard test pairs built when the split is missing
    base_preset: str  # repro.train preset the recipe starts from
    recipe: tuple[tuple[str, Any], ...]  # TrainConfig changes, identical for every variant
    fast_peak_flow: float = 2.0  # no-flow-rule footage: top of the peak-flow law, px/frame
    build_workers: int = 2
    notes: str = ""

    def train_config(self):
        from ..train import get_preset

        base = get_preset(self.base_preset)
        changes = dict(self.recipe)
        changes.setdefault("name", f"ablation-{self.name}")
        config = base.replace(**changes)
        budget = (f"ablation study ({self.name}): {config.steps} steps, learning rate x{config.decay_factor:g} every "
                  f"{config.decay_every} steps, warm-up {config.warmup_steps} steps, the same for every variant "
                  f"(these replace the preset's own length and schedule)")
        return config.replace(departures=config.departures + (budget,))


SIZES: dict[str, StudySize] = {
    "smoke": StudySize(
        name="smoke", train_pairs=4, val_pairs=2, test_pairs=3, base_preset="tiny-test", build_workers=1,
        recipe=(("steps", 4), ("val_every", 2), ("checkpoint_every", 2), ("val_images", 0),
                ("si_kernel_size", 13), ("si_psz", (6, 4, 3))),
        notes="seconds, for the tests; numbers meaningless"),
    # 8 runs of 1500 steps: ~0.45 s a step on 2 free cores (width 0.25, batch 8, 96x96) -> ~11-12 min a run
    "full": StudySize(
        name="full", train_pairs=120, val_pairs=48, test_pairs=120, base_preset="cpu-4h",
        recipe=(("steps", 1500), ("decay_every", 500), ("warmup_steps", 100), ("val_every", 250),
                ("val_images", 0), ("checkpoint_every", 100), ("max_minutes", 0.0)),
        notes="8 training runs of 1500 steps at width 0.25 (about 1.5-2 hours on a 2-core CPU)"),
}


@dataclass(frozen=True)
class Variant:
    """One arm of the study: what changes against ``paper``, and the claim of the paper it tests."""

    name: str
    what: str
    changes: tuple[tuple[str, Any], ...] = ()  # TrainConfig changes
    data: str = "standard"  # "standard", "no-flow-rule" or "linear"
    seed_offset: int = 0
    claim: str = ""  # the paper's claim this variant tests ("" for the reference runs)
    expect: str = "worse"  # what the claim predicts for the variant: "worse" or "not better"


VARIANTS: tuple[Variant, ...] = (
    Variant("paper", "DeblurNet as in Table 1 (the reference)"),
    Variant("paper-seed1", "the reference with the next seed (run-to-run spread)", seed_offset=1),
    Variant("no-skip", "each stage outputs the image itself, not a residual added to its input "
            "(residual layers not zero-initialised: with no skip that would start from a black image)",
            changes=(("skip", False), ("zero_init_residual", False)),
            claim="Residual learning (each stage adds its output to its input) makes a better network"),
    Variant("single-scale", "the same layers as one full-resolution network, one loss",
            changes=(("architecture", "single-scale"), ("loss_scales", (0.0, 0.0, 1.0))),
            claim="The coarse-to-fine multi-scale design beats a single-scale network of the same size"),
    Variant("final-loss-only", "DeblurNet with the loss at full scale only",
            changes=(("loss_scales", (0.0, 0.0, 1.0)),),
            claim="Training with the loss at all three scales beats the loss at full scale only"),
    Variant("no-flow-rule", "WILD built without the <= 1 px flow selection (same N pairs, faster footage)",
            data="no-flow-rule",
            claim="Keeping only windows whose inter-frame flow is at most 1 px gives better training pairs"),
    Variant("linear-averaging", "WILD frames averaged in linear light (inverse sRGB, mean, sRGB)", data="linear",
            claim="Averaging the recorded frames directly, without linearising them, is adequate",
            expect="not better"),
    Variant("wild+si", "half of every batch synthetic shift-invariant blur of the WILD sharp frames",
            changes=(("si_fraction", 0.5),),
            claim="WILD pairs are the better training data: adding synthetic shift-invariant blur does not help",
            expect="not better"),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)
REFERENCE = ("paper", "paper-seed1")
MIN_BAR_DB = 0.01  # the report's precision: a smaller difference is never "resolved", whatever the spread
CURVE_FLOOR_DB = -5.0  # the figure cuts gains below this (a network far worse than its input)


def _variant(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANT_NAMES)}")


def notebook_size(preset: str) -> tuple[str, bool]:
    """``(size, train)`` of notebook 08 under a reproduction preset: smoke trains the smoke study;
    paper (a GPU) trains the full one; quick and demo only report the runs that
    ``python -m repro ablate`` has done (the full study takes 1.5-2 hours of CPU)."""
    return {"smoke": ("smoke", True), "paper": ("full", True)}.get(preset, ("full", False))


