"""PSNR / SSIM against scikit-image and known answers; shift search against brute force."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from repro.core.metrics import (
    SSIM_SETTINGS,
    brute_force_shift_search,
    local_shift_map,
    psnr,
    psnr_torch,
    shift_search_psnr,
    ssim,
)


def _texture(rng, shape, sigma=1.5):
    """A smooth random RGB texture in [0, 1] (so sub-pixel interpolation is meaningful)."""
    img = ndimage.gaussian_filter(rng.random(shape), (sigma, sigma, 0)[: len(shape)])
    return (img - img.min()) / (img.max() - img.min())


# --------------------------------------------------------------------------- PSNR


def test_psnr_known_answers():
    a = np.zeros((8, 9, 3))
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-12)
    u8 = np.full((8, 8), 100, np.uint8)
    assert psnr(u8, u8 + 5) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    u16 = np.full((8, 8), 1000, np.uint16)
    assert psnr(u16, u16 + 100) == pytest.approx(10 * math.log10(65535**2 / 1e4), abs=1e-12)
    assert psnr(a, a) == math.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16])
def test_psnr_equals_skimage(dtype):
    rng = np.random.default_rng(1)
    x = rng.random((20, 30, 3))
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    if dtype in (np.uint8, np.uint16):
        peak = np.iinfo(dtype).max
        x, y = (np.round(v * peak).astype(dtype) for v in (x, y))
    else:
        x, y = x.astype(dtype), y.astype(dtype)
    # skimage computes float32 input in float32; we always use float64
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert psnr(x, y) == pytest.approx(peak_signal_noise_ratio(x, y), abs=tol)


def test_psnr_float_range_is_one_even_with_negative_pixels():
    # skimage would guess a data range of 2 here; a float image always has range 1 for us.
    x = np.linspace(-0.1, 1, 100).reshape(10, 10)
    y = x + 0.01
    assert psnr(x, y) == pytest.approx(40.0, abs=1e-9)
    assert psnr(x, y, data_range=2.0) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=2.0))


def test_psnr_input_errors():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="dtypes"):
        psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="int32"):
        psnr(np.zeros((4, 4), np.int32), np.ones((4, 4), np.int32))
    assert psnr(np.zeros((4, 4), np.int32), np.ones((4, 4), np.int32), data_range=10) == pytest.approx(20.0)


def test_psnr_torch_matches_numpy_per_image():
    rng = np.random.default_rng(2)
    target = rng.random((3, 3, 16, 12)).astype(np.float32)
    pred = np.clip(target + rng.normal(0, [[[[0.01]]], [[[0.05]]], [[[0.1]]]], target.shape), 0, 1).astype(np.float32)
    got = psnr_torch(torch.from_numpy(pred), torch.from_numpy(target))
    assert got.shape == (3,)
    want = [psnr(target[i], pred[i]) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-4)
    assert torch.isinf(psnr_torch(torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4))).all()


# --------------------------------------------------------------------------- SSIM


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_ssim_equals_skimage_rgb(dtype):
    rng = np.random.default_rng(3)
    x = _texture(rng, (32, 40, 3))
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    if dtype == np.float32:
        x, y, dr = x.astype(np.float32), y.astype(np.float32), 1.0
    else:
        dr = np.iinfo(dtype).max
        x, y = (np.round(v * dr).astype(dtype) for v in (x, y))
    want = structural_similarity(x, y, channel_axis=-1, data_range=dr, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert ssim(x, y) == pytest.approx(want, abs=1e-7)
    assert 0 < ssim(x, y) < 1


def test_ssim_known_answers():
    rng = np.random.default_rng(4)
    x = rng.random((24, 24))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    # Two constant images: variances vanish, SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.2, 0.4, (SSIM_SETTINGS["K1"] * 1.0) ** 2
    assert ssim(np.full((20, 20), a), np.full((20, 20), b)) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


# --------------------------------------------------------------------------- shift search


@settings(max_examples=12, deadline=None)
@given(dy=st.integers(-4, 4), dx=st.integers(-4, 4), seed=st.integers(0, 10_000), scale=st.booleans(),
       noise=st.sampled_from([0.0, 0.02, 0.2]))
def test_shift_search_equals_brute_force(dy, dx, seed, scale, noise):
    rng = np.random.default_rng(seed)
    big = _texture(rng, (48 + 8, 40 + 8, 3))
    ref = big[4:-4, 4:-4]
    result = big[4 + dy:52 + dy, 4 + dx:44 + dx] * (0.8 if scale else 1.0) + noise * rng.standard_normal(ref.shape)
    fast = shift_search_psnr(result, ref, radius=5, subpixel=False, scale=scale)
    slow = brute_force_shift_search(result, ref, radius=5, scale=scale)
    assert fast.border == slow.border == 13
    assert fast.integer_shift == slow.integer_shift
    assert fast.psnr == pytest.approx(slow.psnr, rel=1e-12, abs=1e-9) or fast.psnr == slow.psnr == math.inf
    assert fast.scale == pytest.approx(slow.scale, rel=1e-12)
    if noise < 0.1:
        assert fast.integer_shift == (-dy, -dx)  # big moved by -(dy, dx) relative to ref


def test_shift_search_recovers_known_shift_exactly():
    rng = np.random.default_rng(5)
    ref = rng.random((60, 70, 3))
    for shift in [(3, -2), (-7, 7), (0, 0), (7, 0)]:
        res = shift_search_psnr(np.roll(ref, shift, axis=(0, 1)), ref, radius=7)
        assert res.integer_shift == shift and res.shift == tuple(float(s) for s in shift)
        assert res.psnr == math.inf
    # uint8 input and a scaled result: shift and scale both recovered
    res = shift_search_psnr(np.roll(ref, (2, 5), axis=(0, 1)) * 0.5, ref, radius=6, scale=True)
    assert res.integer_shift == (2, 5) and res.scale == pytest.approx(2.0) and res.psnr > 200
    u8 = (ref * 255).astype(np.uint8)
    assert shift_search_psnr(np.roll(u8, (-1, 4), axis=(0, 1)), u8, radius=4).integer_shift == (-1, 4)


def test_shift_search_uses_only_unwrapped_pixels():
    # np.roll wraps pixels round: replace the wrapped ones by garbage. With border >= radius + 1
    # no shift compares them (nor the outer border - radius pixels), so the match stays exact.
    rng = np.random.default_rng(6)
    ref = rng.random((40, 50))
    res = np.roll(ref, (4, -3), axis=(0, 1))
    res[:4], res[:, -3:] = 5.0, -7.0
    res[-1], res[:, 0] = 9.0, -9.0  # 1 = border - radius pixels at the far sides
    out = shift_search_psnr(res, ref, radius=4, border=5, subpixel=False)
    assert out.integer_shift == (4, -3) and out.psnr == math.inf
    assert brute_force_shift_search(res, ref, radius=4, border=5).integer_shift == (4, -3)


def test_shift_search_subpixel():
    rng = np.random.default_rng(7)
    big = _texture(rng, (120, 140, 3), sigma=2.0)
    ref = big[20:100, 20:120]
    moved = ndimage.shift(big, (2.3, -1.6, 0), order=3, mode="nearest")[20:100, 20:120]
    res = shift_search_psnr(moved, ref, radius=5)
    assert res.integer_shift == (2, -2)
    assert res.shift == pytest.approx((2.3, -1.6), abs=0.05)
    assert res.psnr > res.psnr_integer + 10
    assert shift_search_psnr(moved, ref, radius=5, subpixel=False).psnr == res.psnr_integer


def test_shift_search_input_errors():
    x = np.zeros((40, 40, 3))
    with pytest.raises(ValueError, match="same shape"):
        shift_search_psnr(x, x[:, :39])
    with pytest.raises(ValueError, match="border"):
        shift_search_psnr(x, x, radius=5, border=5)
    with pytest.raises(ValueError, match="too small"):
        shift_search_psnr(x, x, radius=20)


def test_local_shift_map_finds_a_different_shift_per_region():
    rng = np.random.default_rng(8)
    big = _texture(rng, (140, 180, 3))
    ref = big[20:120, 20:160]  # 100 x 140
    result = ref.copy()
    result[:, :70] = big[20 - 2:120 - 2, 20 - 1:90 - 1]  # left half: result[y, x] = ref[y - 2, x - 1]
    result[:, 70:] = big[20 + 3:120 + 3, 90:160]  # right half: result[y, x] = ref[y + 3, x]
    shifts, values = local_shift_map(result, ref, tile=24, radius=4, return_psnr=True)
    assert shifts.shape == (3, 4, 2) and values.shape == (3, 4)  # border 12: (76 // 24, 116 // 24)
    # tiles (24 px from x = 12) lie left of column 70 for j <= 1 and right of it for j >= 3
    np.testing.assert_allclose(shifts[:, :2], np.broadcast_to([2.0, 1.0], (3, 2, 2)), atol=0.02)
    np.testing.assert_allclose(shifts[:, 3], np.broadcast_to([-3.0, 0.0], (3, 2)), atol=0.02)
    assert np.all(values[:, [0, 1, 3]] > 60)
