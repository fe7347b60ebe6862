"""The virtual 240 fps camera: shapes, determinism, exact true flow, occlusion, known-answer blur."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from repro.camera import (
    REFERENCE_ROWS,
    VirtualCamera,
    photo_paths,
    render_clip,
    write_clip,
)
from repro.io.video import open_sources

SIZE = (36, 64)


def _warp_back(frame_next: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample frame t+1 at x + flow(x): should reproduce frame t where the flow is right."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame_next.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)


def test_frame_count_shape_and_determinism():
    a = render_clip(5, n_frames=6, size=SIZE)
    assert a.frames.shape == (6, *SIZE, 3) and a.frames.dtype == np.uint8
    assert a.flows.shape == (5, *SIZE, 2) and a.flows.dtype == np.float32
    assert a.fps == 240.0 and a.seed == 5
    assert a.meta["visible_layer"].shape == (6, *SIZE)
    b = render_clip(5, n_frames=6, size=SIZE)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.flows, b.flows)
    c = render_clip(6, n_frames=6, size=SIZE)
    assert np.abs(a.frames.astype(int) - c.frames).mean() > 5  # another seed, another scene
    assert len(render_clip(5, n_frames=1, size=SIZE).flows) == 0


@settings(max_examples=8, deadline=None)
@given(dx=st.floats(-3, 3), dy=st.floats(-3, 3), rows=st.integers(12, 40), cols=st.integers(12, 40))
def test_pure_camera_translation_flow_is_the_commanded_shift(dx, dy, rows, cols):
    clip = render_clip(1, n_frames=3, size=(rows, cols), kind="pan", pan=(dx, dy), supersample=1)
    expected = np.array([dx, dy]) * rows / REFERENCE_ROWS  # px/frame at 240 rows -> at this size
    np.testing.assert_allclose(clip.flows, np.broadcast_to(expected, clip.flows.shape), atol=1e-5)


def test_same_seed_same_motion_at_any_size():
    small = render_clip(4, n_frames=4, size=(36, 64), kind="camera", supersample=1)
    large = render_clip(4, n_frames=4, size=(72, 128), kind="camera", supersample=1)
    # flows scale with the number of rows; the picture is the same scene
    np.testing.assert_allclose(large.flows.mean((1, 2)), 2 * small.flows.mean((1, 2)), rtol=0.02, atol=1e-3)
    half = large.frames.reshape(4, 36, 2, 64, 2, 3).astype(float).mean((2, 4))
    assert np.abs(half - small.frames).mean() < 6


def test_integer_pan_moves_the_pixels_and_averaging_equals_box_blur():
    H, W = SIZE
    n = 7
    clip = render_clip(2, n_frames=n, size=SIZE, kind="pan", pan=(REFERENCE_ROWS / H, 0.0))  # 1 px/frame
    f = clip.frames.astype(np.float64)
    # pixel x of frame t is pixel x + 1 of frame t + 1 (content moves right), away from the border
    np.testing.assert_allclose(f[1:, :, 1:], f[:-1, :, :-1], atol=1.0)
    # known answer: the mean of N frames of a 1 px/frame pan = the central frame box-blurred by N
    avg = f.mean(0)
    box = ndimage.uniform_filter1d(f[n // 2], size=n, axis=1)
    inner = slice(n, W - n)
    assert np.abs(avg[:, inner] - box[:, inner]).max() <= 1.0
    assert np.abs(avg[:, inner] - box[:, inner]).mean() < 0.05
    assert np.abs(avg[:, inner] - f[n // 2][:, inner]).mean() > 3  # and it is a real blur


def test_occluding_object_covers_the_background_and_carries_its_flow():
    opts = dict(n_frames=5, size=(48, 80), kind="pan", pan=(0.0, 0.0), objects=1, object_speed=2.0)
    a = render_clip(2, background="camera", **opts)
    b = render_clip(2, background="coffee", **opts)
    obj = a.meta["visible_layer"] == 1
    np.testing.assert_array_equal(obj, b.meta["visible_layer"] == 1)  # same object, same place
    inside = ndimage.binary_erosion(obj, np.ones((1, 5, 5)))  # away from anti-aliased edges
    assert inside.sum() > 100, "the object should be in view"
    diff = np.abs(a.frames.astype(int) - b.frames).max(-1)
    assert diff[inside].max() == 0  # the object hides whatever is behind it
    assert diff[~obj].mean() > 10  # elsewhere the two backgrounds show
    # flow: the object's own constant velocity where it is seen, zero (still camera) elsewhere
    speed = np.hypot(*a.flows[obj[:-1]].T)
    np.testing.assert_allclose(speed, 2.0 * 48 / REFERENCE_ROWS, rtol=1e-4)
    np.testing.assert_allclose(a.flows[~obj[:-1]], 0.0, atol=1e-6)


@pytest.mark.parametrize("seed,kind", [(11, "objects"), (12, "parallax")])
def test_true_flow_explains_consecutive_frames(seed, kind):
    # fast camera (several px/frame) so that a wrong flow cannot hide in interpolation error
    clip = render_clip(seed, n_frames=2, size=(72, 128), kind=kind, speed=8.0)
    f0, f1 = clip.frames[0].astype(np.float32), clip.frames[1].astype(np.float32)
    flow = clip.flows[0]
    assert np.hypot(*flow.reshape(-1, 2).T).max() > 2
    inner = (slice(6, -6), slice(6, -6))
    err_flow = np.abs(_warp_back(f1, flow) - f0)[inner].mean()
    err_none = np.abs(f1 - f0)[inner].mean()
    err_reversed = np.abs(_warp_back(f1, -flow) - f0)[inner].mean()
    assert err_flow < 0.35 * min(err_none, err_reversed), (err_flow, err_none, err_reversed)


def test_speed_sets_the_camera_flow_scale():
    clip = render_clip(4, n_frames=24, size=(48, 80), kind="camera", speed=0.5, supersample=1)
    mag = np.hypot(clip.flows[..., 0], clip.flows[..., 1]).reshape(23, -1) * REFERENCE_ROWS / 48
    assert np.percentile(mag, 90, axis=1).mean() == pytest.approx(0.5, rel=0.1)


def test_temporal_supersampling_contains_the_frames():
    clip = render_clip(7, n_frames=3, size=SIZE, temporal_supersample=4)
    sub = clip.meta["subframes"]
    assert sub.shape == (9, *SIZE, 3)
    np.testing.assert_array_equal(sub[::4], clip.frames)
    np.testing.assert_allclose(clip.meta["subframe_times"], np.arange(9) / 4)


def test_noise_and_gamma_options():
    size = (96, 128)  # the photo at about a third of its scale (at 36 rows a tenth: averaging in linear light then differs)
    clean = render_clip(8, n_frames=2, size=size, kind="pan", pan=(0.0, 0.0))
    noisy = render_clip(8, n_frames=2, size=size, kind="pan", pan=(0.0, 0.0), noise_std=0.02)
    d = noisy.frames.astype(float) - clean.frames
    assert 3 < d.std() < 7  # 0.02 * 255 = 5.1
    assert not np.array_equal(noisy.frames[0], noisy.frames[1])  # fresh noise per frame
    g = render_clip(8, n_frames=2, size=size, kind="pan", pan=(0.0, 0.0), gamma=2.2)
    assert np.abs(g.frames.astype(float) - clean.frames).mean() < 3  # still photo ** 2.2 ** (1/2.2)


def test_photo_sets_are_disjoint_and_installed():
    train, test, val = photo_paths("train"), photo_paths("test"), photo_paths("val")
    assert train and test and val and not set(train) & set(test) and not set(val) & (set(train) | set(test))
    assert all(p.is_file() for p in train + test + val)
    with pytest.raises(ValueError, match="split"):
        photo_paths("validation")
    clip = render_clip(0, n_frames=1, size=SIZE, split="test")
    assert clip.meta["background"] in {p.stem for p in test}


def test_virtual_camera_is_a_list_of_frame_sources():
    cam = VirtualCamera("test", n_clips=2, n_frames=3, size=SIZE, seed=1, supersample=1)
    assert len(cam) == 2 and [s.name for s in cam] == ["virtual_0000", "virtual_0001"]
    src = cam[1]
    assert (len(src), src.fps) == (3, 240.0)
    frames = list(src)
    np.testing.assert_array_equal(frames[2], src.clip.frames[2])
    assert src.true_flows.shape == (2, *SIZE, 2)
    assert cam[0].seed != cam[1].seed != VirtualCamera("train", 2, 3, SIZE, seed=1)[1].seed
    np.testing.assert_array_equal(VirtualCamera("test", 2, 3, SIZE, seed=1, supersample=1)[1].frame(0), frames[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown option"):
        render_clip(0, n_frames=2, size=SIZE, colour="red")
    with pytest.raises(ValueError, match="split"):
        render_clip(0, split="validation")
    with pytest.raises(ValueError, match="size"):
        render_clip(0, size=(1, 64))
    with pytest.raises(ValueError, match="kind"):
        render_clip(0, size=SIZE, kind="zoom")
    with pytest.raises(ValueError, match="background"):
        render_clip(0, size=SIZE, split="test", background="camera")  # a training photo


def test_cli_writes_frames_and_flows_readable_as_sources(tmp_path):
    from repro.__main__ import main

    out = tmp_path / "render"
    assert main(["render", str(out), "--clips", "2", "--frames", "3", "--size", "24x40", "--split", "test",
                 "--seed", "3", "--supersample", "1"]) == 0
    sources = open_sources(out, "test")
    assert [s.name for s in sources] == ["virtual_0000", "virtual_0001"]
    assert len(sources[0]) == 3 and sources[0].frame(0).shape == (24, 40, 3)
    flows = np.load(out / "test" / "virtual_0000" / "flows.npy")
    assert flows.shape == (2, 24, 40, 2)
    meta = json.loads((out / "test" / "virtual_0000" / "meta.json").read_text())
    expect = VirtualCamera("test", 1, 3, (24, 40), seed=3, supersample=1)[0].clip
    assert meta["seed"] == expect.seed
    np.testing.assert_array_equal(sources[0].frame(2), expect.frames[2])
    np.testing.assert_array_equal(flows, expect.flows)
    # bad size: argparse error (exit 2)
    with pytest.raises(SystemExit):
        main(["render", str(out), "--size", "24by40"])


def test_write_clip_roundtrip(tmp_path):
    clip = render_clip(9, n_frames=2, size=SIZE)
    folder = write_clip(clip, tmp_path / "c")
    (src,) = open_sources(folder)
    np.testing.assert_array_equal(src.frame(1), clip.frames[1])


@pytest.mark.parametrize("seed", [3, 7, 21])
def test_peak_flow_sets_the_flow_statistic_of_the_whole_scene(seed):
    # camera, parallax and objects together: the largest p99 of |flow| over the pairs equals the target
    clip = render_clip(seed, n_frames=9, size=(120, 160), peak_flow=0.8, kind="random")
    mag = np.hypot(clip.flows[..., 0], clip.flows[..., 1]).reshape(8, -1) * REFERENCE_ROWS / 120
    assert clip.meta["peak_flow_target"] == 0.8
    assert np.percentile(mag, 99, axis=1).max() == pytest.approx(0.8, rel=0.03)
    with pytest.raises(ValueError, match="not both"):
        render_clip(seed, n_frames=3, size=SIZE, peak_flow=0.5, speed=0.5)


def test_drawn_peak_flows_span_the_legal_range_and_crowd_at_the_top():
    from repro.camera import PEAK_FLOW_RANGE, draw_peak_flow

    rng = np.random.default_rng(0)
    p = np.array([draw_peak_flow(rng) for _ in range(20_000)])
    assert PEAK_FLOW_RANGE[0] <= p.min() < 0.4 and 0.99 < p.max() <= PEAK_FLOW_RANGE[1]
    # density ~ (p - 0.3)^2: median 0.3 + 0.7 * 0.5^(1/3) = 0.856
    assert np.median(p) == pytest.approx(0.3 + 0.7 * 0.5 ** (1 / 3), abs=0.01)


def test_photos_are_shown_below_native_resolution_and_the_scene_is_size_free():
    clip = render_clip(2, n_frames=1, size=(240, 320), split="test")
    assert 0.55 <= clip.meta["magnification"] <= 1.0
    x0, y0, x1, y1 = clip.meta["photo_box"]
    assert (x1 - x0) / (y1 - y0) == pytest.approx(320 / 240)
    assert (y1 - y0) * clip.meta["magnification"] == pytest.approx(240)


def test_user_photo_folder_splits_by_file_name(tmp_path):
    from repro.camera import photo_split
    from repro.io.images import write_image

    img = (np.random.default_rng(0).random((300, 400, 3)) * 255).astype(np.uint8)
    names = [f"photo_{i:02d}.png" for i in range(12)]
    for n in names:
        write_image(tmp_path / n, img)
    paths = sorted(tmp_path.iterdir())
    parts = {s: photo_split(paths, s) for s in ("train", "val", "test")}
    assert all(parts.values())
    assert sorted(sum(parts.values(), [])) == paths  # disjoint and complete
    more = paths + [tmp_path / "photo_99.png"]
    write_image(more[-1], img)
    assert set(parts["test"]) <= set(photo_split(more, "test")) | set(photo_split(more, "val"))
    clip = render_clip(1, n_frames=2, size=SIZE, split="test", photos=tmp_path)
    assert clip.meta["background"] in {p.stem for p in parts["test"]}
    with pytest.raises(FileNotFoundError, match="no such folder"):
        render_clip(1, n_frames=2, size=SIZE, photos=tmp_path / "missing")
