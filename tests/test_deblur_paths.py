"""Where `python -m repro deblur IN OUT` writes (issue 30): an image into an existing folder is
FOLDER/<name>; a folder of images into an image-like name is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import repro.core.inference as inference
from repro.__main__ import command_parser, main
from repro.core.checkpoint import save_checkpoint
from repro.io.images import read_image, write_image
from repro.core.model import DeblurNet, DeblurNetConfig


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
    assert "a folder: an existing one or a name ending in / (created if missing; writes FOLDER/<input's name>)" in text
    assert "a name ending in an image suffix is refused" in text


def test_an_image_into_a_new_folder_ending_in_a_slash_is_written_there_under_its_name(tmp_path, small_ckpt):
    # the README's own example, `deblur blurry.jpg out/`, with out/ not there yet (issue 45)
    img = _image(tmp_path / "blurry.png")
    folder = tmp_path / "new" / "out"
    assert main(["deblur", str(img), f"{folder}/", "--checkpoint", str(small_ckpt), "--device", "cpu"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["blurry.png"]


def test_an_output_without_an_image_suffix_says_how_to_name_a_folder(tmp_path, small_ckpt, capsys):
    img = _image(tmp_path / "blurry.png")
    rc = main(["deblur", str(img), str(tmp_path / "out"), "--checkpoint", str(small_ckpt), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err.strip().endswith("or in / for a folder (made if missing)")
    assert not (tmp_path / "out").exists()


def _unwritable(tmp_path: Path) -> list[Path]:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    paths = [blocker / "x.png", blocker / "sub" / "x.png"]  # a parent on the way is a file
    if Path("/proc/self").is_dir():  # Linux: a folder that takes no new files, even for root
        paths.append(Path("/proc/x.png"))
    return paths


def test_an_unwritable_output_is_refused_naming_it_before_the_network_loads(tmp_path, small_ckpt, capsys, monkeypatch):
    img = _image(tmp_path / "blurry.png")

    def must_not_load(*args, **kwargs):
        raise AssertionError("the network was loaded before the output was checked")

    monkeypatch.setattr(inference, "load_deblurnet", must_not_load)
    for out in _unwritable(tmp_path):
        for arg in (str(out), f"{out.parent}/"):
            rc = main(["deblur", str(img), arg, "--checkpoint", str(small_ckpt), "--device", "cpu"])
            lines = capsys.readouterr().err.strip().splitlines()
            assert rc == 2 and len(lines) == 1, lines
            assert lines[0].startswith(f"error: {Path(arg) / img.name if arg.endswith('/') else out}: cannot be written")


def test_two_runs_of_one_image_write_identical_bytes(tmp_path, small_ckpt):
    # "auto" precision is decided from the device's report, never by a timing: the same bytes every time
    img = tmp_path / "blurry.png"
    write_image(img, (np.random.default_rng(0).random((36, 44, 3)) * 255).astype(np.uint8))
    for out in ("one.png", "two.png"):
        assert main(["deblur", str(img), str(tmp_path / out), "--checkpoint", str(small_ckpt), "--device", "cpu"]) == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
