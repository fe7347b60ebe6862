"""repro.wild.flow: one sign convention for every backend, known shifts, warping, matching error."""

import numpy as np
import pytest
from scipy import ndimage
from skimage import data, transform

from repro.wild.flow import BACKENDS, end_point_error, estimate_flow, flow_magnitude, matching_error, to_gray, warp_backward


@pytest.fixture(scope="module")
def textured():
    # A smooth-enough photo crop (96 x 128) so that every estimator can lock on.
    img = transform.resize(data.astronaut()[100:400, 100:500], (116, 148), anti_aliasing=True)
    return img.astype(np.float32)


def shifted_pair(img, dx, dy, margin=10):
    """frame0 and frame1 = frame0's content moved by (+dx, +dy): true forward flow (dx, dy)."""
    moved = ndimage.shift(img, (dy, dx, 0), order=3, mode="reflect")
    crop = (slice(margin, -margin), slice(margin, -margin))
    return img[crop], np.clip(moved[crop], 0, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_known_subpixel_shift_every_backend(textured, backend):
    f0, f1 = shifted_pair(textured, 0.6, -0.35)
    flow = estimate_flow(f0, f1, backend=backend)
    assert flow.shape == f0.shape[:2] + (2,) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(0.6, abs=0.12), backend
    assert np.median(inner[..., 1]) == pytest.approx(-0.35, abs=0.12), backend


@pytest.mark.parametrize("backend", ["dis", "tvl1"])
def test_swapping_frames_negates_the_flow(textured, backend):
    f0, f1 = shifted_pair(textured, 1.0, 0.5)
    fwd = np.median(estimate_flow(f0, f1, backend=backend)[8:-8, 8:-8], axis=(0, 1))
    bwd = np.median(estimate_flow(f1, f0, backend=backend)[8:-8, 8:-8], axis=(0, 1))
    np.testing.assert_allclose(fwd, [1.0, 0.5], atol=0.12)
    np.testing.assert_allclose(bwd, [-1.0, -0.5], atol=0.12)


def test_uint8_and_float_inputs_agree(textured):
    f0, f1 = shifted_pair(textured, 0.5, 0.0)
    a = estimate_flow(f0, f1)
    b = estimate_flow((f0 * 255).round().astype(np.uint8), (f1 * 255).round().astype(np.uint8))
    # Both go through 8-bit gray for OpenCV; rounding differs by a grey level at most.
    np.testing.assert_allclose(np.median(a, axis=(0, 1)), np.median(b, axis=(0, 1)), atol=0.05)


def test_warp_backward_undoes_an_integer_shift(textured):
    g = to_gray(textured)
    g1 = np.roll(g, 2, axis=1)  # content moves +2 px in x
    flow = np.zeros(g.shape + (2,), np.float32)
    flow[..., 0] = 2.0
    warped, valid = warp_backward(g1, flow)
    np.testing.assert_allclose(warped[:, :-2], g[:, :-2], atol=1e-6)
    assert valid[:, :-2].all() and not valid[:, -1].any()


def test_matching_error_small_for_right_flow_large_for_wrong(textured):
    f0, f1 = shifted_pair(textured, 2.0, 0.0)
    right = np.zeros(f0.shape[:2] + (2,), np.float32)
    right[..., 0] = 2.0
    assert matching_error(f0, f0, np.zeros_like(right)) == 0.0
    assert matching_error(f0, f1, right) < 0.5 * matching_error(f0, f1, np.zeros_like(right))


def test_end_point_error_and_magnitude():
    a = np.zeros((4, 5, 2), np.float32)
    b = a.copy()
    b[..., 0], b[..., 1] = 3.0, 4.0
    assert flow_magnitude(b).max() == 5.0
    assert end_point_error(a, b) == pytest.approx(5.0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown flow backend 'nope'"):
        estimate_flow(np.zeros((16, 16)), np.zeros((16, 16)), backend="nope")
    with pytest.raises(ValueError, match="differ in size"):
        estimate_flow(np.zeros((16, 16)), np.zeros((16, 17)))
    with pytest.raises(ValueError, match="too small"):
        estimate_flow(np.zeros((16, 8)), np.zeros((16, 8)))
    with pytest.raises(ValueError, match="dtype int64"):
        estimate_flow(np.zeros((16, 16), np.int64), np.zeros((16, 16), np.int64))
