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


@dataclass(frozen=True)
class DeblurNetConfig:
    """Hyper-parameters of :class:`DeblurNet`. ``DeblurNetConfig()`` is the paper's network."""

    width: float = 1.0  # multiplier on every hidden channel count (1.0 = paper, ~24.7 M params)
    strides: tuple[int, ...] = (2, 1, 1, 2, 1, 1, 1)  # strides of N1's 7 convs; must reduce by 4
    batch_norm: bool = True  # BN after every non-residual conv, as the paper
    zero_init_residual: bool = False  # start the residual-emitting layers at 0 (output = input)

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width}")
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
        known = {k: d[k] for k in ("width", "strides", "batch_norm", "zero_init_residual") if k in d}
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
        head = nn.Conv2d(cin, 3, k_last, stride=config.strides[-1], padding=k_last // 2)
        self.n1 = _Stage(body, head)
        self.n2 = self._upsampling_stage(w, bn)
        self.n3 = self._upsampling_stage(w, bn)
        if config.zero_init_residual:
            for stage in (self.n1, self.n2, self.n3):
                nn.init.zeros_(stage.head.weight)
                nn.init.zeros_(stage.head.bias)

    @staticmethod
    def _upsampling_stage(width: float, batch_norm: bool) -> _Stage:
        c, k = _ch(_N23_CHANNELS, width), _N23_KERNEL
        body = [_conv_block(3 if i == 0 else c, c, k, 1, batch_norm) for i in range(4)]
        head = nn.ConvTranspose2d(c, 3, k, stride=2, padding=k // 2, output_padding=1)
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
        r1 = self.n1(g)
        o1 = r1 + g4
        r2 = self.n2(o1)
        o2 = r2 + g2
        r3 = self.n3(o2)
        o3 = r3 + g
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
    """
    if isinstance(outputs, DeblurNetOutput):
        outputs = outputs.outputs
    if len(outputs) != 3:
        raise ValueError(f"expected 3 scale outputs, got {len(outputs)}")
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"reduction must be one of {LOSS_REDUCTIONS}, got {reduction!r}")
    total = sharp.new_zeros(())
    for o, k in zip(outputs, (4, 2, 1)):
        target = downsample(sharp, k)
        if o.shape != target.shape:
            raise ValueError(f"scale 1/{k}: output {tuple(o.shape)} vs target {tuple(target.shape)}")
        total = total + F.mse_loss(o, target, reduction="mean" if reduction == "mean" else "sum")
    if reduction == "scaled_sum":
        total = total / sharp.numel()
    return total


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
