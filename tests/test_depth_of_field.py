"""The virtual camera's depth of field (issue 41): one layer of a clip out of focus, known answers."""

import argparse
import json

import numpy as np
import pytest
from scipy import ndimage

from repro.camera import render_clip
from repro.camera.focus import BACKGROUND, draw_defocus
from repro.camera.focus import disc_kernel

SIZE = (64, 96)
PAN = dict(n_frames=3, size=SIZE, kind="pan", pan=(1.0, 0.5), objects=1)  # seed 2: a rounded rectangle


def _convolved(frame: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A uint8 frame (H, W, 3) convolved with ``kernel`` per channel: float (H, W, 3)."""
    return np.stack([ndimage.convolve(frame[..., c].astype(np.float64), kernel, mode="nearest")
                     for c in range(3)], -1)


def _regions(visible: np.ndarray, layer: int, half: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) masks: pixels whose disc (with a pixel to spare) sees only ``layer``, and only others."""
    foot = np.ones((2 * half + 3,) * 2, bool)
    mine = visible == layer
    return ndimage.binary_erosion(mine, foot, border_value=0), ~ndimage.binary_dilation(mine, foot)


@pytest.mark.parametrize("layer", [BACKGROUND, 0])
def test_the_chosen_layer_is_the_in_focus_render_convolved_by_the_disc_and_the_others_are_unchanged(layer):
    sharp = render_clip(2, **PAN)
    soft = render_clip(2, defocus=(2.5, 2.5), defocus_layer=layer, **PAN)
    names = sharp.meta["layer_names"]
    assert names == ["background", "object0:roundrect"]  # an opaque shape: coverage 1 inside, 0 outside
    chosen = 0 if layer == BACKGROUND else 1
    assert soft.meta["defocus"] == {"layer": names[chosen], "radius": 2.5}
    kernel = disc_kernel(2.5)
    for t in range(len(sharp.frames)):  # every frame: the same disc
        inside, away = _regions(sharp.meta["visible_layer"][t], chosen, kernel.shape[0] // 2)
        assert inside.sum() > 100 and away.sum() > 100
        expected = _convolved(sharp.frames[t], kernel)
        assert np.abs(soft.frames[t] - expected)[inside].max() <= 1.0  # rounding of both renders
        np.testing.assert_array_equal(soft.frames[t][away], sharp.frames[t][away])
        assert np.abs(soft.frames[t].astype(int) - sharp.frames[t]).max() > 10  # it did blur


def test_without_the_option_every_draw_is_the_same_and_radius_zero_is_in_focus():
    plain = render_clip(5, n_frames=2, size=(48, 64))
    zero = render_clip(5, n_frames=2, size=(48, 64), defocus=(0, 0))
    soft = render_clip(5, n_frames=2, size=(48, 64), defocus=(1, 4))
    np.testing.assert_array_equal(zero.frames, plain.frames)
    assert "defocus" not in plain.meta and 1 <= soft.meta["defocus"]["radius"] <= 4
    for key in ("kind", "geometry", "background", "speed", "peak_flow_target", "photo_box", "layer_names"):
        assert soft.meta[key] == plain.meta[key], key


def test_layer_and_radius_are_drawn_per_clip_from_their_own_stream():
    names, is_object = ["background", "object0:ellipse", "object1:blob"], [False, True, True]
    drawn = [draw_defocus(seed, (1, 4), names, is_object) for seed in range(60)]
    assert {d.layer for d in drawn} == set(names)  # the background in some clips, an object in others
    assert all(1 <= d.radius <= 4 for d in drawn) and len({d.radius for d in drawn}) == 60
    assert draw_defocus(7, (1, 4), names, is_object) == drawn[7]  # deterministic in the seed
    fixed = draw_defocus(7, (1, 4), names, is_object, layer=1)
    assert fixed.layer == "object1:blob" and fixed.radius == drawn[7].radius and fixed.indices == (2,)
    layered = draw_defocus(0, (2, 2), ["background:depth1", "background:depth0"], [False, False])
    assert layered == (BACKGROUND, 2.0, (0, 1))  # no object: every background layer
    assert draw_defocus(0, None, names, is_object) is None


@pytest.mark.parametrize("options, message", [
    (dict(defocus=(3, 1)), "low <= high"),
    (dict(defocus=(-1, 2)), "0 <= low"),
    (dict(defocus=(1, float("nan"))), "0 <= low"),
    (dict(defocus=3), "defocus must be"),
    (dict(defocus_layer=BACKGROUND), "needs defocus"),
    (dict(defocus=(1, 2), defocus_layer="sky"), "defocus_layer must be"),
    (dict(defocus=(1, 2), defocus_layer=1, objects=1), "has 1 object"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message) as err:
        render_clip(0, n_frames=1, size=(24, 32), kind="pan", **options)
    assert "\n" not in str(err.value)


def test_build_wild_records_the_option_only_when_given_scales_it_and_refuses_footage(tmp_path):
    from repro.__main__ import main
    from repro.wild import BuildConfig, build_wild, read_build_config
    from repro.wild.build import _virtual_camera
    from repro.wild.cli import add_arguments, virtual_options

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert virtual_options(parser.parse_args(["virtual", "out"])) == {}  # existing build.json files still match
    assert virtual_options(parser.parse_args(["virtual", "out", "--virtual-defocus", "1", "4"])) == {"defocus": [1.0, 4.0]}
    camera = _virtual_camera(BuildConfig(virtual={"defocus": [1, 4]}, downsample=3), 1)
    assert camera[0].options["defocus"] == (3.0, 12.0)  # px of the pairs: the render is 3x larger
    with pytest.raises(ValueError, match="needs the virtual camera"):
        build_wild(str(tmp_path / "frames"), tmp_path / "out", virtual={"defocus": [1, 4]})
    with pytest.raises(ValueError, match="low <= high"):
        BuildConfig(virtual={"defocus": [4, 1]})
    assert main(["build-wild", str(tmp_path), str(tmp_path / "o"), "--virtual-defocus", "1", "4"]) == 2
    build_wild("virtual", tmp_path / "wild", pairs=1, workers=0, n_range=(7, 7), progress=False,
               virtual={"size": (48, 64), "defocus": [1.0, 4.0]})
    assert read_build_config(tmp_path / "wild").virtual["defocus"] == [1.0, 4.0]
    assert json.loads((tmp_path / "wild" / "train" / "build.json").read_text())["virtual"]["defocus"] == [1.0, 4.0]
