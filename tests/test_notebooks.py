"""Every notebook, executed end to end by papermill on the smoke preset, writes its outputs."""

import csv

import pytest

from repro.reproduce import NotebookFailed, run_notebooks

pytestmark = pytest.mark.slow

EXPECTED = {
    "01_wild_dataset.ipynb": ["results/wild_dataset.md", "results/averaging_check.csv", "figures/fig2_wild_pair.png",
                              "figures/wild_statistics.png", "figures/averaging_check.png"],
    "02_architecture.ipynb": ["results/table1.md", "results/model_cost.csv", "figures/fig3_architecture.png",
                              "figures/fig3_architecture.pdf"],
    "03_training.ipynb": ["results/training.md", "figures/training_curves.png", "runs/wild/best.pt", "runs/si/best.pt"],
    "04_table2.ipynb": ["results/table2.md", "results/table2.csv", "results/table2_per_image.csv", "figures/fig4.png"],
    "05_qualitative.ipynb": ["figures/fig1_qualitative.png", "figures/fig5_7_real.png"],
    "06_shift_search.ipynb": ["results/shift_search.md", "figures/fig8_shift_search.png"],
    "07_residuals.ipynb": ["results/residual_correlation.md", "figures/fig9_residual_vs_blur.png",
                           "figures/fig10_extremes.png"],
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    records = run_notebooks("smoke", device="cpu", data_root=root / "wild", results_dir=root / "results",
                            figures_dir=root / "figures", runs_dir=root / "runs")
    return root, records


def test_all_notebooks_ran(smoke_run):
    root, records = smoke_run
    assert [r["notebook"] for r in records] == list(EXPECTED)
    for name in EXPECTED:
        assert (root / "results" / "notebooks" / name).is_file()


@pytest.mark.parametrize("notebook", list(EXPECTED))
def test_notebook_wrote_its_outputs(smoke_run, notebook):
    root, _ = smoke_run
    for rel in EXPECTED[notebook]:
        path = root / rel
        assert path.is_file() and path.stat().st_size > 0, f"{notebook} did not write {rel}"


def test_tables_say_how_they_were_made(smoke_run):
    root, _ = smoke_run
    for name in ("table1", "model_cost", "wild_dataset", "training", "shift_search", "residual_correlation"):
        first = (root / "results" / f"{name}.csv").read_text().splitlines()[0]
        assert first.startswith("# ") and "preset=smoke" in first and "seed=0" in first, (name, first)
    with open(root / "results" / "table2_per_image.csv") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    assert len(rows) > 1


def test_bad_preset_fails_before_running(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        run_notebooks("fastest", results_dir=tmp_path / "r", figures_dir=tmp_path / "f")


def test_failing_notebook_is_named(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    p = new_code_cell("preset = 'smoke'")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, new_code_cell("raise RuntimeError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "01_broken.ipynb")
    with pytest.raises(NotebookFailed, match="01_broken.ipynb"):
        run_notebooks("smoke", folder=tmp_path / "nbs", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                      runs_dir=tmp_path / "runs", data_root=tmp_path / "w")
