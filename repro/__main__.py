"""Command line: ``python -m repro COMMAND ...``.

Each command lives in the module named below, which defines ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so a broken or slow
import in one command never affects the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "deblur": ("repro.inference", "deblur an image (or a folder of images) with DeblurNet"),
    "render": ("repro.render", "render clips of the virtual 240 fps camera"),
    "build-wild": ("repro.wild", "build a WILD dataset (blurry/sharp pairs) from high-frame-rate video"),
    "train": ("repro.train", "train DeblurNet^WILD or DeblurNet^SI"),
    "evaluate": ("repro.evaluate", "evaluate methods on a paired test split (Table 2)"),
    "train-sun": ("repro.baselines.sun", "train the Sun et al. 2015 motion-kernel CNN"),
    "reproduce": ("repro.reproduce", "run every notebook through papermill"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m repro", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    # Parse only the command name here; the command's own module parses the rest.
    args, rest = top.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    module_name, help_ = COMMANDS[args.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m repro {args.command}", description=help_)
    module.add_arguments(parser)
    sub_args = parser.parse_args(rest)
    try:
        return int(module.run(sub_args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError) as exc:
        # Bad input: a clear one-line message and a non-zero exit, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
