"""Random scenes of the virtual camera: a background (plane, tilted plane or depth layers),
a handheld camera path, textured foreground objects, all deterministic in the seed."""

from __future__ import annotations

from pathlib import Path

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


def build_scene(seed: int, *, kind: str, split: str, n_frames: int, size: tuple[int, int], supersample: int,
                speed: float | None = None, peak: float | None = None, photos=None,
                background: str | None = None, objects: int | None = None, object_speed: float | None = None,
                pan: tuple[float, float] = (1.0, 0.0), tint: bool = True,
                magnification: float | str | None = None) -> Scene:
    """A random scene (deterministic in ``seed``); see :func:`repro.camera.render_clip` for options.

    Motion: with ``speed`` the camera alone is scaled to that mean background flow (objects keep
    their drawn speeds); otherwise camera and objects are scaled together so that the clip's
    :func:`peak_flow` is ``peak`` (drawn by :func:`draw_peak_flow` when None).
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
        kind_used = ("camera", "parallax", "objects", "objects", "mixed")[rng.integers(5)]
    else:
        kind_used = kind
    # ---- background -------------------------------------------------------------------------
    bgs = [p for p in pool if p.role == "bg"] or [p for p in pool if p.role != "sprite"] or pool
    if background is not None:
        match = [p for p in pool if p.name == background or str(p.path) == str(background)]
        if not match:
            if Path(background).is_file():
                match = [Photo(Path(background).stem, Path(background), "bg")]
            else:
                raise ValueError(f"background {background!r} is not a photo of split {split!r} "
                                 f"(choose from {[p.name for p in pool]}) nor an existing file")
        photo = match[0]
    else:
        layered_ok = [p for p in bgs if p.name == "motorcycle_left"]
        if kind_used == "parallax" and layered_ok and rng.random() < 0.6:
            photo = layered_ok[0]
        else:
            photo = bgs[rng.integers(len(bgs))]
    img = tinted(load_photo(photo.path), rng) if tint else load_photo(photo.path)
    flip = kind_used != "pan" and rng.random() < 0.5
    if flip:
        img = img[:, ::-1]
    if kind_used == "pan":
        geometry = "plane"
    elif photo.name == "motorcycle_left" and kind_used in ("parallax", "mixed"):
        geometry = "layered"
    elif kind_used in ("parallax", "mixed"):
        geometry = "tilted"
    else:
        geometry = ("plane", "tilted")[int(rng.random() < 0.3)]
    layers: list[Layer] = []
    e3 = np.array([0.0, 0.0, 1.0])
    D = BACKGROUND_DEPTH
    if geometry == "layered":
        layered = motorcycle_layers()  # (L, h, w, 4) straight-alpha RGBA, far to near; cached
        n_layers = layered.rgba.shape[0]
        stacked = np.concatenate(list(layered.rgba), axis=2)  # (h, w, 4 L)
        if flip:
            stacked = stacked[:, ::-1]
        stacked, tex_m, crop = background_crop(rng, stacked, aspect, H, supersample, magnification)
        for j in range(n_layers):  # far to near
            rgba = stacked[..., 4 * j:4 * j + 4]
            layers.append(Layer(name=f"background:depth{n_layers - 1 - j}", texture=premultiply(rgba), normal=e3,
                                delta=1.5 * float(layered.depths[j]), tex_matrix=tex_m,
                                padding="reflection" if j == 0 else "zeros"))
        dm = layered.depth
        ref_depth = 1.5 * float(np.median(dm))
        nearest = 1.5 * float(dm.min())
    else:
        img, tex_m, crop = background_crop(rng, img, aspect, H, supersample, magnification)
        if geometry == "tilted":
            phi, psi = rng.uniform(-0.6, 0.6), rng.uniform(-0.35, 0.35)
            n = np.array([np.sin(psi), np.sin(phi), np.cos(phi) * np.cos(psi)])
            n /= np.linalg.norm(n)
        else:
            n = e3
        layers.append(Layer(name="background", texture=premultiply(img), normal=n, delta=D * n[2],
                            tex_matrix=tex_m, padding="reflection"))
        ref_depth = D
        # nearest point of the plane inside the (slightly enlarged) view
        corners = np.array([[x, y, F0] for x in (-aspect * 1.2, aspect * 1.2) for y in (-1.2, 1.2)]) / F0
        nearest = float(min(D * n[2] / max(c @ n, 1e-6) * c[2] for c in corners))
    planes = [(layer.normal, layer.delta) for layer in layers]  # the background, before objects join
    # ---- camera -----------------------------------------------------------------------------
    if kind_used == "pan":
        drift = np.zeros(7)
        drift[0] = -pan[0] / (REFERENCE_ROWS / 2) * D / F0
        drift[1] = -pan[1] / (REFERENCE_ROWS / 2) * D / F0
        camera = CameraPath(amp=np.zeros((7, 1)), freq=np.zeros((7, 1)), phase=np.zeros((7, 1)), drift=drift,
                            t_ref=(n_frames - 1) / 2)
        speed_used = float(np.hypot(*pan))
    else:
        if kind_used == "parallax":
            tw, rw = rng.uniform(*PARALLAX_TRANSLATION), rng.uniform(0.1, 0.4)
        else:
            tw, rw = rng.uniform(*HANDHELD_TRANSLATION), rng.uniform(0.5, 1.0)
        camera = handheld_path(rng, n_frames=n_frames, ref_depth=ref_depth, translation_weight=tw,
                              rotation_weight=rw)
        speed_used = float(speed) if speed is not None else float(np.exp(rng.uniform(*np.log(SPEED_RANGE))))
        set_speed(camera, speed_used, planes, aspect, n_frames)
    # ---- objects ----------------------------------------------------------------------------
    if objects is None:
        n_obj = {"camera": 0, "parallax": int(rng.integers(1, 3)), "objects": int(rng.integers(2, 5)),
                 "mixed": int(rng.integers(1, 4)), "pan": 0}[kind_used]
    else:
        n_obj = int(objects)
    obj_rng = np.random.default_rng([seed, 1])  # objects drawn apart, so objects=0 keeps the background
    depths = np.sort(obj_rng.uniform(*OBJECT_DEPTH_RANGE, size=n_obj))[::-1] * nearest
    if object_speed is None and speed is None and kind_used != "pan":
        # in peak-flow mode objects move at a random multiple of the camera's background flow,
        # so that they share the blur with the background rather than take all of the peak
        object_speed = speed_used * float(obj_rng.uniform(*OBJECT_RELATIVE_SPEED))
    paths: list[ObjectPath] = []
    for i in range(n_obj):
        if kind_used == "pan":
            motion = "linear"
        elif kind_used == "parallax":
            motion = "static" if obj_rng.random() < 0.7 else "moving"
        else:
            motion = "moving" if obj_rng.random() < 0.8 else "static"
        anchor = paths[int(obj_rng.integers(len(paths)))] if (paths and kind_used == "objects"
                                                             and obj_rng.random() < 0.5) else None
        layer = _object_layer(obj_rng, pool, index=i, depth=float(depths[i]), n_frames=n_frames, aspect=aspect,
                              ss_rows=H * supersample, motion=motion, speed=object_speed, anchor=anchor,
                              rotate=kind_used != "pan")
        paths.append(layer.obj)
        layers.append(layer)
    scene = Scene(layers=layers, camera=camera, kind=kind_used, background=photo.name, ref_depth=ref_depth)
    target = None
    if kind_used != "pan" and speed is None:
        # drawn from its own stream, so the scene's other draws do not depend on it
        target = float(peak) if peak is not None else draw_peak_flow(np.random.default_rng([seed, 2]))
        set_peak_flow(scene, target, n_frames, aspect)
        speed_used = camera_flow_stat(camera, planes, aspect, max(n_frames, 2))
    scene.info = {"kind": kind_used, "geometry": geometry, "background": photo.name, "speed": speed_used,
                  "peak_flow_target": target, "n_objects": n_obj, **crop}
    return scene
