"""The README a newcomer reads first (issue 30): short, the quick start on top, its numbers and
paths those of the committed files."""

import re
import subprocess
from pathlib import Path

import pytest

from repro.io.paths import repo_root

ROOT = repo_root()
README = (ROOT / "README.md").read_text()
DOCS = ["README.md", "docs/results.md", "docs/training.md", "docs/paper.md", "docs/virtual_camera.md"]


def test_the_readme_is_at_most_250_lines_and_starts_with_the_quick_start():
    lines = README.splitlines()
    assert len(lines) <= 250
    top = "\n".join(lines[:20])
    assert "## Start here" in top
    for command in ("make setup", "make test", "make demo", "python -m repro deblur", "make reproduce"):
        assert command in top, command
    assert "Table 2" in top  # what make reproduce regenerates


def _table(text: str, header_has: str) -> dict[str, dict[str, str]]:
    """The first Markdown table of ``text`` whose header row contains ``header_has``: first cell -> row."""
    rows, header = {}, None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if line.startswith("|") and header_has in line:
                header = cells
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            rows[cells[0]] = dict(zip(header, cells))
        else:
            break
    return rows


def _cell(row: dict[str, str], column: str) -> str:
    """``row``'s cell under ``column``, else under the one column whose name starts with it (the
    committed table says more in its headers: "paper PSNR (reported)", "PSNR, 20 of 120 (seeded ...)")."""
    if column in row:
        return row[column]
    found = [k for k in row if k.startswith(column)]
    assert len(found) == 1, f"the committed table has no single column {column!r}: {list(row)}"
    return row[found[0]]


def test_the_readmes_table_2_is_the_committed_one():
    readme = _table(README, "s/image")
    committed = _table((ROOT / "results" / "table2.md").read_text(), "s/image")
    assert set(readme) == set(committed) and len(readme) >= 6
    for method, row in readme.items():
        for column, value in row.items():
            if column != "method":
                assert value == _cell(committed[method], column), (method, column)


def test_the_readmes_scorecard_is_the_committed_claims():
    """The scorecard leading *Results beside the paper's* is the one of results/claims.md, row for
    row, and a bullet that names a claim and a verdict (**claim: verdict**) gives one of its verdicts."""
    readme = _table(README, "| ours |")
    committed = _table((ROOT / "results" / "claims.md").read_text(), "| ours |")
    assert readme == committed and len(readme) >= 8
    assert README.index("| ours |") < README.index("**Table 2**")  # the scorecard leads the section
    verdicts = ("holds", "reversed", "not resolved", "not measured")
    section = README[README.index("## Results beside the paper's"):README.index("## The demo")]
    bullets = re.findall(r"\*\*([^*]+?): (" + "|".join(verdicts) + r")\*\*", section)
    assert len(bullets) >= 3
    for claim, verdict in bullets:
        rows = [r for name, r in committed.items() if name.startswith(claim) or name.startswith(f"Fig. {claim}")]
        assert rows, f"README bullet names a claim not in the scorecard: {claim!r}"
        assert any(r["verdict"] == verdict for r in rows), (claim, verdict, [r["verdict"] for r in rows])


def _mentioned_paths(text: str) -> set[str]:
    """Repository paths named in ``text`` outside code blocks (those hold example commands whose
    outputs need not exist), without patterns (``*``, ``<preset>``)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found = re.findall(r"(?<![\w/.-])((?:results|figures|docs|experiments|benchmarks|repro|notebooks)/[^\s`'\"),;]*)",
                       prose)
    return {p.rstrip(".:") for p in found if "<" not in p and "*" not in p and "{" not in p}


def _ignored(paths: list[str]) -> set[str]:
    proc = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    return set(proc.stdout.split())


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_the_docs_name_exists(doc):
    paths = sorted(_mentioned_paths((ROOT / doc).read_text()))
    assert paths, doc
    ignored = _ignored(paths)  # outputs of the non-default presets (results/demo/ ...) are made, not committed
    missing = [p for p in paths if p not in ignored and not (ROOT / p).exists()]
    assert not missing, f"{doc} names files that do not exist (moved?): {missing}"


def test_the_photo_splits_listed_are_the_cameras():
    from repro.camera.photos import TEST_PHOTOS, TRAIN_PHOTOS, VAL_PHOTOS

    table = _table(README, "photos (scikit-image unless noted)")
    words = {split: set(re.findall(r"[A-Za-z_]+", row["photos (scikit-image unless noted)"]))
             - {"and", "matplotlib", "scikit", "learn"} for split, row in table.items()}
    assert words == {"training": set(TRAIN_PHOTOS), "validation (chose the checkpoints)": set(VAL_PHOTOS),
                     "test (held out)": set(TEST_PHOTOS)}


def test_the_lab_extra_is_installed_with_the_venvs_pip():
    assert '.venv/bin/pip install -e ".[lab]"' in README
    assert "\npip install" not in README and " pip install -e ." not in README.replace(".venv/bin/pip", "")


def test_the_readmes_demo_summary_is_the_reference_runs():
    # issue 45: the demo's closing summary is made by code from its records; the README quotes the
    # reference run's verbatim (after `make demo-reference`, paste `python -m repro.study.demo` here)
    from repro.study.demo import summary

    quoted = README.split("```text\n", 1)[1].split("```", 1)[0].rstrip("\n").splitlines()
    assert quoted == summary(ROOT / "results" / "demo_reference", ROOT / "figures" / "demo")


def _latest_minutes(commands: tuple[str, ...]) -> str:
    """The wall time of the newest row of results/benchmarks/timings.md whose command starts with one of
    ``commands``, in minutes rounded to a half: ``"22"``, ``"7.5"``."""
    rows = []
    for line in (ROOT / "results" / "benchmarks" / "timings.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith(commands):
            m = re.match(r"(\d+) min (\d+) s", cells[1])
            if m:
                rows.append((cells[2], int(m[1]) * 60 + int(m[2])))
    assert rows, commands
    seconds = max(rows)[1]  # the newest date
    return f"{round(seconds / 30) / 2:g}"


def test_the_readmes_times_are_the_newest_measured():
    # issue 45: stated times went stale; they are those of results/benchmarks/timings.md's newest rows
    assert f"({_latest_minutes(('`make test`',))} min on a loaded 2-core CPU)" in README
    assert f"{_latest_minutes(('`make demo-reference`', '`make reproduce PRESET=demo`'))} minutes" in README
