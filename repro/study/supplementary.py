"""Figures beyond the paper's, each made by one function of the package: ``make figures``.

The paper's figures come from the notebooks (``make reproduce``) and the training curves
``train_<run>.png`` from ``python -m repro train``; these six illustrate the parts of the study
the notebooks use but do not draw. Each entry of :data:`FIGURES` maps a file name in the figures
folder to the function that makes it::

    python -m repro.study.supplementary --figures figures --results results             # all six
    python -m repro.study.supplementary kernel_bank train_recipes --figures /tmp/figs  # some

``figures/README.md`` lists every figure of the repository and what makes it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["FIGURES", "TRAIN_RECIPES", "make", "add_arguments", "run", "main"]

log = logging.getLogger(__name__)

# train_recipes.png: the CPU training logs it compares (under the results folder), with labels
TRAIN_RECIPES: tuple[tuple[str, str], ...] = (
    ("training_logs/train_quick_wild.csv", "quick recipe, WILD"),
    ("training_logs/train_quick_si.csv", "quick recipe, SI"),
    ("training_logs/train_ablation_paper_wild.csv", "paper recipe (width 0.25, 96 crops), WILD"),
)


def _kernel_bank(path: Path, seed: int, results_dir: Path) -> list[Path]:
    from ..synthetic.kernel_figures import figure_kernel_bank

    return [figure_kernel_bank(path, seed=seed)]


def _camera_shake(path: Path, seed: int, results_dir: Path) -> list[Path]:
    from ..synthetic.camera_shake import figure_camera_shake

    return [figure_camera_shake(path, seed=seed)]


def _virtual_camera_strip(path: Path, seed: int, results_dir: Path) -> list[Path]:
    from ..camera import virtual_camera_strip

    return [virtual_camera_strip(path, seed=seed)]


def _sun_motion_field(path: Path, seed: int, results_dir: Path) -> list[Path]:
    from ..baselines.sun import figure_motion_field

    return [figure_motion_field(path, seed=seed)]


def _baseline_kernels(path: Path, seed: int, results_dir: Path) -> list[Path]:
    from ..baselines.demo import figure_baseline_kernels

    figure_baseline_kernels(path, seed=seed)
    return [path]


def _train_recipes(path: Path, seed: int, results_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from ..train import plot_training

    logs = [results_dir / name for name, _ in TRAIN_RECIPES]
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"train_recipes needs the training logs {', '.join(missing)}")
    fig = plot_training(logs, path, labels=[label for _, label in TRAIN_RECIPES], x="step",
                        title="DeblurNet on the 2-core CPU: validation PSNR gain (10 WILD test pairs)")
    plt.close(fig)
    return [path]


# file name in the figures folder -> (function(path, seed, results_dir) -> written paths, what it shows)
FIGURES: dict[str, tuple[Callable[[Path, int, Path], list[Path]], str]] = {
    "kernel_bank.png": (_kernel_bank, "64 kernels of the 10^5 Chakrabarti bank behind DeblurNet^SI "
                                      "(repro.synthetic.kernel_figures.figure_kernel_bank)"),
    "camera_shake.png": (_camera_shake, "Köhler-style camera shake with its local kernels and 6-D trajectory, "
                                        "the input of Fig. 8 (repro.synthetic.camera_shake.figure_camera_shake)"),
    "virtual_camera_strip.png": (_virtual_camera_strip, "the virtual 240 fps camera: frames, true flow and an "
                                                        "average per clip kind (repro.camera.virtual_camera_strip)"),
    "sun_motion_field.png": (_sun_motion_field, "Sun et al. 2015: estimated vs true motion field on a known "
                                                "non-uniform blur (repro.baselines.sun.figure_motion_field)"),
    "baseline_kernels.png": (_baseline_kernels, "Xu & Jia 2010 and Xu, Zheng & Jia 2013: estimated vs true kernels "
                                                "(repro.baselines.demo.figure_baseline_kernels)"),
    "train_recipes.png": (_train_recipes, "validation gain of the quick and the paper's training recipes on the "
                                          "CPU, from the committed logs (repro.train.plot_training)"),
}


def make(names: Sequence[str] | None, figures_dir: str | Path, *, results_dir: str | Path,
         seed: int = 0) -> list[Path]:
    """Make the figures ``names`` (file names or stems; None = all) in ``figures_dir``; returns
    the written paths. ``results_dir`` holds the logs that ``train_recipes.png`` plots."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    stems = {Path(k).stem: k for k in FIGURES}
    wanted = list(FIGURES) if not names else [stems.get(n, n) for n in names]
    unknown = [n for n in wanted if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(stems)}")
    figures_dir, results_dir = Path(figures_dir), Path(results_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in wanted:
        t0 = time.perf_counter()
        written += FIGURES[name][0](figures_dir / name, seed, results_dir)
        log.info("wrote %s in %.1f s", figures_dir / name, time.perf_counter() - t0)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help=f"figures to make (default: all of {', '.join(Path(k).stem for k in FIGURES)})")
    parser.add_argument("--figures", type=Path, required=True, help="folder to write them to (e.g. figures)")
    parser.add_argument("--results", type=Path, required=True, help="folder of the training logs (e.g. results)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every figure (default 0)")


def run(args: argparse.Namespace) -> int:
    for path in make(args.names, args.figures, results_dir=args.results, seed=args.seed):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m repro.study.supplementary", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
