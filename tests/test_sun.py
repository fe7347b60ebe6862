"""Tests of the Sun et al. 2015 baseline: kernel set, rotation, MRF, checkpoint, estimation."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.baselines import sun
from repro.baselines.sun.motion_kernels import (
    angle_difference,
    kernel_labels,
    kernel_stack,
    linear_motion_kernel,
)
from repro.core.checkpoint import CheckpointError

# ------------------------------------------------------------------------------ kernels


def test_kernel_known_values():
    expected = np.zeros((3, 3))
    expected[1] = 1 / 3
    np.testing.assert_allclose(linear_motion_kernel(3, 0), expected)
    vertical = linear_motion_kernel(5, 90)
    assert vertical.shape == (5, 5)
    np.testing.assert_allclose(vertical[:, 2], np.full(5, 0.2), atol=1e-12)
    assert linear_motion_kernel(1, 47.0).shape == (1, 1)
    # 45 degrees as displayed: up-right, i.e. the top-right and bottom-left corners
    k = linear_motion_kernel(9, 45)
    assert k[0, -1] > 0 and k[-1, 0] > 0 and k[0, 0] == 0 and k[-1, -1] == 0


@settings(max_examples=40, deadline=None)
@given(length=st.floats(1, 25), angle=st.floats(0, 180, exclude_max=True))
def test_kernel_properties(length, angle):
    k = linear_motion_kernel(length, angle, 25)
    assert k.shape == (25, 25)
    assert k.sum() == pytest.approx(1.0)
    assert (k >= 0).all()
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-2)  # symmetric up to sampling
    # the second moment along the motion is the segment's, l^2 / 12, up to the pixel grid
    yy, xx = np.mgrid[-12:13, -12:13]
    t = xx * math.cos(math.radians(angle)) - yy * math.sin(math.radians(angle))
    assert (k * t**2).sum() == pytest.approx(length**2 / 12, abs=0.35 + 0.03 * length)


def test_kernel_set_sizes():
    labels = kernel_labels()
    assert labels.shape == (73, 2)
    assert (labels[:, 0] == 1).sum() == 1
    assert len({tuple(r) for r in labels}) == 73
    assert sun.extended_labels().shape == (361, 2)
    assert kernel_stack(labels).shape == (73, 25, 25)
    with pytest.raises(ValueError, match="length"):
        linear_motion_kernel(0.5, 0)


def test_soft_targets():
    labels = kernel_labels()
    np.testing.assert_allclose(sun.soft_targets(labels[:, 0], labels[:, 1]), np.eye(73))
    t = sun.soft_targets(np.array([12.0]), np.array([165.0]))[0]  # between 11/13 and 150/0
    got = {tuple(labels[i]): t[i] for i in np.nonzero(t)[0]}
    assert got == pytest.approx({(11.0, 0.0): 0.25, (11.0, 150.0): 0.25, (13.0, 0.0): 0.25, (13.0, 150.0): 0.25})
    t = sun.soft_targets(np.array([2.0]), np.array([10.0]))[0]
    assert t[0] == pytest.approx(0.5) and t.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lengths"):
        sun.soft_targets(np.array([26.0]), np.array([0.0]))


# ------------------------------------------------------------------------------ rotation


def _principal_angle(patch: np.ndarray) -> float:
    """Orientation (display degrees) of the principal axis of a non-negative patch."""
    off = np.arange(patch.shape[0]) - (patch.shape[0] - 1) / 2
    v, u = np.meshgrid(off, off, indexing="ij")
    w = patch / patch.sum()
    mu, mv = (w * u).sum(), (w * v).sum()
    cuu, cvv, cuv = (w * (u - mu) ** 2).sum(), (w * (v - mv) ** 2).sum(), (w * (u - mu) * (v - mv)).sum()
    evals, evecs = np.linalg.eigh(np.array([[cuu, cuv], [cuv, cvv]]))
    ex, ey = evecs[:, -1]
    return math.degrees(math.atan2(-ey, ex)) % 180


@pytest.mark.parametrize("theta, phi", [(0, 6), (30, 24), (120, 18), (150, 12)])
def test_rotated_patch_turns_blur_by_phi(theta, phi):
    img = np.zeros((61, 61))
    img[20:41, 20:41] = linear_motion_kernel(21, theta, 21)
    patch = sun.rotated_patches(img, np.array([[30.0, 30.0]]), phi)[0]
    assert angle_difference(_principal_angle(np.clip(patch, 0, None)), theta + phi) < 1.5


def test_combine_rotations_maps_orientations():
    base, ext = kernel_labels(), sun.extended_labels()
    k = int(np.nonzero((base[:, 0] == 9) & (base[:, 1] == 60))[0][0])
    probs = np.full((5, 1, 73), 1e-9)
    probs[4, 0, k] = 1.0  # the patch rotated by 24 degrees looks like (9, 60)
    conf = sun.combine_rotations(probs)
    assert conf.sum() == pytest.approx(1.0)
    assert tuple(ext[conf[0].argmax()]) == (9.0, 36.0)


# ------------------------------------------------------------------------------ MRF


def test_mrf_removes_isolated_errors():
    rng = np.random.default_rng(0)
    labels = sun.extended_labels()
    L = len(labels)
    true = int(np.nonzero((labels[:, 0] == 13) & (labels[:, 1] == 42))[0][0])
    wrong = int(np.nonzero((labels[:, 0] == 5) & (labels[:, 1] == 132))[0][0])
    conf = rng.uniform(0, 0.002, (10, 12, L))
    conf[..., true] = 0.3
    flips = rng.random((10, 12)) < 0.25
    conf[flips, wrong] = 0.6
    conf /= conf.sum(-1, keepdims=True)
    plain, _ = sun.mrf_labels(conf, labels, lam=0.0, iters=1)
    assert (plain == wrong).sum() == flips.sum()  # no smoothing: the per-node argmax
    best, belief = sun.mrf_labels(conf, labels)
    assert (best == true).mean() >= 0.95
    assert ((belief > 0) & (belief <= 1)).all()


# ------------------------------------------------------------------------------ checkpoint


def test_shipped_checkpoint_loads_safely():
    path = sun.default_checkpoint()
    assert path.exists() and path.stat().st_size <= 5 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == sun.FORMAT
    model, meta = sun.load_sun_checkpoint(path)
    assert meta["heldout_patch_accuracy"]["within_one_step"] > 0.3
    card = json.loads(path.with_suffix(".json").read_text())
    assert "train-sun" in card["command"] and card["steps"] == meta["steps"]
    x = torch.randn(4, 1, 30, 30)
    assert model(x).shape == (4, 73)


def test_checkpoint_roundtrip_and_corrupt_file(tmp_path):
    model = sun.SunCNN(sun.SunCNNConfig(conv1=4, conv2=8, fc=16)).eval()
    path = tmp_path / "s.pt"
    sun.save_sun_checkpoint(path, model, meta={"k": 1})
    loaded, meta = sun.load_sun_checkpoint(path)
    x = torch.randn(3, 1, 30, 30)
    torch.testing.assert_close(loaded(x), model(x))
    assert meta == {"k": 1}
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="bad.pt.*corrupt"):
        sun.load_sun_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "deblur-wild/1", "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a Sun et al. checkpoint"):
        sun.load_sun_checkpoint(other)
    with pytest.raises(CheckpointError, match="not found"):
        sun.load_sun_checkpoint(tmp_path / "missing.pt")


def test_train_command_smoke(tmp_path):
    parser = argparse.ArgumentParser()
    sun.add_arguments(parser)
    out = tmp_path / "tiny.pt"
    args = parser.parse_args(["--out", str(out), "--steps", "2", "--seed", "3", "--batch", "8", "--eval-patches", "16"])
    args_config = sun.SunCNNConfig(conv1=4, conv2=8, fc=16)
    card = sun.train_sun(args.out, steps=args.steps, seed=args.seed, batch=args.batch,
                         eval_patches=args.eval_patches, config=args_config)
    assert out.exists() and out.with_suffix(".json").exists()
    assert card["steps"] == 2 and card["seed"] == 3 and 0 <= card["heldout_patch_accuracy"]["exact"] <= 1
    assert set(card["data"]["train_photos"]).isdisjoint(card["data"]["heldout_photos"])
    sun.load_sun_checkpoint(out)
    with pytest.raises(ValueError, match="steps"):
        sun.train_sun(out, steps=0)


# ------------------------------------------------------------------------------ estimation + deblurring


@pytest.fixture(scope="module")
def blurred_photo():
    from skimage.transform import resize

    from repro.io.images import read_image, to_float
    from repro.synthetic.blur import blur_numpy

    paths = {p.name: p for p in sun.training_photos("test")}
    img = to_float(read_image(paths["grace_hopper.jpg"]))[..., :3]
    img = resize(img, (200, 171), anti_aliasing=True)[20:180, 10:170].astype(np.float32)
    length, angle = 11, 36  # 36 degrees is reached only through the test-time rotations
    blurry = blur_numpy(img, linear_motion_kernel(length, angle, 25))
    blurry = np.clip(blurry + np.random.default_rng(0).normal(0, 0.003, img.shape), 0, 1).astype(np.float32)
    return img, blurry, length, angle


@pytest.fixture(scope="module")
def sun_result(blurred_photo):
    img, blurry, _, _ = blurred_photo
    method = sun.SunEtAl2015()
    return method, method.deblur(blurry)


def test_estimated_motion_matches_known_blur(blurred_photo, sun_result):
    img, _, length, angle = blurred_photo
    method, _ = sun_result
    mf = method.motion_field
    # textured patches: the sharp patch's gradient energy in the upper half
    from scipy import ndimage as ndi

    energy = ndi.uniform_filter(np.hypot(*np.gradient(img.mean(-1))), 30)
    e = energy[np.round(mf.centres_y).astype(int)][:, np.round(mf.centres_x).astype(int)]
    textured = e >= np.median(e)
    ok = (np.abs(mf.length - length) <= 2) & (angle_difference(mf.angle, angle) <= 6)
    # Measured: 0.75 with the weights trained on the first photo split, 0.54 with the retrained ones
    # (issue 14 moved chelsea and ihc to the test split; held-out patch accuracy is unchanged, 0.55
    # within one step).
    assert ok[textured].mean() > 0.5, (ok[textured].mean(), np.unique(mf.length), np.unique(mf.angle))


def test_deblurring_beats_blurry_input(blurred_photo, sun_result):
    from repro.core.metrics import psnr

    img, blurry, _, _ = blurred_photo
    _, out = sun_result
    assert out.shape == blurry.shape and out.dtype == np.float32
    b = 16
    gain = psnr(img[b:-b, b:-b], out[b:-b, b:-b], data_range=1.0) - psnr(img[b:-b, b:-b], blurry[b:-b, b:-b], data_range=1.0)
    assert gain > 0.5, gain


def test_deblur_rejects_bad_input(sun_result):
    method, _ = sun_result
    with pytest.raises(ValueError, match="shape"):
        method.deblur(np.zeros((40, 40, 4), np.float32))
    with pytest.raises(ValueError, match="smaller than"):
        method.deblur(np.zeros((20, 64, 3), np.float32))
    with pytest.raises(ValueError, match="float"):
        method.deblur(np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        method.deblur(np.full((40, 40, 3), np.nan, np.float32))


def test_figure_motion_field(tmp_path, sun_result):
    method, _ = sun_result
    out = sun.figure_motion_field(tmp_path / "f.png", method=method, size=(96, 160))
    import imageio.v3 as iio

    img = iio.imread(out)
    assert img.ndim == 3 and img.shape[1] > img.shape[0] and img.std() > 10
