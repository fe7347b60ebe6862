"""Optical flow between two frames, behind one function, in one sign convention.

Convention (the same as ``repro.camera.Clip.flows``): ``flow = estimate_flow(frame0, frame1)``
is the *forward* flow sampled on frame 0's pixel grid, ``flow[y, x] = (dx, dy)`` in pixels, so
that the scene point at pixel ``(x, y)`` of ``frame0`` is at ``(x + dx, y + dy)`` in ``frame1``;
equivalently ``frame0(x, y) ~ frame1(x + dx, y + dy)`` (see :func:`warp_backward`).

The two libraries use different conventions, converted here:

- OpenCV (``DISOpticalFlow.calc(prev, next)``) returns ``(dx, dy)`` with
  ``prev(y, x) ~ next(y + dy, x + dx)``: already ours.
- scikit-image (``optical_flow_tvl1(reference_image, moving_image)``) returns ``(v, u)`` = (row,
  column) displacements with ``reference(r, c) ~ moving(r + v, c + u)``; with
  ``reference = frame0`` and ``moving = frame1`` this is ours with the two channels swapped.

Backends (measured against the renderer's true flow by ``experiments/flow_backends/flow_accuracy.py``,
``experiments/flow_backends/flow_benchmark.md``):

===================  ===============================================================
``"dis"``            OpenCV DIS, preset ``medium`` (default: accurate and fast)
``"dis-fast"``       OpenCV DIS, preset ``fast``
``"dis-ultrafast"``  OpenCV DIS, preset ``ultrafast``
``"farneback"``      OpenCV Farnebäck polynomial expansion
``"tvl1"``           scikit-image TV-L1 (Zach et al. 2007), library defaults
``"ilk"``            scikit-image iterative Lucas-Kanade
===================  ===============================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["BACKENDS", "estimate_flow", "flow_magnitude", "warp_backward", "matching_error", "to_gray",
           "end_point_error"]

BACKENDS = ("dis", "dis-fast", "dis-ultrafast", "farneback", "tvl1", "ilk")
DEFAULT_BACKEND = "dis"

_DIS_PRESETS = {"dis": "MEDIUM", "dis-fast": "FAST", "dis-ultrafast": "ULTRAFAST"}


def to_gray(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB or ``(H, W)`` gray, uint8 or float in [0, 1] -> ``(H, W)`` float32 in [0, 1].

    Colour goes through :func:`repro.io.images.to_gray` (ITU-R BT.601 luma) in float32.
    """
    frame = np.asarray(frame)
    if frame.dtype == np.uint8:
        frame = frame.astype(np.float32) / 255.0
    elif np.issubdtype(frame.dtype, np.floating):
        frame = frame.astype(np.float32, copy=False)
    else:
        raise ValueError(f"frame dtype {frame.dtype} not supported; use uint8 or float in [0, 1]")
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        from ..io.images import to_gray as luma

        frame = luma(frame)
    elif frame.ndim != 2:
        raise ValueError(f"expected a frame of shape (H, W) or (H, W, 3), got {frame.shape}")
    return np.ascontiguousarray(frame, dtype=np.float32)


def _gray_u8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.round(gray * 255.0), 0, 255).astype(np.uint8)


def estimate_flow(frame0: np.ndarray, frame1: np.ndarray, *, backend: str = DEFAULT_BACKEND) -> np.ndarray:
    """Forward optical flow from ``frame0`` to ``frame1``.

    Parameters
    ----------
    frame0, frame1 : ``(H, W, 3)`` or ``(H, W)``, uint8 or float in [0, 1], same shape.
    backend : one of :data:`BACKENDS`.

    Returns
    -------
    ``(H, W, 2)`` float32: ``(dx, dy)`` in pixels, on frame 0's grid (module docstring).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown flow backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    g0, g1 = to_gray(frame0), to_gray(frame1)
    if g0.shape != g1.shape:
        raise ValueError(f"frames differ in size: {g0.shape} vs {g1.shape}")
    H, W = g0.shape
    if H < 16 or W < 16:
        raise ValueError(f"frames of {H}x{W} are too small for optical flow (need at least 16x16)")
    if backend.startswith("dis"):
        import cv2

        preset = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{_DIS_PRESETS[backend]}")
        dis = cv2.DISOpticalFlow_create(preset)
        flow = dis.calc(_gray_u8(g0), _gray_u8(g1), None)
    elif backend == "farneback":
        import cv2

        flow = cv2.calcOpticalFlowFarneback(_gray_u8(g0), _gray_u8(g1), None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        from skimage.registration import optical_flow_ilk, optical_flow_tvl1

        fn = optical_flow_tvl1 if backend == "tvl1" else optical_flow_ilk
        vu = fn(g0, g1)  # (2, H, W): (row, col) displacement, reference=frame0, moving=frame1
        flow = np.stack([vu[1], vu[0]], axis=-1)
    return np.ascontiguousarray(flow, dtype=np.float32)


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """``(..., H, W, 2)`` flow -> ``(..., H, W)`` per-pixel displacement length in pixels."""
    flow = np.asarray(flow)
    if flow.shape[-1] != 2:
        raise ValueError(f"flow must end in a (dx, dy) axis of size 2, got shape {flow.shape}")
    return np.hypot(flow[..., 0], flow[..., 1])


def end_point_error(flow: np.ndarray, flow_true: np.ndarray, *, border: int = 0) -> float:
    """Mean end-point error ``mean ||flow - flow_true||`` in pixels, ignoring ``border`` pixels."""
    flow, flow_true = np.asarray(flow), np.asarray(flow_true)
    if flow.shape != flow_true.shape:
        raise ValueError(f"flow shapes differ: {flow.shape} vs {flow_true.shape}")
    err = flow_magnitude(flow.astype(np.float64) - flow_true)
    if border:
        err = err[..., border:-border, border:-border]
    return float(err.mean())


def warp_backward(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` (frame 1) at ``(x + dx, y + dy)``: the frame-1 content brought onto frame 0.

    Bilinear interpolation. Returns ``(warped, valid)``: ``warped`` has ``image``'s shape (float32),
    ``valid`` is an ``(H, W)`` bool mask of pixels whose source lies inside the image.
    """
    import cv2

    image = np.asarray(image, dtype=np.float32)
    H, W = image.shape[:2]
    if flow.shape != (H, W, 2):
        raise ValueError(f"flow of shape {flow.shape} does not match an image of {H}x{W}")
    xs, ys = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    map_x = xs + flow[..., 0]
    map_y = ys + flow[..., 1]
    warped = cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = (map_x >= 0) & (map_x <= W - 1) & (map_y >= 0) & (map_y <= H - 1)
    return warped, valid


def matching_error(frame0: np.ndarray, frame1: np.ndarray, flow: np.ndarray) -> float:
    """Frame-matching error: RMS grayscale difference between ``frame0`` and ``frame1`` warped by ``flow``.

    Grayscale in [0, 1] (:func:`to_gray`), root mean square over the pixels whose warped source
    lies inside the image (the L2 norm divided by the square root of the pixel count, so the
    value does not depend on the image size). A correct flow leaves only noise, interpolation
    and occlusion error; a wrong flow leaves edges.
    """
    g0, g1 = to_gray(frame0), to_gray(frame1)
    warped, valid = warp_backward(g1, flow)
    if not valid.any():
        return float("inf")
    diff = (warped - g0)[valid].astype(np.float64)
    return float(np.sqrt(np.mean(diff * diff)))
