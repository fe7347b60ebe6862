"""Sharpness of the virtual camera's frames against area-averaged photos (repro.camera.sharpness)."""

import numpy as np
import pytest
from scipy import ndimage

from repro.camera.sharpness import hf_energy, photo_sharpness, reference_region


def test_hf_energy_known_answers():
    rng = np.random.default_rng(0)
    noise = rng.random((64, 96))
    assert hf_energy(np.full((64, 96), 0.3)) == pytest.approx(0.0, abs=1e-30)  # no structure, no energy
    # white noise spreads its power evenly: the share above the cutoff is the share of bins there
    blurred = ndimage.gaussian_filter(noise, 0.6)
    assert hf_energy(blurred) < 0.35 * hf_energy(noise)  # sigma 0.6 px removes most of it
    assert hf_energy(2 * noise) == pytest.approx(4 * hf_energy(noise))  # power is quadratic
    assert hf_energy((noise * 255).astype(np.uint8)) == pytest.approx(hf_energy(noise), rel=0.02)
    with pytest.raises(ValueError, match="at least 8x8"):
        hf_energy(np.zeros((4, 4)))


def test_reference_region_is_the_area_average_of_the_box():
    photo = np.random.default_rng(1).random((60, 90, 3)).astype(np.float32)
    ref = reference_region(photo, (0, 0, 90, 60), (20, 30))  # a 3x3 block mean
    np.testing.assert_allclose(ref, photo.reshape(20, 3, 30, 3, 3).mean((1, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="not inside"):
        reference_region(photo, (-5, 0, 90, 60), (20, 30))


@pytest.mark.parametrize("name,split", [("grace_hopper", "test"), ("coffee", "train")])
def test_rendered_frames_keep_most_of_the_photo_detail(name, split):
    row = photo_sharpness(name, split, keep_images=True)
    assert row["magnification"] <= 1.0
    assert row["frame"].shape == row["reference"].shape == (240, 320, 3)
    # same region: the low frequencies agree closely, the high ones are mostly kept
    low = np.abs(ndimage.gaussian_filter(row["frame"], (3, 3, 0)) - ndimage.gaussian_filter(row["reference"], (3, 3, 0)))
    assert low.mean() < 0.01
    assert row["hf_energy_ratio"] > 0.7


def test_the_table_names_each_photo_by_its_split():
    from repro.camera import SPLIT_PHOTOS
    from repro.camera.sharpness import sharpness_table

    rows = {r["photo"]: r for r in sharpness_table(progress=False, size=(60, 80))}
    assert {r["split"] for r in rows.values()} == {"train", "val", "test"}
    assert all(rows[n]["split"] == "test" for n in SPLIT_PHOTOS["test"])
