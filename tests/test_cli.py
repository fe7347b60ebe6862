"""The command line: a --help that imports no torch, arguments that match the modules, checked values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from repro.core import arguments as cli
from repro.__main__ import COMMANDS, command_parser, main, one_line


def _run(*code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_every_help_is_built_without_importing_torch():
    """torch takes ~1.5 s to import: --help of the tool and of every command must not pay for it."""
    out = _run("import sys",
               "from repro.__main__ import COMMANDS, build_parser, command_parser",
               "build_parser().format_help()",
               "texts = [command_parser(c).format_help() for c in COMMANDS]",
               "print(sorted(m for m in ('torch', 'cv2', 'papermill', 'matplotlib') if m in sys.modules))")
    assert out == "[]"


def test_help_is_plain_text_and_every_option_is_explained(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and "Motion Deblurring in the Wild" in text
    for command in COMMANDS:
        assert command in text
        for action in command_parser(command)._actions:
            assert action.help, f"{command} {action.option_strings or action.dest}: no help text"


def test_arguments_kept_here_match_the_modules():
    import repro.core.inference as inference
    import repro.train as train
    from repro.baselines import sun

    assert cli.TRAIN_PRESETS == tuple(train.PRESETS)
    assert (cli.DEFAULT_TILE, cli.DEFAULT_OVERLAP) == (inference.DEFAULT_TILE, inference.DEFAULT_OVERLAP)
    assert command_parser("train-sun").parse_args([]).out == sun.default_checkpoint()
    assert command_parser("render").parse_args(["o", "--size", "120x216"]).size == (120, 216)
    from repro import camera

    defaults = command_parser("render").parse_args(["o"])
    assert defaults.size == camera.DEFAULT_SIZE and defaults.supersample == 1


@pytest.mark.parametrize("argv,expected", [
    (["reproduce", "--preset", "fastest"], "invalid choice: 'fastest' (choose from 'smoke', 'demo', 'quick', 'paper')"),
    (["reproduce", "--device", "gpu"], "unknown device 'gpu'; choose one of: auto, cpu, cuda, cuda:N, mps"),
    (["train", "--preset", "big", "--data-root", "d", "--out", "o"],
     "error: unknown preset 'big'; known presets: tiny-test, cpu-15min, cpu-4h, gpu-paper, gpu-fast-start, "
     "gpu-paper-half, data-arm, cpu-12h"),
])
def test_unknown_values_are_refused_with_the_valid_ones(argv, expected, capsys):
    try:
        code = main(argv)  # refused by the command itself
    except SystemExit as done:  # refused by argparse
        code = done.code
    assert code == 2
    assert expected in capsys.readouterr().err


def test_one_line_joins_a_multi_line_message():
    assert one_line("first\n\tsecond\n\nthird ") == "first | second | third"
