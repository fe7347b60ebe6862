"""Arguments of the commands whose modules import torch at the top (deblur, train, train-sun).

They live here, torch-free, so that ``python -m repro COMMAND --help`` answers at once: the
command's module (and torch, about 1.5 s) is imported only to run it. The other commands
(render, build-wild, evaluate, reproduce) import nothing heavy and keep ``add_arguments`` beside
their code. ``tests/test_cli.py`` checks that the names and defaults repeated here match the
modules'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.paths import weights_dir
from .precision import PRECISIONS  # torch-free

__all__ = ["deblur_arguments", "train_arguments", "train_sun_arguments", "gpu_job_arguments", "gpu_ship_arguments",
           "TRAIN_PRESETS", "DEFAULT_TILE", "DEFAULT_OVERLAP"]

# = repro.train.PRESETS (checked by a test)
TRAIN_PRESETS = ("tiny-test", "cpu-15min", "cpu-4h", "gpu-paper", "gpu-fast-start", "gpu-paper-half", "data-arm",
                 "cpu-12h", "cpu-no-harm")
DEFAULT_TILE = 512  # = repro.core.inference.DEFAULT_TILE
DEFAULT_OVERLAP = 96  # = repro.core.inference.DEFAULT_OVERLAP


def deblur_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="an image file, or a folder of images")
    parser.add_argument("output",  # a str, not a Path: Path("out/") would drop the "/" that makes it a folder
                        help="for an image: the output image file, or a folder: an existing one or a name ending in "
                             "/ (created if missing; writes FOLDER/<input's name>); for a folder of images: the "
                             "output folder (created if missing; a name ending in an image suffix is refused); "
                             "16-bit PNG/TIFF stay 16-bit")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="DeblurNet checkpoint (default: the shipped repro/weights/deblurnet_wild.pt)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE,
                        help=f"tile side in pixels, a multiple of 4; 0 = whole image at once (default {DEFAULT_TILE})")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                        help=f"overlap between tiles in pixels, a multiple of 4 (default {DEFAULT_OVERLAP})")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average the network over the 8 flips and quarter turns of the image: 8x the time, "
                             "a better result (not in the paper)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the network's arithmetic: auto (default) = bf16 where the device computes it natively "
                             "(CUDA with bf16, a CPU with AMX or AVX512-BF16), float32 elsewhere; fp32; bf16")


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="cpu-15min",  # checked by repro.train.get_preset, which lists the names
                        help=f"named settings: {', '.join(TRAIN_PRESETS)} (default cpu-15min)")
    parser.add_argument("--data", choices=("wild", "si"), default="wild",
                        help="wild = WILD pairs; si = synthetic shift-invariant blur of the WILD sharp frames")
    parser.add_argument("--data-root", type=Path, required=True, help="a WILD dataset (python -m repro build-wild)")
    parser.add_argument("--val-root", type=Path, action="append", default=[], metavar="ROOT",
                        help="dataset whose validation split is used (default --data-root); repeatable: the "
                             "pairs of every root together, e.g. the bundled photos' and the corpus's")
    parser.add_argument("--extra-root", type=Path, action="append", default=[], metavar="ROOT",
                        help="another dataset whose train pairs join --data-root's (repeatable), e.g. dead-leaves "
                             "footage (python -m repro dead-leaves)")
    parser.add_argument("--short-root", type=Path, action="append", default=[], metavar="ROOT",
                        help="a dataset of short-window pairs (build-wild --n-min 1 --n-max 5), the "
                             "short_fraction share of every WILD batch (--set short_fraction=F; repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="folder for last.pt, best.pt, log.csv")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation, crops and batches (default 0)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--steps", type=int, default=None, help="number of iterations (overrides the preset)")
    steps.add_argument("--steps-of", type=Path, default=None, metavar="LOG",
                       help="as many iterations as the run of this log.csv trained (an equal budget on any machine)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any TrainConfig field, e.g. --set width=0.5 --set crop=64")
    parser.add_argument("--run", default=None, help="run name for results/train_<run>.csv (default <preset>_<data>)")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="folder for the training log table train_<run>.csv (default results)")
    parser.add_argument("--figures", type=Path, default=Path("figures"),
                        help="folder for the training-curve figure train_<run>.png (default figures)")
    parser.add_argument("--workers", type=int, default=4, help="threads reading the dataset")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--export", type=Path, default=None,
                        help="after training, export best.pt to this weights file with a JSON card")


def train_sun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=weights_dir() / "sun2015.pt",
                        help="checkpoint to write (card: same name, .json)")
    parser.add_argument("--steps", type=int, default=8000, help="training steps (batches)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (patches, kernels, init)")
    parser.add_argument("--batch", type=int, default=128, help="patches per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine decay)")
    parser.add_argument("--eval-patches", type=int, default=4000, help="held-out patches for the accuracy")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--figure", type=Path, default=None, help="also write the motion-field figure here")


def gpu_job_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True,
                                  help="prepare (here, before a device call) or run (where the GPU is)")
    prepare = steps.add_parser("prepare", help="on this machine: the corpus's training and validation photos, "
                                               "downscaled, into the folder that travels (at most 48 MiB)")
    prepare.add_argument("--photos", type=Path, default=Path("data/photos"),
                         help="the photo corpus (make photos; default data/photos)")
    prepare.add_argument("--carry", type=Path, default=Path(".gpujob"), help="the folder to carry (default .gpujob)")
    job = steps.add_parser("run", help="build the pairs, train DeblurNet^WILD and DeblurNet^SI side by side, write "
                                       "the bundle that gpu-ship reads")
    job.add_argument("--carry", type=Path, default=Path(".gpujob"), help="the prepared folder (default .gpujob)")
    job.add_argument("--prepare-from", type=Path, default=None, metavar="PHOTOS",
                     help="prepare the carry from this photo corpus first, after the checks (one machine for both "
                          "sides: make gpu-job)")
    job.add_argument("--out", type=Path, required=True, help="folder for the bundle (8 files at most, 16 MiB each)")
    job.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (the rehearsal)")
    job.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of the whole job (default 9)")
    job.add_argument("--build-minutes", type=float, default=None,
                     help="of the budget, building pairs (default 28 %%)")
    job.add_argument("--reserve-minutes", type=float, default=None,
                     help="of the budget, loading, validation and export (default 17 %%, at least 40 s)")
    job.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="change the recipe of both networks (a TrainConfig field), e.g. --set crop=32")
    job.add_argument("--work", type=Path, default=None, help="working folder (default $TMPDIR/gpu_job, emptied)")
    job.add_argument("--workers", type=int, default=None, help="cores to build pairs on (default all)")
    job.add_argument("--seed", type=int, default=0, help="seed of the pairs and of both runs (default 0)")
    job.add_argument("--val-pairs", type=int, default=48, help="validation pairs per photo set (default 48)")


def gpu_ship_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the folder a GPU job wrote (python -m repro gpu-job run --out)")
    parser.add_argument("--val-root", type=Path, action="append", default=[], metavar="ROOT",
                        help="a dataset whose validation pairs decide (repeatable; default data/bundled and "
                             "data/corpus)")
    parser.add_argument("--weights", type=Path, default=None, help="the weights folder (default repro/weights)")
    parser.add_argument("--logs", type=Path, default=Path("results/gpu_job"),
                        help="where the shipped job's logs go (default results/gpu_job)")
    parser.add_argument("--device", default="cpu", help="where to measure (default cpu)")
    parser.add_argument("--check", action="store_true", help="read and measure, say what would ship, write nothing")
