import pytest

from repro.study.reproduce import PRESETS, notebooks, select, settings


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
    assert [b.name[:2] for b in books] == [f"{i:02d}" for i in range(len(books))]
    assert len(books) == 10  # 00 the tour, 01-07 the paper's tables and figures, 08 the ablation study, 09 the verdicts
    assert [b.name[:2] for b in select(books, "2-3,6")] == ["02", "03", "06"]
    with pytest.raises(ValueError, match="no notebook"):
        select(books, "10")
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


def test_only_the_default_preset_writes_the_committed_folders(tmp_path):
    from repro.io.paths import output_dirs

    quick = output_dirs("quick", root=tmp_path)
    assert quick == {"results": tmp_path / "results", "figures": tmp_path / "figures", "runs": tmp_path / "runs",
                     "data_root": tmp_path / "data" / "wild"}
    demo = output_dirs("demo", root=tmp_path)
    assert demo == {"results": tmp_path / "results" / "demo", "figures": tmp_path / "figures" / "demo",
                    "runs": tmp_path / "runs" / "demo", "data_root": tmp_path / "data" / "wild-demo"}
    chosen = output_dirs("demo", root=tmp_path, out=tmp_path / "mine")
    assert [chosen[k] for k in ("results", "figures", "runs")] == [tmp_path / "mine" / k
                                                                  for k in ("results", "figures", "runs")]
    assert chosen["data_root"] == tmp_path / "data" / "wild-demo"


def test_the_other_presets_outputs_are_ignored_by_git():
    import subprocess

    from repro.io.paths import output_dirs, repo_root

    root = repo_root()
    for name in PRESETS:
        where = output_dirs(name)
        paths = [str((where[k] / "x.md").relative_to(root)) for k in ("results", "figures")]
        proc = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=root, capture_output=True, text=True)
        ignored = proc.stdout.split()
        assert ignored == ([] if name == "quick" else paths), name


def test_cli_folders_follow_the_preset_and_out(tmp_path, monkeypatch):
    from repro.io.paths import repo_root
    from repro.study.reproduce import folders

    root = repo_root()
    assert folders("demo")["results"] == root / "results" / "demo"
    assert folders("quick")["figures"] == root / "figures"
    monkeypatch.chdir(tmp_path)
    mine = folders("demo", out="mine", figures_dir="figs")
    assert mine["results"] == tmp_path / "mine" / "results" and mine["figures"] == tmp_path / "figs"
    with pytest.raises(ValueError, match="unknown preset 'demoo'"):
        folders("demoo")


def test_notebook_context_finds_the_repository_from_any_folder(tmp_path, monkeypatch):
    from repro.io.paths import repo_root
    from repro.study.notebook import context

    monkeypatch.chdir(tmp_path)
    root = repo_root()
    ctx = context(preset="quick", results_dir=str(tmp_path / "r"), figures_dir="figures", runs_dir=str(tmp_path / "u"))
    assert ctx.results_dir == tmp_path / "r" and ctx.figures_dir == root / "figures"  # relative: to the repository
    assert ctx.data_root == root / "data" / "wild" and not (tmp_path / "figures").exists()
    with pytest.raises(ValueError, match=r"unknown device 'cuda0'; choose one of: auto, cpu, cuda, cuda:N, mps"):
        context(preset="quick", device="cuda0")
    with pytest.raises(ValueError, match=r"unknown preset 'quik'; choose one of \['demo', 'paper', 'quick', 'smoke'\]"):
        context(preset="quik")


def test_every_figure_says_its_preset_and_n(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.io.figures import save_figure
    from repro.study.notebook import Context

    ctx = Context(preset="demo", device="cpu", data="virtual", data_root=tmp_path, seed=0, results_dir=tmp_path,
                  figures_dir=tmp_path, runs_dir=tmp_path)
    fig = plt.figure()
    ctx.save_figure(fig, "a", n=24, what="test images")
    assert [t.get_text() for t in fig.texts] == ["preset demo, n = 24 test images, seed 0"]
    assert (tmp_path / "a.png").is_file() and (tmp_path / "a.pdf").is_file()
    other = plt.figure()
    with ctx.stamped(n=1, what="test image"):  # figures saved by library code (Fig. 4, training curves)
        save_figure(other, tmp_path / "b", formats=("png",))
    save_figure(other, tmp_path / "b", formats=("png",))  # saved again: the footer is not repeated
    assert [t.get_text() for t in other.texts] == ["preset demo, n = 1 test image, seed 0"]
    plt.close("all")
