"""Tests of repro.train.compare: runs compared at an equal budget of training time, from their logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.train.compare import budget_row, comparison_markdown, main, within_budget
from repro.train.logs import _write_log, read_log


def _log(path: Path, width: float, points: list[tuple]) -> Path:
    """A training log of (step, minutes, validation gain or None[, steps per second]) rows; the
    input is at 25 dB."""
    rows = [{"step": s, "minutes": m, "loss": 0.01, "val_psnr": None if g is None else 25.0 + g,
             "val_psnr_input": None if g is None else 25.0, "steps_per_s": rate[0] if rate else None}
            for s, m, g, *rate in points]
    header = f"run={path.parent.name}; data=wild; config={json.dumps({'name': 'cpu-12h', 'width': width})}"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_log(path, rows, header)
    return path


def test_only_validations_within_the_budget_count(tmp_path):
    # the narrow run's best (+0.9 dB) came after 50 minutes: at a 45-minute budget its best is +0.5
    narrow = _log(tmp_path / "wild_w0.25" / "log.csv", 0.25,
                  [(0, 0.0, 0.0), (500, 20.0, 0.3), (1000, 40.0, 0.5), (1100, 44.0, None), (1200, 50.0, 0.9)])
    # the wide run stopped at the first step past 45 minutes (a step of 6 s began at 44.95) and validated there
    wide = _log(tmp_path / "wild_w1" / "log.csv", 1.0, [(0, 0.0, 0.0), (250, 30.0, 0.6), (300, 45.05, 0.55, 1 / 6)])
    assert [r["step"] for r in within_budget(read_log(narrow), 45)] == [0, 500, 1000]
    a, b = budget_row(narrow, 45), budget_row(wide, 45)
    assert (a["run"], a["width"], a["steps"], a["minutes"]) == ("wild_w0.25", 0.25, 1100, 44.0)
    assert a["best gain"] == pytest.approx(0.5) and a["best at step"] == 1000 and a["validations"] == 3
    assert a["s/step"] == pytest.approx(60 * 44 / 1100)
    assert b["best gain"] == pytest.approx(0.6) and b["best at step"] == 250 and b["last gain"] == pytest.approx(0.55)
    text = comparison_markdown([a, b], 45, title="widths")
    assert "**Decision, on the best validation gain within the budget:** wild_w1 +0.60 dB, wild_w0.25 +0.50 dB; the best is **wild_w1**" in text
    assert "Not yet trained" not in text
    assert budget_row(wide, 44.9)["last gain"] == pytest.approx(0.6)
    # a step that began past the budget does not count; at a 52-minute budget the narrow run's late best counts, and the wide one has not run it out
    text52 = comparison_markdown([budget_row(narrow, 52), budget_row(wide, 52)], 52, title="widths")
    assert "**Provisional decision" in text52 and "the best is **wild_w0.25**" in text52 and "(resume them before deciding): wild_w1." in text52
    with pytest.raises(ValueError, match="positive"):
        within_budget([], 0)


def test_cli_writes_the_table_and_the_curves_and_rejects_a_missing_log(tmp_path, capsys):
    log = _log(tmp_path / "wild_w0.5" / "log.csv", 0.5, [(0, 0.0, 0.0), (500, 10.0, 0.4)])
    out = tmp_path / "out" / "width_choice.md"
    assert main([str(log), "--minutes", "10", "--out", str(out)]) == 0
    text = out.read_text()
    assert "the best is **wild_w0.5**" in text and "preset=cpu-12h" in text and out.with_suffix(".png").is_file()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "nope.csv"), "--minutes", "10", "--out", str(out)])
    assert exc.value.code == 2 and "no such log" in capsys.readouterr().err
