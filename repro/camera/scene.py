"""Random scenes of the virtual camera: a background (plane, tilted plane or depth layers),
a handheld camera path, textured foreground objects, all deterministic in the seed."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from .geometry import F0, REFERENCE_ROWS, CameraPath, Layer, ObjectPath, Scene
from .motion import (HANDHELD_TRANSLATION, OBJECT_SPEED_RANGE, PARALLAX_TRANSLATION, SPEED_RANGE, camera_flow_stat,
                     draw_peak_flow, handheld_path, set_peak_flow, set_speed)
from .photos import Photo, load_photo, motorcycle_layers, photo_pool
from .textures import alpha_mask, background_crop, premultiply, resize, tinted

__all__ = ["KINDS", "BACKGROUND_DEPTH", "OBJECT_DEPTH_RANGE", "OBJECT_RELATIVE_SPEED", "build_scene"]

KINDS = ("random", "camera", "parallax", "objects", "pan")
BACKGROUND_DEPTH = 3.0  # world units; only ratios of depths and translations matter
OBJECT_DEPTH_RANGE = (0.7, 0.95)  # objects' depth as a fraction of the nearest background point
OBJECT_RELATIVE_SPEED = (0.0, 0.4)  # peak-flow mode: object speed / camera speed (uniform)


def _object_layer(rng, pool: list[Photo], *, index: int, depth: float, n_frames: int, aspect: float,
                  ss_rows: int, motion: str, speed: float | None, anchor: ObjectPath | None,
                  rotate: bool) -> Layer:
    """A textured foreground object on the plane ``Z = depth``.

    motion: "moving", "static" (fixed in the world: parallax only) or "linear" (constant velocity,
    no rotation: the known-answer case).
    """
    sprites = [p for p in pool if p.role == "sprite"]
    textures = [p for p in pool if p.role != "sprite"]
    shapes = ["ellipse", "roundrect", "horse", "blob"] + (["sprite"] * 2 if sprites else [])
    shape_kind = shapes[rng.integers(len(shapes))]
    sprite = load_photo(sprites[rng.integers(len(sprites))].path) if shape_kind == "sprite" else None
    if shape_kind == "horse":
        obj_aspect = 400 / 328
    elif sprite is not None:
        obj_aspect = sprite.shape[1] / sprite.shape[0]
    else:
        obj_aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
    half_height = float(rng.uniform(0.15, 0.5))
    rows = max(int(round(half_height * ss_rows)), 8)
    cols = max(int(round(rows * obj_aspect)), 8)
    if sprite is not None:
        rgb = resize(sprite[..., :3], rows, cols)
    else:
        src = tinted(load_photo(textures[rng.integers(len(textures))].path), rng)
        h, w = src.shape[:2]
        frac = rng.uniform(0.3, 0.8)
        ch = int(min(h, w / obj_aspect) * frac)
        cw = max(int(ch * obj_aspect), 2)
        ch = max(ch, 2)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        rgb = resize(src[y0:y0 + ch, x0:x0 + cw, :3], rows, cols)
    alpha = alpha_mask(rng, shape_kind, rows, cols, sprite)
    texture = premultiply(np.concatenate([rgb, alpha[..., None]], axis=2))

    if anchor is not None:  # cross the anchor object's path: same place at some time of the clip
        t0 = float(rng.uniform(0.2, 0.8) * (n_frames - 1))
        dt = t0 - anchor.t0
        pos = anchor.pos + anchor.vel * dt + 0.5 * anchor.acc * dt**2
    else:
        t0 = float(rng.uniform(0, n_frames - 1))
        pos = np.array([rng.uniform(-0.8, 0.8) * aspect, rng.uniform(-0.8, 0.8)])
    vel = np.zeros(2)
    acc = np.zeros(2)
    omega = 0.0
    angle = float(rng.uniform(-0.3, 0.3)) if rotate else 0.0
    if motion in ("moving", "linear"):
        s = speed if speed is not None else float(np.exp(rng.uniform(*np.log(OBJECT_SPEED_RANGE))))
        theta = rng.uniform(0, 2 * np.pi)
        vel = s / (REFERENCE_ROWS / 2) * np.array([np.cos(theta), np.sin(theta)])
        if motion == "moving":
            if anchor is None and rng.random() < 0.35:  # comes into view: on the border a third in
                t0 = (n_frames - 1) / 3
                edge = np.array([aspect, 1.0]) * np.sign(rng.standard_normal(2))
                axis = rng.integers(2)
                pos = np.array([rng.uniform(-0.7, 0.7) * aspect, rng.uniform(-0.7, 0.7)])
                pos[axis] = edge[axis]
                inward = -np.sign(pos[axis])
                vel[axis] = inward * abs(vel[axis]) if abs(vel[axis]) > 0.3 * np.linalg.norm(vel) else \
                    inward * 0.5 * np.linalg.norm(vel)
            acc = rng.normal(0, 0.3, 2) * np.linalg.norm(vel) / max(n_frames, 1)
            if rotate:
                omega = float(rng.normal(0, 0.002))
    path = ObjectPath(depth=depth, half_height=half_height, pos=np.asarray(pos, float), vel=vel, acc=acc,
                      t0=float(t0), angle=angle, omega=omega)
    tex_matrix = np.diag([rows / cols, 1.0, 1.0])  # local x in [-cols/rows, cols/rows] -> [-1, 1]
    return Layer(name=f"object{index}:{shape_kind}", texture=texture, normal=np.array([0.0, 0.0, 1.0]),
                 delta=depth, tex_matrix=tex_matrix, obj=path)


class _Background(NamedTuple):
    """A scene's background: its layers (far to near), the crop of the photo (``Scene.info``),
    the depth the camera's translation is scaled to and the depth of its nearest point in view."""

    layers: list[Layer]
    crop: dict
    ref_depth: float
    nearest: float


def _pick_background(rng, pool: list[Photo], kind: str, background: str | None, split: str) -> Photo:
    """The background photo: ``background`` (a photo name of the split, or a file) or drawn from
    the split's backgrounds (the layered motorcycle more often for the "parallax" kind)."""
    bgs = [p for p in pool if p.role == "bg"] or [p for p in pool if p.role != "sprite"] or pool
    if background is not None:
        match = [p for p in pool if p.name == background or str(p.path) == str(background)]
        if not match:
            if Path(background).is_file():
                match = [Photo(Path(background).stem, Path(background), "bg")]
            else:
                raise ValueError(f"background {background!r} is not a photo of split {split!r} "
                                 f"(choose from {[p.name for p in pool]}) nor an existing file")
        return match[0]
    layered_ok = [p for p in bgs if p.name == "motorcycle_left"]
    if kind == "parallax" and layered_ok and rng.random() < 0.6:
        return layered_ok[0]
    return bgs[rng.integers(len(bgs))]


def _geometry(rng, photo: Photo, kind: str) -> str:
    """The background's shape: "plane" (fronto-parallel), "tilted" plane or "layered" (the
    motorcycle's depth layers, for the kinds with parallax)."""
    if kind == "pan":
        return "plane"
    if photo.name == "motorcycle_left" and kind in ("parallax", "mixed"):
        return "layered"
    if kind in ("parallax", "mixed"):
        return "tilted"
    return ("plane", "tilted")[int(rng.random() < 0.3)]


def _layered_background(rng, flip: bool, aspect: float, H: int, supersample: int,
                        magnification: float | str | None) -> _Background:
    """The motorcycle photo's depth layers, each a fronto-parallel plane at its depth."""
    e3 = np.array([0.0, 0.0, 1.0])
    layered = motorcycle_layers()  # (L, h, w, 4) straight-alpha RGBA, far to near; cached
    n_layers = layered.rgba.shape[0]
    stacked = np.concatenate(list(layered.rgba), axis=2)  # (h, w, 4 L)
    if flip:
        stacked = stacked[:, ::-1]
    stacked, tex_m, crop = background_crop(rng, stacked, aspect, H, supersample, magnification)
    layers = []
    for j in range(n_layers):  # far to near
        rgba = stacked[..., 4 * j:4 * j + 4]
        layers.append(Layer(name=f"background:depth{n_layers - 1 - j}", texture=premultiply(rgba), normal=e3,
                            delta=1.5 * float(layered.depths[j]), tex_matrix=tex_m,
                            padding="reflection" if j == 0 else "zeros"))
    dm = layered.depth
    return _Background(layers, crop, ref_depth=1.5 * float(np.median(dm)), nearest=1.5 * float(dm.min()))


def _plane_background(rng, img: np.ndarray, tilted: bool, aspect: float, H: int, supersample: int,
                      magnification: float | str | None, photo_scale: float = 1.0) -> _Background:
    """A photo on a plane at :data:`BACKGROUND_DEPTH`, fronto-parallel or tilted at random
    (``photo_scale``: pixels of ``img`` per pixel of the photo, :func:`background_crop`)."""
    D = BACKGROUND_DEPTH
    img, tex_m, crop = background_crop(rng, img, aspect, H, supersample, magnification, photo_scale=photo_scale)
    if tilted:
        phi, psi = rng.uniform(-0.6, 0.6), rng.uniform(-0.35, 0.35)
        n = np.array([np.sin(psi), np.sin(phi), np.cos(phi) * np.cos(psi)])
        n /= np.linalg.norm(n)
    else:
        n = np.array([0.0, 0.0, 1.0])
    layer = Layer(name="background", texture=premultiply(img), normal=n, delta=D * n[2], tex_matrix=tex_m,
                  padding="reflection")
    # nearest point of the plane inside the (slightly enlarged) view
    corners = np.array([[x, y, F0] for x in (-aspect * 1.2, aspect * 1.2) for y in (-1.2, 1.2)]) / F0
    nearest = float(min(D * n[2] / max(c @ n, 1e-6) * c[2] for c in corners))
    return _Background([layer], crop, ref_depth=D, nearest=nearest)


def _camera(rng, kind: str, *, n_frames: int, ref_depth: float, pan: tuple[float, float], speed: float | None,
            planes: list, aspect: float) -> tuple[CameraPath, float]:
    """The camera path and its mean background flow (px/frame at 240 rows): a constant
    translation at ``pan`` for the "pan" kind, else a handheld path scaled to ``speed`` (drawn
    from :data:`SPEED_RANGE` when None)."""
    if kind == "pan":
        drift = np.zeros(7)
        drift[0] = -pan[0] / (REFERENCE_ROWS / 2) * BACKGROUND_DEPTH / F0
        drift[1] = -pan[1] / (REFERENCE_ROWS / 2) * BACKGROUND_DEPTH / F0
        camera = CameraPath(amp=np.zeros((7, 1)), freq=np.zeros((7, 1)), phase=np.zeros((7, 1)), drift=drift,
                            t_ref=(n_frames - 1) / 2)
        return camera, float(np.hypot(*pan))
    if kind == "parallax":
        tw, rw = rng.uniform(*PARALLAX_TRANSLATION), rng.uniform(0.1, 0.4)
    else:
        tw, rw = rng.uniform(*HANDHELD_TRANSLATION), rng.uniform(0.5, 1.0)
    camera = handheld_path(rng, n_frames=n_frames, ref_depth=ref_depth, translation_weight=tw, rotation_weight=rw)
    speed_used = float(speed) if speed is not None else float(np.exp(rng.uniform(*np.log(SPEED_RANGE))))
    set_speed(camera, speed_used, planes, aspect, n_frames)
    return camera, speed_used


def _object_count(rng, kind: str, objects: int | None) -> int:
    """``objects``, or the kind's random count (when drawn, the three kinds' counts are all drawn,
    whatever the kind)."""
    if objects is not None:
        return int(objects)
    return {"camera": 0, "parallax": int(rng.integers(1, 3)), "objects": int(rng.integers(2, 5)),
            "mixed": int(rng.integers(1, 4)), "pan": 0}[kind]


def _objects(obj_rng, pool: list[Photo], kind: str, n_obj: int, *, object_speed: float | None,
             camera_speed: float | None, nearest: float, n_frames: int, aspect: float, ss_rows: int) -> list[Layer]:
    """``n_obj`` foreground objects drawn from ``obj_rng``, the nearest first, at depths in
    :data:`OBJECT_DEPTH_RANGE` of ``nearest``: linear motion for the "pan" kind, mostly
    world-fixed for "parallax", mostly moving otherwise; in the "objects" kind some cross the path
    of an earlier one. Moving objects move at ``object_speed``, else at a random multiple
    (:data:`OBJECT_RELATIVE_SPEED`) of ``camera_speed`` when given (peak-flow mode: objects share
    the blur with the background rather than take all of the peak), else at drawn speeds."""
    depths = np.sort(obj_rng.uniform(*OBJECT_DEPTH_RANGE, size=n_obj))[::-1] * nearest
    if object_speed is None and camera_speed is not None:
        object_speed = camera_speed * float(obj_rng.uniform(*OBJECT_RELATIVE_SPEED))
    layers: list[Layer] = []
    for i in range(n_obj):
        if kind == "pan":
            motion = "linear"
        elif kind == "parallax":
            motion = "static" if obj_rng.random() < 0.7 else "moving"
        else:
            motion = "moving" if obj_rng.random() < 0.8 else "static"
        anchor = layers[int(obj_rng.integers(len(layers)))].obj if (layers and kind == "objects"
                                                                    and obj_rng.random() < 0.5) else None
        layers.append(_object_layer(obj_rng, pool, index=i, depth=float(depths[i]), n_frames=n_frames, aspect=aspect,
                                    ss_rows=ss_rows, motion=motion, speed=object_speed, anchor=anchor,
                                    rotate=kind != "pan"))
    return layers


def build_scene(seed: int, *, kind: str, split: str, n_frames: int, size: tuple[int, int], supersample: int,
                speed: float | None = None, peak: float | None = None, photos=None,
                background: str | None = None, objects: int | None = None, object_speed: float | None = None,
                pan: tuple[float, float] = (1.0, 0.0), tint: bool = True,
                magnification: float | str | None = None, peak_range: tuple[float, float] | None = None) -> Scene:
    """A random scene (deterministic in ``seed``); see :func:`repro.camera.render_clip` for options.

    Motion: with ``speed`` the camera alone is scaled to that mean background flow (objects keep
    their drawn speeds); otherwise camera and objects are scaled together so that the clip's
    :func:`peak_flow` is ``peak`` (drawn by :func:`draw_peak_flow` when None, on ``peak_range``
    when given).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if speed is not None and peak is not None:
        raise ValueError("give speed (camera only) or peak_flow (the whole scene), not both")
    rng = np.random.default_rng(seed)
    H, W = size
    aspect = W / H
    pool = photo_pool(split, photos)
    if kind == "random":
        kind = ("camera", "parallax", "objects", "objects", "mixed")[rng.integers(5)]
    # the background
    photo = _pick_background(rng, pool, kind, background, split)
    img = tinted(load_photo(photo.path), rng) if tint else load_photo(photo.path)
    flip = kind != "pan" and rng.random() < 0.5
    if flip:
        img = img[:, ::-1]
    geometry = _geometry(rng, photo, kind)
    if geometry == "layered":
        bg = _layered_background(rng, flip, aspect, H, supersample, magnification)
    else:
        scale = img.shape[1] / photo.width if photo.width else 1.0  # a downscaled copy of the photo: < 1
        bg = _plane_background(rng, img, geometry == "tilted", aspect, H, supersample, magnification, scale)
    planes = [(layer.normal, layer.delta) for layer in bg.layers]  # the background, before objects join
    # the camera, then the objects (from their own stream, so objects=0 keeps the background)
    camera, speed_used = _camera(rng, kind, n_frames=n_frames, ref_depth=bg.ref_depth, pan=pan, speed=speed,
                                 planes=planes, aspect=aspect)
    n_obj = _object_count(rng, kind, objects)
    peak_mode = speed is None and kind != "pan"
    layers = bg.layers + _objects(np.random.default_rng([seed, 1]), pool, kind, n_obj, object_speed=object_speed,
                                  camera_speed=speed_used if peak_mode else None, nearest=bg.nearest,
                                  n_frames=n_frames, aspect=aspect, ss_rows=H * supersample)
    scene = Scene(layers=layers, camera=camera, kind=kind, background=photo.name, ref_depth=bg.ref_depth)
    target = None
    if peak_mode:
        # drawn from its own stream, so the scene's other draws do not depend on it
        target = float(peak) if peak is not None else draw_peak_flow(np.random.default_rng([seed, 2]), peak_range)
        set_peak_flow(scene, target, n_frames, aspect)
        speed_used = camera_flow_stat(camera, planes, aspect, max(n_frames, 2))
    scene.info = {"kind": kind, "geometry": geometry, "background": photo.name, "speed": speed_used,
                  "peak_flow_target": target, "n_objects": n_obj, **bg.crop}
    return scene
