"""How a result was made: preset, device, seed, versions, date, commit.

Every file written under ``results/`` carries (or sits beside) one of these records.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["provenance", "provenance_line", "portable_path", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) holding repro/ (this is repro/io/)


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as it should be recorded in a committed file: relative to the repository root
    when it lies inside it (``data/wild``, ``repro/weights/deblurnet_wild.pt``), so tables made in
    a temporary clone do not name that clone; as given otherwise (a user's own data folder). A
    folder linked into the repository (a clone's ``data/corpus`` pointing at another checkout's) is
    named by its place in the repository, not by the link's target."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for candidate in (Path(os.path.abspath(p)), p.resolve()):  # the path as written, then its links followed
        try:
            return candidate.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            continue
    return str(p)


def _portable(value: object) -> object:
    """Paths (``os.PathLike`` or absolute path strings) inside ``value`` made :func:`portable_path`."""
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isabs(value)):
        return portable_path(value)
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_portable(v) for v in value)
    return value


def _git_commit(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
        # outputs (results/, figures/) change during a run: only code and notebooks make it "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results", ":(exclude)figures"], cwd=cwd,
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def describe_device(device: str = "auto") -> str:
    """A human-readable name of the device a run used ("cpu (2 cores, x86_64)" or the GPU name)."""
    import torch

    from ..core.devices import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def provenance(*, preset: str | None = None, device: str = "auto", seed: int | None = None,
               **extra: object) -> dict:
    """A dict describing a run: preset, device, seed, date (UTC), versions and git commit.

    ``extra`` entries are added as given, except that paths in them are recorded by
    :func:`portable_path` (repository-relative where possible)."""
    import numpy
    import torch

    from .. import __version__

    record: dict[str, object] = {
        "preset": preset,
        "device": describe_device(device),
        "seed": seed,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "repro": __version__,
        "commit": _git_commit(REPO_ROOT),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    record.update({k: _portable(v) for k, v in extra.items()})
    return record


def provenance_line(record: dict) -> str:
    """One line for a Markdown/CSV header: ``key=value; key=value; ...``."""
    return "; ".join(f"{k}={v}" for k, v in record.items() if v is not None)
