"""The GPU job's rehearsal (issue 43): the very job a lent GPU runs, on the CPU, on photos it makes
itself, for about a minute; its files must be what ``gpu-ship`` reads, and ``gpu-ship`` must take
them. A change that breaks the GPU job breaks this test. And each bad input: one line, no work."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from repro.__main__ import main
from repro.camera.corpus import CorpusFile
from repro.train import gpu_job, gpu_ship


def _photo(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A photo-like uint8 (rows, cols, 3) image: smooth colour fields, edges and fine texture."""
    from scipy import ndimage

    img = ndimage.gaussian_filter(rng.random((rows, cols, 3)), sigma=(12, 12, 0))
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    yy, xx = np.mgrid[0:rows, 0:cols]
    for _ in range(12):  # discs with sharp edges
        cy, cx, r = rng.integers(rows), rng.integers(cols), rng.integers(10, rows // 4)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    img += 0.08 * rng.standard_normal((rows, cols, 1))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _corpus(folder: Path, splits: dict[str, int], *, rows: int = 420, cols: int = 640) -> Path:
    """A photo corpus in ``make photos``' layout (photos and manifest.csv), ``splits`` photos per split."""
    rng = np.random.default_rng(0)
    entries = []
    for split, n in splits.items():
        for i in range(n):
            name = f"{split}_{i}"
            path = folder / "pkg" / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_photo(rng, rows, cols)).save(path)
            entries.append(CorpusFile(name, "pkg", "1", f"pkg/{name}.png", f"{zlib.crc32(path.read_bytes()):08x}",
                                      path.stat().st_size, cols, rows, "photo", split, "CC0"))
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CorpusFile.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(e.__dict__ for e in entries)
    return folder


# the rehearsal's recipe: small crops, batches, validations and SI bank, so that a minute on a CPU
# reaches every step; the width stays the job's (0.5), so the files have the sizes a GPU's have
REHEARSAL = ["crop=32", "batch_size=2", "val_images=1", "val_every=6", "log_every=1", "checkpoint_every=2",
             "si_kernels=64", "warmup_steps=2"]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> Path:
    """The job run on the CPU: its bundle folder."""
    root = tmp_path_factory.mktemp("gpu_job")
    photos = _corpus(root / "photos", {"train": 3, "val": 1, "test": 1})
    assert gpu_job.prepare(photos, root / "carry") < 1
    argv = ["gpu-job", "run", "--carry", str(root / "carry"), "--out", str(root / "out"), "--device", "cpu",
            "--minutes", "1.5", "--build-minutes", "0.25", "--reserve-minutes", "0.4", "--workers", "2",
            "--val-pairs", "1", "--work", str(root / "work")]
    for item in REHEARSAL:
        argv += ["--set", item]
    assert main(argv) == 0, (root / "work" / "job.log").read_text()
    return root / "out"


def test_prepare_keeps_train_and_val_photos_downscaled_with_their_full_size(tmp_path):
    photos = _corpus(tmp_path / "photos", {"train": 2, "val": 1, "test": 1}, rows=200, cols=300)
    size = gpu_job.prepare(photos, tmp_path / "carry", scale=0.5)
    from repro.camera.corpus import read_corpus
    from repro.camera.photos import photo_pool

    rows = read_corpus(tmp_path / "carry" / "photos")
    assert sorted(r.split for r in rows) == ["train", "train", "val"]  # the test photo never travels
    assert all((r.width, r.height) == (300, 200) for r in rows)  # the photo's size, not the copy's
    with Image.open(tmp_path / "carry" / "photos" / rows[0].file) as img:
        assert img.size == (150, 100)
    assert size == pytest.approx(gpu_job.folder_mib(tmp_path / "carry"))
    pool = photo_pool("train", tmp_path / "carry" / "photos")
    assert [p.width for p in pool] == [300, 300]


def test_a_downscaled_copy_films_the_scene_of_the_full_photo(tmp_path):
    """background_crop in the photo's pixels: a copy at the largest magnification's scale (0.75) gives
    the full photo's crop box and, up to resampling twice, its texture."""
    from repro.camera.textures import background_crop, resize

    img = _photo(np.random.default_rng(1), 480, 720).astype(np.float32) / 255
    small = resize(img, 360, 540)
    assert gpu_job.photo_scale() == 0.75
    full = background_crop(np.random.default_rng(5), img, 4 / 3, 240, 1, "multi")
    copy = background_crop(np.random.default_rng(5), small, 4 / 3, 240, 1, "multi", photo_scale=0.75)
    assert copy[2] == full[2]  # the same magnification and box in the photo's pixels
    np.testing.assert_allclose(copy[1], full[1], atol=1e-3)
    rms = float(np.sqrt(np.mean((copy[0] - full[0]) ** 2)))  # the photo's pixel noise, area-averaged twice
    assert copy[0].shape == full[0].shape and rms < 0.03  # above 30 dB PSNR


@pytest.mark.parametrize("argv, expected", [
    (["run", "--carry", "{tmp}/none", "--device", "cpu"], "no prepared corpus"),
    (["run", "--device", "cpu", "--minutes", "0.5"], "too short to validate once"),
    (["prepare", "--photos", "{tmp}/none", "--carry", "{tmp}/c"], "no photo corpus there"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, argv, expected):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["gpu-job", *argv, *(["--out", str(tmp_path / "out")] if argv[0] == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_no_cuda_and_an_oversized_carry_are_refused(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="DEVICE=cuda but torch .* sees no CUDA device"):
        gpu_job.check_device("cuda")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "manifest.csv").write_text(",".join(CorpusFile.__dataclass_fields__) + "\n")
    (tmp_path / "big.bin").write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(ValueError, match=r"takes 2.0 MiB, over the limit of 1 MiB"):
        gpu_job.check_carry(tmp_path, limit_mib=1)


def test_the_recipe_is_one_valid_training_config():
    from repro.train.config import get_preset

    config = get_preset(gpu_job.BASE_PRESET).replace(**dict(item.split("=", 1) for item in gpu_job.job_settings()))
    assert config.width == 0.5 and config.channels_last
    with pytest.raises(ValueError, match="unknown TrainConfig field 'no_such_field'"):
        gpu_job.job_settings(["no_such_field=1"])


def test_the_rehearsal_returns_the_bundle_gpu_ship_reads(rehearsal):
    names = sorted(p.name for p in rehearsal.iterdir())
    assert names == sorted(gpu_job.BUNDLE) and len(names) <= 8
    assert all(p.stat().st_size <= 16 * 2**20 for p in rehearsal.iterdir())
    assert 10 * 2**20 < (rehearsal / "deblurnet_wild.pt").stat().st_size  # width 0.5 in fp16: about 12.4 MB
    bundle = gpu_ship.read_bundle(rehearsal)
    for kind in ("wild", "si"):
        card = bundle.cards[kind]
        assert card["job"] == "gpu-job" and card["data"] == kind and card["model_config"]["width"] == 0.5
        assert card["training_log"] == f"train_gpu_{kind}.csv" and "never on test" in card["exported_from"]
        assert card["steps"] >= 0 and card["psnr"] is not None  # best.pt: step 0 when nothing beat the start
        stored = card["stored"]  # float16 (a small bundle), measured against the float32 best.pt on validation
        assert stored["dtype"] == "fp16" and stored["images"] > 0 and 0 <= stored["max_abs_delta_psnr_db"] <= 0.01
        assert stored["bytes"] == (rehearsal / f"deblurnet_{kind}.pt").stat().st_size < stored["fp32_bytes"]
    summary = json.loads((rehearsal / "summary.json").read_text())
    assert summary["pairs"]["corpus"]["val"] >= 1 and summary["pairs"]["bundled"]["train"] >= 1
    assert set(summary["runs"]) == {"wild", "si"} and summary["budget"]["total_s"] == 90


def test_gpu_ship_measures_decides_and_ships_all_or_nothing(rehearsal, tmp_path, capsys):
    work = rehearsal.parent / "work" / "data"  # the rehearsal's own validation pairs
    val_roots = [work / "bundled", work / "corpus"]
    argv = ["gpu-ship", str(rehearsal), "--val-root", str(val_roots[0]), "--val-root", str(val_roots[1]),
            "--weights", str(tmp_path / "weights"), "--logs", str(tmp_path / "logs")]
    assert main([*argv, "--check"]) == 0
    out = capsys.readouterr().out  # the rehearsal's minute-long networks may or may not beat the shipped ones
    assert out.startswith("the bundle reads; ") and "DeblurNet^WILD " in out and "DeblurNet^SI " in out
    assert not (tmp_path / "weights").exists()
    bundle = gpu_ship.read_bundle(rehearsal)
    gains = {"gpu wild": 1.0, "shipped wild": 0.5, "gpu si": 0.2, "shipped si": 0.4}
    wins, reason = gpu_ship.decide(gains)
    assert not wins and "DeblurNet^SI does not beat" in reason
    wins, reason = gpu_ship.decide({**gains, "gpu si": 0.5})
    assert wins and reason.startswith("shipped:")
    gpu_ship.ship_bundle(bundle, {**gains, "gpu si": 0.5}, weights_dir=tmp_path / "weights", logs_dir=tmp_path / "logs")
    from repro.core.checkpoint import load_model

    model, meta = load_model(tmp_path / "weights" / "deblurnet_wild.pt")
    assert meta["data"] == "wild" and model.config.width == 0.5
    card = json.loads((tmp_path / "weights" / "deblurnet_si.json").read_text())
    assert card["training_log"] == (tmp_path / "logs" / "train_gpu_si.csv").as_posix()
    assert "+0.500 dB against the shipped network's +0.400 dB" in card["selection"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["job.log", "summary.json", "train_gpu_si.csv",
                                                                     "train_gpu_wild.csv"]


def test_gpu_ship_refuses_what_is_not_a_bundle(tmp_path, rehearsal):
    import shutil

    shutil.copytree(rehearsal, tmp_path / "b")
    (tmp_path / "b" / "train_gpu_si.csv").unlink()
    with pytest.raises(FileNotFoundError, match="train_gpu_si.csv missing"):
        gpu_ship.read_bundle(tmp_path / "b")


def test_gpu_ship_refuses_float16_weights_that_move_an_image_too_far(tmp_path, rehearsal):
    import shutil

    shutil.copytree(rehearsal, tmp_path / "b")
    card_path = tmp_path / "b" / "deblurnet_wild.json"
    card = json.loads(card_path.read_text())
    card["stored"]["max_abs_delta_psnr_db"] = 0.02
    card_path.write_text(json.dumps(card))
    with pytest.raises(ValueError, match="moves a validation image by 0.02 dB"):
        gpu_ship.read_bundle(tmp_path / "b")
