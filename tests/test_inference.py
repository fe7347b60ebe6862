"""Deblurring your own image: tiling, dtypes/shapes, and the ``deblur`` command's errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import repro.core.inference as inference
from repro.__main__ import main
from repro.core.checkpoint import save_checkpoint
from repro.io.images import read_image, write_image
from repro.core.inference import SelfEnsemble, blend_ramp, deblur, deblur_tensor, load_deblurnet, tile_starts
from repro.core.model import DeblurNet, DeblurNetConfig

CLOCK = Path(skimage.data.__file__).parent / "clock_motion.png"


@pytest.fixture(autouse=True)
def _one_thread():
    # These networks are tiny: one thread is as fast, and on a loaded machine two threads
    # spinning at OpenMP barriers made a 24x24 forward pass 50x slower (measured).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _small(zero: bool = False, seed: int = 0) -> DeblurNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DeblurNet(DeblurNetConfig(width=0.125, zero_init_residual=zero)).eval()


# ----------------------------------------------------------------------------- tiling geometry

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), tile=st.integers(2, 64), ov=st.integers(0, 63))
def test_tile_starts_cover_on_the_grid(n, tile, ov):
    length, tile = 4 * n, 4 * tile
    overlap = 4 * (ov % (tile // 4))
    starts = tile_starts(length, tile, overlap)
    assert all(s % 4 == 0 and s >= 0 for s in starts)
    assert starts[0] == 0 and min(starts[-1] + tile, length) == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # overlap at least `overlap`
    assert starts == sorted(set(starts))


@settings(max_examples=40, deadline=None)
@given(tile=st.integers(8, 64), ov=st.integers(1, 63))
def test_neighbouring_ramps_sum_to_one(tile, ov):
    tile, overlap = 4 * tile, 4 * (ov % (tile // 2) or 1)
    a = blend_ramp(tile, overlap, ramp_before=False, ramp_after=True)
    b = blend_ramp(tile, overlap, ramp_before=True, ramp_after=False)
    step = tile - overlap
    total = torch.zeros(step + tile)
    total[:tile] += a
    total[step:] += b
    torch.testing.assert_close(total, torch.ones_like(total))
    assert (a >= 0).all() and (a <= 1).all()


def test_tiling_is_exact_for_a_pointwise_model():
    """A 1x1-conv model has no border effects, so tiles must reproduce it bit for bit."""
    torch.manual_seed(0)
    model = nn.Conv2d(3, 3, 1).eval()
    x = torch.rand(2, 3, 101, 77)
    ref = model(x)
    out = deblur_tensor(model, x, tile=32, overlap=12)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


def test_tiled_deblurnet_equals_untiled_away_from_seams():
    """Tiles start on the 4-pixel grid and BN in eval mode is per-pixel, so a tile's output
    equals the whole image's except within the network's receptive field (radius ~87 px, most
    of its weight within 16 px) of the tile's edge. Two tiles of 192 with overlap 64 over a
    320-wide image: columns [0, 64) and [256, 320) are >= 128 px from the other tile's edge."""
    model = _small()
    img = skimage.data.astronaut()[200:296, 100:420].astype(np.float32) / 255  # 96 x 320
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        ref = model(x).restored
    assert tile_starts(320, 192, 64) == [0, 128]
    out = deblur_tensor(model, x, tile=192, overlap=64)
    diff = (out - ref).abs()[0].amax(0)  # (H, W)
    far = torch.cat([diff[:, :64], diff[:, 256:]], dim=1)
    assert far.max() < 1e-5, far.max()
    assert diff.max() < 5e-4, diff.max()  # at the seam (measured 5.6e-5); 1/255 = 4e-3
    assert diff.mean() < 1e-5, diff.mean()


class _ShiftRight(nn.Module):
    """Moves the image one pixel right (circularly): the least rotation-invariant model there is."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # deblur_tensor reads the device from a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 1, dims=3)


def test_self_ensemble_of_a_shift_is_the_mean_of_the_four_neighbours():
    """Known answer: undoing the 8 flips and turns of a one-pixel shift right gives shifts right,
    left, down and up, twice each, so their mean is the 4-neighbour average."""
    x = torch.rand(2, 3, 12, 20)  # H != W: a quarter turn swaps them and must swap them back
    expected = (torch.roll(x, 1, 3) + torch.roll(x, -1, 3) + torch.roll(x, 1, 2) + torch.roll(x, -1, 2)) / 4
    model = _ShiftRight().eval()
    torch.testing.assert_close(SelfEnsemble(model)(x), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(deblur_tensor(SelfEnsemble(model), x, tile=None), expected, atol=1e-6, rtol=0)


def test_self_ensemble_leaves_an_equivariant_network_unchanged_and_keeps_its_mode():
    model = nn.Conv2d(3, 3, 1).eval()  # a 1x1 convolution commutes with flips and turns
    x = torch.rand(1, 3, 16, 24)
    ens = SelfEnsemble(model)
    assert not ens.training  # built from an eval-mode network: ready for deblur_tensor
    torch.testing.assert_close(ens(x), model(x), atol=1e-6, rtol=0)


def test_deblur_with_self_ensemble_differs_from_one_pass_and_tiles_like_it():
    """On a real network the ensemble changes the result (a trained DeblurNet is only nearly
    equivariant; a random one not at all), keeps shape and dtype, and tiling it stays seamless
    far from the seams exactly as for one pass."""
    model = _small()
    img = skimage.data.astronaut()[200:296, 100:420]  # (96, 320, 3) uint8
    one = deblur(img, model=model, tile=None)
    ens = deblur(img, model=model, tile=None, self_ensemble=True)
    tiled = deblur(img, model=model, tile=192, overlap=64, self_ensemble=True)
    assert ens.shape == img.shape and ens.dtype == np.uint8
    assert np.abs(ens.astype(int) - one.astype(int)).max() > 0
    far = np.abs(tiled.astype(int) - ens.astype(int))[:, np.r_[0:64, 256:320]]
    assert far.max() <= 1  # 8-bit rounding only


def test_folding_batchnorm_keeps_the_output():
    model = _small()
    with torch.no_grad():  # give BN non-trivial statistics, as after training
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    folded = inference.fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.rand(2, 3, 36, 44)
    with torch.inference_mode():
        torch.testing.assert_close(folded(x).restored, model(x).restored, atol=1e-5, rtol=1e-4)


def test_deblur_tensor_refuses_training_mode_and_bad_tiles():
    model = _small().train()
    with pytest.raises(ValueError, match="training mode"):
        deblur_tensor(model, torch.rand(1, 3, 64, 64), tile=32, overlap=8)
    with pytest.raises(ValueError, match="multiples of 4"):
        deblur_tensor(model.eval(), torch.rand(1, 3, 64, 64), tile=30, overlap=8)


# ----------------------------------------------------------------------------- dtypes and shapes

@pytest.mark.parametrize("dtype,channels", [
    (np.uint8, 3), (np.uint8, None), (np.uint16, 4), (np.uint16, 1), (np.float32, None), (np.float64, 3),
])
def test_identity_network_returns_the_input_exactly(dtype, channels):
    """A zero-initialised residual network is the identity, so every dtype/shape must round-trip."""
    rng = np.random.default_rng(1)
    shape = (38, 53) if channels is None else (38, 53, channels)
    if np.issubdtype(dtype, np.integer):
        img = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    else:
        img = rng.random(shape).astype(dtype)
    model = _small(zero=True)
    out = deblur(img, model=model, tile=24, overlap=8)  # tiled, with sizes not multiples of 4
    assert out.dtype == img.dtype and out.shape == img.shape
    if np.issubdtype(dtype, np.integer):
        np.testing.assert_array_equal(out, img)
    else:
        np.testing.assert_allclose(out, img, atol=1e-6)


def test_alpha_is_passed_through_and_gray_stays_gray():
    model = _small()
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, size=(40, 44, 4), dtype=np.uint8)
    out = deblur(rgba, model=model, tile=None)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert not np.array_equal(out[..., :3], rgba[..., :3])  # the random network does change RGB
    gray = rng.random((40, 44)).astype(np.float32)
    g = deblur(gray, model=model, tile=None)
    expected = deblur(np.repeat(gray[..., None], 3, axis=2), model=model, tile=None).mean(axis=2)
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_model_mode_is_restored_and_bad_images_rejected():
    model = _small().train()
    deblur(np.zeros((16, 16, 3), np.uint8), model=model, tile=None)
    assert model.training
    with pytest.raises(ValueError, match="shape"):
        deblur(np.zeros((16, 16, 2), np.uint8), model=model)
    with pytest.raises(ValueError, match="dtype"):
        deblur(np.zeros((16, 16, 3), np.int32), model=model)


def test_without_weights_an_error_naming_the_file_and_the_command(monkeypatch, tmp_path):
    """No silent fallback to a random network: a missing shipped checkpoint is an error."""
    missing = tmp_path / "weights" / "deblurnet_wild.pt"
    monkeypatch.setattr(inference, "default_checkpoint", lambda: missing)
    with pytest.raises(FileNotFoundError) as err:
        load_deblurnet(None, "cpu")
    message = str(err.value)
    assert str(missing) in message and "python -m repro train" in message and "\n" not in message
    assert f"--export {missing}" in message


def test_shipped_weights_load_with_one_short_line(caplog):
    with caplog.at_level("INFO", logger="repro.core.inference"):
        model = load_deblurnet(None, "cpu")
    import json

    from repro.io.paths import weights_dir

    card = json.loads((weights_dir() / "deblurnet_wild.json").read_text())
    assert not model.training and model.config.width == card["model_config"]["width"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # folded for inference
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded")]
    # the card's key fields (repro/weights/deblurnet_wild.json), not its ~5,000 characters
    from repro.core.checkpoint import continuing

    assert line == (f"loaded deblurnet_wild.pt: DeblurNet width {model.config.width:g}, trained on {card['data']}, preset {card['preset']}, "
                    f"{card['steps']} steps{continuing(card)}, PSNR {card['psnr']:.2f} dB (input {card['input_psnr']:.2f} dB), "
                    f"{card['date'][:10]}")
    assert len(line) < 250  # the runs it continues named, with their steps


# ----------------------------------------------------------------------------- command line

@pytest.fixture()
def small_ckpt(tmp_path) -> Path:
    path = tmp_path / "small.pt"
    save_checkpoint(path, _small(), meta={"preset": "test"})
    return path


def test_cli_deblurs_clock_motion(tmp_path, small_ckpt):
    """skimage's real motion-blurred photo (a crop, with a small network to keep it quick)."""
    src = tmp_path / "clock.png"
    write_image(src, read_image(CLOCK)[100:196, 140:268])
    out = tmp_path / "out" / "clock_deblurred.png"
    assert main(["deblur", str(src), str(out), "--checkpoint", str(small_ckpt), "--device", "cpu"]) == 0
    result = read_image(out)
    assert result.shape == (96, 128) and result.dtype == np.uint8


def test_cli_self_ensemble_option(tmp_path, small_ckpt):
    src = tmp_path / "clock.png"
    write_image(src, read_image(CLOCK)[100:196, 140:268])
    one, ens = tmp_path / "one.png", tmp_path / "ens.png"
    common = ["--checkpoint", str(small_ckpt), "--device", "cpu"]
    assert main(["deblur", str(src), str(one), *common]) == 0
    assert main(["deblur", str(src), str(ens), *common, "--self-ensemble"]) == 0
    a, b = read_image(one), read_image(ens)
    assert a.shape == b.shape == (96, 128) and not np.array_equal(a, b)


def test_cli_folder_in_folder_out_skips_and_names_bad_files(tmp_path, small_ckpt, capsys):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    write_image(src / "a.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    write_image(src / "b.png", rng.integers(0, 65536, (30, 40), dtype=np.uint16))
    (src / "broken.png").write_bytes(b"not a png at all")
    rc = main(["deblur", str(src), str(dst), "--checkpoint", str(small_ckpt), "--device", "cpu"])
    assert rc == 2
    assert "broken.png" in capsys.readouterr().err
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b.png"]  # nothing half-written
    assert read_image(dst / "b.png").dtype == np.uint16


def _bad_inputs(tmp_path: Path, good_ckpt: Path) -> dict[str, tuple[list[str], str]]:
    img = tmp_path / "img.png"
    write_image(img, np.zeros((20, 24, 3), np.uint8))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2000))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good_ckpt.read_bytes()[: good_ckpt.stat().st_size // 2])
    mismatched = tmp_path / "mismatched.pt"
    wrong = DeblurNet(DeblurNetConfig(width=0.125))
    save_checkpoint(mismatched, wrong)
    payload = torch.load(mismatched, weights_only=True)
    payload["config"]["width"] = 0.25  # weights of a width-0.125 net under a width-0.25 config
    torch.save(payload, mismatched)
    empty_ckpt = tmp_path / "empty.pt"
    empty_ckpt.touch()
    empty_img = tmp_path / "empty.png"
    empty_img.touch()
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    empty_dir = tmp_path / "nothing_here"
    empty_dir.mkdir()
    ck = ["--checkpoint"]
    return {
        "corrupt checkpoint": ([str(img), *ck, str(corrupt)], "corrupt.pt"),
        "truncated checkpoint": ([str(img), *ck, str(truncated)], "truncated.pt"),
        "mismatched checkpoint": ([str(img), *ck, str(mismatched)], "mismatched.pt"),
        "empty checkpoint": ([str(img), *ck, str(empty_ckpt)], "empty.pt"),
        "checkpoint is a folder": ([str(img), *ck, str(empty_dir)], "nothing_here"),
        "missing checkpoint": ([str(img), *ck, str(tmp_path / "nope.pt")], "nope.pt"),
        "empty image": ([str(empty_img), *ck, str(good_ckpt)], "empty.png"),
        "unreadable image": ([str(garbage), *ck, str(good_ckpt)], "garbage.png"),
        "missing image": ([str(tmp_path / "missing.png"), *ck, str(good_ckpt)], "missing.png"),
        "folder without images": ([str(empty_dir), *ck, str(good_ckpt)], "nothing_here"),
    }


def test_cli_bad_inputs_fail_cleanly(tmp_path, small_ckpt, capsys):
    for case, (args, name) in _bad_inputs(tmp_path, small_ckpt).items():
        # a folder input needs an output folder (an image-like name is an error of its own)
        out = tmp_path / "out" / (case.replace(' ', '_') + ("" if case == "folder without images" else ".png"))
        rc = main(["deblur", args[0], str(out), *args[1:], "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc == 2, case
        assert name in err and "error:" in err, (case, err)
        assert "Traceback" not in err
        assert not out.exists(), case
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert leftovers == []  # no temporary files left behind either


def test_cli_bad_output_name_and_subprocess_exit_code(tmp_path, small_ckpt):
    img = tmp_path / "img.png"
    write_image(img, np.zeros((20, 24, 3), np.uint8))
    proc = subprocess.run(
        [sys.executable, "-m", "repro", "deblur", str(img), str(tmp_path / "out.xyz"),
         "--checkpoint", str(small_ckpt)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "out.xyz" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.xyz").exists()


_REASONS = {  # what each bad input of _bad_inputs must say, in words
    "corrupt checkpoint": "not a PyTorch checkpoint (torch.save writes a zip archive; this file is not one)",
    "truncated checkpoint": "truncated or corrupt checkpoint (its zip archive has no end",
    "mismatched checkpoint": "its weights do not fit the model its config describes (width 0.25): 73 tensors have "
                             "other shapes (e.g. n1.body.0.0.weight: (12, 3, 11, 11) in the file, (24, 3, 11, 11) "
                             "in the model)",
    "empty checkpoint": "checkpoint file is empty",
    "checkpoint is a folder": "is a folder, expected a checkpoint file",
    "missing checkpoint": "checkpoint not found",
    "empty image": "file is empty",
    "unreadable image": "its PNG data cannot be decoded (truncated or corrupt file?)",
    "missing image": "no such file",
    "folder without images": "folder contains no images",
}


def test_cli_errors_are_one_line_in_words(tmp_path, small_ckpt, capsys, monkeypatch):
    cases = _bad_inputs(tmp_path, small_ckpt)
    assert set(cases) == set(_REASONS)
    img = tmp_path / "img.png"
    monkeypatch.setattr(inference, "default_checkpoint", lambda: tmp_path / "no_weights" / "deblurnet_wild.pt")
    cases["missing shipped weights"] = ([str(img)], "no_weights")
    cases["unknown device"] = ([str(img), "--checkpoint", str(small_ckpt), "--device", "gpu"], "'gpu'")
    reasons = {**_REASONS,
               "missing shipped weights": "no DeblurNet weights (the shipped file is missing); make them with "
                                          "`python -m repro train --preset cpu-15min",
               "unknown device": "unknown device 'gpu'; choose one of: auto, cpu, cuda, cuda:N, mps"}
    for case, (args, name) in cases.items():
        # a folder input needs an output folder (an image-like name is an error of its own)
        out = tmp_path / "out" / (case.replace(' ', '_') + ("" if case == "folder without images" else ".png"))
        device = [] if "--device" in args else ["--device", "cpu"]
        rc = main(["deblur", args[0], str(out), *args[1:], *device])
        lines = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, case
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, lines)
        assert name in lines[0] and reasons[case] in lines[0], (case, lines[0])
        assert not out.exists(), case


def test_output_under_a_file_fails_before_the_network_is_loaded(tmp_path, small_ckpt, capsys, monkeypatch):
    img = tmp_path / "img.png"
    write_image(img, np.zeros((20, 24, 3), np.uint8))

    def must_not_load(*args, **kwargs):
        raise AssertionError("the network was loaded before the output path was checked")

    monkeypatch.setattr(inference, "load_deblurnet", must_not_load)
    out = img / "out.png"  # "under" an existing file
    rc = main(["deblur", str(img), str(out), "--checkpoint", str(small_ckpt), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == f"error: {out}: cannot be written: {img} is a file, not a folder"
    rc = main(["deblur", str(tmp_path), str(img / "outs"), "--checkpoint", str(small_ckpt)])  # folder in, folder out
    assert rc == 2
    assert capsys.readouterr().err.strip() == f"error: {img / 'outs'}: cannot be written: {img} is a file, not a folder"


def test_output_under_a_file_exit_code_of_the_real_command(tmp_path, small_ckpt):
    img = tmp_path / "img.png"
    write_image(img, np.zeros((20, 24, 3), np.uint8))
    proc = subprocess.run([sys.executable, "-m", "repro", "deblur", str(img), str(img / "out.png"),
                           "--checkpoint", str(small_ckpt)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {img / 'out.png'}: cannot be written: {img} is a file, "
                                                "not a folder"]


def test_a_16bit_rgb_png_is_deblurred_to_16_bits(tmp_path):
    """An identity network (zero-initialised residuals) must give back all 16 bits, through files."""
    ckpt = tmp_path / "identity.pt"
    save_checkpoint(ckpt, _small(zero=True))
    rng = np.random.default_rng(3)
    img = rng.integers(0, 65536, size=(28, 36, 3), dtype=np.uint16)
    src, out = tmp_path / "in16.png", tmp_path / "out16.png"
    write_image(src, img)
    assert main(["deblur", str(src), str(out), "--checkpoint", str(ckpt), "--device", "cpu"]) == 0
    result = read_image(out)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, img)


def test_the_deblur_log_says_what_the_shipped_network_continued(tmp_path):
    # issue 45: the shipped DeblurNet^WILD trained 500 steps from the best checkpoint of a longer run;
    # the log line says so, with that run's steps read from its kept log
    from repro.core.checkpoint import continuing, describe_checkpoint, load_model
    from repro.io.paths import shipped_checkpoint

    path = shipped_checkpoint("wild")
    model, meta = load_model(path)
    line = describe_checkpoint(path, model.config, meta)
    assert " steps continuing " in line and "wild_w0.25 (" in line  # the long run it carries on
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "train_a.csv").write_text("# run=a\nstep,loss\n0,\n10,0.5\n1200,0.1\n")
    card = {"initialised_from": "runs/a/best.pt (steps count from it)", "training_log": "logs/train_b.csv"}
    assert continuing(card, tmp_path) == " continuing the 1200-step run a (from its best checkpoint)"
    assert continuing({**card, "training_log": "elsewhere/train_b.csv"}, tmp_path) == " continuing run a (from its best checkpoint)"
    assert continuing({}, tmp_path) == ""
    # a card listing every run it continues (repro.train.ship.lineage_logs) names each, newest first
    (tmp_path / "logs" / "train_b.csv").write_text("step,loss\n0,\n500,0.1\n")
    card = {"initialised_from": "weights/net.pt (...)", "earlier_logs": ["logs/train_a.csv", "logs/train_b.csv"]}
    assert continuing(card, tmp_path) == " continuing b (500 steps), which continued a (1200 steps)"
