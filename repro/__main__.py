"""Command line: ``python -m repro COMMAND ...``.

Each command lives in the module named below, which defines ``run(args) -> int``. Its arguments
come from ``add_arguments(parser)`` in that module, or, for modules that import torch at the
top, from the torch-free function named in :data:`COMMANDS` (:mod:`repro.core.arguments`). Modules are
imported only when their command runs, so ``--help`` is instant and a broken or slow import in
one command never affects the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

DESCRIPTION = ('A reproducible study of "Motion Deblurring in the Wild" (Noroozi et al., GCPR 2017). '
               "Run `python -m repro COMMAND --help` for a command's options.")
EPILOG = """examples:
  python -m repro deblur blurry.jpg sharp.png        deblur your photo with the shipped DeblurNet^WILD
  python -m repro reproduce                          every notebook on the default preset (quick)
  python -m repro reproduce --preset demo            a short run; writes results/demo/, figures/demo/
  python -m repro ablate                             the ablation study (about 2 hours on 2 CPU cores)"""

# command -> (module that runs it, one-line help, "module:function" defining its arguments or None
# for the module's own add_arguments)
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "deblur": ("repro.core.inference", "deblur an image (or a folder of images) with DeblurNet",
               "repro.core.arguments:deblur_arguments"),
    "render": ("repro.camera.cli", "render clips of the virtual 240 fps camera", None),
    "photos": ("repro.camera.photos_cli", "fetch the wallpaper photo corpus (Debian packages) into a folder", None),
    "dead-leaves": ("repro.camera.deadleaves", "write dead-leaves images: procedural training photos for the camera",
                    None),
    "build-wild": ("repro.wild.cli", "build a WILD dataset (blurry/sharp pairs) from high-frame-rate video", None),
    "train": ("repro.train", "train DeblurNet^WILD or DeblurNet^SI", "repro.core.arguments:train_arguments"),
    "evaluate": ("repro.evaluate.cli", "evaluate methods on a paired test split (Table 2)", None),
    "train-sun": ("repro.baselines.sun.cli", "train the Sun et al. 2015 motion-kernel CNN",
                  "repro.core.arguments:train_sun_arguments"),
    "gpu-job": ("repro.train.gpu_job", "the GPU job: prepare its carry here, run it on a GPU (docs/gpu.md)",
                "repro.core.arguments:gpu_job_arguments"),
    "gpu-ship": ("repro.train.gpu_ship", "ship a GPU job's networks if they beat the shipped ones on validation",
                 "repro.core.arguments:gpu_ship_arguments"),
    "reproduce": ("repro.study.reproduce", "run every notebook through papermill", None),
    "ablate": ("repro.ablations", "train and evaluate the ablation variants (the paper's design claims)", None),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m repro", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_, _) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def command_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one command, built without importing the command's module when its
    arguments are defined elsewhere (see :data:`COMMANDS`)."""
    module_name, help_, arguments = COMMANDS[command]
    parser = argparse.ArgumentParser(prog=f"python -m repro {command}", description=help_)
    if arguments is None:
        add = importlib.import_module(module_name).add_arguments
    else:
        where, function = arguments.split(":")
        add = getattr(importlib.import_module(where), function)
    add(parser)
    return parser


def one_line(message: str) -> str:
    """An error message on one line (a multi-line one is joined with ' | ')."""
    return " | ".join(part.strip() for part in str(message).strip().splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    # Parse only the command name here; the command's own parser reads the rest.
    args, rest = top.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    sub_args = command_parser(args.command).parse_args(rest)
    try:
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(sub_args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        # Bad input (missing or unwritable files, bad values, unreadable images or checkpoints):
        # one line naming the file and the reason, a non-zero exit, no traceback.
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
