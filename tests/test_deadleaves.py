"""Tests of repro.camera.deadleaves: the power law of the leaf sizes, determinism, the images, the folder."""

from __future__ import annotations

import numpy as np
import pytest

from repro.camera import photo_pool
from repro.camera.deadleaves import dead_leaves, leaf_radii, write_dead_leaves
from repro.io.images import read_image


def test_leaf_radii_follow_the_power_law():
    r = leaf_radii(np.random.default_rng(0), 200_000, 2.0, 200.0, alpha=3.0)
    assert r.min() >= 2.0 and r.max() <= 200.0
    # p(r) ~ r^-3 on [a, b]: P(r > x) = (x^-2 - b^-2) / (a^-2 - b^-2)
    for x in (3.0, 5.0, 20.0):
        expected = (x ** -2 - 200.0 ** -2) / (2.0 ** -2 - 200.0 ** -2)
        assert np.mean(r > x) == pytest.approx(expected, abs=0.005)
    with pytest.raises(ValueError, match="r_min"):
        leaf_radii(np.random.default_rng(0), 3, 5.0, 1.0)


def test_dead_leaves_is_deterministic_covered_and_has_edges():
    a = dead_leaves(np.random.default_rng(1), 64, 96)
    b = dead_leaves(np.random.default_rng(1), 64, 96)
    c = dead_leaves(np.random.default_rng(2), 64, 96)
    assert a.shape == (64, 96, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # many leaves of many colours, with sharp edges between them: large steps between neighbours
    assert len(np.unique(a.reshape(-1, 3).round(1), axis=0)) > 20
    assert np.percentile(np.abs(np.diff(a, axis=1)).max(axis=2), 99) > 0.2
    with pytest.raises(ValueError, match="too small"):
        dead_leaves(np.random.default_rng(0), 4, 4)


def test_write_dead_leaves_makes_a_photo_folder(tmp_path):
    paths = write_dead_leaves(tmp_path / "dl", 4, seed=3, rows=48, cols=64, progress=False)
    assert [p.name for p in paths] == [f"deadleaves_{i:04d}.png" for i in range(4)]
    img = read_image(paths[2])
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    # image i depends on (seed, i) only
    again = write_dead_leaves(tmp_path / "again", 3, seed=3, rows=48, cols=64, progress=False)
    np.testing.assert_array_equal(read_image(again[2]), img)
    # the virtual camera films the folder like any photo folder
    pool = photo_pool("train", tmp_path / "dl")
    assert pool and all(p.role == "bg" for p in pool)
    with pytest.raises(ValueError, match="n must be"):
        write_dead_leaves(tmp_path / "none", 0)
