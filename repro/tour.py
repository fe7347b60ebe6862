"""The teaching tour (``notebooks/00_tour.ipynb``): film one photo with the virtual camera, make a
WILD pair from N frames, check the flow rule, and deblur the pair with DeblurNet^WILD and ^SI.

:func:`run_tour` does it for one :class:`TourSettings`; :func:`tour_figure` draws the frames, the
average, the sharp frame, the flow the rule accepted or rejected, both networks' outputs and
their residuals; :func:`tour_widgets` puts sliders on the settings, redrawing on every change
(about a second at the default size on 2 cores). Under papermill the notebook runs it once with
fixed values and records :meth:`TourResult.numbers`.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["TourSettings", "TourResult", "TRY_THIS", "check_settings", "load_networks", "run_tour", "tour_figure",
           "tour_widgets", "try_this_table"]

TOUR_SIZE = (192, 288)  # (H, W) of the frames: small enough to redraw in about a second on 2 cores


@dataclass(frozen=True)
class TourSettings:
    """What a student chooses. Speeds are px/frame at 240 rows (:mod:`repro.camera`); the
    defaults make a typical WILD pair (N = 15 at 1 px/frame: about 7 px of blur at this size)."""

    photo: str = "chelsea"  # a bundled photo's name (repro.camera.photos) or an image file (a corpus photo, your own)
    sway: int = 0  # which handheld path the camera takes (the scene's seed)
    speed: float = 1.0  # the camera's mean flow, px/frame; 0: a tripod
    frames: int = 15  # N, the frames averaged: odd, 1 to 31 (the paper: 7 to 23)
    flow_threshold: float = 1.0  # the rule: 99th percentile of |flow| between consecutive frames at most this, px
    size: tuple[int, int] = TOUR_SIZE


# three guided experiments ("try this" in the notebook): a name, what to set, what to look for
TRY_THIS = (
    ("a sharp photo in", {"speed": 0.0},
     "a tripod: the average is the sharp frame, nothing to undo; does a network leave it alone (PSNR) or sharpen it?"),
    ("a long window", {"frames": 31, "speed": 1.0},
     "31 frames: more blur than any training pair (N <= 23); watch the gain shrink or turn negative"),
    ("a rule that rejects everything", {"flow_threshold": 0.05},
     "no handheld clip moves less than 0.05 px per frame: the pair is rejected, the WILD set would get none"),
)


def check_settings(s: TourSettings) -> TourSettings:
    """``s`` when its values are valid; a one-line ``ValueError`` naming the bad one otherwise."""
    if not isinstance(s.frames, int) or s.frames < 1 or s.frames > 31 or s.frames % 2 == 0:
        raise ValueError(f"frames must be odd, 1 to 31 (the central frame is the sharp one), got {s.frames!r}")
    if not 0 <= s.speed <= 4:
        raise ValueError(f"speed must be 0 to 4 px/frame, got {s.speed!r}")
    if s.flow_threshold <= 0:
        raise ValueError(f"flow_threshold must be positive (px), got {s.flow_threshold!r}")
    if not isinstance(s.sway, int) or s.sway < 0:
        raise ValueError(f"sway must be a non-negative integer (a seed), got {s.sway!r}")
    return s


def _background(photo: str) -> tuple[str, str]:
    """(``background=`` of :func:`repro.camera.render_clip`, its split) for a photo name or file."""
    from .camera.photos import SPLIT_PHOTOS

    splits = {k: v for k, v in SPLIT_PHOTOS.items() if k != "residual"}
    for split, names in splits.items():
        if photo in names:
            return photo, split
    path = Path(photo).expanduser()
    if not path.is_file():
        known = ", ".join(n for names in splits.values() for n in names)
        raise ValueError(f"photo {photo!r}: neither a bundled photo ({known}) nor an image file")
    return str(path), "test"


@dataclass
class TourResult:
    """One run of the tour: images float32 ``(H, W, 3)`` in [0, 1], flows ``(N-1, H, W, 2)`` px."""

    settings: TourSettings
    frames: np.ndarray  # (N, H, W, 3)
    average: np.ndarray  # the blurry image: the mean of the N frames
    sharp: np.ndarray  # the central frame
    flow_p99: np.ndarray  # (N-1,) 99th percentile of |flow| per consecutive pair, px at this size
    flow_central: np.ndarray  # (H, W) |flow| from the central frame to the next (or zeros for N = 1)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # "wild", "si" -> restored image
    psnr: dict[str, float] = field(default_factory=dict)  # "input", "wild", "si" -> dB against the sharp frame
    seconds: float = 0.0

    @property
    def accepted(self) -> bool:
        """Whether the flow rule keeps the window (the largest per-pair 99th percentile at most the threshold)."""
        return bool(self.flow_p99.max(initial=0.0) <= self.settings.flow_threshold)

    def numbers(self) -> dict:
        """The key numbers for the notebook's record."""
        def finite(x: float) -> float | None:  # a tripod's average is its sharp frame: PSNR inf, kept as None
            return float(x) if np.isfinite(x) else None

        return {"settings": {**asdict(self.settings), "size": list(self.settings.size)},
                "flow_p99_max_px": float(self.flow_p99.max(initial=0.0)), "accepted": self.accepted,
                "psnr_db": {k: finite(v) for k, v in self.psnr.items()},
                "gain_db": {k: finite(self.psnr[k] - self.psnr["input"]) for k in self.outputs},
                "seconds": self.seconds}

    def summary(self) -> str:
        """One line: the window, the rule's verdict, and the PSNRs."""
        s = self.settings
        verdict = "accepted" if self.accepted else "rejected"
        gains = ", ".join(f"{k.upper()} {self.psnr[k]:.2f} dB ({self.psnr[k] - self.psnr['input']:+.2f})"
                          for k in self.outputs)
        return (f"N = {s.frames}, speed {s.speed:g}, sway {s.sway}: flow p99 up to "
                f"{self.flow_p99.max(initial=0.0):.2f} px, {verdict} by the {s.flow_threshold:g} px rule; "
                f"input {self.psnr['input']:.2f} dB, {gains} ({self.seconds:.1f} s)")


def load_networks(checkpoints: Mapping[str, str | Path], device: str = "auto") -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """``{name: image -> deblurred image}`` for each checkpoint (``{"wild": path, "si": path}``), each
    network loaded once (:func:`repro.core.inference.load_deblurnet`)."""
    from .core.inference import deblur, load_deblurnet

    def runner(model) -> Callable[[np.ndarray], np.ndarray]:
        return lambda image: deblur(image, model=model)

    return {name: runner(load_deblurnet(path, device)) for name, path in checkpoints.items()}


def try_this_table(networks: Mapping[str, Callable[[np.ndarray], np.ndarray]], settings: TourSettings, *,
                   seed: int = 0) -> list[dict]:
    """The three experiments of :data:`TRY_THIS`, each run from ``settings``: one row each with what
    changed, the rule's verdict, the PSNRs against the sharp frame (None: infinite, a tripod's
    average is its sharp frame) and what to look for."""
    rows = []
    for name, change, look_for in TRY_THIS:
        r = run_tour(replace(settings, **change), networks, seed=seed)
        n = r.numbers()
        rows.append({"experiment": name, "set": ", ".join(f"{k}={v}" for k, v in change.items()),
                     "rule": "accepted" if r.accepted else "rejected",
                     **{f"{'input' if k == 'input' else k.upper()} dB": v for k, v in n["psnr_db"].items()},
                     "look for": look_for})
    return rows


def run_tour(settings: TourSettings, networks: Mapping[str, Callable[[np.ndarray], np.ndarray]], *,
             seed: int = 0) -> TourResult:
    """Film ``settings.photo`` for ``settings.frames`` frames, average them, and deblur the average
    with each of ``networks`` (name -> image-to-image function, e.g. ``{"wild": ..., "si": ...}``).
    ``seed`` draws the rest of the scene (its crop), ``settings.sway`` the camera's path; no
    foreground objects, so the photo is what moves."""
    from .camera import render_clip
    from .core.metrics import psnr
    from .wild.recipe import average_frames

    s = check_settings(settings)
    background, split = _background(s.photo)
    t0 = time.perf_counter()
    clip = render_clip(seed * 100_003 + s.sway, n_frames=s.frames, size=s.size, split=split, kind="camera",
                       objects=0, background=background, speed=s.speed if s.speed > 0 else 1e-9, tint=False)
    frames = clip.frames.astype(np.float32) / 255.0
    average = average_frames(list(frames))  # the WILD recipe's average (in the encoded values, as the builder's default)
    sharp = frames[s.frames // 2]
    if s.frames > 1:
        magnitude = np.linalg.norm(clip.flows, axis=-1)  # (N-1, H, W)
        p99 = np.percentile(magnitude.reshape(len(magnitude), -1), 99, axis=1)
        central = magnitude[min(s.frames // 2, len(magnitude) - 1)]
    else:
        p99, central = np.zeros(0), np.zeros(s.size, np.float32)
    result = TourResult(s, frames, average, sharp, p99, central)
    result.psnr["input"] = psnr(sharp, average, data_range=1.0)
    for name, net in networks.items():
        result.outputs[name] = np.clip(net(average), 0.0, 1.0).astype(np.float32)
        result.psnr[name] = psnr(sharp, result.outputs[name], data_range=1.0)
    result.seconds = time.perf_counter() - t0
    return result


def tour_figure(result: TourResult):
    """Two rows: first frame | average (blurry) | sharp frame | flow; WILD | SI | |residual| of each (x4)."""
    import matplotlib.pyplot as plt

    s, p = result.settings, result.psnr
    verdict = "accepted" if result.accepted else "REJECTED"
    panels = [(result.frames[0], f"frame 1 of {s.frames}"), (result.average, f"average of {s.frames}: {p['input']:.2f} dB"),
              (result.sharp, "sharp: the central frame"),
              (result.flow_central, f"|flow|, p99 up to {result.flow_p99.max(initial=0.0):.2f} px: {verdict}")]
    for name, out in result.outputs.items():
        panels.append((out, f"DeblurNet^{name.upper()}: {p[name]:.2f} dB ({p[name] - p['input']:+.2f})"))
    for name, out in result.outputs.items():
        panels.append((np.clip(4 * np.abs(out - result.average).mean(axis=2), 0, 1), f"|residual| of {name.upper()}, x4"))
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, (img, title) in zip(axes.ravel(), panels):
        ax.imshow(img, cmap="magma" if img.ndim == 2 else None, vmin=0, vmax=None if img is result.flow_central else 1)
        ax.set_title(title, fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"{Path(s.photo).name}, camera speed {s.speed:g} px/frame, sway {s.sway}", fontsize=10)
    fig.tight_layout()
    return fig


def _png_output(result: TourResult) -> dict:
    """``result``'s figure and summary as one display_data output (an Output widget's ``outputs`` entry)."""
    import matplotlib.pyplot as plt

    fig = tour_figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": result.summary()}}


def tour_widgets(networks: Mapping[str, Callable[[np.ndarray], np.ndarray]], settings: TourSettings, *,
                 photos: tuple[str, ...] = ("chelsea", "grace_hopper", "moon", "gravel", "ihc"), seed: int = 0):
    """``(box, controls, output)``: sliders for ``settings`` (photo, sway, speed, frames, flow threshold)
    and an Output widget redrawn by :func:`run_tour` whenever one moves. ``controls`` maps each
    setting to its widget; ``output.outputs`` holds the figure (PNG) and :meth:`TourResult.summary`
    as text, set from the kernel, so it updates in JupyterLab and can be read back in a test.
    ``photos``: the dropdown's choices (test photos by default); a file path typed in ``photo`` joins them."""
    import ipywidgets as W

    choices = tuple(dict.fromkeys((settings.photo, *photos)))
    controls = {
        "photo": W.Dropdown(options=choices, value=settings.photo, description="photo"),
        "sway": W.IntSlider(value=settings.sway, min=0, max=20, description="sway"),
        "speed": W.FloatSlider(value=settings.speed, min=0.0, max=3.0, step=0.1, description="speed px/f"),
        "frames": W.IntSlider(value=settings.frames, min=1, max=31, step=2, description="N frames"),
        "flow_threshold": W.FloatSlider(value=settings.flow_threshold, min=0.05, max=3.0, step=0.05,
                                        description="rule, px"),
    }
    output = W.Output()

    def redraw(_change=None) -> None:
        chosen = replace(settings, **{k: w.value for k, w in controls.items()})
        output.outputs = (_png_output(run_tour(chosen, networks, seed=seed)),)

    for w in controls.values():
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:3]), W.HBox(list(controls.values())[3:]), output]), controls, output
