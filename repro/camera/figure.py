"""Pictures of the virtual camera: flow as colour, and the strip figure of its clip kinds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .geometry import REFERENCE_ROWS
from .render import DEFAULT_SIZE, render_clip

__all__ = ["flow_to_rgb", "STRIP_ROWS", "virtual_camera_strip"]


def flow_to_rgb(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) float colours: hue = direction, brightness = magnitude / max_flow."""
    from matplotlib.colors import hsv_to_rgb

    mag = np.hypot(flow[..., 0], flow[..., 1])
    if max_flow is None:
        max_flow = float(mag.max()) or 1.0
    hue = (np.arctan2(flow[..., 1], flow[..., 0]) / (2 * np.pi)) % 1.0
    hsv = np.stack([hue, np.ones_like(hue), np.clip(mag / max_flow, 0, 1)], -1)
    return hsv_to_rgb(hsv).astype(np.float32)


STRIP_ROWS = (  # (label, render options)
    ("camera shake (train)", dict(split="train", kind="camera")),
    ("parallax, depth layers (train)", dict(split="train", kind="parallax", background="motorcycle_left")),
    ("moving objects (train)", dict(split="train", kind="objects", objects=3)),
    ("mixed (test photos)", dict(split="test", kind="random")),
)


def virtual_camera_strip(out: str | Path, *, seed: int = 0,
                         size: tuple[int, int] = DEFAULT_SIZE, n_frames: int = 60, n_show: int = 4,
                         n_average: int = 15, device: str = "cpu") -> Path:
    """Figure: one row per clip kind; frames across the clip, the true flow, an average of frames.

    Columns: ``n_show`` frames evenly spaced over the clip, the true flow between the first two
    frames (colour: direction; brightness: magnitude, 1 px = full), and the average of
    ``n_average`` consecutive frames around the middle (a WILD-style blurry image). Returns ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.files import atomic_path

    n_average = min(n_average, n_frames)
    cols = n_show + 2
    fig, axes = plt.subplots(len(STRIP_ROWS), cols, figsize=(2.3 * cols, 1.45 * len(STRIP_ROWS) * size[0] / size[1] * 1.8),
                             squeeze=False)
    show = np.linspace(0, n_frames - 1, n_show).round().astype(int)
    for r, (label, opts) in enumerate(STRIP_ROWS):
        clip = render_clip(seed + r, n_frames=n_frames, size=size, device=device, **opts)
        scale = size[0] / REFERENCE_ROWS
        for c, t in enumerate(show):
            axes[r, c].imshow(clip.frames[t])
            axes[r, c].set_title(f"frame {t}", fontsize=7)
        mag = np.hypot(clip.flows[0, ..., 0], clip.flows[0, ..., 1]) / scale
        axes[r, n_show].imshow(flow_to_rgb(clip.flows[0], max_flow=scale))
        axes[r, n_show].set_title(f"true flow 0→1 (max {mag.max():.2f} px@240)", fontsize=7)
        m0 = (n_frames - n_average) // 2
        avg = clip.frames[m0:m0 + n_average].astype(np.float32).mean(0) / 255
        axes[r, n_show + 1].imshow(avg)
        axes[r, n_show + 1].set_title(f"mean of {n_average} frames", fontsize=7)
        info = clip.meta
        axes[r, 0].set_ylabel(f"{label}\n{info['background']}, {info['geometry']},\n"
                              f"{info['n_objects']} obj, speed {info['speed']:.2f}", fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Virtual 240 fps camera: {n_frames} frames at {size[0]}x{size[1]} per row (seeds {seed}..{seed + len(STRIP_ROWS) - 1})",
                 fontsize=9)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
