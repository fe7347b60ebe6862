"""Files: atomic writes (a reader never sees a half-written file, a kill never leaves one) and a
file's sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file keeps ``path``'s suffix (so writers that infer the format from the
    extension work). On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def check_input_file(path: Path, kind: str, *, missing: str = "no such file", empty: str = "file is empty",
                     error: type[Exception] | None = None) -> None:
    """A one-line error naming ``path`` unless it is a non-empty file (a ``kind`` file, e.g.
    "image"): ``FileNotFoundError`` (``missing`` says why), ``IsADirectoryError`` for a folder,
    ``ValueError`` for an empty file (``empty``); ``error`` raises that type in all three cases instead."""
    if not path.exists():
        raise (error or FileNotFoundError)(f"{path}: {missing}")
    if path.is_dir():
        article = "an" if kind[:1] in "aeiou" else "a"
        raise (error or IsADirectoryError)(f"{path}: is a folder, expected {article} {kind} file")
    if path.stat().st_size == 0:
        raise (error or ValueError)(f"{path}: {empty}")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest (64 digits) of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy the file ``src`` onto ``dst`` atomically (a kill leaves the old ``dst`` or the new one)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Fail now, not after the work, when ``path`` cannot be written.

    ``path`` is a file to write (``folder=False``) or a folder to write into. Raises
    ``IsADirectoryError`` / ``NotADirectoryError`` when ``path`` exists as the other kind,
    ``NotADirectoryError`` when a parent on the way is a file, ``PermissionError`` when the
    nearest existing folder cannot be written; each one line naming ``path`` and the reason.
    Whether that folder takes a file is tried, not guessed from permission bits (root passes
    ``os.access`` everywhere, ``/proc`` included): an empty probe file is made there and removed
    at once; nothing else is created.
    """
    path = Path(path)
    if path.exists():
        if path.is_dir() and not folder:
            raise IsADirectoryError(f"{path}: is a folder, expected a file name to write")
        if not path.is_dir() and folder:
            raise NotADirectoryError(f"{path}: exists and is not a folder")
        target = path if folder else path.parent
    else:
        target = path.parent
    while not target.exists():  # the nearest existing ancestor decides
        target = target.parent
    if not target.is_dir():
        raise NotADirectoryError(f"{path}: cannot be written: {target} is a file, not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot be written: no permission to write in {target}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=target)
    except OSError as exc:
        raise PermissionError(f"{path}: cannot be written: {target} takes no new files "
                              f"({exc.strerror or type(exc).__name__})") from None
    os.close(fd)
    os.unlink(probe)
