"""benchmarks/: the dispatcher and each topic module answer on the command line, and the report
keeps its structure (issue 44, item 5). No timing runs here: those are the benchmarks' own job."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("run", "inference", "tiled", "training", "pipeline")


@pytest.fixture
def bench(monkeypatch):
    """``import benchmarks.<name>`` as the scripts do (the repository root on the path)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return lambda name: importlib.import_module(f"benchmarks.{name}")


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_benchmark_script_answers_help_with_the_same_flags(bench, name, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench(name).main(["--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    for flag in ("--cpu", "--gpu-only", "--quick", "--out", "--budget-s", "--dry-run", "--tiled-width"):
        assert flag in usage, f"{name}.py --help lacks {flag}"


def test_a_topic_without_gpu_rows_refuses_gpu_only(bench, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench("pipeline").main(["--gpu-only"])
    assert exit_.value.code == 2
    assert "no GPU rows" in capsys.readouterr().err


def test_combine_names_each_missing_half_as_pending(bench, tmp_path):
    assert bench("run").main(["--combine", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks (issue 9)")
    assert "pending: run `python benchmarks/run.py --cpu`" in text
    assert "pending: run `python benchmarks/run.py --gpu-only`" in text


def test_a_cpu_half_renders_every_section_in_order(bench):
    header = {"date": "d", "device": "cpu", "cpu": "c", "threads": 1, "load_average": "0.0", "torch": "t",
              "numpy": "n", "python": "p", "repro": "r", "commit": "x"}
    row = {"model": "DeblurNet", "width": 0.25, "size": "432x240", "dtype": "fp32", "ms": 240.0}
    res = {"header": header, "peak": {"fp32": 1e11}, "inference": [row], "skipped": ["a row: time budget"],
           "notes": [], "goal": {"seconds": 0.24, "target": 0.25, "met": True, "floor_s": 0.01, "bn_folded": True,
                                 "dtype": "fp32", "channels_last": False},
           "tiled": [{"device": "cpu", "seconds": 9.0}], "train": [{"preset": "tiny-test", "step_s": 0.1}],
           "build_note": "skipped: time budget", "flow": [{"backend": "farneback", "ms": 5.0}],
           "shift": None, "shift_note": "failed: planted", "elapsed_s": 12.0, "argv": ["--cpu"]}
    md = bench("report").render(res, "cpu")
    headings = ["## CPU half", "Made by `python benchmarks/run.py --cpu`", "### Inference", "**Goal**",
                "### Tiled inference", "### Training", "### Dataset building", "Dataset building: skipped",
                "Flow on a 427x240 pair", "### Shift-search PSNR", "failed: planted", "Skipped (time budget",
                "- a row: time budget", "This half took 12 s."]
    positions = [md.find(h) for h in headings]
    assert -1 not in positions, [h for h, p in zip(headings, positions) if p < 0]
    assert positions == sorted(positions)
    assert "| DeblurNet | 0.250 | 432x240 | fp32 | - |" in md  # widths below 1 to 3 decimals, missing keys -


def test_the_dispatcher_runs_the_cpu_half_unless_gpu_only_or_dry_run(bench):
    run = bench("run")
    args = run.parser("x").parse_args
    assert run.halves_to_run(args(["--cpu"])) == ["cpu"]
    assert run.halves_to_run(args(["--gpu-only"])) == ["gpu"]
    assert run.halves_to_run(args(["--dry-run"])) == ["gpu"]
    assert sys.modules["benchmarks.common"].default_budget_s(args(["--gpu-only", "--quick"]), "gpu") == 120.0
