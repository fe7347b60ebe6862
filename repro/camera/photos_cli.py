"""``python -m repro photos fetch|verify DIR``: the wallpaper photo corpus (:mod:`repro.camera.corpus`)."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from .corpus import PACKAGES, fetch_corpus, verify_corpus

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("fetch", "verify"),
                        help="fetch: download and unpack the wallpaper packages (or verify what is there); "
                             "verify: check the files against DIR/manifest.csv")
    parser.add_argument("dir", type=Path, help="the corpus folder, e.g. data/photos (git-ignored; never committed)")
    parser.epilog = f"packages: {', '.join(PACKAGES)}"


def run(args: argparse.Namespace) -> int:
    if args.action == "verify":
        problems = verify_corpus(args.dir)
        for p in problems:
            log.error("%s", p)
        log.info("%s: %s", args.dir, "every file matches the manifest" if not problems else f"{len(problems)} problems")
        return 1 if problems else 0
    rows = fetch_corpus(args.dir)
    kinds = Counter((r.kind, r.split) for r in rows)
    log.info("%s: %d wallpapers (%s)", args.dir, len(rows),
             ", ".join(f"{n} {kind}s {split}" for (kind, split), n in sorted(kinds.items())))
    return 0
