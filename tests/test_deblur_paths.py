"""Where `python -m repro deblur IN OUT` writes (issue 30): an image into an existing folder is
FOLDER/<name>; a folder of images into an image-like name is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import repro.inference as inference
from repro.__main__ import command_parser, main
from repro.checkpoint import save_checkpoint
from repro.images import read_image, write_image
from repro.model import DeblurNet, DeblurNetConfig


@pytest.fixture()
def small_ckpt(tmp_path) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DeblurNet(DeblurNetConfig(width=0.125)).eval()
    path = tmp_path / "small.pt"
    save_checkpoint(path, model, meta={"preset": "test"})
    return path


def _image(path: Path) -> Path:
    write_image(path, np.full((20, 24, 3), 128, np.uint8))
    return path


def test_an_image_into_an_existing_folder_is_written_as_folder_slash_its_name(tmp_path, small_ckpt):
    img = _image(tmp_path / "blurry.png")
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["deblur", str(img), str(folder), "--checkpoint", str(small_ckpt), "--device", "cpu"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["blurry.png"]
    assert read_image(folder / "blurry.png").shape == (20, 24, 3)


def test_a_folder_into_an_image_like_name_is_one_line_and_writes_nothing(tmp_path, small_ckpt, capsys, monkeypatch):
    src = tmp_path / "photos"
    src.mkdir()
    _image(src / "a.png")

    def must_not_load(*args, **kwargs):
        raise AssertionError("the network was loaded before the output was checked")

    monkeypatch.setattr(inference, "load_deblurnet", must_not_load)
    for name in ("out.png", "out.JPG", "result.tif"):
        out = tmp_path / name
        rc = main(["deblur", str(src), str(out), "--checkpoint", str(small_ckpt), "--device", "cpu"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert rc == 2
        assert lines == [f"error: {out}: an image file name, but input {src} is a folder: give an output folder"]
        assert not out.exists()


def test_a_folder_into_a_folder_named_like_an_image_that_exists_is_fine(tmp_path, small_ckpt):
    src = tmp_path / "photos"
    src.mkdir()
    _image(src / "a.png")
    out = tmp_path / "odd.png"
    out.mkdir()  # the user made it: it is a folder, whatever its name
    assert main(["deblur", str(src), str(out), "--checkpoint", str(small_ckpt), "--device", "cpu"]) == 0
    assert (out / "a.png").is_file()


def test_help_documents_where_the_output_goes():
    text = " ".join(command_parser("deblur").format_help().split())
    assert "an existing folder (writes FOLDER/<input's name>)" in text
    assert "a name ending in an image suffix is refused" in text
