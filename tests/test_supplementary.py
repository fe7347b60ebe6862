"""The map of figures/: every file there is listed in figures/README.md with what makes it."""

from pathlib import Path

import pytest

from repro.study import supplementary

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"


def test_every_figure_file_is_listed_in_the_map():
    text = (FIGURES / "README.md").read_text()
    for f in sorted(FIGURES.iterdir()):
        if f.name == "README.md" or f.is_dir():  # sub-folders: the non-default presets' outputs (git-ignored)
            continue
        listed = f"`{f.name}`" in text or (f.suffix == ".pdf" and f"`{f.stem}.png`, `.pdf`" in text)
        assert listed, f"figures/{f.name} is not in figures/README.md (say what makes it, or remove it)"


def test_every_supplementary_figure_is_committed_and_listed():
    text = (FIGURES / "README.md").read_text()
    for name, (_, what) in supplementary.FIGURES.items():
        assert (FIGURES / name).is_file(), name
        assert f"`{name}`" in text and what, name


def test_make_draws_train_recipes_from_the_committed_logs(tmp_path):
    paths = supplementary.make(["train_recipes"], tmp_path, results_dir=ROOT / "results")
    assert paths == [tmp_path / "train_recipes.png"] and paths[0].stat().st_size > 10_000
    with pytest.raises(ValueError, match="unknown figure.*kernel_bank"):
        supplementary.make(["fig99"], tmp_path, results_dir=ROOT / "results")
    with pytest.raises(FileNotFoundError, match="train_quick_wild.csv"):
        supplementary.make(["train_recipes.png"], tmp_path, results_dir=tmp_path)
    assert supplementary.main(["nope", "--figures", str(tmp_path), "--results", str(tmp_path)]) == 2
