"""DeblurNet: the three-stage multi-scale residual network of Noroozi et al. (GCPR 2017).

The architecture follows the project's reading of the paper's Table 1
(``docs/paper.md``, "Table 1"):

========  ==============================================================  ==========
stage     layers (type, out channels, kernel, stride)                      output
========  ==============================================================  ==========
N1        conv 96 11x11 s2 · conv 256 7x7 · conv 384 7x7 · conv 384 7x7   1/4 scale
          s2 · conv 256 3x3 · conv 256 3x3 · conv 3 3x3 (residual)
N2        4 x conv 256 5x5 · deconv 3 5x5 x2 (residual)                   1/2 scale
N3        4 x conv 256 5x5 · deconv 3 5x5 x2 (residual)                   full scale
========  ==============================================================  ==========

``o1 = N1(g) + D_4(g)``, ``o2 = N2(o1) + D_2(g)``, ``o3 = N3(o2) + g`` where ``g`` is the
blurry input and ``D_k`` downsamples by ``k``. Every convolution is followed by batch
normalisation and ReLU, except the three layers that emit a residual (a ReLU there would forbid
negative residuals).

The stride row of the paper's table is garbled; the default reads it as stride 2 on layers 1 and
4 of N1. ``DeblurNetConfig.strides`` keeps the other reading (layers 1 and 2) reachable.

Two options exist for the ablation study (:mod:`repro.ablations`), both off by default:
``skip=False`` makes every stage output its image directly (``o1 = N1(g)``, ``o2 = N2(o1)``,
``o3 = N3(o2)``) instead of a residual added to its input, and ``architecture="single-scale"``
chains the same layers into one network from the full-resolution input to the full-resolution
output (no intermediate images, no downsampled copies of the input; see :class:`DeblurNet`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DeblurNetConfig",
    "DeblurNet",
    "DeblurNetOutput",
    "downsample",
    "multiscale_loss",
    "floored_log_mse",
    "count_parameters",
    "count_flops",
    "table1",
]

# (out channels, kernel) of N1's seven convolutions; the last emits the residual.
_N1_LAYERS: tuple[tuple[int, int], ...] = (
    (96, 11), (256, 7), (384, 7), (384, 7), (256, 3), (256, 3), (3, 3),
)
_N23_CHANNELS = 256  # the four 5x5 convolutions of N2 and N3
_N23_KERNEL = 5
# single-scale: channels of the two feature maps that replace the 3-channel images o1 and o2
_SINGLE_SCALE_BOTTLENECK = 32
ARCHITECTURES = ("multiscale", "single-scale")


@dataclass(frozen=True)
class DeblurNetConfig:
    """Hyper-parameters of :class:`DeblurNet`. ``DeblurNetConfig()`` is the paper's network."""

    width: float = 1.0  # multiplier on every hidden channel count (1.0 = paper, ~24.7 M params)
    strides: tuple[int, ...] = (2, 1, 1, 2, 1, 1, 1)  # strides of N1's 7 convs; must reduce by 4
    batch_norm: bool = True  # BN after every non-residual conv, as the paper
    zero_init_residual: bool = False  # start the residual-emitting layers at 0 (output = input)
    skip: bool = True  # each stage adds its output to (a downsampled copy of) the input (paper)
    architecture: str = "multiscale"  # "multiscale" (paper) or "single-scale" (ablation, see DeblurNet)

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        strides = tuple(int(s) for s in self.strides)
        object.__setattr__(self, "strides", strides)
        if len(strides) != len(_N1_LAYERS) or any(s not in (1, 2) for s in strides):
            raise ValueError(f"strides must be 7 values in {{1, 2}}, got {self.strides}")
        if strides.count(2) != 2:
            raise ValueError(f"strides must downsample N1 by exactly 4 (two 2s), got {strides}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["strides"] = list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DeblurNetConfig":
        keys = ("width", "strides", "batch_norm", "zero_init_residual", "skip", "architecture")
        known = {k: d[k] for k in keys if k in d}
        if "strides" in known:
            known["strides"] = tuple(known["strides"])
        return cls(**known)


class DeblurNetOutput(NamedTuple):
    """All scale outputs and residuals of one forward pass.

    ``outputs`` = (o1, o2, o3) at 1/4, 1/2 and full scale, ``residuals`` = (r1, r2, r3) the
    residuals each stage added. ``o3`` (``restored``) has the input's shape.
    """

    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    residuals: tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    @property
    def restored(self) -> torch.Tensor:
        return self.outputs[2]


def downsample(x: torch.Tensor, k: int) -> torch.Tensor:
    """``D_k``: average over non-overlapping ``k x k`` blocks (area downsampling).

    Shape: ``(B, C, H, W) -> (B, C, H // k, W // k)``; ``H`` and ``W`` must be multiples of ``k``.
    """
    if k == 1:
        return x
    B, C, H, W = x.shape
    if H % k or W % k:
        raise ValueError(f"downsample by {k} needs H and W divisible by {k}, got {H}x{W}")
    return F.avg_pool2d(x, kernel_size=k, stride=k)


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def _conv_block(cin: int, cout: int, k: int, stride: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Stage(nn.Module):
    """A chain of conv blocks ending in a residual-emitting layer (no BN, no ReLU)."""

    def __init__(self, body: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*body)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class DeblurNet(nn.Module):
    """DeblurNet. Input ``(B, 3, H, W)`` blurry image in [0, 1], any ``H, W``.

    Inputs whose size is not a multiple of 4 are reflect-padded inside ``forward`` and the
    outputs cropped back, so ``restored`` always has the input's shape (``o1``/``o2`` are cropped
    to ``ceil(H/4)``/``ceil(H/2)``).

    Ablation options of :class:`DeblurNetConfig`:

    - ``skip=False``: ``o1 = N1(g)``, ``o2 = N2(o1)``, ``o3 = N3(o2)``: each stage outputs the
      image itself. ``residuals`` are then ``o_k - D(g)``, what the stage would have had to add;
    - ``architecture="single-scale"``: the same layers as one chain. N1's last layer emits a
      feature map of 32 x width channels (BN, ReLU) instead of a 3-channel image, N2 starts from
      it and its deconvolution emits another such map at 1/2 scale, and N3's deconvolution emits
      the full-resolution residual: ``o3 = N3(N2(N1(g))) + g`` (without ``+ g`` when
      ``skip=False``). It has no intermediate images and no downsampled copies of the input,
      about the same parameters (+2.5 %) and FLOPs, and one output: ``outputs`` are
      ``(D_4(o3), D_2(o3), o3)`` so that code reading three scales still works (train it with
      the loss at full scale only, ``multiscale_loss(..., weights=(0, 0, 1))``).
    """

    def __init__(self, config: DeblurNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DeblurNetConfig()
        bn, w = config.batch_norm, config.width

        body: list[nn.Module] = []
        cin = 3
        for (cout, k), s in zip(_N1_LAYERS[:-1], config.strides[:-1]):
            body.append(_conv_block(cin, _ch(cout, w), k, s, bn))
            cin = _ch(cout, w)
        k_last = _N1_LAYERS[-1][1]
        self.single_scale = config.architecture == "single-scale"
        if self.single_scale:
            cb = _ch(_SINGLE_SCALE_BOTTLENECK, w)
            head = _conv_block(cin, cb, k_last, config.strides[-1], bn)
            self.n1 = _Stage(body, head)
            self.n2 = self._upsampling_stage(w, bn, cin=cb, cout=cb)
            self.n3 = self._upsampling_stage(w, bn, cin=cb)
        else:
            head = nn.Conv2d(cin, 3, k_last, stride=config.strides[-1], padding=k_last // 2)
            self.n1 = _Stage(body, head)
            self.n2 = self._upsampling_stage(w, bn)
            self.n3 = self._upsampling_stage(w, bn)
        if config.zero_init_residual:
            # the layers that emit an image (single-scale: only N3's, the others emit features)
            for stage in (self.n3,) if self.single_scale else (self.n1, self.n2, self.n3):
                nn.init.zeros_(stage.head.weight)
                nn.init.zeros_(stage.head.bias)

    @staticmethod
    def _upsampling_stage(width: float, batch_norm: bool, cin: int = 3, cout: int = 3) -> _Stage:
        """4 convs and a x2 deconvolution; ``cout == 3`` emits an image, otherwise a feature map
        (with BN and ReLU, for the single-scale chain)."""
        c, k = _ch(_N23_CHANNELS, width), _N23_KERNEL
        body = [_conv_block(cin if i == 0 else c, c, k, 1, batch_norm) for i in range(4)]
        head: nn.Module = nn.ConvTranspose2d(c, cout, k, stride=2, padding=k // 2, output_padding=1,
                                             bias=cout == 3 or not batch_norm)
        if cout != 3:
            head = nn.Sequential(head, *([nn.BatchNorm2d(cout)] if batch_norm else []), nn.ReLU(inplace=True))
        return _Stage(body, head)

    def forward(self, g: torch.Tensor) -> DeblurNetOutput:
        if g.ndim != 4 or g.shape[1] != 3:
            raise ValueError(f"DeblurNet expects (B, 3, H, W), got {tuple(g.shape)}")
        B, C, H, W = g.shape
        ph, pw = (-H) % 4, (-W) % 4
        if ph or pw:
            mode = "reflect" if H > ph and W > pw else "replicate"
            g = F.pad(g, (0, pw, 0, ph), mode=mode)
        g2, g4 = downsample(g, 2), downsample(g, 4)
        if self.single_scale:
            r3 = self.n3(self.n2(self.n1(g)))
            o3 = r3 + g if self.config.skip else r3
            r3 = o3 - g
            o1, o2 = downsample(o3, 4), downsample(o3, 2)
            r1, r2 = o1 - g4, o2 - g2
        elif self.config.skip:
            r1 = self.n1(g)
            o1 = r1 + g4
            r2 = self.n2(o1)
            o2 = r2 + g2
            r3 = self.n3(o2)
            o3 = r3 + g
        else:  # every stage outputs its image; the residuals are what it would have added
            o1 = self.n1(g)
            o2 = self.n2(o1)
            o3 = self.n3(o2)
            r1, r2, r3 = o1 - g4, o2 - g2, o3 - g
        if ph or pw:
            h2, w2, h4, w4 = -(-H // 2), -(-W // 2), -(-H // 4), -(-W // 4)
            o1, r1 = o1[..., :h4, :w4], r1[..., :h4, :w4]
            o2, r2 = o2[..., :h2, :w2], r2[..., :h2, :w2]
            o3, r3 = o3[..., :H, :W], r3[..., :H, :W]
        return DeblurNetOutput((o1, o2, o3), (r1, r2, r3))


LOSS_REDUCTIONS = ("sum", "scaled_sum", "mean")


def multiscale_loss(
    outputs: tuple[torch.Tensor, ...] | DeblurNetOutput,
    sharp: torch.Tensor,
    *,
    reduction: str = "mean",
    weights: tuple[float, ...] = (1.0, 1.0, 1.0),
) -> torch.Tensor:
    """The paper's loss ``L1 + L2 + L3`` with ``Lk = |o_k - D(f)|^2`` at each scale.

    ``outputs``: ``(o1, o2, o3)`` (or a :class:`DeblurNetOutput`); ``sharp``: ``(B, 3, H, W)``
    with ``H, W`` multiples of 4. ``reduction``:

    - ``"sum"``: the paper's sum of squared errors; a pixel of every scale weighs the same,
      so the full scale carries 16/21 of the loss, the 1/4 scale 1/21;
    - ``"scaled_sum"``: that sum divided by the number of full-resolution elements
      ``B * 3 * H * W``: the paper's weighting, at a size that does not depend on crop or batch;
    - ``"mean"``: each scale's mean, summed. This is *not* the paper's weighting: a 1/4-scale
      pixel weighs 16 times a full-scale pixel (each scale carries a third of the loss), and
      Adam does not undo that, since the three scales share the network's weights.

    ``weights``: a factor on each scale's term, from the 1/4 scale to the full scale; the default
    (1, 1, 1) is the paper's loss (and leaves it bit for bit as without weights), ``(0, 0, 1)``
    trains the full scale only (a term of weight 0 is not computed).
    """
    if isinstance(outputs, DeblurNetOutput):
        outputs = outputs.outputs
    if len(outputs) != 3:
        raise ValueError(f"expected 3 scale outputs, got {len(outputs)}")
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"reduction must be one of {LOSS_REDUCTIONS}, got {reduction!r}")
    weights = tuple(float(w) for w in weights)
    if len(weights) != 3 or any(not w >= 0 for w in weights) or not any(weights):
        raise ValueError(f"weights must be 3 numbers >= 0, not all 0, got {weights}")
    total = sharp.new_zeros(())
    for o, k, w in zip(outputs, (4, 2, 1), weights):
        target = downsample(sharp, k)
        if o.shape != target.shape:
            raise ValueError(f"scale 1/{k}: output {tuple(o.shape)} vs target {tuple(target.shape)}")
        if w == 0:
            continue
        term = F.mse_loss(o, target, reduction="mean" if reduction == "mean" else "sum")
        total = total + (term if w == 1 else term * w)
    if reduction == "scaled_sum":
        total = total / sharp.numel()
    return total


def floored_log_mse(
    outputs: tuple[torch.Tensor, ...] | DeblurNetOutput,
    sharp: torch.Tensor,
    *,
    floor: float = 1e-4,
    weights: tuple[float, ...] = (1.0, 1.0, 1.0),
) -> torch.Tensor:
    """A PSNR loss: the mean over items of ``ln(max(MSE_k, floor))``, averaged over the scales.

    Not the paper's loss (a departure, ``TrainConfig.loss_log_weight``). Each item's MSE is taken
    at each scale ``k`` (1/4, 1/2, full) against the downsampled sharp frame; the scales are
    weighted as in the paper's sum of squares (by their pixel counts, 1/16 : 1/4 : 1, times
    ``weights``) and the weighted mean of the logs is averaged over the batch. Every item counts
    alike whatever its error, so a near-sharp item weighs as much as a blurred one (the paper's sum
    of squares weighs an item by its squared error). Below ``floor`` (1e-4 = 40 dB) an item's
    term is constant: without a floor the loss rewards the last fractions of a grey level on sharp
    items and the network collapses to the identity.

    ``outputs``: ``(o1, o2, o3)``; ``sharp``: ``(B, 3, H, W)`` in [0, 1]. Returns a scalar.
    """
    if isinstance(outputs, DeblurNetOutput):
        outputs = outputs.outputs
    if len(outputs) != 3:
        raise ValueError(f"expected 3 scale outputs, got {len(outputs)}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    weights = tuple(float(w) for w in weights)
    if len(weights) != 3 or any(not w >= 0 for w in weights) or not any(weights):
        raise ValueError(f"weights must be 3 numbers >= 0, not all 0, got {weights}")
    total, norm = sharp.new_zeros(sharp.shape[0]), 0.0
    for o, k, w in zip(outputs, (4, 2, 1), weights):
        if w == 0:
            continue
        target = downsample(sharp, k)
        if o.shape != target.shape:
            raise ValueError(f"scale 1/{k}: output {tuple(o.shape)} vs target {tuple(target.shape)}")
        mse = (o - target).pow(2).flatten(1).mean(1)  # (B,)
        share = w / (k * k)
        total = total + share * mse.clamp_min(floor).log()
        norm += share
    return (total / norm).mean()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _on_meta(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device: shapes and FLOPs without computing anything."""
    import copy

    meta = copy.deepcopy(model).to("meta") if next(model.parameters()).device.type != "meta" else model
    return meta.eval()


def count_flops(model: nn.Module, height: int = 240, width: int = 432) -> int:
    """FLOPs of one forward pass on a ``(1, 3, height, width)`` input (``torch.utils.flop_counter``).

    A multiply-add counts as 2 FLOPs. Runs on a meta-device copy, so it is instant at any size.
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta = _on_meta(model)
    x = torch.zeros(1, 3, height, width, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        meta(x)
    return int(counter.get_total_flops())


def table1(model: DeblurNet | None = None, height: int = 240, width: int = 432) -> list[dict]:
    """The paper's Table 1, read off the model itself.

    Returns one dict per convolution: ``stage``, ``layer``, ``type`` (conv/deconv), ``channels``
    (out), ``kernel``, ``stride`` (negative = upsampling factor), ``params``, ``output`` (the
    output size for a ``height x width`` input), ``bn_relu``. Whole-model totals are in
    :func:`count_parameters` and :func:`count_flops`.
    """
    model = _on_meta(model or DeblurNet())
    rows: list[dict] = []
    shapes: dict[nn.Module, tuple[int, ...]] = {}
    hooks = []
    for stage_name in ("n1", "n2", "n3"):
        stage = getattr(model, stage_name)
        for m in stage.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                hooks.append(m.register_forward_hook(lambda mod, i, o: shapes.__setitem__(mod, tuple(o.shape))))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    for stage_name in ("n1", "n2", "n3"):
        stage = getattr(model, stage_name)
        convs = [m for m in stage.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        for i, m in enumerate(convs, start=1):
            deconv = isinstance(m, nn.ConvTranspose2d)
            s = m.stride[0]
            rows.append({
                "stage": stage_name.upper(),
                "layer": i,
                "type": "deconv" if deconv else "conv",
                "channels": m.out_channels,
                "kernel": f"{m.kernel_size[0]}x{m.kernel_size[1]}",
                "stride": f"x{s}" if deconv else str(s),
                "params": sum(q.numel() for q in m.parameters()),
                "output": "x".join(str(d) for d in shapes[m][2:]),
                "bn_relu": m is not stage.head,
            })
    return rows
