"""Figures that say what they show: Fig. 1's scenes, crops and PSNRs, Fig. 9's significance."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from repro.io.datasets import one_per_scene  # noqa: E402
from repro.io.figures import crop_side, figure_footer, qualitative_figure, residual_scatter, significance_note  # noqa: E402


def test_one_pair_per_scene():
    names = ["a/1", "a/2", "a/3", "b/1", "b/2", "c/1"]
    picks = one_per_scene(names, 3, seed=0)
    assert sorted(names[i].split("/")[0] for i in picks) == ["a", "b", "c"]
    assert picks == one_per_scene(names, 3, seed=0)  # seeded
    assert len(one_per_scene(names, 5, seed=1)) == 3  # only three scenes
    assert len(one_per_scene(names, 2, seed=1)) == 2


def test_significance_in_words():
    assert significance_note(0.0012, 120) == "significant at the 0.05 level (p = 1.2e-03, n = 120)"
    assert significance_note(0.31, 24) == ("NOT significant at the 0.05 level (p = 0.31, n = 24): "
                                           "too few images or no effect")
    assert significance_note(math.nan, 5).startswith("correlation undefined")


def test_fig9_title_says_whether_it_is_significant():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=24), rng.normal(size=24)
    fig = residual_scatter(x, y, {"pearson_r": 0.1, "pearson_p": 0.64, "spearman_r": 0.08, "n": 24})
    assert "NOT significant at the 0.05 level (p = 0.64, n = 24)" in fig.axes[0].get_title()
    plt.close(fig)


def test_footer_names_preset_and_n():
    assert figure_footer("demo", 24, "test images", seed=0) == "preset demo, n = 24 test images, seed 0"
    assert figure_footer("quick") == "preset quick"


def test_crop_side_gives_the_zoom():
    assert crop_side(240, 432, 4) == 108  # drawn as wide as the 432-px image: 4x
    assert crop_side(50, 432, 3) == 50  # never taller than the image
    with pytest.raises(ValueError):
        crop_side(240, 432, 0.5)


def test_fig1_shows_psnr_and_a_zoomed_crop_of_the_most_blurred_region():
    H, W = 60, 96
    sharp = np.full((H, W, 3), 0.5, np.float32)
    blurry = sharp.copy()
    blurry[30:40, 70:80] = 0.9  # the only place the "blur" changes the image
    half = sharp + (blurry - sharp) / 2
    scenes = [{"name": "scene_a/000001", "images": [blurry, sharp, half]},  # Fig. 4's order: blurry | sharp | methods
              {"name": "scene_b/000002", "images": [blurry, sharp, blurry]}]
    fig = qualitative_figure(scenes, ["blurry input", "sharp", "restored"], zoom=4)
    axes = np.array(fig.axes).reshape(4, 3)
    mse = (0.4 ** 2) * 100 / (H * W)  # 100 pixels off by 0.4 in every channel
    p_blurry, p_half = 10 * np.log10(1 / mse), 10 * np.log10(1 / (mse / 4))
    assert axes[0, 0].get_xlabel() == f"{p_blurry:.2f} dB" and axes[0, 2].get_xlabel() == f"{p_half:.2f} dB"
    assert axes[0, 1].get_xlabel() == "reference" and axes[0, 1].get_title() == "sharp"
    assert axes[0, 2].get_title() == f"restored\nmean PSNR {(p_half + p_blurry) / 2:.2f} dB"
    crop = axes[1, 0].images[0].get_array()
    assert crop.shape[:2] == (24, 24)  # 96 / 4
    assert np.isclose(crop, 0.9).any()  # the crop holds the changed region
    assert axes[1, 0].get_ylabel() == "crop x4.0" and axes[2, 0].get_ylabel() == "scene_b/000002"
    plt.close(fig)


def test_fig3_says_its_width_and_the_shipped_networks():
    # issue 45: Fig. 3 draws the paper's width-1 network; the shipped ones are narrower, and its title says so
    import json

    import matplotlib.pyplot as plt

    from repro.io.figures import architecture_diagram
    from repro.core.model import DeblurNet, DeblurNetConfig
    from repro.io.paths import shipped_checkpoint

    fig = architecture_diagram(DeblurNet(DeblurNetConfig()))
    title = fig.axes[0].get_title()
    plt.close(fig)
    shipped = json.loads(shipped_checkpoint("wild").with_suffix(".json").read_text())["model_config"]["width"]
    assert title.startswith("DeblurNet (Fig. 3) drawn at width 1 (the paper's); the shipped networks are width ")
    assert f"{shipped:g}" in title
