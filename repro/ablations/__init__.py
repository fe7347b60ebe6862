"""The ablation study: which of the paper's design choices matter? ``python -m repro ablate``.

Every variant below is trained with the same recipe (width, steps, batch, crops, learning rate,
seed) and evaluated on the *standard* WILD validation and test splits:

=====================  ==========================================================================
``paper``              DeblurNet as in Table 1, on standard WILD pairs (the reference)
``paper-seed1``        the same with the next seed: the two seeds' spread is the bar below which
                       a difference is "not resolved at this budget"
``no-skip``            every stage outputs its image, not a residual added to its input
``single-scale``       the same layers as one full-resolution network (no intermediate images,
                       no downsampled inputs), +1.7 % parameters and +1.4 % FLOPs at width 0.25,
                       trained with the loss at full scale (the only scale it has)
``final-loss-only``    DeblurNet, loss at full scale only
``no-flow-rule``       WILD built without the <= 1 px selection: every window accepted, N pairs
``linear-averaging``   WILD frames averaged in linear light (sRGB -> linear, mean, -> sRGB), as
                       GoPro's ``blur_gamma``
``wild+si``            half of every batch is synthetic shift-invariant blur of the WILD sharp frames
=====================  ==========================================================================

**The no-flow-rule footage.** The virtual camera (:mod:`repro.camera`) draws each clip's peak
flow on 0.3-1 px/frame: it films what the paper's rule keeps. Building WILD from it with the
rule switched off would change nothing. The variant therefore films the *same clips faster*:
clip ``i`` keeps its scene, its camera path and its window size ``N``; its peak flow ``p``
(drawn on 0.3-1 px with a density rising as ``(p - 0.3)^2``) is stretched to
``0.3 + (p - 0.3) * (hi - 0.3) / 0.7`` with ``hi`` = :attr:`StudySize.fast_peak_flow` (2 px).
That is the same law on 0.3-``hi`` px, whose part below 1 px is exactly the standard camera's:
the standard WILD set is this footage after the paper's selection. With the rule off (and the
flow-reliability check off) every window is kept; the report gives the share above 1 px.

Each variant's folder (``RUNS/<variant>/``) holds its training run (``last.pt``, ``best.pt``,
``log.csv``; killed runs resume) and, once trained and evaluated, ``ablation.json`` (written
atomically): a rerun skips the variants done, so the study continues over several sittings.
The report (:func:`write_report`): ``RESULTS/ablations.md`` and ``.csv``,
``FIGURES/ablations.png`` (learning curves, gain by blur size) and
``FIGURES/ablations_no_flow_rule.png`` (what the no-flow-rule data look like).
"""


from .cli import add_arguments, run
from .report import claims, summary_rows, verdict, write_report
from .study import evaluate_checkpoint, fast_sources, run_study
from .variants import BLUR_BINS, SIZES, VARIANT_NAMES, VARIANTS, StudySize, Variant, notebook_size

__all__ = ["StudySize", "Variant", "SIZES", "VARIANTS", "BLUR_BINS", "run_study", "evaluate_checkpoint",
           "fast_sources", "verdict", "claims", "summary_rows", "write_report", "notebook_size", "add_arguments",
           "run"]
