"""The ablation study: the model and training options it adds (defaults unchanged), the verdict
rule, and the smoke study end to end (resumable, skips what is done, writes its report)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from repro import ablations as A
from repro import train as T
from repro.core.model import DeblurNet, DeblurNetConfig, count_flops, count_parameters, downsample, multiscale_loss

# ----------------------------------------------------------------------------- model options


def test_defaults_are_the_paper_network():
    cfg = DeblurNetConfig()
    assert cfg.skip and cfg.architecture == "multiscale"
    assert DeblurNetConfig.from_dict({"width": 0.5}) == DeblurNetConfig(width=0.5)  # old checkpoints load
    for c in (DeblurNetConfig(skip=False), DeblurNetConfig(architecture="single-scale", width=0.25)):
        assert DeblurNetConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="architecture"):
        DeblurNetConfig(architecture="pyramid")


def test_no_skip_outputs_the_stage_images():
    model = DeblurNet(DeblurNetConfig(width=0.125, skip=False, zero_init_residual=True)).eval()
    x = torch.rand(1, 3, 32, 40)
    out = model(x)
    for o in out.outputs:  # zero-initialised heads and no skip: every stage outputs 0, not its input
        assert torch.count_nonzero(o) == 0
    torch.testing.assert_close(out.residuals[2], -x)  # what the stage would have had to add
    torch.testing.assert_close(out.residuals[0], -downsample(x, 4))


def test_single_scale_has_one_output_and_about_the_same_size():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 37, 50)
    single = DeblurNet(DeblurNetConfig(width=0.25, architecture="single-scale", zero_init_residual=True)).eval()
    out = single(x)
    torch.testing.assert_close(out.restored, x)  # zero-initialised: the identity, through one residual
    assert [o.shape[-2:] for o in out.outputs] == [(10, 13), (19, 25), (37, 50)]
    multi = DeblurNet(DeblurNetConfig(width=0.25))
    for w in (0.25, 1.0):
        a = DeblurNet(DeblurNetConfig(width=w, architecture="single-scale"))
        b = DeblurNet(DeblurNetConfig(width=w))
        assert abs(count_parameters(a) / count_parameters(b) - 1) < 0.03
        assert abs(count_flops(a, 96, 96) / count_flops(b, 96, 96) - 1) < 0.03
    # the downsampled copies of the input play no part: no stage sees an image but the first
    assert not any(isinstance(m, torch.nn.Conv2d) and m.in_channels == 3 for m in (single.n2.body[0][0], single.n3.body[0][0]))
    assert multi.n2.body[0][0].in_channels == 3


def test_loss_weights_default_is_bit_identical_and_zero_skips_a_scale():
    torch.manual_seed(1)
    sharp = torch.rand(2, 3, 16, 16)
    outs = tuple(downsample(sharp, k) + 0.1 * torch.randn_like(downsample(sharp, k)) for k in (4, 2, 1))
    for red in ("sum", "scaled_sum", "mean"):
        plain = multiscale_loss(outs, sharp, reduction=red)
        assert torch.equal(plain, multiscale_loss(outs, sharp, reduction=red, weights=(1, 1, 1)))
    full = multiscale_loss(outs, sharp, reduction="sum", weights=(0, 0, 1))
    assert torch.allclose(full, ((outs[2] - sharp) ** 2).sum())
    half = multiscale_loss(outs, sharp, reduction="sum", weights=(0.5, 0.5, 0.5))
    assert torch.allclose(half, 0.5 * multiscale_loss(outs, sharp, reduction="sum"))
    with pytest.raises(ValueError, match="weights"):
        multiscale_loss(outs, sharp, weights=(0, 0, 0))


# ----------------------------------------------------------------------------- training options


def test_train_config_options_and_validation():
    cfg = T.TrainConfig()
    assert cfg.loss_scales == (1.0, 1.0, 1.0) and cfg.si_fraction == 0.0 and cfg.skip
    assert cfg.model_config() == DeblurNetConfig()
    assert T.TrainConfig(architecture="single-scale", skip=False).model_config().architecture == "single-scale"
    assert cfg.replace(loss_scales="0,0,1").loss_scales == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="loss_scales"):
        T.TrainConfig(loss_scales=(1, 1))
    with pytest.raises(ValueError, match="si_fraction"):
        T.TrainConfig(si_fraction=1.5)


class _Cache:
    """Stands in for repro.train._PairCache: random uint8 pairs."""

    def __init__(self, n: int = 3, size: int = 48) -> None:
        rng = np.random.default_rng(0)
        self.sharp = [torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8)) for _ in range(n)]
        self.blur = [torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8)) for _ in range(n)]

    def __len__(self) -> int:
        return len(self.sharp)


def test_mixed_batches_are_half_si_half_wild_from_the_same_plan():
    cache = _Cache()
    cfg = T.PRESETS["tiny-test"].replace(batch_size=4, crop=16, si_kernel_size=5, si_psz=(3,), si_kernels=10,
                                     si_noise_std=0.0, rotate=True, permute_colours=True)
    dev = torch.device("cpu")
    wild = T._TrainData(cache, cfg, "wild", 3, dev).batch(7)
    si = T._TrainData(cache, cfg, "si", 3, dev).batch(7)
    mixed = T._TrainData(cache, cfg.replace(si_fraction=0.5), "wild", 3, dev).batch(7)
    for got, want in zip(mixed, (torch.cat([si[0][:2], wild[0][2:]]), torch.cat([si[1][:2], wild[1][2:]]))):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="si_fraction"):
        T._TrainData(cache, cfg.replace(si_fraction=0.5), "si", 3, dev)


# ----------------------------------------------------------------------------- the verdict


@pytest.mark.parametrize("delta,bar,expect,word", [
    (-0.5, 0.1, "worse", "supported"), (0.5, 0.1, "worse", "contradicted"), (0.05, 0.1, "worse", "not resolved"),
    (-0.1, 0.1, "worse", "not resolved"), (0.5, 0.1, "not better", "contradicted"),
    (-0.5, 0.1, "not better", "supported"), (math.nan, 0.1, "worse", "not tested"),
])
def test_verdict(delta, bar, expect, word):
    assert A.verdict(delta, bar, expect).startswith(word)


@pytest.mark.parametrize("delta,val_delta,word", [
    (0.5, -0.3, "not resolved"),   # test says better, validation worse: the splits disagree
    (0.5, 0.05, "not resolved"),   # validation within its own seed spread
    (0.5, 0.3, "contradicted"), (-0.5, -0.3, "supported"),
    (0.05, 0.3, "not resolved"),   # within the test bar whatever validation says
])
def test_a_verdict_needs_validation_and_test_to_agree(delta, val_delta, word):
    assert A.verdict(delta, 0.1, "worse", val_delta, 0.1).startswith(word)
    assert ("disagree" in A.verdict(delta, 0.1, "worse", val_delta, 0.1)) == (word == "not resolved" and abs(delta) > 0.1)


def test_every_claim_gets_one_sentence_from_the_numbers():
    rec = lambda p: {"seed": 0, "steps": 4, "train_minutes": 1.0,  # noqa: E731
                     "val": [{"psnr": p, "ssim": 0.5, "psnr_input": 20.0, "ssim_input": 0.4, "blur_size": 5.0}],
                     "test": [{"psnr": p, "ssim": 0.5, "psnr_input": 20.0, "ssim_input": 0.4, "blur_size": 20.0}]}
    records = {"paper": rec(25.0), "paper-seed1": rec(25.2), "no-skip": rec(24.0), "wild+si": rec(25.15)}
    rows, ref, bar = A.summary_rows(records)
    assert ref == pytest.approx(25.1) and bar == pytest.approx(0.2)
    by = {r["variant"]: r for r in rows}
    assert by["no-skip"]["verdict"] == "supported" and by["wild+si"]["verdict"] == "not resolved at this budget"
    assert by["paper"]["gain >= 16 px"] == pytest.approx(5.0) and by["paper"]["n < 4 px"] == 0
    sentences = A.claims(rows, bar)
    assert len(sentences) == sum(1 for v in A.VARIANTS if v.claim)
    assert any("-1.10 dB" in s and "**supported**" in s for s in sentences)
    assert sum("not tested yet" in s for s in sentences) == 4


def test_notebook_sizes():
    assert A.notebook_size("smoke") == ("smoke", True)
    assert A.notebook_size("quick") == ("full", False)  # make reproduce does not run a 2-hour study
    full = A.SIZES["full"].train_config()
    assert full.width == 0.25 and full.batch_size == 8 and full.crop == 96 and full.steps == 1500
    assert full.max_minutes == 0  # the budget is the step count, the same for every variant


# ----------------------------------------------------------------------------- the smoke study


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablate")
    where = {"data_root": tmp / "wild", "runs_dir": tmp / "runs", "results_dir": tmp / "results",
             "figures_dir": tmp / "figures"}
    torch.set_num_threads(1)
    report = A.run_study("smoke", device="cpu", progress=False, workers=1, **where)
    return report, where


@pytest.mark.slow
def test_smoke_study_writes_its_report(smoke_study):
    report, where = smoke_study
    assert [r["variant"] for r in report["rows"]] == list(A.VARIANT_NAMES)
    for path in ("results_dir/ablations.md", "results_dir/ablations.csv", "figures_dir/ablations.png",
                 "figures_dir/ablations_no_flow_rule.png"):
        top, name = path.split("/")
        assert (where[top] / name).stat().st_size > 0, path
    md = (where["results_dir"] / "ablations.md").read_text()
    assert "preset=ablation-smoke" in md and "seed=0" in md and "date=" in md and "device=cpu" in md
    assert md.count("**") >= 2 * 6  # a verdict per claim
    assert all(r["steps"] == A.SIZES["smoke"].train_config().steps for r in report["rows"])
    # the data variants trained on their own sets, of the same size, evaluated on the standard splits
    no_flow = json.loads((where["runs_dir"] / "no-flow-rule" / "ablation.json").read_text())
    assert no_flow["data_root"].endswith("wild-ablations/no-flow-rule") and no_flow["pairs"] == 4
    assert len(no_flow["test"]) == len(json.loads((where["runs_dir"] / "paper" / "ablation.json").read_text())["test"])
    from repro.wild import read_manifest

    rows = read_manifest(no_flow["data_root"])
    assert sum(r["accepted"] for r in rows) == 4 and all(r["accepted"] for r in rows)
    assert max(r["flow_stat"] for r in rows) > 1.0  # the footage moves faster than the rule allows


@pytest.mark.slow
def test_smoke_study_skips_what_is_done_and_redoes_what_is_missing(smoke_study):
    report, where = smoke_study
    done = {v: (where["runs_dir"] / v / "ablation.json").stat().st_mtime_ns for v in A.VARIANT_NAMES}
    (where["runs_dir"] / "final-loss-only" / "ablation.json").unlink()
    again = A.run_study("smoke", device="cpu", progress=False, workers=1, **where)
    after = {v: (where["runs_dir"] / v / "ablation.json").stat().st_mtime_ns for v in A.VARIANT_NAMES}
    assert [v for v in A.VARIANT_NAMES if after[v] != done[v]] == ["final-loss-only"]
    # the redone variant resumed its finished run: the same numbers
    assert again["rows"][4] == report["rows"][4]
    only = A.run_study("smoke", device="cpu", train=False, progress=False, **where)
    assert only["rows"] == again["rows"]
    assert A.run_study("smoke", device="cpu", train=False, runs_dir=where["runs_dir"] / "none",
                       data_root=where["data_root"], results_dir=None, figures_dir=None) is None


@pytest.mark.slow
def test_a_run_made_with_other_settings_is_set_aside_not_resumed(smoke_study):
    _, where = smoke_study
    old = json.loads((where["runs_dir"] / "paper" / "ablation.json").read_text())
    report = A.run_study("smoke", device="cpu", progress=False, workers=1, seed=5, variants=["paper"], **where)
    assert report["rows"][0]["seed"] == 5 and report["rows"][0]["steps"] == old["steps"]
    aside = [p for p in where["runs_dir"].iterdir() if p.name.startswith("paper.old-")]
    assert len(aside) == 1 and (aside[0] / "ablation.json").is_file() and (aside[0] / "last.pt").is_file()
