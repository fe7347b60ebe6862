"""repro.core.precision (issue 27): what "auto" resolves to, bf16 against float32 forward passes, a
checkpoint trained in bf16 that loads and runs in float32, and clear errors for bad strings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.core import precision as P
from repro import train as T
from repro.core.checkpoint import load_checkpoint, load_model
from repro.core.inference import deblur
from repro.core.metrics import psnr_torch
from repro.core.model import DeblurNet, DeblurNetConfig
from repro.io.paths import weights_dir

# A bf16 forward pass of DeblurNet differs from float32's by bf16 rounding (8 bits of mantissa,
# ~0.4 %) in every convolution; the global residual adds the input back in float32, so the image
# itself keeps float32's precision and only the residual carries the rounding. Measured on an
# AMD EPYC (AVX2, bf16 emulated by oneDNN): width 0.125 at random initialisation, 64x96 input:
# max |difference| 9.6e-4, output-vs-output PSNR 72.8 dB; the shipped DeblurNet^WILD 76.4 dB.
# The bound tested: max |difference| < 4e-3 (about 1/255) and PSNR >= 50 dB.
MAX_ABS_DIFF = 4e-3
MIN_PSNR_DB = 50.0

EPYC_AVX2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480C\n"
                   "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")


# ----------------------------------------------------------------------------- resolving "auto"


def test_cpu_flags_are_read_from_cpuinfo_text():
    assert P.cpu_flags(EPYC_AVX2) >= {"avx2", "fma"} and not P.cpu_has_native_bf16(P.cpu_flags(EPYC_AVX2))
    assert P.cpu_has_native_bf16(P.cpu_flags(SAPPHIRE_RAPIDS))
    assert P.cpu_has_native_bf16(frozenset({"avx512_bf16"}))  # Zen 4: AVX512-BF16 without AMX
    assert P.cpu_flags("") == frozenset()
    assert "AMD EPYC" in P.describe_cpu(EPYC_AVX2) and "native bf16 flags: none" in P.describe_cpu(EPYC_AVX2)
    assert "amx_bf16" in P.describe_cpu(SAPPHIRE_RAPIDS)


@pytest.fixture
def cpu_reports(monkeypatch):
    """Mock the CPU's flags (``cpu_reports(flags)``); ``auto``'s per-process cache is cleared around
    the test, and any timing fails it: ``auto`` must be decided from the flags alone."""
    monkeypatch.setattr(P, "bf16_speedup", lambda *a, **k: pytest.fail("auto must not time anything"))
    P.auto_precision.cache_clear()

    def report(flags: set[str]) -> None:
        monkeypatch.setattr(P, "cpu_flags", lambda cpuinfo=None: frozenset(flags))
        P.auto_precision.cache_clear()

    yield report
    P.auto_precision.cache_clear()


@pytest.mark.parametrize("flags, expected", [({"avx2", "fma"}, "fp32"), ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
                                             ({"avx512_bf16", "amx_bf16", "amx_tile"}, "bf16")])
def test_auto_is_decided_by_the_cpu_flags_alone_and_the_same_every_time(cpu_reports, flags, expected):
    cpu_reports(flags)
    assert [P.resolve_precision("auto", "cpu") for _ in range(5)] == [expected] * 5
    assert P.resolve_precision("auto", torch.device("cpu")) == expected
    reason = P.precision_reason("auto", "cpu")
    assert reason.startswith(f"{expected} (auto: the CPU reports ")
    assert ("neither amx_bf16 nor avx512_bf16" in reason) == (expected == "fp32")  # the log says why
    if expected == "bf16":  # and names the flags that decided
        assert all(f in reason for f in flags & {"amx_bf16", "avx512_bf16"})
    assert P.precision_reason("fp32", "cpu") == "fp32 (asked for)"


def test_auto_is_decided_once_per_process(cpu_reports, monkeypatch):
    cpu_reports({"avx512_bf16"})
    assert P.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(P, "cpu_flags", lambda cpuinfo=None: pytest.fail("the flags are read once per process"))
    assert P.resolve_precision("auto", "cpu") == "bf16"


def test_auto_on_cuda_asks_torch_whether_the_gpu_supports_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert P.decide_auto("cuda") == ("bf16", "CUDA device 0 (compute capability 8.0) supports bf16")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert P.decide_auto("cuda:0")[0] == "fp32"
    assert P.decide_auto("mps")[0] == "fp32"


def test_the_speed_measurement_compares_the_two_precisions():
    ratio = P.bf16_speedup("cpu", 0.05)  # fp32 time / bf16 time of one convolution, ~0.05 s of timing
    assert np.isfinite(ratio) and ratio > 0


def test_explicit_precisions_are_kept_and_bad_strings_refused_in_one_line():
    assert P.resolve_precision("fp32", "cpu") == "fp32"
    assert P.resolve_precision("bf16", "cpu") == "bf16"  # allowed everywhere (emulated where not native)
    for bad in ("fp16", "BF16", "", None, 16):
        with pytest.raises(ValueError, match=r"^unknown precision .*; choose one of: auto, fp32, bf16$"):
            P.check_precision(bad)
    with pytest.raises(ValueError, match="choose one of: auto, fp32, bf16"):
        T.TrainConfig(precision="half")
    with pytest.raises(ValueError, match="choose one of: auto, fp32, bf16"):
        deblur(np.zeros((8, 8, 3), np.float32), model=DeblurNet(DeblurNetConfig(width=0.0625)), precision="fp16")
    with pytest.raises(ValueError, match="resolved precision"):
        P.autocast("auto", "cpu")


def test_the_command_lines_take_precision_with_default_auto(capsys):
    from repro.__main__ import command_parser

    assert command_parser("deblur").parse_args(["in.png", "out.png"]).precision == "auto"
    assert command_parser("deblur").parse_args(["i", "o", "--precision", "bf16"]).precision == "bf16"
    assert command_parser("evaluate").parse_args(["--data", "d"]).precision == "auto"
    with pytest.raises(SystemExit):
        command_parser("deblur").parse_args(["i", "o", "--precision", "fp16"])
    assert "invalid choice: 'fp16' (choose from 'auto', 'fp32', 'bf16')" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bf16 against float32


def _small_net(seed: int = 0) -> DeblurNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DeblurNet(DeblurNetConfig(width=0.125)).eval()  # random weights: a non-zero residual


def test_a_bf16_forward_pass_agrees_with_float32_within_the_stated_bound():
    net = _small_net()
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x).restored
        assert (ref - x).abs().mean() > 0.01  # the network changes the image: the test has something to compare
        with P.autocast("bf16", "cpu"):
            out = net(P.to_precision_format(x, "bf16")).restored
    assert out.dtype == torch.float32  # the global residual adds the input back in float32
    assert (out - ref).abs().max() < MAX_ABS_DIFF
    assert float(psnr_torch(out.clamp(0, 1), ref.clamp(0, 1))[0]) >= MIN_PSNR_DB
    assert all(v.dtype in (torch.float32, torch.int64) for v in net.state_dict().values())  # autocast casts copies


def test_deblur_in_bf16_agrees_with_fp32_whole_and_tiled():
    net = _small_net()
    img = np.random.default_rng(2).random((40, 72, 3)).astype(np.float32)
    for tile in (None, 32):  # tiles blend alike in both precisions: compare like with like
        fp32 = deblur(img, model=net, tile=tile, overlap=8, precision="fp32")
        bf16 = deblur(img, model=net, tile=tile, overlap=8, precision="bf16")
        assert bf16.dtype == np.float32 and bf16.shape == img.shape
        assert np.abs(bf16 - fp32).max() < MAX_ABS_DIFF
    assert not np.array_equal(bf16, fp32)  # bf16 did run (and round)


def test_shipped_weights_in_bf16_agree_with_fp32():
    path = weights_dir() / "deblurnet_wild.pt"
    if not path.is_file():
        pytest.skip("no shipped DeblurNet^WILD weights")
    model, _ = load_model(path)
    img = np.random.default_rng(3).random((48, 64, 3)).astype(np.float32)
    diff = deblur(img, model=model, precision="bf16") - deblur(img, model=model, precision="fp32")
    assert 0 < np.abs(diff).max() < MAX_ABS_DIFF


# ----------------------------------------------------------------------------- training in bf16


def _tiny_dataset(root: Path) -> Path:
    """A few blocky textures blurred by 5 horizontal shifts, in the GoPro layout."""
    from repro.io.images import write_image

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for i in range(n):
            big = np.kron(rng.random((24, 28, 3)).astype(np.float32), np.ones((4, 4, 1), np.float32))
            sharp, blur = big[8:72, 8:96], np.mean([big[8:72, 8 + d:96 + d] for d in range(-2, 3)], axis=0)
            for kind, img in (("blur", blur), ("sharp", sharp)):
                write_image(root / split / f"scene{i % 2}" / kind / f"{i:06d}.png", img)
    return root


def test_a_checkpoint_trained_in_bf16_loads_and_runs_in_float32(tmp_path):
    root = _tiny_dataset(tmp_path / "wild")
    cfg = T.PRESETS["tiny-test"].replace(precision="bf16", steps=3, val_every=3, checkpoint_every=3)
    result = T.train(cfg, data_root=root, out=tmp_path / "run", progress=False, workers=1)
    assert result.steps == 3 and np.isfinite(result.final_psnr)
    payload = load_checkpoint(result.checkpoint)
    assert payload["meta"]["precision"] == "bf16"  # recorded in the checkpoint ...
    assert T.read_log_header(result.log_csv)["precision"] == "bf16"  # ... and in the log
    # weights, BN statistics and Adam's moments stayed float32
    assert all(v.dtype in (torch.float32, torch.int64) for v in payload["state_dict"].values())
    moments = [t for s in payload["optimizer"]["state"].values() for k, t in s.items() if k in ("exp_avg", "exp_avg_sq")]
    assert moments and all(t.dtype == torch.float32 for t in moments)
    model, meta = load_model(result.best_checkpoint)
    img = np.random.default_rng(4).random((32, 48, 3)).astype(np.float32)
    out = deblur(img, model=model, precision="fp32")
    assert out.shape == img.shape and np.isfinite(out).all()
    card = T.export_weights(result.best_checkpoint, tmp_path / "w.pt", command="test")
    assert json.loads(card.with_suffix(".json").read_text())["precision"] == "bf16"


def test_old_configs_and_cards_still_read():
    """Checkpoints and cards made before ``precision`` hold ``amp_bf16``/``channels_last`` only."""
    for name in ("deblurnet_wild", "deblurnet_si"):
        card = json.loads((weights_dir() / f"{name}.json").read_text())
        old = {k: v for k, v in card["train_config"].items() if k != "precision"}  # as cards were written before it
        cfg = T.TrainConfig(**old)
        assert cfg.precision == "auto" and cfg.amp_bf16 and cfg.width == card["model_config"]["width"]
        # the arithmetic the run trained in (fp32 on a CPU without bf16), as its checkpoint records it
        assert card["precision"] in ("bf16", "fp32")
        assert card["precision"] == load_model(weights_dir() / f"{name}.pt")[1]["precision"]
    with pytest.raises(ValueError, match="precision='fp32'"):
        T.TrainConfig(amp_bf16=False)


def test_evaluate_keeps_bf16_rows_apart_from_float32_ones():
    from repro.evaluate import DeblurNetMethod

    path = weights_dir() / "deblurnet_wild.pt"
    if not path.is_file():
        pytest.skip("no shipped DeblurNet^WILD weights")
    fp32 = DeblurNetMethod(path, device="cpu", precision="fp32")
    bf16 = DeblurNetMethod(path, device="cpu", precision="bf16")
    assert bf16.fingerprint == fp32.fingerprint + ":bf16" and ":" in fp32.fingerprint
    assert fp32.fingerprint.count(":") == 1  # float32 rows keep the fingerprint they had before the option
    assert "run in bf16" in bf16.describe()
    with pytest.raises(ValueError, match="unknown precision"):
        DeblurNetMethod(path, precision="half")
