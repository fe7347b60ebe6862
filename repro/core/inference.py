"""Deblur your own photo: :func:`deblur` (numpy in, numpy out) and ``python -m repro deblur``.

Large photos are processed in overlapping tiles so that memory stays bounded whatever the image
size (a 4000x3000 photo runs on a CPU). Tiles are blended so that the result equals untiled
inference except near the seams, and there only up to the network's border effects:

* The image is padded to a multiple of 4 (as :class:`~repro.core.model.DeblurNet` does itself) and
  every tile starts at a multiple of 4, so each tile sees the same sampling grid as the whole
  image (the network downsamples by 4 inside, so it is shift-equivariant only for shifts that
  are multiples of 4).
* In eval mode batch normalisation is a per-pixel affine map, so a tile's output equals the
  whole image's output wherever the tile contains the pixel's receptive field. Only the zero
  padding at a tile's edge differs.
* Along a side shared with a neighbour, a tile's weight is 0 in the outer quarter of the
  overlap (the pixels most affected by the tile edge), rises linearly across the middle half,
  and is 1 beyond. Neighbouring ramps sum to 1, and the accumulated result is divided by the
  summed weight, so every pixel is a convex combination of tile outputs.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import describe_checkpoint, load_model
from .devices import resolve_device
from ..io.files import check_writable
from ..io.images import IMAGE_SUFFIXES, from_float, list_images, read_image, to_float, write_image
from .model import DeblurNet
from ..io.paths import shipped_checkpoint
from .precision import autocast, precision_reason, resolve_precision, to_precision_format

__all__ = [
    "deblur",
    "deblur_tensor",
    "SelfEnsemble",
    "default_checkpoint",
    "load_deblurnet",
    "fold_batchnorm",
    "tile_starts",
    "blend_ramp",
    "add_arguments",
    "names_a_folder",
    "output_path",
    "run",
]

log = logging.getLogger(__name__)

DEFAULT_TILE = 512  # tile side in pixels (a multiple of 4); None or 0 = no tiling
DEFAULT_OVERLAP = 96  # overlap between neighbouring tiles (a multiple of 4); see the module docstring
_ALIGN = 4  # DeblurNet downsamples by 4: tiles start on this grid
# the command that makes the shipped DeblurNet^WILD weights when they are missing
_TRAIN_COMMAND = ("python -m repro train --preset cpu-15min --data wild --data-root data/wild --out runs/wild "
                  "--export {path}")


def default_checkpoint() -> Path:
    """Where the shipped DeblurNet^WILD checkpoint is: ``repro/weights/deblurnet_wild.pt`` (it may be absent)."""
    return shipped_checkpoint("wild")


def load_deblurnet(checkpoint: str | os.PathLike | None = None,
                   device: str | torch.device = "auto") -> DeblurNet:
    """A DeblurNet in eval mode on ``device``, batch norm folded into the convolutions
    (:func:`fold_batchnorm`). Logs one short line on what was loaded.

    ``checkpoint=None`` takes :func:`default_checkpoint`. There is no fallback: a missing file
    is a ``FileNotFoundError`` that names it and the command that makes it, a bad one a
    :class:`~repro.core.checkpoint.CheckpointError` (a ``ValueError``) naming the file and the reason.
    """
    dev = resolve_device(device)
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if checkpoint is None and not path.is_file():
        raise FileNotFoundError(f"{path}: no DeblurNet weights (the shipped file is missing); make them with "
                                f"`{_TRAIN_COMMAND.format(path=path)}` on a WILD dataset built by `python -m repro "
                                "build-wild virtual data/wild --split train` (and --split test), or pass --checkpoint")
    model, meta = load_model(path, map_location="cpu")
    log.info("loaded %s", describe_checkpoint(path, model.config, meta))
    return fold_batchnorm(model).to(dev).eval()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every ``Conv2d -> BatchNorm2d`` pair folded into one
    convolution (BN in eval mode is a per-channel affine map, so the result is the same up to
    float rounding, ~1e-6). Saves the BN pass at inference (~9% of CPU time at width 0.25).

    Works on any module whose ``nn.Sequential`` children hold a Conv2d directly followed by a
    BatchNorm2d (DeblurNet's conv blocks); other modules are copied unchanged.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return folded


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap``.

    ``length``, ``tile`` and ``overlap`` are multiples of 4 here, so every start is too. The last
    tile is moved back to end exactly at ``length`` (its overlap with the previous one may then
    be larger). ``length <= tile`` gives a single tile ``[0]``.
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return starts


def blend_ramp(size: int, overlap: int, ramp_before: bool, ramp_after: bool) -> torch.Tensor:
    """1-D blending weight of a tile of ``size`` pixels, float32 ``(size,)``.

    On a side with a neighbour (``ramp_before`` = the low-index side): 0 in the outer
    ``overlap // 4`` pixels, a linear ramp over the next ``overlap - 2 * (overlap // 4)`` pixels,
    then 1. Two neighbours' ramps over an overlap of exactly ``overlap`` sum to 1 pixel by pixel.
    """
    w = torch.ones(size)
    margin = overlap // 4
    ramp = overlap - 2 * margin
    if ramp <= 0:
        return w
    d = torch.arange(size, dtype=torch.float32)
    rise = ((d - margin + 0.5) / ramp).clamp(0.0, 1.0)
    if ramp_before:
        w = w * rise
    if ramp_after:
        w = w * rise.flip(0)
    return w


def _tiles(H: int, W: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int, torch.Tensor]]:
    ys, xs = tile_starts(H, tile, overlap), tile_starts(W, tile, overlap)
    for iy, y in enumerate(ys):
        th = min(tile, H)
        wy = blend_ramp(th, overlap, iy > 0, iy < len(ys) - 1)
        for ix, x in enumerate(xs):
            tw = min(tile, W)
            wx = blend_ramp(tw, overlap, ix > 0, ix < len(xs) - 1)
            yield y, x, th, tw, wy[:, None] * wx[None, :]


def _restored(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.restored if hasattr(out, "restored") else out


class SelfEnsemble(nn.Module):
    """A network averaged over the eight flips and quarter turns of its input (x8 self-ensemble).

    ``forward(x)``: ``x`` ``(B, 3, H, W)`` -> ``(B, 3, H, W)``, the mean of
    ``T^-1(model(T(x)))`` over the dihedral group's 8 transforms ``T``. DeblurNet is trained with
    the same flips and turns (``TrainConfig.flip``/``rotate``), so each pass is an equally good
    estimate; their errors are partly independent and average down. Eight passes cost eight
    times the time of one (the memory of one). Not in the paper, which runs the network once;
    the method ``deblurnet-wild-x8`` of Table 2 and ``deblur --self-ensemble`` use it.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)  # an eval-mode network stays in eval mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = torch.zeros_like(x, dtype=torch.float32)
        for turns in range(4):
            t = torch.rot90(x, turns, (2, 3))
            for flip in (False, True):
                y = _restored(self.model, t.flip(3) if flip else t).float()
                acc += torch.rot90(y.flip(3) if flip else y, -turns, (2, 3))
        return (acc / 8).to(x.dtype)


def deblur_tensor(model: nn.Module, x: torch.Tensor, tile: int | None = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, *, progress: bool = False, precision: str = "fp32") -> torch.Tensor:
    """Run ``model`` on ``x`` in overlapping tiles and blend them.

    Shape: ``x`` ``(B, 3, H, W)`` float in [0, 1] on any device; returns ``(B, 3, H, W)`` on
    ``x``'s device, not clipped. Each tile is moved to the model's device, so ``x`` and the
    accumulators can stay on the CPU while the network runs on a GPU. ``model`` must be in eval
    mode (batch statistics would differ per tile otherwise); it may return a ``DeblurNetOutput``
    or a tensor. ``tile=None`` (or 0, or a tile not smaller than the image) runs the whole image
    at once. ``tile`` and ``overlap`` must be multiples of 4 with ``0 <= overlap < tile``.
    ``precision``: "fp32", "bf16" (autocast, each tile channels_last) or "auto"
    (:func:`repro.core.precision.resolve_precision` on the model's device); the blending is float32.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected x of shape (B, 3, H, W), got {tuple(x.shape)}")
    if model.training:
        raise ValueError("model is in training mode: call model.eval() before tiled inference")
    B, C, H, W = x.shape
    p = next(model.parameters())
    mdev, mdtype = p.device, p.dtype  # tiles go to the model's device and dtype (e.g. bf16)
    precision = resolve_precision(precision, mdev)

    def run(part: torch.Tensor) -> torch.Tensor:  # the network on one tile, back as float32 on x's device
        with autocast(precision, mdev):
            out = _restored(model, to_precision_format(part.to(mdev, mdtype), precision))
        return out.to(x.device, torch.float32)

    if not tile or (H <= tile and W <= tile):
        with torch.inference_mode():
            return run(x)
    if tile % _ALIGN or overlap % _ALIGN or not 0 <= overlap < tile:
        raise ValueError(f"tile ({tile}) and overlap ({overlap}) must be multiples of {_ALIGN} "
                         f"with 0 <= overlap < tile")
    # Pad to a multiple of 4 exactly as DeblurNet.forward does, so tiles see the same grid.
    ph, pw = (-H) % _ALIGN, (-W) % _ALIGN
    if ph or pw:
        mode = "reflect" if H > ph and W > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    Hp, Wp = H + ph, W + pw
    acc = torch.zeros(B, C, Hp, Wp, dtype=torch.float32, device=x.device)
    wsum = torch.zeros(1, 1, Hp, Wp, dtype=torch.float32, device=x.device)
    tiles = list(_tiles(Hp, Wp, tile, overlap))
    from tqdm.auto import tqdm

    with torch.inference_mode():
        for y, x0, th, tw, w in tqdm(tiles, desc="tiles", unit="tile", disable=not progress, leave=False):
            out = run(x[:, :, y:y + th, x0:x0 + tw])
            w = w.to(x.device)
            acc[:, :, y:y + th, x0:x0 + tw] += out * w
            wsum[:, :, y:y + th, x0:x0 + tw] += w
        acc /= wsum  # in place: no second full-size buffer
    return acc[:, :, :H, :W]


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def deblur(image: np.ndarray, checkpoint: str | os.PathLike | None = None, device: str | torch.device = "auto",
           tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, model: nn.Module | None = None,
           *, self_ensemble: bool = False, progress: bool = False, precision: str = "auto") -> np.ndarray:
    """Deblur one image with DeblurNet.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` gray, ``(H, W, 1)``, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; uint8, uint16 or
        float in [0, 1] (float values outside are clipped). Gray is replicated to three channels
        for the network and averaged back; alpha is passed through untouched.
    checkpoint : path, optional
        A DeblurNet checkpoint; None = the shipped weights (an error when they are missing).
    device : "auto", "cpu", "cuda", ...
        Where the network runs. With ``model`` given, "auto" keeps the model's device.
    tile, overlap : int
        Tile side and overlap in pixels (multiples of 4); ``tile=None`` or 0 = no tiling.
    model : nn.Module, optional
        A DeblurNet (or any module mapping ``(B, 3, H, W)`` to an image or a ``DeblurNetOutput``)
        to use instead of loading ``checkpoint``; it is switched to eval mode for the call.
    self_ensemble : bool
        Average the network over the 8 flips and quarter turns of the image (:class:`SelfEnsemble`):
        8x the time, a better estimate (not in the paper).
    precision : "auto", "fp32" or "bf16"
        The network's arithmetic (:mod:`repro.core.precision`): "auto" = bf16 autocast where the device
        computes bf16 natively (CUDA with bf16, a CPU with AMX or AVX512-BF16), float32 elsewhere.
        With bf16 the model is turned channels_last (in place; its values are unchanged).

    Returns
    -------
    ndarray of the input's shape and dtype.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        kind = "gray"
    elif img.ndim == 3 and img.shape[2] in (1, 3, 4):
        kind = {1: "gray1", 3: "rgb", 4: "rgba"}[img.shape[2]]
    else:
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"image is empty: shape {img.shape}")
    if not (img.dtype in (np.uint8, np.uint16) or np.issubdtype(img.dtype, np.floating)):
        raise ValueError(f"unsupported image dtype {img.dtype}; use uint8, uint16 or float")
    if model is None:
        model = load_deblurnet(checkpoint, device)
    elif device != "auto":
        model = model.to(resolve_device(device))
    precision = resolve_precision(precision, _model_device(model))
    to_precision_format(model, precision)
    H, W = img.shape[:2]
    whole = not tile or max(H, W) <= tile
    # (1, 3, H, W) float32, built one channel at a time so a 12 MP photo needs no extra copies
    # (repro.io.images.to_rgb would copy a gray image three times first).
    x = torch.empty(1, 3, H, W, dtype=torch.float32)
    for c in range(3):
        src = img if kind == "gray" else img[..., 0 if kind == "gray1" else c]
        x[0, c] = torch.from_numpy(to_float(src))
    if whole:
        x = x.to(_model_device(model))  # whole image on the model's device
    was_training = model.training
    model.eval()
    try:
        net = SelfEnsemble(model) if self_ensemble else model
        y = deblur_tensor(net, x, tile, overlap, progress=progress, precision=precision)[0]  # (3, H, W)
    finally:
        model.train(was_training)
    del x
    return _to_image(y, img, kind)


def _to_image(y: torch.Tensor, img: np.ndarray, kind: str, rows: int = 256) -> np.ndarray:
    """Network output ``(3, H, W)`` to an array of ``img``'s shape and dtype, in row blocks so
    that the float64 temporaries of the conversion stay small for huge photos."""
    result = np.empty(img.shape, dtype=img.dtype)
    H = img.shape[0]
    for r0 in range(0, H, rows):
        block = y[:, r0:r0 + rows].clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()  # (h, W, 3)
        # back to gray: the mean of the three outputs, the inverse of replicating the input
        # (not a luma weighting: the three channels came from one)
        if kind == "gray":
            result[r0:r0 + rows] = from_float(block.mean(axis=2), img.dtype)
        elif kind == "gray1":
            result[r0:r0 + rows] = from_float(block.mean(axis=2, keepdims=True), img.dtype)
        else:
            result[r0:r0 + rows, :, :3] = from_float(block, img.dtype)
    if kind == "rgba":
        result[..., 3] = img[..., 3]  # alpha untouched
    return result


# --------------------------------------------------------------------------- command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deblur`` command's arguments: defined in :mod:`repro.core.arguments` (torch-free, for a fast --help)."""
    from .arguments import deblur_arguments

    deblur_arguments(parser)


def names_a_folder(output: str | os.PathLike) -> bool:
    """Whether the output argument ``output`` is a folder: it ends in a path separator (``out/``,
    made if missing) or names an existing folder. Anything else names an image file."""
    text = os.fspath(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def output_path(src: Path, output: str | os.PathLike) -> Path:
    """Where ``deblur`` writes the image ``src`` given the output argument ``output``: inside a
    folder (:func:`names_a_folder`) under ``src``'s own name, else ``output`` itself, which must
    end in an image suffix (a one-line ``ValueError`` otherwise)."""
    if names_a_folder(output):
        return Path(output) / src.name
    path = Path(output)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: output must end in one of {', '.join(IMAGE_SUFFIXES)}, "
                         f"or in / for a folder (made if missing)")
    return path


def _writable(img: np.ndarray, path: Path) -> np.ndarray:
    """uint16/float images go to 8-bit for formats that hold only 8 bits (a warning says so)."""
    if img.dtype != np.uint8 and path.suffix.lower() in (".jpg", ".jpeg", ".bmp", ".webp"):
        log.warning("%s: %s holds 8 bits per channel: the %s result is written at 8 bits (use .png or .tif "
                    "to keep 16)", path, path.suffix, img.dtype)
        return from_float(to_float(img), np.uint8)
    return img


def run(args: argparse.Namespace) -> int:
    """``python -m repro deblur IN OUT``; raises ValueError/FileNotFoundError for bad input (exit 2)."""
    src: Path = Path(args.input)
    dst = Path(args.output)  # args.output keeps a trailing "/" (a folder): it is read as typed
    tile = args.tile if args.tile and args.tile > 0 else None
    if tile is not None and (tile % _ALIGN or args.overlap % _ALIGN or not 0 <= args.overlap < tile):
        raise ValueError(f"--tile ({args.tile}) and --overlap ({args.overlap}) must be multiples of "
                         f"{_ALIGN} with 0 <= overlap < tile")
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")

    # Everything that can be checked is checked before the network is loaded and run.
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise NotADirectoryError(f"{dst}: exists and is not a folder (input {src} is a folder)")
        if not names_a_folder(args.output) and dst.suffix.lower() in IMAGE_SUFFIXES:
            raise ValueError(f"{dst}: an image file name, but input {src} is a folder: give an output folder")
        check_writable(dst, folder=True)
        inputs = list_images(src)
        if not inputs:
            raise ValueError(f"{src}: folder contains no images ({', '.join(IMAGE_SUFFIXES)})")
        outputs = [dst / p.name for p in inputs]
    else:
        out = output_path(src, args.output)
        check_writable(out)
        read_image(src)  # fail on a bad input before loading the network
        inputs, outputs = [src], [out]

    model = load_deblurnet(args.checkpoint, args.device)
    precision = resolve_precision(args.precision, _model_device(model))
    log.info("precision %s", precision_reason(args.precision, _model_device(model)))
    failed: list[str] = []
    from tqdm.auto import tqdm

    for p, q in tqdm(list(zip(inputs, outputs)), desc="deblur", unit="image", disable=len(inputs) < 2):
        try:
            img = read_image(p)
        except (ValueError, OSError) as exc:
            if len(inputs) == 1:
                raise
            log.error("%s", exc)
            failed.append(p.name)
            continue
        result = deblur(img, model=model, tile=tile, overlap=args.overlap, self_ensemble=args.self_ensemble,
                        progress=len(inputs) == 1, precision=precision)
        try:
            write_image(q, _writable(result, q))  # through a temporary file beside q: name q if it fails
        except OSError as exc:
            raise OSError(f"{q}: cannot be written: {exc.strerror or exc}") from None
        log.info("wrote %s", q)
    if failed:
        raise ValueError(f"{len(failed)} of {len(inputs)} images in {src} could not be read "
                         f"(skipped, nothing written for them): {', '.join(failed)}")
    return 0
