"""Notebook parameters (repro.study.notebook): declared once, checked, and never rewriting the committed
results unless asked to (issue 30)."""

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from repro.study.notebook import (NOTEBOOKS, PARAMETERS, check_parameters, context, injected_names, parameters_cell,
                            scratch_dirs, setup, tidy_notebook)
from repro.io.paths import repo_root
from repro.study.reproduce import NOTEBOOK_DIR, notebooks

INJECTED = '# Parameters\npresett = "smoke"\ndevice = "cpu"\n'  # papermill's injected cell, as it writes it


def _git_status(root: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "results", "figures",
                           "notebooks"], cwd=root, capture_output=True, text=True, check=True).stdout


def test_every_notebook_is_declared_and_its_cells_are_the_declared_ones(tmp_path):
    assert [b.stem for b in notebooks()] == list(NOTEBOOKS)
    for book in notebooks():
        copy = tmp_path / book.name
        shutil.copy(book, copy)
        # tidy_notebook rewrites the parameters cell from PARAMETERS and adds missing cell ids:
        # a committed notebook it would change has drifted (run it on the file to fix it)
        assert not tidy_notebook(copy), f"{book.name}: run repro.study.notebook.tidy_notebook on it"
        cells = json.loads(book.read_text())["cells"]
        assert all(isinstance(c.get("id"), str) and c["id"] for c in cells), f"{book.name}: a cell has no id"
        assert len({c["id"] for c in cells}) == len(cells), f"{book.name}: cell ids repeat"


def test_papermill_reads_the_declared_parameters_with_their_defaults():
    import papermill as pm

    for book in notebooks():
        found = pm.inspect_notebook(str(book))
        assert list(found) == list(NOTEBOOKS[book.stem]), book.name
        for name, info in found.items():
            assert json.loads(info["default"]) == PARAMETERS[name].default, (book.name, name)
            assert info["help"] == PARAMETERS[name].help


def test_tidy_adds_missing_ids_and_the_parameters_cell(tmp_path):
    book = NOTEBOOK_DIR / "02_architecture.ipynb"
    raw = json.loads(book.read_text())
    for cell in raw["cells"]:
        del cell["id"]
    raw["cells"][1]["source"] = ["preset = 'quick'\n"]
    broken = tmp_path / "02_architecture.ipynb"
    broken.write_text(json.dumps(raw))
    assert tidy_notebook(broken) and not tidy_notebook(broken)  # changed once, then stable
    cells = json.loads(broken.read_text())["cells"]
    assert all(c.get("id") for c in cells)
    assert "".join(cells[1]["source"]) == parameters_cell("02_architecture")


def test_injected_names_reads_only_papermills_cells():
    history = ["", parameters_cell("02_architecture"), INJECTED, 'from repro.study.notebook import setup\nrows = 1']
    assert injected_names(history) == {"presett", "device"}
    assert injected_names(["", "x = 1"]) == set()


def test_an_unknown_injected_parameter_stops_in_one_line_naming_the_valid_ones():
    namespace = {"In": ["", parameters_cell("02_architecture"), INJECTED], "preset": "quick", "presett": "smoke"}
    with pytest.raises(ValueError) as err:
        check_parameters("02_architecture", namespace)
    message = str(err.value)
    assert "\n" not in message
    assert message == ("unknown parameter presett; 02_architecture takes: preset, device, data, data_root, seed, "
                       "results_dir, figures_dir, runs_dir")
    # a parameter of another notebook is unknown here too
    other = {"In": ["# Parameters\nphotos_dir = 'x'\nstudy_size = 'smoke'\n"]}
    with pytest.raises(ValueError, match="unknown parameters photos_dir, study_size; 02_architecture takes"):
        check_parameters("02_architecture", other)
    with pytest.raises(ValueError, match="unknown notebook '09_x'"):
        check_parameters("09_x", {})


def test_known_parameters_are_read_and_missing_ones_default():
    # Jupyter: no injected cell, the user's own variables are not parameters
    values = check_parameters("05_qualitative", {"In": ["", "rows = []"], "preset": "demo", "rows": []})
    assert values["preset"] == "demo" and values["photos_dir"] == "" and values["seed"] == 0
    assert list(values) == list(NOTEBOOKS["05_qualitative"])


def test_empty_folder_parameters_mean_git_ignored_scratch_folders_for_every_preset():
    root = repo_root()
    for preset in ("smoke", "demo", "quick", "paper"):
        where = scratch_dirs(preset)
        assert where["results"] == root / "results" / preset and where["figures"] == root / "figures" / preset
        paths = [str((where[k] / "table1.md").relative_to(root)) for k in ("results", "figures")]
        proc = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=root, capture_output=True, text=True)
        assert proc.stdout.split() == paths, preset
    assert scratch_dirs("quick")["data_root"] == root / "data" / "wild"  # the data are shared, not rewritten


def test_setup_with_the_defaults_writes_the_scratch_folders_and_an_explicit_choice_the_committed_ones(capsys):
    root = repo_root()
    S, ctx = setup("02_architecture", {})  # the parameters cell's defaults: preset quick
    assert S.name == "quick" and ctx.results_dir == root / "results" / "quick"
    assert ctx.figures_dir == root / "figures" / "quick"
    assert "02_architecture, preset quick: tables in results/quick/, figures in figures/quick/" in capsys.readouterr().out
    explicit = context(preset="quick", results_dir="results", figures_dir="figures")  # what make reproduce passes
    assert explicit.results_dir == root / "results" and explicit.figures_dir == root / "figures"


def test_make_reproduce_names_the_committed_folders(monkeypatch, tmp_path):
    # run_notebooks passes every folder explicitly: the quick preset's are the committed ones
    import papermill as pm

    from repro.study.reproduce import run_notebooks

    calls = []
    monkeypatch.setattr(pm, "execute_notebook", lambda src, out, parameters, **kw: calls.append((src, parameters)))
    run_notebooks("quick", only="1,2")
    assert [Path(src).name for src, _ in calls] == ["01_wild_dataset.ipynb", "02_architecture.ipynb"]
    for _, params in calls:
        assert params["results_dir"] == "results" and params["figures_dir"] == "figures"
    assert "photos" not in calls[1][1]  # each notebook gets only the parameters it takes
    run_notebooks("quick", only="1,2", extra_parameters={"photos": "/tmp/p"})
    assert calls[2][1]["photos"] == "/tmp/p" and "photos" not in calls[3][1]


@pytest.mark.slow
def test_papermill_defaults_and_a_misspelt_name_leave_git_status_clean(tmp_path):
    """The issue's check: `papermill NB OUT` with no parameters, and with `-p presett smoke`, from
    outside the repository. Notebook 2 is the cheapest (no data; about 20 s)."""
    root = repo_root()
    scratch = scratch_dirs("quick")
    for folder in (scratch["results"], scratch["figures"]):
        shutil.rmtree(folder, ignore_errors=True)
    before = _git_status(root)
    book = str(NOTEBOOK_DIR / "02_architecture.ipynb")
    proc = subprocess.run([sys.executable, "-m", "papermill", book, str(tmp_path / "typo.ipynb"), "-p", "presett",
                           "smoke"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert ("ParameterError: unknown parameter presett; 02_architecture takes: preset, device, data, data_root, seed, "
            "results_dir, figures_dir, runs_dir") in proc.stderr
    kernel_part = proc.stderr.split('Exception encountered at "In [')[1].strip().splitlines()
    assert len(kernel_part) <= 3, kernel_part  # the cell's number, a rule, the one line: no stack of repro's frames
    assert not scratch["results"].exists()  # stopped before writing anything
    proc = subprocess.run([sys.executable, "-m", "papermill", book, str(tmp_path / "defaults.ipynb")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (scratch["results"] / "table1.md").is_file() and (scratch["figures"] / "fig3_architecture.png").is_file()
    assert _git_status(root) == before


def test_card_config_puts_back_the_si_kernel_settings_of_a_weights_card():
    # notebook 3 draws the shipped DeblurNet^SI's kernels with the settings its card records
    from repro.train import card_config, get_preset

    assert card_config({}, "cpu-15min") == get_preset("cpu-15min")
    card = {"preset": "cpu", "train_config": {"si_noise_std": 0.5, "lr": 1.0}}  # "cpu": cpu-4h's former name
    config = card_config(card, "cpu-15min")
    assert config.name == "cpu-4h" and config.si_noise_std == 0.5 and config.lr == get_preset("cpu-4h").lr
    shipped = json.loads((repo_root() / "repro" / "weights" / "deblurnet_si.json").read_text())
    si = card_config(shipped, "cpu-15min")
    numbers = {k: v for k, v in shipped["train_config"].items() if k.startswith("si_") and isinstance(v, (int, float))}
    assert numbers and all(getattr(si, k) == pytest.approx(v) for k, v in numbers.items())


def test_the_kernel_is_not_interrupted_when_shut_down():
    # jupyter_client sends SIGINT before every shutdown; ipykernel logs it as an ERROR when it
    # lands in a message handler. The manager repro.study.reproduce gives papermill skips it then only.
    import asyncio

    from repro.study.reproduce import quiet_kernel_manager

    km = quiet_kernel_manager()(kernel_name="python3")
    km.shutting_down = True
    asyncio.run(km._async_interrupt_kernel())  # no kernel, no signal: nothing to do
    km.shutting_down = False
    with pytest.raises(RuntimeError, match="No kernel is running"):  # otherwise the usual interrupt
        asyncio.run(km._async_interrupt_kernel())


@pytest.mark.slow
def test_running_a_notebook_prints_no_warning_or_error(tmp_path, capfd):
    from conftest import write_tiny_notebook
    from repro.study.reproduce import run_notebooks

    write_tiny_notebook(tmp_path / "nbs", "01_tiny.ipynb", "x = 1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_notebooks("smoke", folder=tmp_path / "nbs", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                      runs_dir=tmp_path / "runs", data_root=tmp_path / "w")
    assert not [w for w in caught if "nbformat" in w.filename or "papermill" in w.filename], caught
    err = capfd.readouterr().err
    for noise in ("Kernel is running over TCP", "WARNING", "ERROR", "Warning"):
        assert noise not in err, err


def test_pick_images_strong_blur_draws_one_per_scene_among_8_to_16_px():
    from repro.study.notebook import pick_images

    names = ["a/1", "a/2", "b/1", "c/1", "c/2", "d/1"]
    blur = {"a/1": 3.0, "a/2": 9.0, "b/1": 5.0, "c/1": 12.0, "c/2": 15.0, "d/1": 20.0}
    two = pick_images(names, 2, how="strong-blur", seed=0, blur=blur)
    assert sorted(names[i].split("/")[0] for i in two) == ["a", "c"]  # a/2 and one of c's: 8 <= blur < 16
    assert all(8.0 <= blur[names[i]] < 16.0 for i in two)
    four = pick_images(names, 4, how="strong-blur", seed=0, blur=blur)
    assert four[:2] == two and len({names[i].split("/")[0] for i in four}) == 4  # topped up, one per scene
    random = pick_images(names, 2, how="random", seed=0)
    assert len(random) == 2 and len({names[i].split("/")[0] for i in random}) == 2
    assert pick_images(names, 2, how="strong-blur", seed=0, blur=None) == random  # no manifest: random
    with pytest.raises(ValueError, match="unknown pick 'best'; choose one of random, strong-blur"):
        pick_images(names, 2, how="best")


def test_every_presets_pick_is_known():
    from repro.study.notebook import QUALITATIVE_PICKS
    from repro.study.reproduce import PRESETS

    assert {p.qualitative_pick for p in PRESETS.values()} <= set(QUALITATIVE_PICKS)
    assert PRESETS["demo"].qualitative_pick == "strong-blur" and "deblurnet-wild-x8" in PRESETS["demo"].eval_methods


def test_fig1_and_fig4_put_their_columns_in_the_same_order():
    # blurry | sharp | methods, in both comparison figures
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from repro.evaluate.fig4 import figure4_figure
    from repro.io.figures import qualitative_figure
    from repro.evaluate.methods import label

    sharp = np.full((32, 48, 3), 0.5, np.float32)
    blurry = sharp.copy()
    blurry[10:20, 10:20] = 0.8
    fig4 = figure4_figure(blurry, sharp, {"deblurnet-wild": sharp}, n_crops=1)
    heads4 = [ax.get_title().split("\n")[0] for ax in fig4.axes[:3]]
    fig1 = qualitative_figure([{"name": "s/1", "images": [blurry, sharp, sharp]}],
                              [label("identity"), "sharp (ground truth)", label("deblurnet-wild")])
    heads1 = [ax.get_title().split("\n")[0] for ax in fig1.axes[:3]]
    assert heads4 == heads1 == [label("identity"), "sharp (ground truth)", label("deblurnet-wild")]
    plt.close("all")


def test_reproduce_p_checks_the_parameter_before_any_kernel_starts_in_one_line(monkeypatch, capsys):
    import papermill as pm

    from repro.__main__ import main

    monkeypatch.setattr(pm, "execute_notebook", lambda *a, **k: pytest.fail("a notebook started"))
    rc = main(["reproduce", "--preset", "smoke", "--only", "4", "-p", "checkpoint_wil", "x.pt"])
    assert rc == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: unknown parameter checkpoint_wil; 04_table2 takes: checkpoint_wild, checkpoint_si (and, by their "
        "options, --preset, --device, --data, --data-root, --seed, --results, --figures, --runs)"]
    assert main(["reproduce", "--preset", "smoke", "--only", "4", "-p", "preset", "demo"]) == 2
    assert capsys.readouterr().err.strip() == "error: parameter preset is set by --preset, not by -p"
    assert main(["reproduce", "--preset", "smoke", "--only", "1-2", "-p", "photos_dir", "x"]) == 2
    assert "none of 01_wild_dataset, 02_architecture takes it" in capsys.readouterr().err


def test_reproduce_p_passes_a_known_parameter_typed_to_the_notebooks_that_take_it(monkeypatch, tmp_path):
    import papermill as pm

    from repro.__main__ import main
    from repro.study.reproduce import NOTEBOOK_DIR, ParameterError, given_parameters

    calls = []
    monkeypatch.setattr(pm, "execute_notebook", lambda src, out, parameters, **kw: calls.append((Path(src).stem, parameters)))
    assert main(["reproduce", "--preset", "smoke", "--only", "4-5", "--out", str(tmp_path), "-p", "photos_dir",
                 str(tmp_path)]) == 0
    assert "photos_dir" not in calls[0][1] and calls[1][1]["photos_dir"] == str(tmp_path)
    tour = [NOTEBOOK_DIR / "00_tour.ipynb"]
    assert given_parameters(tour, [("frames", "9"), ("speed", "0.5"), ("photo", "moon")]) == {
        "frames": 9, "speed": 0.5, "photo": "moon"}  # typed as their defaults
    with pytest.raises(ParameterError, match=r"^parameter frames takes an integer, got 'nine'$"):
        given_parameters(tour, [("frames", "nine")])


def test_a_parameter_error_shows_one_line_in_a_kernel():
    from repro.study.notebook import ParameterError  # = repro.study.reproduce.ParameterError

    err = ParameterError("unknown parameter presett; 02_architecture takes: preset")
    assert isinstance(err, ValueError)
    assert err._render_traceback_() == ["ParameterError: unknown parameter presett; 02_architecture takes: preset"]
