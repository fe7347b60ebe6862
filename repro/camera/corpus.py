"""The wallpaper photo corpus: large photos from four Debian wallpaper packages, fetched, never committed.

``python -m repro photos fetch DIR`` runs ``apt-get download`` for :data:`PACKAGES` (no root
needed once the package lists exist), unpacks each with ``dpkg-deb -x``, keeps the largest file of
each wallpaper, and writes ``DIR/manifest.csv``: package, version, file, sha256, bytes, width,
height, kind (photo or illustration), split and licence (from the package's copyright file). A
second fetch verifies the files against the manifest and downloads nothing when they match.

Splits are by file: photographs are ranked by the CRC-32 of their file name; the first
:data:`TEST_PHOTOGRAPHS` are test photos, the next :data:`VAL_PHOTOGRAPHS` validation photos, the
rest training photos. Illustrations (flat or smooth art, whose blurred and sharp frames are often
identical) only ever train. :func:`repro.camera.photos.photo_pool` reads these splits when it is
given the folder.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..io.files import file_sha256

__all__ = ["FetchError", "PACKAGES", "PHOTOGRAPHS", "TEST_PHOTOGRAPHS", "VAL_PHOTOGRAPHS", "MANIFEST", "CorpusFile",
           "fetch_corpus", "read_corpus", "verify_corpus", "corpus_splits", "licence_of", "is_corpus",
           "largest_per_wallpaper"]

# The only packages the corpus may use (issue 28).
PACKAGES = ("plasma-workspace-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "ukui-wallpapers")
# The wallpapers that are photographs (judged by eye on a contact sheet of these packages' files,
# Debian bookworm versions); every other wallpaper is an illustration: drawn, rendered or abstract.
PHOTOGRAPHS = frozenset({
    "Bridge_by_Sander_Klootwijk", "BytheWater", "ColdRipple", "DarkestHour", "Dragonfly_by_Bolly", "EveningGlow",
    "FallenLeaf", "Grey", "Infinite-Sea_by_Aury88", "Kite", "Kleiber_by_Lukas_Baubkus", "MilkyWay", "OneStandsOut",
    "Path", "Picture_0B_by_freespace", "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede",
    "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
    "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
    "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "summer_1am",
    "sunset_by_Aitzol_Berasategi",
})
TEST_PHOTOGRAPHS = 6
VAL_PHOTOGRAPHS = 6
MANIFEST = "manifest.csv"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_NO_APT = ("the wallpaper corpus comes from Debian packages (apt-get download, dpkg-deb), not found here: "
           "bring your own folder of photos instead with --photos DIR (e.g. DIV2K's training images)")


class FetchError(OSError):
    """The corpus could not be fetched (apt missing, a download or unpack failed): one line."""


@dataclass(frozen=True)
class CorpusFile:
    """One wallpaper of the corpus, as a row of ``manifest.csv``."""

    name: str  # the wallpaper's name (Plasma: its folder; others: the file's stem)
    package: str
    version: str
    file: str  # path relative to the corpus folder
    sha256: str
    bytes: int
    width: int
    height: int
    kind: str  # "photo" or "illustration"
    split: str  # "train", "val" or "test"
    licence: str


def _wallpaper_name(path: Path, root: Path) -> str:
    """Plasma keeps each wallpaper in ``wallpapers/<Name>/contents/images/WxH.ext``; the others
    are plain files in ``backgrounds/``."""
    parts = path.relative_to(root).parts
    if "wallpapers" in parts and "contents" in parts:
        return parts[parts.index("wallpapers") + 1]
    return path.stem


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # wallpapers reach 6000x4000: trusted package files
    with Image.open(path) as im:
        return im.size


def largest_per_wallpaper(root: Path) -> dict[str, Path]:
    """The largest image (in pixels) of each wallpaper under an unpacked package ``root``.

    Plasma's dark variants (``images_dark``), screenshots and symbolic links (the same file at
    several nominal sizes) are skipped."""
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(root.rglob("*")):
        if (path.suffix.lower() not in _IMAGE_SUFFIXES or path.is_symlink() or not path.is_file()
                or "images_dark" in path.parts or path.parent.name == "contents"):
            continue
        w, h = _image_size(path)
        name = _wallpaper_name(path, root)
        if name not in best or w * h > best[name][0]:
            best[name] = (w * h, path)
    return {name: path for name, (_, path) in best.items()}


def licence_of(copyright_text: str, filename: str) -> str:
    """The licence a machine-readable Debian copyright file gives ``filename`` (its last matching
    ``Files:`` paragraph wins, as the format says); "unknown" when none matches."""
    licence = "unknown"
    for paragraph in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", paragraph, re.M)
        lic = re.search(r"^License:[ \t]*(\S.*)$", paragraph, re.M)
        if not files or not lic:
            continue
        patterns = [p for p in files.group(1).split() if not p.startswith("debian/")]  # packaging files
        if any(fnmatch.fnmatch(filename, p) or fnmatch.fnmatch(filename, p.rsplit("/", 1)[-1]) for p in patterns):
            licence = lic.group(1).strip()
    return licence


def corpus_splits(names: list[str]) -> dict[str, str]:
    """name -> split: photographs ranked by CRC-32 of the name (test first, then validation, then
    train); illustrations train. Deterministic, and independent of the order of ``names``."""
    photos = sorted((n for n in names if n in PHOTOGRAPHS), key=lambda n: (zlib.crc32(n.encode("utf-8")), n))
    split = {n: "train" for n in names}
    for i, n in enumerate(photos):
        split[n] = "test" if i < TEST_PHOTOGRAPHS else "val" if i < TEST_PHOTOGRAPHS + VAL_PHOTOGRAPHS else "train"
    return split


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(_NO_APT) from None
    except subprocess.CalledProcessError as err:
        last = (err.stderr or err.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"{' '.join(cmd[:2])} failed: {last[0]} (run `apt-get update` once first; "
                           f"or bring your own photos with --photos DIR)") from None


def _download(work: Path, packages: tuple[str, ...]) -> dict[str, tuple[str, Path]]:
    """package -> (version, unpacked folder), from ``apt-get download`` and ``dpkg-deb -x``."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise FetchError(_NO_APT)
    _run(["apt-get", "download", *packages], work)
    out = {}
    for package in packages:
        debs = sorted(work.glob(f"{package}_*.deb"))
        if not debs:
            raise FetchError(f"apt-get download wrote no .deb for {package}")
        version = debs[-1].name.split("_")[1].replace("%3a", ":")
        unpacked = work / f"x-{package}"
        _run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], work)
        out[package] = (version, unpacked)
    return out


def read_corpus(dest: str | os.PathLike) -> list[CorpusFile]:
    """The rows of ``dest/manifest.csv`` (``FileNotFoundError`` when there is none)."""
    path = Path(dest) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no corpus manifest (python -m repro photos fetch {dest})")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ints = {"bytes", "width", "height"}
    return [CorpusFile(**{k.name: int(r[k.name]) if k.name in ints else r[k.name] for k in fields(CorpusFile)})
            for r in rows]


def is_corpus(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a corpus manifest (whose splits then decide the photos' splits)."""
    return (Path(folder) / MANIFEST).is_file()


def verify_corpus(dest: str | os.PathLike) -> list[str]:
    """Problems with the fetched files (missing, other size or sha256); empty when all match."""
    dest = Path(dest)
    problems = []
    for row in read_corpus(dest):
        path = dest / row.file
        if not path.is_file():
            problems.append(f"{row.file}: missing")
        elif path.stat().st_size != row.bytes or file_sha256(path) != row.sha256:
            problems.append(f"{row.file}: differs from the manifest (sha256)")
    return problems


def _write_manifest(dest: Path, rows: list[CorpusFile]) -> Path:
    path = dest / MANIFEST
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k.name for k in fields(CorpusFile)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    os.replace(tmp, path)  # atomic: an interrupted fetch leaves no half manifest
    return path


def fetch_corpus(dest: str | os.PathLike, *, packages: tuple[str, ...] = PACKAGES,
                 download=_download) -> list[CorpusFile]:
    """Fetch the corpus into ``dest`` (or verify it, when its manifest is there and every file
    matches: then nothing is downloaded). Returns the manifest's rows.

    ``download(work_dir, packages) -> {package: (version, unpacked_folder)}`` is replaceable
    (tests give a fake one). Raises :class:`FetchError` (one line) when apt is missing or fails.
    """
    dest = Path(dest)
    if is_corpus(dest) and not verify_corpus(dest):
        return read_corpus(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        unpacked = download(Path(tmp), tuple(packages))
        found = []  # (name, package, version, source path, licence)
        for package, (version, root) in unpacked.items():
            copyright_files = sorted(root.rglob("copyright"))
            text = copyright_files[0].read_text(errors="replace") if copyright_files else ""
            for name, path in largest_per_wallpaper(root).items():
                found.append((name, package, version, path, licence_of(text, path.name)))
        splits = corpus_splits([f[0] for f in found])
        rows = []
        for name, package, version, path, licence in sorted(found, key=lambda f: (f[1], f[0])):
            rel = Path(package) / f"{name}{path.suffix.lower()}"
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
            w, h = _image_size(dest / rel)
            rows.append(CorpusFile(name=name, package=package, version=version, file=rel.as_posix(),
                                   sha256=file_sha256(dest / rel), bytes=(dest / rel).stat().st_size, width=w, height=h,
                                   kind="photo" if name in PHOTOGRAPHS else "illustration", split=splits[name],
                                   licence=licence))
    _write_manifest(dest, rows)
    return rows
