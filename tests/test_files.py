"""Tests of repro.files: file_sha256 (the digest the corpus manifest and the evaluation's
checkpoint fingerprints share) and check_input_file (what read_image and read_checkpoint_file
refuse before decoding)."""

import hashlib

import pytest

from repro.files import atomic_copy, check_input_file, file_sha256


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
