"""Committed tables name paths relative to the repository, never a temporary clone's folder."""

from pathlib import Path

from repro.io.provenance import REPO_ROOT, portable_path, provenance, provenance_line


def test_portable_path_is_repository_relative_inside_it_and_unchanged_outside():
    assert portable_path(REPO_ROOT / "data" / "wild") == "data/wild"
    assert portable_path(str(REPO_ROOT / "repro" / "weights" / "deblurnet_wild.pt")) == "repro/weights/deblurnet_wild.pt"
    assert portable_path("data/wild") == "data/wild"
    outside = Path("/somewhere/else/GOPRO_Large")
    assert portable_path(outside) == str(outside)


def test_a_folder_linked_into_the_repository_is_named_by_its_place_there(tmp_path, monkeypatch):
    import repro.io.provenance as P

    clone, elsewhere = tmp_path.resolve() / "clone", tmp_path.resolve() / "main" / "data" / "corpus"
    elsewhere.mkdir(parents=True)
    (clone / "data" / "wild").mkdir(parents=True)
    (clone / "data" / "corpus").symlink_to(elsewhere)  # a fresh clone reusing another checkout's pairs
    (tmp_path / "shortcut").symlink_to(clone / "data")  # and a link from outside into the clone
    monkeypatch.setattr(P, "REPO_ROOT", clone)
    assert P.portable_path(clone / "data" / "corpus") == "data/corpus"
    assert P.portable_path(tmp_path / "shortcut" / "wild") == "data/wild"
    assert P.portable_path(elsewhere) == str(elsewhere)


def test_provenance_records_portable_paths():
    record = provenance(preset="smoke", device="cpu", seed=0, data="virtual",
                        checkpoint=str(REPO_ROOT / "repro" / "weights" / "deblurnet_wild.pt"),
                        checkpoints={"deblurnet-si": REPO_ROOT / "repro" / "weights" / "deblurnet_si.pt"})
    line = provenance_line(record)
    assert "checkpoint=repro/weights/deblurnet_wild.pt" in line
    assert "'deblurnet-si': 'repro/weights/deblurnet_si.pt'" in line
    assert str(REPO_ROOT) not in line and record["data"] == "virtual"
