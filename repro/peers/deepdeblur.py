"""DeepDeblur: the multi-scale convolutional network of Nah, Kim & Lee (CVPR 2017).

Written from the paper's description (S. Nah, T. H. Kim, K. M. Lee, "Deep Multi-scale
Convolutional Neural Network for Dynamic Scene Deblurring", CVPR 2017, Sec. 3), forward pass
only, to time it beside DeblurNet; it is not trained here.

* A Gaussian pyramid of the blurry input ``B1`` (full), ``B2`` (1/2), ``B3`` (1/4).
* One network per scale, coarse to fine: a 5x5 conv to 64 feature maps, 19 ResBlocks, a 5x5 conv
  back to 3 channels; 40 conv layers per scale, 120 in all. A ResBlock is conv-ReLU-conv plus the
  identity, with no batch normalisation and no ReLU after the sum (the paper's modification of
  He et al.'s block).
* The coarser scale's output ``L_{k+1}`` is up-convolved (a 5x5 transposed conv, x2) to the next
  scale's size and concatenated with ``B_k``, so the two finer networks take 6 channels.
* Every scale's output is trained to be sharp (multi-scale loss); at test time ``L1`` is the
  result. About 11.7 M parameters.

The paper does not give the pyramid filter; a 5-tap binomial (Burt & Adelson) filter with
reflect padding is used, then every second pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DeepDeblurConfig", "DeepDeblur", "DeepDeblurOutput", "gaussian_pyramid"]


@dataclass(frozen=True)
class DeepDeblurConfig:
    """Hyper-parameters of :class:`DeepDeblur`; the defaults are the paper's (K = 3 scales)."""

    n_scales: int = 3  # pyramid levels (the paper's K)
    n_resblocks: int = 19  # ResBlocks per scale
    n_feats: int = 64  # feature maps inside each scale's network
    kernel_size: int = 5  # every conv and the up-convolution

    def __post_init__(self) -> None:
        if self.n_scales < 1 or self.n_resblocks < 0 or self.n_feats < 1:
            raise ValueError(f"bad DeepDeblur config: {self}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")


class DeepDeblurOutput(NamedTuple):
    """``outputs`` = latent images coarse to fine (``L_K, ..., L_1``); ``restored`` = ``L_1``."""

    outputs: tuple[torch.Tensor, ...]

    @property
    def restored(self) -> torch.Tensor:
        return self.outputs[-1]


_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Blur with the separable 5-tap binomial filter, then keep every second pixel."""
    B, C, H, W = x.shape
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device)
    k = k / k.sum()
    mode = "reflect" if min(H, W) > 2 else "replicate"
    x = F.pad(x, (2, 2, 2, 2), mode=mode)
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(C, 1, 1, 5), groups=C)  # along W
    x = F.conv2d(x, k.view(1, 1, 5, 1).expand(C, 1, 5, 1), groups=C)  # along H
    return x[:, :, ::2, ::2]


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``[B1, B2, ..., B_levels]``: ``x`` then repeated Gaussian downsampling by 2.

    Shape: ``(B, C, H, W)`` -> level k ``(B, C, ceil(H / 2^(k-1)), ceil(W / 2^(k-1)))``.
    """
    pyr = [x]
    for _ in range(levels - 1):
        pyr.append(_pyr_down(pyr[-1]))
    return pyr


class ResBlock(nn.Module):
    """conv-ReLU-conv plus identity; no batch norm, no ReLU after the sum."""

    def __init__(self, n_feats: int, kernel_size: int) -> None:
        super().__init__()
        p = kernel_size // 2
        self.conv1 = nn.Conv2d(n_feats, n_feats, kernel_size, padding=p)
        self.conv2 = nn.Conv2d(n_feats, n_feats, kernel_size, padding=p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class _ScaleNet(nn.Module):
    def __init__(self, in_channels: int, cfg: DeepDeblurConfig) -> None:
        super().__init__()
        k, n = cfg.kernel_size, cfg.n_feats
        self.head = nn.Conv2d(in_channels, n, k, padding=k // 2)
        self.body = nn.Sequential(*[ResBlock(n, k) for _ in range(cfg.n_resblocks)])
        self.tail = nn.Conv2d(n, 3, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


class DeepDeblur(nn.Module):
    """Nah et al.'s multi-scale network. Input ``(B, 3, H, W)`` in [0, 1], any ``H, W``.

    Inputs are reflect-padded to a multiple of ``2^(K-1)`` and the outputs cropped back, so
    ``restored`` has the input's shape.
    """

    def __init__(self, config: DeepDeblurConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DeepDeblurConfig()
        k = cfg.kernel_size
        # nets[0] is the coarsest scale (3 input channels); finer ones also take the up-convolved
        # coarser output (3 + 3 channels).
        self.nets = nn.ModuleList([_ScaleNet(3 if i == 0 else 6, cfg) for i in range(cfg.n_scales)])
        self.upconvs = nn.ModuleList([
            nn.ConvTranspose2d(3, 3, k, stride=2, padding=k // 2, output_padding=1)
            for _ in range(cfg.n_scales - 1)
        ])

    def forward(self, x: torch.Tensor) -> DeepDeblurOutput:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"DeepDeblur expects (B, 3, H, W), got {tuple(x.shape)}")
        B, C, H, W = x.shape
        m = 2 ** (self.config.n_scales - 1)
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            mode = "reflect" if H > ph and W > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        pyr = gaussian_pyramid(x, self.config.n_scales)[::-1]  # coarse -> fine
        outputs: list[torch.Tensor] = []
        latent = self.nets[0](pyr[0])
        outputs.append(latent)
        for net, up, blurry in zip(self.nets[1:], self.upconvs, pyr[1:]):
            latent = net(torch.cat([blurry, up(latent)], dim=1))
            outputs.append(latent)
        if ph or pw:
            outputs = [o[..., : -(-H // s), : -(-W // s)]
                       for o, s in zip(outputs, [2 ** i for i in range(self.config.n_scales - 1, -1, -1)])]
        return DeepDeblurOutput(tuple(outputs))
