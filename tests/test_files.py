"""Tests of repro.io.files: file_sha256 (the digest the corpus manifest and the evaluation's
checkpoint fingerprints share) and check_input_file (what read_image and read_checkpoint_file
refuse before decoding)."""

import hashlib

import pytest

from repro.io.files import atomic_copy, check_input_file, file_sha256


def test_file_sha256_reads_the_whole_file_in_blocks(tmp_path):
    data = bytes(range(256)) * 8193  # a little over two 1 MiB blocks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_check_input_file_names_the_file_and_the_problem(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "ok.png").write_bytes(b"x")
    check_input_file(tmp_path / "ok.png", "image")  # a non-empty file passes
    with pytest.raises(FileNotFoundError, match="gone.png: no such file"):
        check_input_file(tmp_path / "gone.png", "image")
    with pytest.raises(IsADirectoryError, match="is a folder, expected an image file"):
        check_input_file(tmp_path, "image")
    with pytest.raises(ValueError, match="empty.png: file is empty"):
        check_input_file(tmp_path / "empty.png", "image")
    with pytest.raises(KeyError, match="is a folder, expected a checkpoint file"):
        check_input_file(tmp_path, "checkpoint", error=KeyError)


def test_atomic_copy_replaces_the_target_and_leaves_no_temporary_file(tmp_path):
    src, dst = tmp_path / "a.csv", tmp_path / "out" / "b.csv"
    src.write_bytes(b"step,loss\n1,0.5\n")
    atomic_copy(src, dst)  # makes the missing folder
    dst.write_bytes(b"old")
    atomic_copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["b.csv"]
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.csv", dst)
    assert dst.read_bytes() == src.read_bytes() and sorted(p.name for p in dst.parent.iterdir()) == ["b.csv"]


def test_the_only_tracked_checkpoints_are_the_shipped_weights_and_the_tree_is_small():
    # a run's state lives in runs/ (ignored); a clone must not carry training checkpoints (issue 44)
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("needs a git checkout")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    paths = [p for p in tracked.decode().split("\0") if p]
    stray = [p for p in paths if p.endswith((".pt", ".pth", ".ckpt")) and not p.startswith("repro/weights/")]
    assert not stray, f"checkpoints tracked outside repro/weights/: {stray}"
    huge = [p for p in paths if (root / p).is_file() and (root / p).stat().st_size > 16 * 2**20]
    assert not huge, f"tracked files over 16 MB: {huge}"
    tree = sum((root / p).stat().st_size for p in paths if (root / p).is_file())
    assert tree < 60 * 10**6, f"a clone's working tree would take {tree / 1e6:.1f} MB, over 60 MB"
