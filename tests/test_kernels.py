"""Tests of repro.synthetic.kernels and repro.synthetic.blur: kernel generators, the index-addressed bank, FFT blur."""

from __future__ import annotations

import doctest
import hashlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import convolve2d

from repro.synthetic import blur as B
from repro.synthetic import kernels as K
from repro.synthetic.blur import BORDER_MODES, blur_numpy, blur_torch
from repro.synthetic.kernels import (
    KernelBank,
    boracchi_foi_kernel,
    chakrabarti_kernel,
    kernel_centroid,
)

BANKS = {gen: KernelBank(100_000, seed=0, generator=gen) for gen in ("chakrabarti", "boracchi_foi")}


def assert_valid_kernel(k: np.ndarray, size: int) -> None:
    assert k.shape == (size, size)
    assert k.dtype == np.float64
    assert np.isfinite(k).all()
    assert k.min() >= 0.0
    assert abs(k.sum() - 1.0) < 1e-6
    cy, cx = kernel_centroid(k)
    middle = size // 2
    assert abs(cy - middle) <= 0.5 + 1e-9 and abs(cx - middle) <= 0.5 + 1e-9, (cy, cx)


# --------------------------------------------------------------------------- properties

@settings(max_examples=60, deadline=None)
@given(i=st.integers(0, 99_999))
def test_chakrabarti_bank_kernels_are_valid(i):
    k = BANKS["chakrabarti"][i]
    assert_valid_kernel(k, 41)
    # Support no larger than its grid: extent along each axis is below psz.
    psz = BANKS["chakrabarti"].params(i)["psz"]
    ys, xs = np.nonzero(k)
    assert ys.max() - ys.min() < psz and xs.max() - xs.min() < psz


@settings(max_examples=40, deadline=None)
@given(i=st.integers(0, 99_999))
def test_boracchi_foi_bank_kernels_are_valid(i):
    k = BANKS["boracchi_foi"][i]
    assert_valid_kernel(k, 41)
    # Boracchi-Foi kernels are centred exactly (sub-pixel shift of the trajectory).
    cy, cx = kernel_centroid(k)
    assert abs(cy - 20) < 1e-9 and abs(cx - 20) < 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), psz=st.integers(1, 16), size=st.sampled_from([17, 31, 41]))
def test_chakrabarti_kernel_fits_any_size(seed, psz, size):
    psz = min(psz, size // 2 + 1)  # a centred psz-box always fits then
    assert_valid_kernel(chakrabarti_kernel(np.random.default_rng(seed), psz=psz, size=size), size)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), exposure=st.sampled_from([0.001, 0.1, 0.5, 1.0]),
       size=st.sampled_from([21, 41]))
def test_boracchi_foi_kernel_fits_any_size(seed, exposure, size):
    assert_valid_kernel(boracchi_foi_kernel(np.random.default_rng(seed), size=size, exposure=exposure), size)


def test_chakrabarti_kernel_is_a_thin_curve():
    # A curve through <= psz^2 pixels: far fewer non-zeros than the grid, more than one pixel
    # on average, and a psz=8 kernel is smaller than a psz=24 one.
    rng = np.random.default_rng(3)
    n24 = [np.count_nonzero(chakrabarti_kernel(rng, psz=24)) for _ in range(30)]
    n8 = [np.count_nonzero(chakrabarti_kernel(rng, psz=8)) for _ in range(30)]
    assert 10 < np.mean(n24) < 0.5 * 24 * 24
    assert np.mean(n8) < np.mean(n24)


def test_boracchi_foi_exposure_grows_the_kernel():
    short = boracchi_foi_kernel(np.random.default_rng(5), exposure=0.05)
    full = boracchi_foi_kernel(np.random.default_rng(5), exposure=1.0)
    assert np.count_nonzero(short) < np.count_nonzero(full)


# --------------------------------------------------------------------------- bank

_HASH_SCRIPT = """
import hashlib, sys
import numpy as np
from repro.synthetic.kernels import KernelBank
for gen in ("chakrabarti", "boracchi_foi"):
    bank = KernelBank(100_000, seed=0, generator=gen)
    for i in (0, 1, 2, 12345, 99_999):
        print(gen, i, hashlib.sha256(bank[i].tobytes()).hexdigest())
"""


def test_bank_kernel_is_identical_in_another_process():
    out = subprocess.run([sys.executable, "-c", _HASH_SCRIPT], capture_output=True, text=True, check=True)
    for line in out.stdout.strip().splitlines():
        gen, i, digest = line.split()
        assert hashlib.sha256(BANKS[gen][int(i)].tobytes()).hexdigest() == digest, (gen, i)


@pytest.mark.parametrize("generator, expected", [
    ("chakrabarti", "400f0a740926fa76"),
    ("boracchi_foi", "3ade8ef3cec9e87f"),
])
def test_bank_known_answer(generator, expected):
    # Recorded once (numpy 2.4, scipy 1.17, x86-64): a changed digest means the bank changed
    # (another NumPy stream or spline), so models trained on it are no longer reproducible.
    h = hashlib.sha256()
    for i in (0, 1, 2, 99_999):
        h.update(np.round(BANKS[generator][i], 12).tobytes())
    assert h.hexdigest()[:16] == expected


def test_bank_indexing_and_seeds():
    bank = BANKS["chakrabarti"]
    assert len(bank) == 100_000
    assert not np.array_equal(bank[0], bank[1])
    assert np.array_equal(bank[-1], bank[99_999])
    assert not np.array_equal(KernelBank(seed=1)[0], bank[0])
    assert [bank.params(i)["psz"] for i in range(6)] == [24, 16, 8, 24, 16, 8]
    with pytest.raises(IndexError):
        bank[100_000]
    with pytest.raises(TypeError):
        bank[1.5]
    with pytest.raises(ValueError, match="generator"):
        KernelBank(generator="gauss")
    with pytest.raises(ValueError, match="odd"):
        KernelBank(size=40)


def test_bank_returns_copies_and_pickles():
    bank = KernelBank(1000, seed=3, cache_size=2)
    k = bank[5]
    k[:] = 0
    assert bank[5].sum() == pytest.approx(1.0)
    for i in range(5):  # overflow the tiny LRU: recomputed kernels are identical
        bank[i]
    assert len(bank._cache) <= 2
    clone = pickle.loads(pickle.dumps(bank))
    assert np.array_equal(clone[5], bank[5])
    batch = bank.tensor([5, 6], dtype=torch.float64)
    assert batch.shape == (2, 41, 41) and torch.equal(batch[0], torch.from_numpy(bank[5]))


# --------------------------------------------------------------------------- blur

def _direct_convolution(x: torch.Tensor, k: torch.Tensor) -> np.ndarray:
    """scipy's direct 2-D convolution, valid part, per image and channel."""
    return np.stack([np.stack([convolve2d(x[b, c].numpy(), k[b].numpy(), mode="valid")
                               for c in range(x.shape[1])]) for b in range(x.shape[0])])


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_fft_blur_equals_direct_convolution_away_from_borders(mode):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 57, 64, generator=gen, dtype=torch.float64)
    k = BANKS["chakrabarti"].tensor([10, 11], dtype=torch.float64)
    out = blur_torch(x, k, mode=mode)
    ref = _direct_convolution(x, k)
    inner = out if mode == "valid" else out[..., 20:-20, 20:-20]
    assert inner.shape == ref.shape
    np.testing.assert_allclose(inner.numpy(), ref, atol=1e-12)
    if mode != "valid":
        assert out.shape == x.shape


def test_fft_blur_is_convolution_not_correlation():
    # torch's conv2d is a correlation: convolution == conv2d with the flipped kernel.
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 2, 40, 40, generator=gen, dtype=torch.float64)
    k = torch.rand(7, 5, generator=gen, dtype=torch.float64)
    k /= k.sum()
    ref = F.conv2d(F.pad(x, (2, 2, 3, 3), mode="replicate").transpose(0, 1),
                   k.flip(0, 1)[None, None]).transpose(0, 1)
    torch.testing.assert_close(blur_torch(x, k, mode="replicate"), ref)
    # An off-centre delta moves the content by +offset (down/right).
    delta = torch.zeros(5, 5, dtype=torch.float64)
    delta[2 + 1, 2 + 2] = 1.0
    torch.testing.assert_close(blur_torch(x, delta, mode="circular"), torch.roll(x, (1, 2), (2, 3)))


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_delta_kernel_returns_the_image(mode):
    x = torch.rand(3, 3, 33, 29)
    delta = torch.zeros(3, 41, 41)
    delta[:, 20, 20] = 1.0
    if mode in ("reflect", "valid"):  # these need images larger than (half) the kernel
        x = torch.rand(3, 3, 45, 50)
    out = blur_torch(x, delta, mode=mode)
    expect = x[..., 20:-20, 20:-20] if mode == "valid" else x
    torch.testing.assert_close(out, expect, atol=1e-6, rtol=0)
    img = x[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(blur_numpy(img, delta[0].numpy(), mode=mode),
                               expect[0].permute(1, 2, 0).numpy(), atol=1e-6)


@pytest.mark.parametrize("mode", BORDER_MODES)
def test_blur_numpy_equals_blur_torch(mode):
    rng = np.random.default_rng(2)
    img = rng.random((48, 52, 3))
    k = BANKS["boracchi_foi"][7]
    ref = blur_torch(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(k), mode=mode)
    np.testing.assert_allclose(blur_numpy(img, k, mode=mode), ref[0].permute(1, 2, 0).numpy(), atol=1e-12)
    gray = blur_numpy(img[..., 0].astype(np.float32), k, mode=mode)
    assert gray.dtype == np.float32
    np.testing.assert_allclose(gray, ref[0, 0].numpy(), atol=1e-5)


def test_circular_blur_preserves_the_mean():
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    out = blur_torch(x, BANKS["chakrabarti"].tensor([0, 3], dtype=torch.float64), mode="circular")
    torch.testing.assert_close(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)))


def test_blur_input_errors():
    with pytest.raises(ValueError, match="B, C, H, W"):
        blur_torch(torch.rand(3, 8, 8), torch.ones(3, 3) / 9)
    with pytest.raises(ValueError, match="kernels must be"):
        blur_torch(torch.rand(2, 3, 8, 8), torch.ones(3, 3, 3) / 9)
    with pytest.raises(ValueError, match="reflect"):
        blur_torch(torch.rand(1, 3, 10, 10), torch.ones(41, 41) / 41**2)
    with pytest.raises(ValueError, match="border mode"):
        blur_numpy(np.zeros((8, 8)), np.ones((3, 3)) / 9, mode="mirror")


def test_doctests():
    for module in (K, B):
        assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_figure_kernel_bank(tmp_path):
    from repro.io.images import read_image

    from repro.synthetic.kernel_figures import figure_kernel_bank

    path = figure_kernel_bank(tmp_path / "bank.png", bank=KernelBank(1000, seed=0), n=16)
    img = read_image(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.std() > 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_blur_torch_on_cuda_matches_cpu():
    from repro.synthetic import blur_padded_batch

    x = torch.rand(10, 3, 168, 168, generator=torch.Generator().manual_seed(0))
    idx = torch.arange(10)
    cpu = blur_padded_batch(x, idx, BANKS["chakrabarti"], noise_std=0.0)
    gpu = blur_padded_batch(x.cuda(), idx.cuda(), BANKS["chakrabarti"], noise_std=0.01,
                            generator=torch.Generator("cuda").manual_seed(0))
    assert gpu[0].device.type == "cuda"
    torch.testing.assert_close(gpu[1].cpu(), cpu[1])
    assert float((gpu[0].cpu() - cpu[0]).std()) == pytest.approx(0.01, rel=0.1)


def test_kernel_length_counts_the_path_pixels():
    from repro.synthetic.kernels import kernel_length

    k = np.zeros((9, 9))
    k[4, 1:8] = 1 / 7  # a horizontal line of 7 px
    assert kernel_length(k) == 7
    k[2, 2] = 0.0  # zero weights are not on the path
    assert kernel_length(k) == 7
    with pytest.raises(ValueError, match="2-D"):
        kernel_length(np.ones(3))


def test_bank_lengths_grow_with_the_grid_and_the_figure_draws():
    from repro.synthetic.kernel_figures import plot_length_match
    from repro.synthetic.kernels import KernelBank, bank_lengths

    small = bank_lengths(KernelBank(200, seed=0, size=13, psz=(3,)), 50)
    large = bank_lengths(KernelBank(200, seed=0, size=41, psz=(24,)), 50)
    assert small.shape == (50,) and np.median(small) < np.median(large)
    assert (small <= 13 * 13).all() and (small >= 1).all()
    fig = plot_length_match(small, [5.0, 7.0, 9.0])
    assert "median" in fig.axes[0].get_legend().get_texts()[0].get_text()
