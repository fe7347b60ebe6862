"""Tests of issue 41's training levers: the floored log-MSE loss, the defocus and near-identity
kernels, and the short-window, defocus and near-identity items of a training batch."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro import train as T
from repro.core.model import downsample, floored_log_mse
from repro.camera.focus import disc_kernel
from repro.synthetic.defocus import defocus_batch, line_kernel
from repro.synthetic.kernels import kernel_centroid
from repro.train.loop import training_loss
from test_train import _make_folder, _smoke, _train


def _outputs_off_by(sharp: torch.Tensor, d: float) -> tuple[torch.Tensor, ...]:
    return tuple(downsample(sharp, k) + d for k in (4, 2, 1))


def test_floored_log_mse_is_the_log_of_each_items_mse_above_the_floor():
    sharp = torch.rand(2, 3, 16, 16)
    # every pixel off by 0.1: MSE 0.01 at every scale, so the loss is ln(0.01)
    assert floored_log_mse(_outputs_off_by(sharp, 0.1), sharp, floor=1e-4).item() == pytest.approx(math.log(0.01))
    # off by 0.001 (MSE 1e-6, below a floor of 1e-4): the floor's log, and no gradient
    outs = tuple(o.requires_grad_() for o in _outputs_off_by(sharp, 1e-3))
    loss = floored_log_mse(outs, sharp, floor=1e-4)
    assert loss.item() == pytest.approx(math.log(1e-4))
    loss.backward()
    assert all(float(o.grad.abs().max()) == 0 for o in outs)
    # items count alike: one item off by 0.1, the other by 0.2 -> the mean of their logs
    outs = tuple(torch.cat([downsample(sharp[:1], k) + 0.1, downsample(sharp[1:], k) + 0.2]) for k in (4, 2, 1))
    expected = (math.log(0.01) + math.log(0.04)) / 2
    assert floored_log_mse(outs, sharp, floor=1e-4).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="floor"):
        floored_log_mse(outs, sharp, floor=0.0)


def test_training_loss_mixes_the_papers_loss_and_the_log_term_by_their_weights():
    sharp = torch.rand(2, 3, 16, 16)
    outs = _outputs_off_by(sharp, 0.1)
    paper = training_loss(outs, sharp, _smoke())
    assert paper.item() == pytest.approx(0.01 * 21 / 16, rel=1e-5)  # scaled_sum: 1/16 + 1/4 + 1 of 0.01
    mixed = training_loss(outs, sharp, _smoke(loss_log_weight=0.5, loss_paper_weight=2.0))
    assert mixed.item() == pytest.approx(2 * paper.item() + 0.5 * math.log(0.01), rel=1e-5)
    only_log = training_loss(outs, sharp, _smoke(loss_log_weight=1.0, loss_paper_weight=0.0))
    assert only_log.item() == pytest.approx(math.log(0.01), rel=1e-5)
    with pytest.raises(ValueError, match="not both 0"):
        _smoke(loss_paper_weight=0.0)
    with pytest.raises(ValueError, match="loss_log_floor"):
        _smoke(loss_log_floor=-1.0)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 6.0))
def test_a_disc_sums_to_one_and_does_not_shift_the_image(radius):
    k = disc_kernel(radius)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0) and k.min() >= 0
    c = k.shape[0] // 2
    assert kernel_centroid(k) == pytest.approx((c, c), abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 6.0), st.floats(0.0, math.pi))
def test_a_near_identity_line_sums_to_one_and_is_centred(length, angle):
    k = line_kernel(length, angle, 13)
    assert k.sum() == pytest.approx(1.0) and k.min() >= 0
    assert kernel_centroid(k) == pytest.approx((6, 6), abs=1e-6)


def test_zero_blur_kernels_are_the_identity_and_a_disc_spreads_as_a_uniform_disc():
    for k in (disc_kernel(0.0), line_kernel(0.0, 1.0)):  # a single 1 at the centre
        c = k.shape[0] // 2
        assert k[c, c] == 1.0 and k.sum() == 1.0
    k = disc_kernel(4.0)
    yy, xx = np.mgrid[:k.shape[0], :k.shape[1]] - k.shape[0] // 2
    # a uniform disc: E[r^2] = R^2 / 2, plus 1/12 per axis from area-sampling the pixels
    assert (k * (yy ** 2 + xx ** 2)).sum() == pytest.approx(16 / 2 + 1 / 6, rel=0.02)
    img = torch.rand(3, 3, 24, 24)
    out = defocus_batch(img, [0.0, 2.0, 0.0])
    torch.testing.assert_close(out[[0, 2]], img[[0, 2]])
    assert not torch.allclose(out[1], img[1])
    torch.testing.assert_close(out[1].mean(), img[1].mean(), atol=0.02, rtol=0)  # a disc keeps the brightness
    with pytest.raises(ValueError, match="radius"):
        disc_kernel(-1.0)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("dnh")
    return _make_folder(base / "wild"), _make_folder(base / "short", n_train=3, n_test=1)


def test_short_items_come_from_the_short_pairs_and_defocus_blurs_both_crops_alike(roots):
    wild, short = roots
    cache, short_cache = T._PairCache(wild, "train", workers=1), T._PairCache(short, "train", workers=1)
    cfg = T.PRESETS["tiny-test"].replace(batch_size=4, crop=16)
    dev = torch.device("cpu")
    blur, sharp = T._TrainData(cache, cfg, "wild", 5, dev).batch(3)
    data = T._TrainData(cache, cfg.replace(short_fraction=0.5), "wild", 5, dev, short=short_cache)
    blur_s, sharp_s = data.batch(3)
    torch.testing.assert_close(blur_s[:2], blur[:2])  # the WILD items are unchanged
    plan = T.batch_plan(5, 3, len(cache), 4)
    index = data._extras(3)[0]
    for k in (2, 3):  # the last two: short-window pairs, at the plan's crop corners
        pair = short_cache.sharp[int(index[k])]
        crop = T.augment(T._crop(pair, plan.corner[k], 16), plan, k, cfg).float() / 255
        torch.testing.assert_close(sharp_s[k], crop)
    # defocus on every item: sharp -> sharp items stay identity pairs, now soft
    blur_d, sharp_d = T._TrainData(cache, cfg.replace(sharp_fraction=1.0, defocus_fraction=1.0), "wild", 5,
                                   dev).batch(3)
    torch.testing.assert_close(blur_d, sharp_d)
    assert sharp_d.diff(dim=-1).abs().mean() < sharp.diff(dim=-1).abs().mean()
    with pytest.raises(ValueError, match="short-root"):
        T._TrainData(cache, cfg.replace(short_fraction=0.5), "wild", 5, dev)
    with pytest.raises(ValueError, match="short_fraction is 0"):
        T._TrainData(cache, cfg, "wild", 5, dev, short=short_cache)
    with pytest.raises(ValueError, match="short_fraction"):
        T.TrainConfig(short_fraction=1.5)
    with pytest.raises(ValueError, match="<= 1"):
        T.TrainConfig(short_fraction=0.6, sharp_fraction=0.6)
    with pytest.raises(ValueError, match="defocus_radius"):
        T.TrainConfig(defocus_radius=(3.0, 1.0))


def test_si_short_items_are_blurred_by_near_identity_kernels(roots):
    wild, _ = roots
    cache = T._PairCache(wild, "train", workers=1)
    cfg = T.PRESETS["tiny-test"].replace(batch_size=4, crop=16, si_kernel_size=5, si_psz=(3,), si_kernels=10,
                                         si_noise_std=0.0, short_fraction=0.5, short_kernel_max=0.0)
    blur, sharp = T._TrainData(cache, cfg, "si", 5, torch.device("cpu")).batch(2)
    torch.testing.assert_close(blur[2:], sharp[2:], atol=1e-5, rtol=0)  # length 0: the identity
    assert not torch.allclose(blur[:2], sharp[:2], atol=1e-3)  # the bank's kernels blur
    plain, _ = T._TrainData(cache, cfg.replace(short_fraction=0.0), "si", 5, torch.device("cpu")).batch(2)
    torch.testing.assert_close(blur[:2], plain[:2], atol=1e-5, rtol=0)  # and are the same kernels as before


def test_a_run_trains_with_short_roots_defocus_and_the_log_loss(roots, tmp_path):
    wild, short = roots
    cfg = _smoke(steps=2, val_every=2, short_fraction=0.5, defocus_fraction=0.5, loss_log_weight=0.01)
    result = _train(cfg, wild, tmp_path / "run", short_roots=[short])
    assert result.steps == 2 and np.isfinite(result.final_psnr)
    with pytest.raises(FileNotFoundError, match="short-window dataset not found"):
        _train(cfg, wild, tmp_path / "run2", short_roots=[tmp_path / "missing"])
    with pytest.raises(ValueError, match="near-identity"):
        _train(cfg, wild, tmp_path / "run3", data="si", short_roots=[short])


# ----------------------------------------------------------------------------- the still split


def test_window_sizes_follow_their_weights_and_old_builds_keep_their_build_json():
    from repro.wild.recipe import BuildConfig, draw_window_sizes

    rng = np.random.default_rng(0)
    sizes = [n for n, _ in zip(draw_window_sizes(rng, (1, 5), (1, 1.5, 1.5)), range(4000))]
    share = {n: sizes.count(n) / len(sizes) for n in (1, 3, 5)}
    assert share[1] == pytest.approx(0.25, abs=0.03) and share[3] == pytest.approx(0.375, abs=0.03)
    only5 = draw_window_sizes(np.random.default_rng(1), (1, 5), (0, 0, 1))
    assert {next(only5) for _ in range(50)} == {5}
    # a config without weights writes the build.json it wrote before they existed (old builds resume)
    assert "n_weights" not in BuildConfig().to_json()
    weighted = BuildConfig(n_range=(1, 5), n_weights=(1, 1.5, 1.5))
    assert BuildConfig.from_json(weighted.to_json()) == weighted
    with pytest.raises(ValueError, match="n_weights must give 3 weights"):
        BuildConfig(n_range=(1, 5), n_weights=(1, 1))
    with pytest.raises(ValueError, match="n_weights"):
        BuildConfig(n_range=(1, 5), n_weights=(0, 0, 0))


def test_a_slow_sway_draws_the_clips_peak_flow_in_its_range():
    from repro.camera import render_clip

    for seed in range(3):
        clip = render_clip(seed, n_frames=3, size=(24, 32), peak_flow_range=(0.1, 0.2))
        assert 0.1 <= clip.meta["peak_flow_target"] <= 0.2
    with pytest.raises(ValueError, match="peak_flow_range"):
        render_clip(0, n_frames=3, size=(24, 32), peak_flow_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="peak_flow_range"):
        render_clip(0, n_frames=3, size=(24, 32), peak_flow_range="fast")


def test_gains_by_input_psnr_bin_the_pairs_and_keep_identical_inputs_apart():
    from repro.measure.harm import IDENTICAL, choice_score, gains_by_input_psnr

    p_in = np.array([25.0, 31.0, 33.0, 38.0, 45.0, np.inf, np.inf])
    p_out = np.array([27.0, 32.0, 33.0, 37.0, 41.0, 50.0, 60.0])
    bins = gains_by_input_psnr(p_in, p_out)
    assert bins["< 30 dB"] == {"n": 1, "gain": 2.0}
    assert bins["30-35 dB"] == {"n": 2, "gain": 0.5}
    assert bins["35-40 dB"] == {"n": 1, "gain": -1.0}
    assert bins[">= 40 dB"] == {"n": 1, "gain": -4.0}
    assert bins[IDENTICAL] == {"n": 2, "output": 55.0}
    # the choice: WILD gain + the still pairs' mean finite gain (2 + 0.5 * 2 - 1 - 4) / 5 = -0.4
    assert choice_score({"wild_gain": 1.0, "still": bins}) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="two"):
        gains_by_input_psnr(p_in, p_out[:3])


def test_the_harm_report_refuses_a_data_folder_without_its_pairs(tmp_path, capsys):
    from repro.evaluate.harm import main

    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", "a=repro/weights/deblurnet_wild.pt", "--data", str(tmp_path), "--out",
              str(tmp_path / "x.md")])
    assert err.value.code == 2 and "not built" in capsys.readouterr().err


def test_the_still_table_bins_each_methods_gains_and_states_its_identity_psnr(tmp_path):
    from repro.evaluate.harm import IDENTICAL, still_table
    from repro.evaluate.method import Identity
    from repro.io.reports import write_table

    data = tmp_path / "data"
    for name in ("still_bundled", "bundled", "corpus"):
        _make_folder(data / name, n_train=1, n_test=3)
    sharp_copy = data / "still_bundled" / "test" / "scene0"  # one pair whose input is the sharp frame
    (sharp_copy / "blur" / "000000.png").write_bytes((sharp_copy / "sharp" / "000000.png").read_bytes())

    class Halfway:  # moves its input halfway to grey: worse everywhere
        name = "halfway"

        def deblur(self, image):
            return (image + 0.5) / 2

    class Ctx:
        results_dir = tmp_path / "results"

        def write_table(self, rows, name, *, title, notes=()):
            return write_table(rows, self.results_dir / name, provenance={"preset": "test"}, title=title, notes=notes)

    text = still_table(Ctx(), [Identity(), Halfway()], data=data)
    lines = (tmp_path / "results" / "do_no_harm" / "still_split.csv").read_text().splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    from repro.evaluate.methods import label

    gains = [float(r["mean gain dB"]) for r in rows if r["method"] == label("identity") and r["mean gain dB"]]
    assert gains and all(g == 0 for g in gains)  # the input itself gains nothing in any bin
    assert {r["input PSNR"] for r in rows} >= {IDENTICAL, "the sharp frame itself (identity PSNR)"}
    same = [r for r in rows if r["input PSNR"] == IDENTICAL and r["n"] == "1"]
    assert len(same) == 2 and all(r["output dB"] for r in same)
    ident = {r["method"]: float(r["output dB"]) for r in rows if r["input PSNR"].startswith("the sharp frame")}
    assert max(ident.values()) == 100.0 and min(ident.values()) < 20  # the copy is exact, halfway is not
    assert "still split" in text
    assert "skipped" in still_table(Ctx(), [Identity()], data=tmp_path / "nothing")


def test_by_blur_tables_gain_columns_by_input_psnr():
    from repro.evaluate.residuals import gains_by_input_psnr_columns

    rows = [{"method": "identity", "name": "a", "psnr": 28.0}, {"method": "identity", "name": "b", "psnr": 41.0},
            {"method": "identity", "name": "c", "psnr": 43.0},
            {"method": "net", "name": "a", "psnr": 29.0}, {"method": "net", "name": "b", "psnr": 40.0},
            {"method": "net", "name": "c", "psnr": 42.0}, {"method": "bad", "name": "a", "error": "boom"}]
    cols = gains_by_input_psnr_columns(rows)
    assert cols["net"] == {"input < 30 dB (n=1)": 1.0, "input 30-35 dB (n=0)": None, "input 35-40 dB (n=0)": None,
                           "input >= 40 dB (n=2)": -1.0}
    assert "bad" not in cols  # a method without a scored image has no row (as in gains_by_blur)


def test_fig9_on_the_still_split_correlates_the_residual_with_the_inputs_psnr(tmp_path):
    from repro.evaluate.harm import still_residual_rows
    from repro.core.model import DeblurNet, DeblurNetConfig

    data = tmp_path / "data"
    for name in ("still_bundled", "still_corpus"):
        _make_folder(data / name, n_train=1, n_test=4)
    torch.manual_seed(0)
    model = DeblurNet(DeblurNetConfig(width=0.0625))
    rows = still_residual_rows(model, [data / "still_bundled", data / "still_corpus"], device="cpu", precision="fp32")
    assert [r["photos"] for r in rows] == ["still_bundled", "still_corpus", "both"]
    both = rows[-1]
    assert both["n"] == 8 and -1 <= both["spearman_r"] <= 1 and both["spearman 95% interval"].startswith("[")
    assert both["mean |r3|, one-frame pairs"] is None and both["mean |r3|, other pairs"] > 0
