"""The Makefiles: the user's targets at the top level (few, each listed by `make help` with its line), the
experiments' recipes in experiments/<topic>/Makefile, each of whose targets dry-runs (`make -n`) from the root."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_TOP_TARGETS = 15
# a rule's line: its targets before a single colon (not `:=`, `::=`, nor a variable's `=` before it)
RULE = re.compile(r"^([^\s#=:][^=:]*?)\s*:(?![:=])")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def targets(makefile: Path) -> list[str]:
    """Every target a Makefile names, in order: those of its rules (pattern and special ones apart)
    and those of its .PHONY lines, once each."""
    text = makefile.read_text().replace("\\\n", " ")
    found: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t"):
            continue  # a recipe's line
        match = RULE.match(line)
        if match is None:
            continue
        names = line.split(":", 1)[1].split() if match.group(1) == ".PHONY" else match.group(1).split()
        found += [n for n in names if not n.startswith(".") and "%" not in n and n not in found]
    return found


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def help_lines(output: str) -> dict[str, str]:
    """`make help`'s listing: target -> its line (the lines that start with two spaces)."""
    rows = [line.split(None, 1) for line in output.splitlines() if line.startswith("  ")]
    return {row[0]: row[1].strip() if len(row) > 1 else "" for row in rows}


EXPERIMENTS = sorted(p.parent.name for p in (ROOT / "experiments").glob("*/Makefile"))


def test_the_rule_pattern_reads_targets_and_skips_variables(tmp_path):
    mk = tmp_path / "Makefile"
    mk.write_text(".PHONY: a b \\\n\tc\nX := 1\nY = a:b\nZ ::= 2\na: b ## one\n\techo a: b\n$(V)/f: g\nb c: ; true\n%.o: %.c\n")
    assert targets(mk) == ["a", "b", "c", "$(V)/f"]


def test_the_top_level_makefile_has_few_targets_and_the_users_ones():
    found = targets(ROOT / "Makefile")
    assert len(found) <= MAX_TOP_TARGETS, f"{len(found)} targets in the top-level Makefile: {found}"
    users = {"setup", "test", "reproduce", "demo", "demo-reference", "figures", "clean-venv", "photos",
             "corpus-data", "gpu-job", "gpu-ship", "help"}
    assert users <= set(found), f"missing: {sorted(users - set(found))}"
    assert "test" in found and "make test" in (ROOT / ".ci" / "run").read_text()  # CI runs the README's command


def test_make_alone_prints_the_help_and_it_lists_every_target_with_a_line():
    out = make("-s", "help")
    assert out.returncode == 0, out.stderr
    listed = help_lines(out.stdout)
    phony = [t for t in targets(ROOT / "Makefile") if "$" not in t]  # the .venv's stamp file is no command
    assert sorted(listed) == sorted(phony)
    assert all(listed.values()), f"targets without a line: {[t for t, h in listed.items() if not h]}"
    default = make("-s")
    assert default.returncode == 0 and default.stdout == out.stdout


def test_the_experiments_recipes_left_the_top_level_makefile():
    top = set(targets(ROOT / "Makefile"))
    for topic in EXPERIMENTS:
        moved = set(targets(ROOT / "experiments" / topic / "Makefile")) - {"help", "setup", "corpus-data", "photos"}
        assert not top & moved, f"experiments/{topic}: {sorted(top & moved)} also at the top level"
    assert {"photo_diversity", "long_run", "do_no_harm"} <= set(EXPERIMENTS)


def commands_outside_the_root(dry_run: str) -> list[str]:
    """The commands of a `make -n` output that run `.venv/bin/python` in a directory other than the repository
    root: neither after `cd ../.. &&` nor in a make that entered the root (`make -C ../..`)."""
    where: list[str] = []
    wrong = []
    for line in dry_run.splitlines():
        entered = re.match(r"make(\[\d+\])?: (Entering|Leaving) directory '(.*)'", line)
        if entered:
            where.append(entered.group(3)) if entered.group(2) == "Entering" else where.pop()
        elif ".venv/bin/python" in line and not line.startswith(("\t", "cd ../.. && ")) \
                and not (where and Path(where[-1]) == ROOT):
            wrong.append(line)
    return wrong


def test_a_command_run_outside_the_root_is_caught():
    assert commands_outside_the_root(
        f"make: Entering directory '{ROOT}/experiments/x'\ncd ../.. && .venv/bin/python -m repro a\n"
        f"make[1]: Entering directory '{ROOT}'\n.venv/bin/python -m repro b\nmake[1]: Leaving directory '{ROOT}'\n"
        ".venv/bin/python -m repro c\n") == [".venv/bin/python -m repro c"]


@pytest.mark.parametrize("topic", EXPERIMENTS)
def test_each_experiments_target_dry_runs_from_the_root(topic):
    out = make("-s", "-C", f"experiments/{topic}", "help")
    assert out.returncode == 0 and help_lines(out.stdout), out.stderr
    for target in targets(ROOT / "experiments" / topic / "Makefile"):
        # -n: nothing runs but recursive makes, which get -n too
        run = make("-n", "-C", f"experiments/{topic}", target)
        assert run.returncode == 0, f"make -n -C experiments/{topic} {target}: {run.stderr.strip()}"
        if target != "help":
            assert ".venv/bin/python" in run.stdout or "make -C" in run.stdout, f"{topic}/{target} runs nothing"
        assert not commands_outside_the_root(run.stdout), f"{topic}/{target} runs a command outside the root"
