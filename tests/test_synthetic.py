"""Tests of repro.synthetic: the on-the-fly blur dataset, batched blur, camera shake."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.io.images import read_image, write_image
from repro.synthetic import camera_shake as S
from repro.synthetic.blur import blur_numpy
from repro.synthetic.camera_shake import camera_shake, camera_shake_frames
from repro.synthetic.kernels import KernelBank
from repro.synthetic import (
    SyntheticBlurDataset,
    blur_batch,
    blur_padded_batch,
    photo_paths,
    wild_sharp_paths,
)

BANK = KernelBank(100_000, seed=0)


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured test image with structure at several scales, float in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(rng.random((h, w, 3)), sigma=(2, 2, 0)) + 0.3 * rng.random((h, w, 3))
    img -= img.min()
    return img / img.max()


@pytest.fixture(scope="module")
def wild_root(tmp_path_factory) -> Path:
    """A tiny WILD-layout dataset: two scenes, 2 + 1 pairs, 190 x 200 frames."""
    root = tmp_path_factory.mktemp("wild")
    rng = np.random.default_rng(0)
    for scene, n in (("s1", 2), ("s2", 1)):
        for j in range(n):
            for kind in ("blur", "sharp"):
                write_image(root / "train" / scene / kind / f"{j:06d}.png", _smooth_image(rng, 190, 200))
    photos = root / "photos" / "city"
    write_image(photos / "a.png", _smooth_image(rng, 180, 170))
    write_image(photos / "small.png", _smooth_image(rng, 100, 140))
    return root


def test_sharp_sources(wild_root):
    paths = wild_sharp_paths(wild_root, "train")
    assert [p.parent.name for p in paths] == ["sharp"] * 3
    assert len(photo_paths(wild_root / "photos")) == 2
    with pytest.raises(ValueError, match="blur"):
        photo_paths(wild_root / "train")
    with pytest.raises(FileNotFoundError):
        wild_sharp_paths(wild_root, "test")

    class Paired:  # anything with .pairs of (blur, sharp), like repro.io.datasets.PairedFolder
        pairs = [(p.parent.parent / "blur" / p.name, p) for p in paths]

    ds = SyntheticBlurDataset(Paired(), BANK, crop=64, extra=[wild_root / "photos" / "city"])
    assert ds.paths == paths + photo_paths(wild_root / "photos")


def test_dataset_items_are_deterministic_per_seed_epoch_index(wild_root):
    ds = SyntheticBlurDataset(wild_sharp_paths(wild_root), BANK, crop=64, seed=5)
    blurry, sharp = ds[1]
    assert blurry.shape == sharp.shape == (3, 64, 64)
    assert blurry.dtype == sharp.dtype == torch.float32
    assert 0 <= blurry.min() and blurry.max() <= 1
    again = SyntheticBlurDataset(wild_sharp_paths(wild_root), BANK, crop=64, seed=5)[1]
    assert torch.equal(again[0], blurry) and torch.equal(again[1], sharp)
    ds.set_epoch(1)
    assert not torch.equal(ds[1][0], blurry)
    ds.set_epoch(0)
    assert torch.equal(ds[1][0], blurry)
    assert not torch.equal(SyntheticBlurDataset(ds.paths, BANK, crop=64, seed=6)[1][0], blurry)


def test_dataset_blurs_with_the_drawn_kernel_and_noise(wild_root):
    ds = SyntheticBlurDataset(wild_sharp_paths(wild_root), BANK, crop=64, noise_std=0.0, seed=1)
    patches = SyntheticBlurDataset(ds.paths, BANK, crop=64, noise_std=0.0, seed=1, blur=False)
    patch, kidx = patches[2]
    assert patch.shape == (3, 104, 104) and int(kidx) == ds.kernel_index(2)
    blurry, sharp = ds[2]
    # The blurry crop is the exact ("valid") blur of the patch; the sharp crop its centre.
    expect = blur_numpy(patch.permute(1, 2, 0).numpy().astype(np.float64), BANK[int(kidx)], mode="valid")
    np.testing.assert_allclose(blurry.permute(1, 2, 0).numpy(), np.clip(expect, 0, 1), atol=1e-6)
    torch.testing.assert_close(sharp, patch[:, 20:-20, 20:-20])
    # The GPU path (blur_padded_batch) gives the same pair.
    gb, gs = blur_padded_batch(patch[None], kidx[None], BANK, noise_std=0.0)
    torch.testing.assert_close(gb[0], blurry, atol=1e-5, rtol=0)
    torch.testing.assert_close(gs[0], sharp)
    # Noise of the requested std on top of the blur.
    noisy = SyntheticBlurDataset(ds.paths, BANK, crop=64, noise_std=0.01, seed=1)[2][0]
    assert float((noisy - blurry).std()) == pytest.approx(0.01, rel=0.1)


def test_dataset_small_images(wild_root):
    city = photo_paths(wild_root / "photos")
    ds = SyntheticBlurDataset(city, BANK, crop=100)  # 100x140 < 140: blurred with reflected borders
    blurry, sharp = ds[1]
    assert blurry.shape == (3, 100, 100)
    with pytest.raises(ValueError, match="small.png"):
        SyntheticBlurDataset(city, BANK, crop=120)[1]
    with pytest.raises(ValueError, match="crop"):
        SyntheticBlurDataset(city, BANK, crop=10)


def test_blur_batch_indices_kernels_and_generator():
    x = torch.rand(3, 3, 50, 50, generator=torch.Generator().manual_seed(0))
    idx = [4, 5, 6]
    by_index = blur_batch(x, idx, BANK, noise_std=0.0)
    by_kernel = blur_batch(x, BANK.tensor(idx), noise_std=0.0)
    torch.testing.assert_close(by_index, by_kernel)
    torch.testing.assert_close(blur_batch(x, torch.tensor(idx), BANK, noise_std=0.0), by_index)
    a = blur_batch(x, idx, BANK, 0.05, torch.Generator().manual_seed(3))
    b = blur_batch(x, idx, BANK, 0.05, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, by_index)
    assert a.min() >= 0 and a.max() <= 1
    with pytest.raises(ValueError, match="bank"):
        blur_batch(x, idx, None)


# --------------------------------------------------------------------------- camera shake

@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return _smooth_image(np.random.default_rng(7), 112, 144).astype(np.float32)


def test_camera_shake_without_motion_is_the_image(photo):
    blurry, sharp, traj = camera_shake(photo, seed=0, blur_px=0.0, n_poses=8)
    assert traj.margin == 2 and blurry.shape == sharp.shape == (108, 140, 3)
    np.testing.assert_allclose(blurry, sharp, atol=1e-5)
    np.testing.assert_array_equal(sharp, photo[2:-2, 2:-2])


def test_camera_shake_trajectory_and_reference(photo):
    blurry, sharp, traj = camera_shake(photo, seed=3, blur_px=6.0, n_poses=24)
    again = camera_shake(photo, seed=3, blur_px=6.0, n_poses=24)
    np.testing.assert_array_equal(again[0], blurry)
    assert traj.meta["max_displacement_px"] == pytest.approx(6.0, rel=1e-3)
    assert traj.margin >= 8 and blurry.shape == (112 - 2 * traj.margin, 144 - 2 * traj.margin, 3)
    np.testing.assert_allclose(traj.homographies[traj.reference], np.eye(3), atol=1e-12)
    frames = camera_shake_frames(photo, traj)
    assert frames.shape == (24,) + blurry.shape
    np.testing.assert_allclose(frames[traj.reference], sharp, atol=1e-5)  # ground truth = reference pose
    np.testing.assert_allclose(frames.mean(axis=0), blurry, atol=1e-5)
    assert np.abs(blurry - sharp).mean() > 0.01  # actually blurred


def test_camera_shake_is_locally_a_convolution_with_the_local_kernel(photo):
    # Away from the borders the space-varying blur is, locally, the convolution of the sharp
    # reference with the kernel traced by that pixel's trajectory.
    blurry, sharp, traj = camera_shake(photo, seed=1, blur_px=5.0, n_poses=32, roll_weight=3.0)
    h, w = sharp.shape[:2]
    for x, y in ((w // 2, h // 2), (25, 25), (w - 25, h - 25)):
        pred = blur_numpy(sharp, traj.local_kernel(x, y, size=21), mode="reflect")
        win = (slice(y - 8, y + 8), slice(x - 8, x + 8))
        err = np.abs(pred[win] - blurry[win]).mean()
        assert err < 0.2 * np.abs(sharp[win] - blurry[win]).mean(), (x, y)
    # Roll makes it space-varying: corner kernels differ.
    k1, k2 = traj.local_kernel(10, 10, size=21), traj.local_kernel(w - 10, h - 10, size=21)
    assert np.abs(k1 - k2).sum() > 0.2


def test_camera_shake_input_errors(photo):
    with pytest.raises(ValueError, match="too small"):
        camera_shake(photo[:20, :20], seed=0, blur_px=12.0, n_poses=4)
    _, _, traj = camera_shake(photo, seed=0, blur_px=2.0, n_poses=4)
    with pytest.raises(ValueError, match="trajectory made for"):
        camera_shake(photo[:100], seed=0, trajectory=traj)
    with pytest.raises(ValueError, match="reference"):
        camera_shake(photo, seed=0, n_poses=4, reference="last")


def test_doctests():
    assert doctest.testmod(S, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_figure_camera_shake(tmp_path, photo):
    path = S.figure_camera_shake(tmp_path / "shake.png", image=photo, seed=0, blur_px=5.0, n_poses=16)
    img = read_image(path)
    assert img.ndim == 3 and img.shape[1] > 500 and img.std() > 10
