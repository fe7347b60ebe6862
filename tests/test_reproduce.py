from pathlib import Path

import pytest

from repro.reproduce import PRESETS, notebooks, select, settings


def test_settings_known_and_unknown_preset():
    assert settings("quick").name == "quick"
    with pytest.raises(ValueError, match="unknown preset 'fast'.*quick"):
        settings("fast")


def test_every_preset_uses_a_training_preset_that_exists():
    from repro.train import PRESETS as TRAIN_PRESETS

    for s in PRESETS.values():
        assert s.train_preset in TRAIN_PRESETS, s


def test_notebooks_are_numbered_and_selectable(tmp_path):
    books = notebooks()
    assert [b.name[:2] for b in books] == [f"{i:02d}" for i in range(1, len(books) + 1)]
    assert len(books) == 7
    assert [b.name[:2] for b in select(books, "2-3,6")] == ["02", "03", "06"]
    with pytest.raises(ValueError, match="no notebook"):
        select(books, "9")
    with pytest.raises(ValueError, match="cannot read"):
        select(books, "x")
    with pytest.raises(FileNotFoundError):
        notebooks(tmp_path)


def test_source_notebooks_have_parameters_cell_and_no_outputs():
    import nbformat

    for book in notebooks():
        nb = nbformat.read(book, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{book.name}: needs exactly one cell tagged 'parameters'"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.get("outputs"), f"{book.name}: committed with outputs"
                assert "def " not in cell.source, f"{book.name}: logic belongs in repro/, not in notebooks"
