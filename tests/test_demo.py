"""repro.study.demo (issue 45): the demo's closing summary, read from its records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.study.demo import expectation, read_records, summary


def _write(folder: Path, notebook: str, numbers: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{notebook}.json").write_text(json.dumps({"notebook": notebook, "numbers": numbers}))


def test_the_summary_states_the_records_numbers(tmp_path):
    rows = {"identity": 27.5, "deblurnet-si": 27.75, "deblurnet-wild": 28.125, "deblurnet-wild-x8": 28.5}
    table = {f"{m}/split": {"n": 24, "psnr": p, "ssim": 0.8} for m, p in rows.items()}
    table["by_blur"] = {"deblurnet-wild": {"< 4 px": -0.5, "4-8 px": 0.0, "8-16 px": 1.25, ">= 16 px": None},
                        "deblurnet-si": {"< 4 px": 0.5, "4-8 px": 0.25, "8-16 px": 0.0, ">= 16 px": None},
                        "n": {"< 4 px": 8, "4-8 px": 8, "8-16 px": 8, ">= 16 px": 0}}
    scene = {"blur_px": 12.25, "identity": 26.0, "deblurnet-si": 25.5, "deblurnet-wild": 27.0, "deblurnet-wild-x8": 27.5}
    _write(tmp_path / "records", "04_table2", table)
    _write(tmp_path / "records", "05_qualitative", {"pick": "strong-blur", "scenes": {"v_0001/000001": scene}})
    lines = summary(tmp_path / "records", tmp_path / "figures")
    assert lines[0] == "Table 2 on 24 test pairs (PSNR, dB): input 27.50, WILD 28.12, WILD x8 28.50, SI 27.75"
    assert lines[1] == "gain over the input at 8-16 px (8 images): WILD +1.25, SI +0.00 dB"
    assert lines[2] == "gain over the input at < 4 px (8 images): WILD -0.50, SI +0.50 dB"
    assert "fig1_qualitative.png: 1 test scenes blurred by 8-16 px" in lines[3]
    assert lines[-1] == "  v_0001/000001, 12.2 px of blur: input 26.00 dB; WILD +1.00, WILD x8 +1.50, SI -0.50 dB"


def test_a_missing_record_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"04_table2.json: no record of notebook 04_table2"):
        read_records(tmp_path)


def test_the_expectation_says_how_many_pairs_and_where_the_times_are():
    line = expectation(24)
    assert "24 held-out test pairs" in line and "results/benchmarks/timings.md" in line and "\n" not in line
