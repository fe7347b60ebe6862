"""Tests of repro.files' file_sha256 (the digest the corpus manifest and the evaluation's
checkpoint fingerprints share)."""

import hashlib

from repro.files import file_sha256


def test_file_sha256_reads_the_whole_file_in_blocks(tmp_path):
    data = bytes(range(256)) * 8193  # a little over two 1 MiB blocks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
