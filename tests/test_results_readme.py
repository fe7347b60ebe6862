"""results/ keeps a short top level, every file of it named in results/README.md (issue 29)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_TOP_LEVEL = 40


def committed_top_level() -> set[str]:
    """Names of the committed files and folders at the top of ``results/`` (folders end in ``/``)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the committed files, not what runs left behind)")
    out = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split("/")
        names.add(parts[1] if len(parts) == 2 else parts[1] + "/")
    return names


def test_results_top_level_is_short_and_every_entry_is_listed_in_its_readme():
    names = committed_top_level()
    files = [n for n in names if not n.endswith("/")]
    assert 10 < len(files) <= MAX_TOP_LEVEL, f"results/ has {len(files)} files at its top level (at most {MAX_TOP_LEVEL})"
    readme = (ROOT / "results" / "README.md").read_text()
    missing = sorted(n for n in names - {"README.md"} if f"`{n}`" not in readme)
    assert not missing, f"results/README.md does not name: {missing}"


def test_every_experiment_folder_says_what_it_asked_and_found():
    topics = [p for p in (ROOT / "experiments").iterdir() if p.is_dir()]
    assert topics, "experiments/ holds no topic folder"
    index = (ROOT / "experiments" / "README.md").read_text()
    for topic in topics:
        text = (topic / "README.md").read_text() if (topic / "README.md").is_file() else ""
        assert "**Asked:**" in text and "**Found:**" in text, f"{topic.name}/README.md: what it asked and found"
        assert f"`{topic.name}/`" in index, f"experiments/README.md does not list {topic.name}/"
