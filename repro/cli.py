"""Arguments of the commands whose modules import torch at the top (deblur, render, train, train-sun).

They live here, torch-free, so that ``python -m repro COMMAND --help`` answers at once: the
command's module (and torch, about 1.5 s) is imported only to run it. The other commands
(build-wild, evaluate, reproduce) import nothing heavy and keep ``add_arguments`` beside
their code. ``tests/test_cli.py`` checks that the names and defaults repeated here match the
modules'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .paths import weights_dir

__all__ = ["deblur_arguments", "render_arguments", "train_arguments", "train_sun_arguments", "parse_size",
           "TRAIN_PRESETS", "DEFAULT_TILE", "DEFAULT_OVERLAP"]

TRAIN_PRESETS = ("smoke", "quick", "cpu", "paper", "fast", "paper-half", "cpu-finetune")  # = repro.train.PRESETS (checked by a test)
DEFAULT_TILE = 512  # = repro.inference.DEFAULT_TILE
DEFAULT_OVERLAP = 96  # = repro.inference.DEFAULT_OVERLAP


def deblur_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="an image file, or a folder of images")
    parser.add_argument("output", type=Path,
                        help="output image file (for a single input), or a folder (written to for a folder input); "
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


def parse_size(text: str) -> tuple[int, int]:
    """``"240x432"`` -> ``(240, 432)`` (an argparse type)."""
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW (e.g. 240x432), got {text!r}") from None


def render_arguments(parser: argparse.ArgumentParser) -> None:
    from .camera import KINDS, SPLITS  # numpy only (repro.camera imports torch only for rendering)

    parser.add_argument("out", type=Path, help="output folder: OUT/<split>/virtual_NNNN/{NNNNNN.png, flows.npy, meta.json}")
    parser.add_argument("--clips", type=int, default=4, help="number of clips (default 4)")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip at 240 fps (default 120)")
    parser.add_argument("--size", type=parse_size, default=(240, 320), help="HxW of the frames (default 240x320)")
    parser.add_argument("--split", choices=SPLITS, default="train", help="photo set (default train)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip set (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--supersample", type=int, default=1, help="spatial supersampling factor (default 1)")
    parser.add_argument("--kind", choices=KINDS, default="random", help="clip kind (default random)")
    parser.add_argument("--peak-flow", type=float, default=None,
                        help="largest flow statistic between consecutive frames (p99 of |flow|), px/frame at "
                             "240 rows (default: drawn per clip, 0.3-1)")
    parser.add_argument("--speed", type=float, default=None,
                        help="instead of --peak-flow: the camera's mean flow, px/frame at 240 rows (objects keep theirs)")
    parser.add_argument("--photos", type=Path, default=None,
                        help="folder of JPEG/PNG photos to film instead of the bundled ones (split by file name)")
    parser.add_argument("--noise-std", type=float, default=0.0, help="sensor noise std (default 0)")
    parser.add_argument("--gamma", type=float, default=None, help="camera response exponent, e.g. 2.2 (default none)")
    parser.add_argument("--strip", type=Path, default=None, help="also write the strip figure to this PNG")


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="quick",  # checked by repro.train.get_preset, which lists the names
                        help=f"named settings: {', '.join(TRAIN_PRESETS)} (default quick)")
    parser.add_argument("--data", choices=("wild", "si"), default="wild",
                        help="wild = WILD pairs; si = synthetic shift-invariant blur of the WILD sharp frames")
    parser.add_argument("--data-root", type=Path, required=True, help="a WILD dataset (python -m repro build-wild)")
    parser.add_argument("--val-root", type=Path, default=None, help="dataset whose validation split is used (default --data-root)")
    parser.add_argument("--extra-root", type=Path, action="append", default=[], metavar="ROOT",
                        help="another dataset whose train pairs join --data-root's (repeatable), e.g. dead-leaves "
                             "footage (python -m repro dead-leaves)")
    parser.add_argument("--out", type=Path, required=True, help="folder for last.pt, best.pt, log.csv")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation, crops and batches (default 0)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--steps", type=int, default=None, help="number of iterations (overrides the preset)")
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
