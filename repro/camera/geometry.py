"""The virtual camera's geometry: camera and object trajectories, layers, scenes, homographies.

Geometry (all exact, every layer is a plane, so every warp is a homography):

- Image coordinates are *normalized*: for an ``H x W`` frame, pixel ``(x, y)`` (integer at pixel
  centres) has ``u = (x + 0.5 - W/2) / (H/2)``, ``v = (y + 0.5 - H/2) / (H/2)``; a shift of ``du``
  is ``du * H / 2`` pixels. The same scene therefore renders at any size.
- The camera at time ``t`` has centre ``c(t)``, rotation ``R(t)`` (world -> camera) and
  intrinsics ``K(t) = diag(f, f, 1)`` with ``f = F0 * zoom(t)``. The pixel ray is
  ``d = R^T K^-1 [u, v, 1]``.
- A layer lies on the world plane ``n . P = delta``. The ray meets it at
  ``P = M u / (n . d)`` with ``M = (c n^T + (delta - n . c) I) R^T K^-1`` (homogeneous in ``u``).
- Background layers are textured by a photo as seen by the *reference camera* (centre 0,
  no rotation, focal ``F0``): texture coordinates are ``K0 P`` (homogeneous). Objects live on a
  fronto-parallel plane ``Z = D`` and are textured in their own moving frame ``A(t)^-1 P_xy``.

So each layer has, per time, one 3x3 matrix from normalized pixel coordinates to
``grid_sample`` coordinates, and the exact flow of a layer from ``t`` to ``t+1`` is the
homography ``M(t+1)^-1 M(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["F0", "REFERENCE_ROWS", "rotation_matrices", "CameraPath", "ObjectPath", "Layer", "Scene", "camera_poses",
           "plane_matrices", "layer_matrices", "apply_homography", "pair_flow_magnitudes"]

F0 = 4.0  # focal length in normalized units (vertical field of view 2*atan(1/4) ~ 28 deg, a normal-to-long lens)
REFERENCE_ROWS = 240  # speeds are in pixels per frame of a frame this many rows high


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(N, 3) angles (pitch about x, yaw about y, roll about z; radians) -> (N, 3, 3) ``Rz Ry Rx``."""
    a, b, g = angles[:, 0], angles[:, 1], angles[:, 2]
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rx = np.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], -1).reshape(-1, 3, 3)
    ry = np.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], -1).reshape(-1, 3, 3)
    rz = np.stack([cg, -sg, zero, sg, cg, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


@dataclass
class CameraPath:
    """Smooth handheld motion: per parameter a few sinusoids plus a drift, times ``scale``.

    Parameters (7): camera centre x, y, z (world units), pitch, yaw, roll (radians), log zoom.
    Time ``t`` is in frames (float; fractions give sub-frames). The pose at ``t_ref`` is the
    reference pose (zero), so the photo as prepared is what the camera sees mid-clip.
    """

    amp: np.ndarray  # (7, K)
    freq: np.ndarray  # (7, K) cycles per frame
    phase: np.ndarray  # (7, K)
    drift: np.ndarray  # (7,) per frame
    t_ref: float
    scale: float = 1.0

    def _raw(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)[:, None, None]
        waves = (self.amp * np.sin(2 * np.pi * self.freq * t + self.phase)).sum(-1)
        return waves + self.drift * t[:, :, 0]

    def params(self, t: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 7) parameters."""
        return self.scale * (self._raw(t) - self._raw(np.array([self.t_ref])))


@dataclass
class ObjectPath:
    """An object on the plane ``Z = depth``; its screen position (as the reference camera sees it,
    normalized units) is ``pos + vel (t - t0) + acc (t - t0)^2 / 2``, its angle ``angle + omega (t - t0)``.
    """

    depth: float
    half_height: float  # on-screen half height (normalized units) at the reference camera
    pos: np.ndarray  # (2,)
    vel: np.ndarray  # (2,) per frame
    acc: np.ndarray  # (2,) per frame^2
    t0: float
    angle: float = 0.0
    omega: float = 0.0
    scale: float = 1.0  # multiplies the motion (vel, acc, omega), as CameraPath.scale does

    def plane_from_local(self, t: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 3, 3) affine maps from object-local coordinates to world plane x, y."""
        dt = np.asarray(t, dtype=np.float64) - self.t0
        screen = self.pos + self.scale * (self.vel * dt[:, None] + 0.5 * self.acc * dt[:, None] ** 2)
        world = screen * self.depth / F0
        s = self.half_height * self.depth / F0
        th = self.angle + self.scale * self.omega * dt
        c, si = np.cos(th) * s, np.sin(th) * s
        out = np.zeros((len(dt), 3, 3))
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = c, -si, world[:, 0]
        out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = si, c, world[:, 1]
        out[:, 2, 2] = 1.0
        return out


@dataclass
class Layer:
    """One textured plane. ``texture`` is premultiplied RGBA float32 ``(4, h, w)`` (numpy)."""

    name: str
    texture: np.ndarray
    normal: np.ndarray  # (3,) plane normal n (n . P = delta)
    delta: float
    tex_matrix: np.ndarray  # (3, 3): reference-view (bg) or object-local coords -> grid_sample coords
    obj: ObjectPath | None = None  # None: background layer (textured through the reference camera)
    padding: str = "zeros"  # grid_sample padding: "reflection" for the farthest background layer


@dataclass
class Scene:
    """A virtual-camera scene: textured layers (back to front) seen along the camera's path."""

    layers: list[Layer]  # back to front
    camera: CameraPath
    kind: str
    background: str  # photo name
    ref_depth: float  # depth at which the camera speed is measured
    info: dict = field(default_factory=dict)


def camera_poses(path: CameraPath, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) times -> centres (N, 3), rotations (N, 3, 3), focal lengths (N,)."""
    p = path.params(t)
    return p[:, 0:3], rotation_matrices(p[:, 3:6]), F0 * np.exp(p[:, 6])


def plane_matrices(path: CameraPath, t: np.ndarray, normal: np.ndarray, delta: float) -> np.ndarray:
    """(N, 3, 3) ``M`` with ``P ~ M [u, v, 1]`` for the plane ``n . P = delta`` (see module doc)."""
    c, r, f = camera_poses(path, t)
    n = np.asarray(normal, dtype=np.float64)
    kinv = np.zeros((len(f), 3, 3))
    kinv[:, 0, 0] = kinv[:, 1, 1] = 1.0 / f
    kinv[:, 2, 2] = 1.0
    a = c[:, :, None] * n[None, None, :] + (delta - c @ n)[:, None, None] * np.eye(3)[None]
    return a @ np.transpose(r, (0, 2, 1)) @ kinv


def layer_matrices(scene: Scene, layer: Layer, t: np.ndarray) -> np.ndarray:
    """(N, 3, 3): normalized homogeneous pixel coordinates at time t -> grid_sample coordinates."""
    m = plane_matrices(scene.camera, t, layer.normal, layer.delta)
    if layer.obj is None:
        proj = np.diag([F0, F0, 1.0])  # reference camera projection of the 3D point
        return layer.tex_matrix @ proj @ m
    to_xy1 = np.diag([1.0, 1.0, 1.0 / layer.obj.depth])  # (P_x, P_y, 1) on Z = depth
    local = np.linalg.inv(layer.obj.plane_from_local(t))
    return layer.tex_matrix @ local @ to_xy1 @ m


def apply_homography(mats: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, 3, 3) x (P, 2) -> (N, P, 2)."""
    h = np.concatenate([pts, np.ones_like(pts[:, :1])], axis=1)
    q = np.einsum("nij,pj->npi", mats, h)
    return q[..., :2] / q[..., 2:3]


def pair_flow_magnitudes(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """|flow| between consecutive times at ``pts`` (P, 2) of the view, for a plane whose
    normalized pixel coordinates map by ``m`` (T, 3, 3) to fixed plane/texture coordinates:
    (T-1, P), in normalized units (x 120 for px at 240 rows)."""
    rel = np.linalg.inv(m[1:]) @ m[:-1]  # pixel at t -> pixel at t + 1
    return np.linalg.norm(apply_homography(rel, pts) - pts[None], axis=-1)
