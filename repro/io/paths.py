"""Where things are: the repository, the shipped weights, and each preset's output folders.

Torch-free and cheap to import (the command line's ``--help`` and every notebook's first cell
use it). The repository root is found from this package's location, not from the current
folder, so a notebook run from any folder (``papermill notebooks/X.ipynb out.ipynb`` from
anywhere) writes inside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PACKAGE_DIR", "DEFAULT_PRESET", "repo_root", "weights_dir", "shipped_checkpoint", "output_dirs",
           "resolve_in_repo"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # repro/ (this module is repro/io/paths.py)
DEFAULT_PRESET = "quick"  # the preset whose outputs are the committed results/ and figures/


def repo_root() -> Path:
    """The repository this package is installed from (editable install): the folder holding
    ``repro/``. Raises ``FileNotFoundError`` when the package is not inside a checkout."""
    root = PACKAGE_DIR.parent
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(f"{root}: not a deblur-wild checkout (no pyproject.toml beside repro/); "
                                "install the repository with `pip install -e .` to run its notebooks")
    return root


def weights_dir() -> Path:
    """The folder of the weights shipped inside the package, ``repro/weights``."""
    return PACKAGE_DIR / "weights"


def shipped_checkpoint(kind: str) -> Path:
    """Where the shipped DeblurNet checkpoint of ``kind`` ("wild" or "si") is (it may be absent)."""
    if kind not in ("wild", "si"):
        raise ValueError(f"checkpoint kind must be 'wild' or 'si', got {kind!r}")
    return weights_dir() / f"deblurnet_{kind}.pt"


def output_dirs(preset: str, *, root: str | os.PathLike | None = None,
                out: str | os.PathLike | None = None) -> dict[str, Path]:
    """The folders a reproduction of ``preset`` writes to: ``results``, ``figures``, ``runs``, ``data_root``.

    Only :data:`DEFAULT_PRESET` writes the committed ``results/`` and ``figures/``; any other
    preset writes ``results/<preset>/``, ``figures/<preset>/``, ``runs/<preset>/`` and builds its
    data in ``data/wild-<preset>`` (a dataset built with other sizes never meets the default's).
    With ``out`` the outputs go to ``out/results``, ``out/figures`` and ``out/runs`` instead
    (the data stay where the preset keeps them). ``root`` defaults to :func:`repo_root`.
    """
    base = Path(root) if root is not None else repo_root()
    default = preset == DEFAULT_PRESET
    dirs = {"results": base / "results", "figures": base / "figures", "runs": base / "runs"}
    if out is not None:
        dirs = {name: Path(out) / name for name in dirs}
    elif not default:
        dirs = {name: folder / preset for name, folder in dirs.items()}
    dirs["data_root"] = base / "data" / ("wild" if default else f"wild-{preset}")
    return dirs


def resolve_in_repo(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """``path`` made absolute: as given when absolute, else relative to the repository root
    (not to the current folder, which differs between Jupyter, papermill and the CLI)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (Path(root) if root is not None else repo_root()) / p
