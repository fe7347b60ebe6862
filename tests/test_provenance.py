"""Committed tables name paths relative to the repository, never a temporary clone's folder."""

from pathlib import Path

from repro.provenance import REPO_ROOT, portable_path, provenance, provenance_line


def test_portable_path_is_repository_relative_inside_it_and_unchanged_outside():
    assert portable_path(REPO_ROOT / "data" / "wild") == "data/wild"
    assert portable_path(str(REPO_ROOT / "repro" / "weights" / "deblurnet_wild.pt")) == "repro/weights/deblurnet_wild.pt"
    assert portable_path("data/wild") == "data/wild"
    outside = Path("/somewhere/else/GOPRO_Large")
    assert portable_path(outside) == str(outside)


def test_provenance_records_portable_paths():
    record = provenance(preset="smoke", device="cpu", seed=0, data="virtual",
                        checkpoint=str(REPO_ROOT / "repro" / "weights" / "deblurnet_wild.pt"),
                        checkpoints={"deblurnet-si": REPO_ROOT / "repro" / "weights" / "deblurnet_si.pt"})
    line = provenance_line(record)
    assert "checkpoint=repro/weights/deblurnet_wild.pt" in line
    assert "'deblurnet-si': 'repro/weights/deblurnet_si.pt'" in line
    assert str(REPO_ROOT) not in line and record["data"] == "virtual"
