"""Non-blind deconvolution (repro.baselines.deconv) and its shared FFT pieces."""

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio as psnr

from repro.baselines._common import otf2psf, psf2otf, irfft2, rfft2, pyramid_levels, resize_kernel
from repro.baselines.deconv import deconvolve, deconvolve_spatially_varying, shrink_hyper_laplacian, tile_grid
from repro.baselines.demo import blur_problem, curve_kernel, kernel_similarity, line_kernel


@pytest.fixture(scope="module")
def curve_problem():
    # 128x128 'camera' crop, 15 px random curve (seed 2, ~9x8 px extent), noise std 0.005.
    return blur_problem(curve_kernel(np.random.default_rng(2), size=15), photo="camera")


# Measured with the true kernel on this problem: hyper-Laplacian 28.55 dB (alpha 2/3: 28.49),
# TV 28.37, L2 27.26, TV-L1 27.82; blurry input 20.59. Thresholds 0.7-0.8 dB below.
@pytest.mark.parametrize(
    "kwargs, threshold",
    [
        (dict(prior="hyper_laplacian", lam=2000, alpha=0.8), 27.8),
        (dict(prior="hyper_laplacian", lam=2000, alpha=2 / 3), 27.8),
        (dict(prior="tv", lam=1000), 27.6),
        (dict(prior="l2", lam=200), 26.5),
        (dict(prior="tv", lam=30, data="l1"), 27.0),
    ],
)
def test_true_kernel_recovers_photo(curve_problem, kwargs, threshold):
    p = curve_problem
    restored = deconvolve(p.blurry, p.kernel, **kwargs)
    assert restored.shape == p.blurry.shape and restored.dtype == np.float32
    before = psnr(p.sharp, p.blurry, data_range=1)
    after = psnr(p.sharp, restored, data_range=1)
    assert before < 21.0
    assert after > threshold, (kwargs, before, after)


def test_wrong_kernel_is_worse(curve_problem):
    # A deconvolution that ignored its kernel would pass the test above with any kernel.
    p = curve_problem
    right = psnr(p.sharp, deconvolve(p.blurry, p.kernel), data_range=1)
    wrong = psnr(p.sharp, deconvolve(p.blurry, line_kernel(15, 11, 2.0)), data_range=1)
    assert right > wrong + 4


def test_colour_matches_per_channel():
    p = blur_problem(line_kernel(9, 6, 0.3), photo="astronaut", size=(64, 80), origin=(60, 200))
    colour = deconvolve(p.blurry, p.kernel, prior="tv", lam=800)
    for c in range(3):
        gray = deconvolve(p.blurry[..., c], p.kernel, prior="tv", lam=800)
        np.testing.assert_allclose(colour[..., c], gray, atol=1e-5)


def test_delta_kernel_keeps_clean_image():
    p = blur_problem(np.ones((1, 1)), size=(64, 64), noise_std=0.0)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1.0
    out = deconvolve(p.sharp, delta, prior="l2", lam=1e6)
    assert psnr(p.sharp, out, data_range=1) > 50


def test_spatially_varying_with_constant_kernels_matches_global(curve_problem):
    p = curve_problem
    rows, cols = tile_grid(p.blurry.shape, 64, 16)
    assert (len(rows), len(cols)) == (3, 3)
    ks = np.broadcast_to(p.kernel, (3, 3) + p.kernel.shape)
    sv = deconvolve_spatially_varying(p.blurry, ks, tile=64, overlap=16)
    glob = deconvolve(p.blurry, p.kernel)
    assert sv.shape == p.blurry.shape
    assert psnr(p.sharp, sv, data_range=1) > psnr(p.sharp, glob, data_range=1) - 0.7
    # a callable gives the same result
    sv2 = deconvolve_spatially_varying(p.blurry, lambda i, j: p.kernel, tile=64, overlap=16)
    np.testing.assert_allclose(sv, sv2, atol=1e-6)
    with pytest.raises(ValueError, match="kernels must have shape"):
        deconvolve_spatially_varying(p.blurry, ks[:2], tile=64, overlap=16)


@given(H=st.integers(5, 300), tile=st.integers(8, 100), frac=st.floats(0, 0.9))
@settings(max_examples=60, deadline=None)
def test_tile_grid_covers_with_overlap(H, tile, frac):
    overlap = int(frac * tile)
    rows, _ = tile_grid((H, H), tile, overlap)
    cover = np.zeros(H, int)
    for a, b in rows:
        assert 0 <= a < b <= H and b - a <= tile
        cover[a:b] += 1
    assert cover.min() >= 1
    for (a0, b0), (a1, b1) in zip(rows, rows[1:]):
        assert b0 - a1 >= overlap


@given(v=st.floats(-2, 2), beta=st.floats(0.5, 500), alpha=st.sampled_from([0.5, 2 / 3, 0.8, 1.0]))
@settings(max_examples=150, deadline=None)
def test_shrinkage_is_global_minimiser(v, beta, alpha):
    w = float(shrink_hyper_laplacian(np.array([v]), beta, alpha)[0])
    grid = np.linspace(-2.5, 2.5, 200001)
    energy = lambda t: np.abs(t) ** alpha + 0.5 * beta * (t - v) ** 2  # noqa: E731
    assert energy(w) <= energy(grid).min() + 1e-6


def test_otf_is_centred_same_convolution():
    rng = np.random.default_rng(1)
    x = rng.random((40, 50))
    k = rng.random((7, 5))
    k /= k.sum()
    via_fft = irfft2(rfft2(x) * psf2otf(k, x.shape), x.shape)
    np.testing.assert_allclose(via_fft, ndi.convolve(x, k, mode="wrap"), atol=1e-10)
    np.testing.assert_allclose(otf2psf(psf2otf(k, x.shape), x.shape, (7, 7))[:, 1:6], k, atol=1e-12)


def test_kernel_helpers():
    k = line_kernel(15, 9, 1.0)
    assert abs(k.sum() - 1) < 1e-12 and k.min() >= 0
    assert kernel_similarity(k, np.roll(k, 2, axis=1)) == pytest.approx(1.0)
    assert kernel_similarity(k, line_kernel(15, 9, 1.0 + np.pi / 2)) < 0.5
    r = resize_kernel(k, 7)
    assert r.shape == (7, 7) and abs(r.sum() - 1) < 1e-12
    levels = pyramid_levels(31)
    assert levels[-1].ksize == 31 and levels[-1].scale == 1.0 and levels[0].ksize <= 7
    assert all(lv.ksize % 2 == 1 for lv in levels)


def test_validation():
    img = np.zeros((32, 32))
    with pytest.raises(ValueError, match="prior"):
        deconvolve(img, np.ones((3, 3)), prior="l7")
    with pytest.raises(ValueError, match="no positive"):
        deconvolve(img, -np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        deconvolve(np.zeros((2, 3, 4, 5)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="alpha"):
        deconvolve(img, np.ones((3, 3)), alpha=1.5)
