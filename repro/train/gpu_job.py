"""The GPU job (issue 43): one command that turns a lent GPU's minutes into the networks ``make gpu-ship`` reads.

Two steps, one on each side of a device call (``docs/gpu.md``):

* ``python -m repro gpu-job prepare`` (this CPU): the corpus's training and validation photos
  downscaled to what the virtual camera's largest magnification samples of them
  (:data:`PHOTO_SCALE`), with a manifest that keeps each photo's full size, into an ignored folder
  that travels with the call (at most :data:`CARRY_LIMIT_MIB`); the test photos never travel;
* ``python -m repro gpu-job run`` (the device, or any machine): within ``--minutes`` of wall time,
  builds the WILD pairs of the bundled photos and of the carried corpus on the machine's cores (the
  camera's own flow; validation pairs, the paper's windows and the short windows), trains
  DeblurNet^WILD and DeblurNet^SI side by side on the same photos for the same minutes with the
  recipe :data:`RECIPE`, each checkpoint chosen on both photo sets' validation pairs, and writes
  the :data:`BUNDLE` (at most 8 files, each at most 16 MiB) to ``--out``.

Every check runs before any work and fails in one line: a missing corpus or carry, a carry over
:data:`CARRY_LIMIT_MIB`, ``--device cuda`` without a CUDA device, a budget that leaves too little
training time to validate once (:func:`plan_budget`), a recipe that :class:`TrainConfig` refuses.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


CARRY_LIMIT_MIB = 48.0  # what the job's carry may take (the device call carries at most 64 MiB with the tree)
DEVICE_TREE_LIMIT_MIB = 64.0  # the checkout and the carry together, as a device call sends them
FILE_LIMIT_MIB = 16.0  # each file that comes back from the device
KINDS = ("wild", "si")
# what a run writes to --out, and all that `gpu-ship` reads: each network's fp16 weights and card, the
# two training logs, the job's log and its summary (8 files: the most a device call returns)
BUNDLE = ("deblurnet_wild.pt", "deblurnet_wild.json", "deblurnet_si.pt", "deblurnet_si.json",
          "train_gpu_wild.csv", "train_gpu_si.csv", "job.log", "summary.json")
JOB_NAME = "gpu-job"  # the cards' "job" field, which gpu-ship checks

# ---- the recipe: every choice of the networks' training in one place (change it here) ----------------
BASE_PRESET = "cpu-12h"  # the shipped networks' recipe: augmentation, SI kernels matched to the WILD blur
RECIPE: dict[str, str] = {  # TrainConfig fields over BASE_PRESET, for both networks (--set KEY=VALUE)
    "width": "0.5",  # the widest whose fp16 weights (12.4 MB) come back in one 16 MiB file (full width: 49 MB)
    "crop": "128",  # the GPU presets' crops
    "batch_size": "10",  # the paper's batch
    "precision": "auto",  # bf16 autocast on a GPU with bf16 (the H100 and H200), float32 elsewhere
    "channels_last": "true",
    "steps": "1000000",  # never reached: the minutes stop the run
    "decay_every": "4000",  # the learning rate x0.75 every 4000 steps (about 10 000 steps in 4 minutes)
    "val_every": "500",
    "val_images": "0",  # every validation pair of both photo sets
    "patience": "0",  # no early stop within minutes
    "checkpoint_every": "1000",
    # issue 41 (do no harm) until it has chosen: half of each batch short windows (SI: near-identity
    # kernels), 30 % of the items under the same disc blur in both crops, the paper's loss only
    "short_fraction": "0.5",
    "defocus_fraction": "0.3",
    "loss_log_weight": "0",
}
TRAIN_PAIRS = 4000  # at most this many pairs of the paper's windows per photo set (the build minutes decide)
SHORT_PAIRS = 1500  # at most this many short windows (N = 1, 3, 5 frames) per photo set
VAL_PAIRS = 48  # validation pairs per photo set (make corpus-data's)
BUILD_RECIPE = ("--magnification", "multi", "--flow-backend", "true", "--no-progress")  # make corpus-data's
SHORT_WINDOWS = ("--n-min", "1", "--n-max", "5")

# ---- the budget ----------------------------------------------------------------------------------
BUILD_SHARE = 0.28  # of the wall budget: building pairs (validation first, then training pairs)
RESERVE_SHARE = 0.17  # of the wall budget, at least MIN_RESERVE_S: loading pairs, validations, export
MIN_RESERVE_S = 40.0
MIN_BUILD_S = 15.0  # the training builds' least time, after an overrun of the validation builds
MIN_TRAIN_S = 20.0  # less training time than this cannot reach a validation after the first


def photo_scale() -> float:
    """Pixels of a photo the virtual camera samples at most per pixel of the photo: the largest
    magnification (``MAGNIFICATION_RANGE``'s top) at the camera's own frame height (0.75)."""
    from ..camera.geometry import REFERENCE_ROWS
    from ..camera.render import DEFAULT_SIZE
    from ..camera.textures import MAGNIFICATION_RANGE

    return MAGNIFICATION_RANGE[1] * DEFAULT_SIZE[0] / REFERENCE_ROWS


# --------------------------------------------------------------------------- prepare (the CPU side)


def folder_mib(folder: Path) -> float:
    """The size of the files under ``folder`` in MiB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def tree_mib(root: str | os.PathLike = ".") -> float | None:
    """The size in MiB of the git checkout at ``root`` as a device call sends it (tracked files and
    untracked ones git does not ignore); None outside a git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = [Path(root) / name for name in listed.decode().split("\0") if name]
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink()) / 2**20


def prepare(photos: str | os.PathLike, carry: str | os.PathLike, *, scale: float | None = None,
            quality: int = 95, limit_mib: float = CARRY_LIMIT_MIB) -> float:
    """Write the corpus ``photos``' training and validation photos (never its test photos) into
    ``carry/photos``, each area-averaged to ``scale`` (default :func:`photo_scale`) of its size and
    saved as JPEG of ``quality``, with a ``manifest.csv`` that keeps each photo's full width and height
    (the camera films the copy as the full photo, :class:`repro.camera.photos.Photo`) and the copy's
    bytes and sha256. Returns the carry's size in MiB; ``ValueError`` over ``limit_mib``."""
    import csv

    from PIL import Image

    from ..camera.corpus import MANIFEST, CorpusFile, is_corpus, read_corpus
    from ..io.files import file_sha256

    photos, carry = Path(photos), Path(carry)
    if not is_corpus(photos):
        raise FileNotFoundError(f"{photos}: no photo corpus there (make photos fetches it)")
    scale = photo_scale() if scale is None else float(scale)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if (carry / "photos").exists():
        shutil.rmtree(carry / "photos")
    rows = []
    for row in read_corpus(photos):
        if row.split == "test":
            continue
        dest = carry / "photos" / Path(row.file).with_suffix(".jpg")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(photos / row.file) as img:
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img.convert("RGB").resize(size, Image.Resampling.BOX).save(dest, quality=quality)
        rows.append(replace(row, file=dest.relative_to(carry / "photos").as_posix(), bytes=dest.stat().st_size,
                            sha256=file_sha256(dest)))
    with open(carry / "photos" / MANIFEST, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CorpusFile.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    size = folder_mib(carry)
    if size > limit_mib:
        raise ValueError(f"{carry}: the carry takes {size:.1f} MiB, over the limit of {limit_mib:g} MiB")
    return size


# --------------------------------------------------------------------------- the budget


@dataclass(frozen=True)
class Budget:
    """How a run spends its wall-clock ``total_s``: building pairs, training (each network, side by
    side), and the reserve for loading pairs, validations and the export."""

    total_s: float
    build_s: float
    train_s: float
    reserve_s: float


def plan_budget(minutes: float, *, build_minutes: float | None = None,
                reserve_minutes: float | None = None) -> Budget:
    """The :class:`Budget` of ``minutes`` (build :data:`BUILD_SHARE`, reserve :data:`RESERVE_SHARE`
    but at least :data:`MIN_RESERVE_S`, unless given); ``ValueError`` (one line) when the training
    time left is under :data:`MIN_TRAIN_S`, too short to validate after the first validation."""
    if not minutes > 0:
        raise ValueError(f"the budget must be > 0 minutes, got {minutes}")
    total = minutes * 60
    build = total * BUILD_SHARE if build_minutes is None else build_minutes * 60
    reserve = max(MIN_RESERVE_S, total * RESERVE_SHARE) if reserve_minutes is None else reserve_minutes * 60
    if build < 0 or reserve < 0:
        raise ValueError("build and reserve minutes must be >= 0")
    train = total - build - reserve
    if train < MIN_TRAIN_S:
        raise ValueError(f"a budget of {minutes:g} min leaves {train:.0f} s to train after {build:.0f} s of building and "
                         f"{reserve:.0f} s of reserve: too short to validate once (at least {MIN_TRAIN_S:.0f} s)")
    return Budget(total, build, train, reserve)


# --------------------------------------------------------------------------- the checks before any work


def check_device(device: str) -> str:
    """``device`` ("cuda", "cuda:N" or "cpu") if this machine has it, else ``ValueError`` (one line)."""
    import torch

    if device == "cpu":
        return device
    if not device.startswith("cuda"):
        raise ValueError(f"device must be cuda, cuda:N or cpu, got {device!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"DEVICE={device} but torch {torch.__version__} sees no CUDA device here "
                         "(DEVICE=cpu rehearses the job on the CPU)")
    return device


def check_carry(carry: Path, limit_mib: float = CARRY_LIMIT_MIB) -> float:
    """The carry's size in MiB once it holds a prepared corpus and is within ``limit_mib``."""
    from ..camera.corpus import is_corpus, read_corpus

    if not is_corpus(carry / "photos"):
        raise FileNotFoundError(f"{carry}/photos: no prepared corpus (python -m repro gpu-job prepare --carry {carry})")
    missing = [r.file for r in read_corpus(carry / "photos") if not (carry / "photos" / r.file).is_file()]
    if missing:
        raise FileNotFoundError(f"{carry}/photos: {len(missing)} photo(s) of its manifest missing, e.g. {missing[0]}")
    size = folder_mib(carry)
    if size > limit_mib:
        raise ValueError(f"{carry}: the carry takes {size:.1f} MiB, over the limit of {limit_mib:g} MiB")
    return size


def job_settings(extra: list[str] = ()) -> list[str]:
    """The ``--set`` items of both runs: :data:`RECIPE`, then ``extra`` (``KEY=VALUE``; the last of
    a key wins), checked against :class:`TrainConfig` (``ValueError`` naming an unknown or bad one)."""
    from .config import get_preset

    items = [f"{k}={v}" for k, v in RECIPE.items()] + list(extra)
    changes = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        changes[key.strip()] = value.strip()
    get_preset(BASE_PRESET).replace(**changes)  # raises on an unknown field or value
    return [f"{k}={v}" for k, v in changes.items()]


# --------------------------------------------------------------------------- run (the device side)


@dataclass
class _Job:
    """A run's folders, settings and its own log (``work/job.log``)."""

    carry: Path
    out: Path
    work: Path
    device: str
    budget: Budget
    settings: list[str]
    workers: int
    seed: int
    t0: float
    val_pairs: int = VAL_PAIRS
    interrupted: set[str] = field(default_factory=set)  # the commands the job stopped at a deadline

    @property
    def photos(self) -> Path:
        return self.carry / "photos"

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def device_of(self, kind: str) -> str:
        """Where the ``kind`` network trains: with ``cuda`` and two or more GPUs, each network on
        its own (WILD on cuda:0, SI on cuda:1); else both on ``device``, side by side."""
        import torch

        if self.device == "cuda" and torch.cuda.device_count() >= 2:
            return f"cuda:{KINDS.index(kind)}"
        return self.device

    @property
    def threads(self) -> int:
        """Torch threads of each of the two networks' runs."""
        return max(1, self.workers // 2)

    def note(self, text: str) -> None:
        """A stamped line of the job's log (and its output)."""
        line = f"[{self.elapsed():6.1f} s] {text}"
        print(line, flush=True)
        with open(self.work / "job.log", "a") as f:
            f.write(line + "\n")


def _start(job: _Job, args: list[str], name: str) -> subprocess.Popen:
    """Start ``python -m repro ARGS`` with its output in ``work/<name>.txt`` (noted in the log)."""
    job.note(f"start {name}: python -m repro {' '.join(args)}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    with open(job.work / f"{name}.txt", "w") as out:
        return subprocess.Popen([sys.executable, "-m", "repro", *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def _finish(job: _Job, procs: dict[str, subprocess.Popen], deadline: float, *,
            ready: Callable[[str], bool] = lambda name: True, grace: float | None = None) -> dict[str, int]:
    """Wait for ``procs`` until ``deadline`` (seconds since the start), then interrupt what still runs,
    except that one not yet ``ready`` (a run without a ``best.pt``) may go on until ``grace``; each
    one's exit code and the last lines of its output into the log."""
    codes = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(1.0, deadline - job.elapsed()))
        except subprocess.TimeoutExpired:
            while grace is not None and proc.poll() is None and not ready(name) and job.elapsed() < grace:
                time.sleep(0.5)
            if proc.poll() is None:
                job.note(f"{name}: still running at the deadline, interrupted")
                job.interrupted.add(name)
                proc.send_signal(signal.SIGINT)  # the run stops where it is; its best.pt stays
            try:
                codes[name] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        tail = (job.work / f"{name}.txt").read_text(errors="replace").splitlines()[-8:]
        job.note(f"{name} ended with code {codes[name]}:\n    " + "\n    ".join(tail))
    return codes


def _pairs_built(root: Path, split: str) -> int:
    """Accepted pairs of ``root``'s manifest in ``split`` (0 when not built)."""
    from ..wild.manifest import read_manifest

    manifest = root / "manifest.csv"
    if not manifest.is_file():
        return 0
    return sum(1 for r in read_manifest(manifest) if r["split"] == split and r["accepted"])


def _build(job: _Job) -> dict[str, dict[str, int]]:
    """Every set's pairs in ``work/data``: both photo sets' validation pairs first (side by side, half
    the build time at most), then the paper's windows and the short windows of both sets side by side
    until the build time is spent."""
    data = job.work / "data"
    corpus = ["--photos", str(job.photos)]
    seed = ["--seed", str(job.seed)]
    val_minutes = f"{job.budget.build_s / 2 / 60:.3f}"
    procs = {f"build_val_{name}": _start(
        job, ["build-wild", "virtual", str(data / name), "--split", "val", "--pairs", str(job.val_pairs), "--workers",
              str(max(1, job.workers // 2)), "--max-minutes", val_minutes, *seed, *photos, *BUILD_RECIPE],
        f"build_val_{name}") for name, photos in (("bundled", []), ("corpus", corpus))}
    # not interrupted: the validation pairs are needed, and --max-minutes bounds their builds
    failed = [name for name, code in _finish(job, procs, job.budget.build_s, grace=math.inf,
                                             ready=lambda name: False).items() if code]
    if failed:
        raise RuntimeError(f"{', '.join(failed)} failed (job.log)")
    left = max(MIN_BUILD_S, job.budget.build_s - job.elapsed()) / 60  # a loaded machine: still time for a scene
    long_workers = max(1, job.workers // 3)  # per photo set; the short windows, cheaper, get the rest
    short_workers = max(1, (job.workers - 2 * long_workers) // 2)
    procs = {}
    for name, photos in (("bundled", []), ("corpus", corpus)):
        procs[f"build_train_{name}"] = _start(
            job, ["build-wild", "virtual", str(data / name), "--split", "train", "--pairs", str(TRAIN_PAIRS),
                  "--workers", str(long_workers), "--max-minutes", f"{left:.3f}", *seed, *photos, *BUILD_RECIPE],
            f"build_train_{name}")
        procs[f"build_short_{name}"] = _start(
            job, ["build-wild", "virtual", str(data / f"short_{name}"), "--split", "train", "--pairs", str(SHORT_PAIRS),
                  "--workers", str(short_workers), "--max-minutes", f"{left:.3f}", *seed, *photos, *SHORT_WINDOWS,
                  *BUILD_RECIPE], f"build_short_{name}")
    roots = {f"build_train_{n}": (data / n) for n in ("bundled", "corpus")}
    roots.update({f"build_short_{n}": (data / f"short_{n}") for n in ("bundled", "corpus")})
    # a scene started before the deadline may finish; a build without a pair yet (a loaded machine) goes on
    codes = _finish(job, procs, job.budget.build_s + 60, grace=math.inf,
                    ready=lambda name: _pairs_built(roots[name], "train") > 0)
    failed = [name for name, code in codes.items() if code and name not in job.interrupted]
    if failed:
        raise RuntimeError(f"{', '.join(failed)} failed (job.log)")
    counts = {name: {"val": _pairs_built(data / name, "val"), "train": _pairs_built(data / name, "train"),
                     "short": _pairs_built(data / f"short_{name}", "train")} for name in ("bundled", "corpus")}
    job.note(f"pairs built: {json.dumps(counts)}")
    empty = [f"{name} {what}" for name, built in counts.items() for what, n in built.items() if not n]
    if empty:
        raise RuntimeError(f"no pairs built for {', '.join(empty)} within the build time (job.log)")
    return counts


def train_arguments(job: _Job, kind: str, minutes: float) -> list[str]:
    """The ``python -m repro train`` arguments of the ``kind`` network: both photo sets' pairs (WILD:
    and their short windows), validated on both sets' validation pairs."""
    data = job.work / "data"
    args = ["train", "--preset", BASE_PRESET, "--data", kind, "--data-root", str(data / "bundled"),
            "--extra-root", str(data / "corpus"), "--val-root", str(data / "bundled"), "--val-root", str(data / "corpus"),
            "--out", str(job.work / "runs" / f"gpu_{kind}"), "--run", f"gpu_{kind}",
            "--results", str(job.work / "logs"), "--figures", str(job.work / "figures"), "--device", job.device_of(kind),
            "--seed", str(job.seed), "--max-minutes", f"{minutes:.3f}", "--threads", str(job.threads), "--workers", "4"]
    if kind == "wild":
        args += ["--short-root", str(data / "short_bundled"), "--short-root", str(data / "short_corpus")]
    for item in job.settings:
        args += ["--set", item]
    return args


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))} ({os.cpu_count()} cores)"
    return f"cpu ({os.cpu_count()} cores)"


def _stored(job: _Job, checkpoint: Path) -> dict:
    """A card's ``stored`` entry for ``checkpoint``'s weights in float16 (the bundle must be small;
    float16 halves it): how far rounding them moves each validation image's PSNR, on the job's
    device (:func:`repro.measure.storage.storage_delta`); ``gpu-ship`` refuses weights that move an
    image by more than 0.01 dB."""
    from ..core.checkpoint import load_model
    from ..measure.storage import storage_delta

    roots = [job.work / "data" / "bundled", job.work / "data" / "corpus"]
    delta = storage_delta(load_model(checkpoint)[0], roots, device=job.device)
    return {"dtype": "fp16", **delta,
            "measured_by": f"repro.measure.storage on {delta['images']} validation pairs of the job's data"}


def _export(job: _Job, counts: dict, codes: dict[str, int], minutes: float) -> dict:
    """The bundle in ``out``: each network's best.pt as fp16 weights with its card, the logs, the
    summary (returned)."""
    from .loop import export_weights
    from .logs import summarise_log

    device = _device_name(job.device)
    runs = {}
    for kind in KINDS:
        run = job.work / "runs" / f"gpu_{kind}"
        log_csv = job.work / "logs" / f"train_gpu_{kind}.csv"
        if not log_csv.is_file() and (run / "log.csv").is_file():  # an interrupted run: its last log.csv
            log_csv.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / "log.csv", log_csv)
        if not (run / "best.pt").is_file() or not log_csv.is_file():
            raise RuntimeError(f"gpu_{kind} left no best.pt or no log (exit code {codes.get(f'train_{kind}')}; "
                               "interrupted before its first checkpoint? job.log)")
        summary = summarise_log(log_csv)
        shutil.copyfile(log_csv, job.out / f"train_gpu_{kind}.csv")
        export_weights(
            run / "best.pt", job.out / f"deblurnet_{kind}.pt", half=True, job=JOB_NAME, run=f"gpu_{kind}",
            command=(f"python -m repro gpu-job run --minutes {job.budget.total_s / 60:g} (its run gpu_{kind}: python -m "
                     f"repro {' '.join(train_arguments(job, kind, minutes))})").replace(str(job.work), "<work>"),
            exported_from=f"gpu_{kind}/best.pt (best validation PSNR; chosen on the validation split, never on test)",
            device=(f"{device}, shared by the two networks side by side" if job.device_of(kind) == job.device
                    else f"{_device_name(job.device_of(kind))}, the other network on another GPU"),
            minutes=summary["minutes"],
            seconds_per_step=summary["s/step"], data_share_of_step=summary["data share"],
            training_log=f"train_gpu_{kind}.csv", pairs=counts, stored=_stored(job, run / "best.pt"))
        runs[kind] = {k: summary[k] for k in ("steps", "minutes", "best gain", "best at step", "last gain",
                                              "val input dB")} | {"exit code": codes.get(f"train_{kind}")}
    return {"job": JOB_NAME, "device": device, "budget": asdict(job.budget), "recipe": job.settings,
            "base_preset": BASE_PRESET, "pairs": counts, "runs": runs, "seconds": round(job.elapsed(), 1),
            "commit": _commit()}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def check_bundle_sizes(out: Path) -> list[str]:
    """Files of ``out`` over :data:`FILE_LIMIT_MIB`, or more files than :data:`BUNDLE` (as lines)."""
    files = [p for p in out.iterdir() if p.is_file()]
    problems = [f"{p.name}: {p.stat().st_size / 2**20:.1f} MiB, over {FILE_LIMIT_MIB:g} MiB" for p in files
                if p.stat().st_size > FILE_LIMIT_MIB * 2**20]
    if len(files) > len(BUNDLE):
        problems.append(f"{len(files)} files, over {len(BUNDLE)}")
    return problems


def run_job(carry: str | os.PathLike, out: str | os.PathLike, *, device: str = "cuda", minutes: float = 9.0,
            work: str | os.PathLike | None = None, build_minutes: float | None = None,
            reserve_minutes: float | None = None, extra_settings: list[str] = (), workers: int | None = None,
            seed: int = 0, val_pairs: int = VAL_PAIRS, prepare_from: str | os.PathLike | None = None) -> dict:
    """The whole job (see the module's doc); every check first. With ``prepare_from`` (a photo
    corpus) the carry is prepared first (:func:`prepare`; a machine that is both sides: ``make gpu-job``).
    Returns the summary it wrote."""
    t0 = time.monotonic()
    carry, out = Path(carry), Path(out)
    device = check_device(device)
    if val_pairs < 1:
        raise ValueError(f"val_pairs must be >= 1, got {val_pairs}")
    budget = plan_budget(minutes, build_minutes=build_minutes, reserve_minutes=reserve_minutes)
    settings = job_settings(list(extra_settings))
    if prepare_from is not None:
        from ..camera.corpus import is_corpus

        if not is_corpus(prepare_from):
            raise FileNotFoundError(f"{prepare_from}: no photo corpus there (make photos fetches it)")
        prepare(prepare_from, carry)
    size = check_carry(carry)
    out.mkdir(parents=True, exist_ok=True)
    stale = [name for name in BUNDLE if (out / name).exists()]
    if stale:
        raise FileExistsError(f"{out}: holds an earlier bundle ({stale[0]}, ...); give an empty folder")
    work = Path(work) if work is not None else Path(os.environ.get("TMPDIR", "/tmp")) / "gpu_job"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    job = _Job(carry, out, work, device, budget, settings, workers or os.cpu_count() or 1, seed, t0, val_pairs)
    job.note(f"gpu-job on {_device_name(device)}: budget {asdict(budget)}; carry {size:.1f} MiB; recipe {settings}")
    try:
        counts = _build(job)
        start = job.elapsed()
        train_minutes = max(MIN_TRAIN_S, budget.total_s - budget.reserve_s - start) / 60
        procs = {f"train_{kind}": _start(job, train_arguments(job, kind, train_minutes), f"train_{kind}")
                 for kind in KINDS}
        # at the deadline a run is interrupted once it has a best.pt and a log.csv (its first validation
        # and checkpoint); one that has not may go on until the budget's end, or, where the build overran
        # (a loaded machine), until it has had its planned training time
        codes = _finish(job, procs, budget.total_s - min(30.0, budget.reserve_s / 2),
                        grace=max(budget.total_s, start + budget.train_s),
                        ready=lambda name: all((work / "runs" / f"gpu_{name[len('train_'):]}" / f).is_file()
                                               for f in ("best.pt", "log.csv")))
        summary = _export(job, counts, codes, train_minutes)
    finally:
        shutil.copyfile(work / "job.log", out / "job.log")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    job.note(f"done: {json.dumps(summary['runs'])}")
    shutil.copyfile(work / "job.log", out / "job.log")
    problems = check_bundle_sizes(out)
    if problems:
        raise ValueError(f"{out}: {'; '.join(problems)}: it would not all come back from the device")
    return summary


# --------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``gpu-job`` command's arguments: defined in :mod:`repro.core.arguments` (torch-free, for a fast --help)."""
    from ..core.arguments import gpu_job_arguments

    gpu_job_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """``python -m repro gpu-job prepare|run``."""
    if args.step == "prepare":
        size = prepare(args.photos, args.carry)
        print(f"{args.carry}: {size:.1f} MiB to carry (limit {CARRY_LIMIT_MIB:g} MiB)")
        tree = tree_mib()
        if tree is not None:
            print(f"the checkout's files: {tree:.1f} MiB; with the carry {tree + size:.1f} of the "
                  f"{DEVICE_TREE_LIMIT_MIB:g} MiB a device call sends")
        if tree is not None and tree + size > DEVICE_TREE_LIMIT_MIB:
            print(f"warning: the checkout's files take {tree:.1f} MiB: with the carry {tree + size:.1f} MiB, over the "
                  f"{DEVICE_TREE_LIMIT_MIB:g} MiB a device call sends (docs/gpu.md says what to leave behind)",
                  file=sys.stderr)
        return 0
    try:
        run_job(args.carry, args.out, device=args.device, minutes=args.minutes, work=args.work,
                build_minutes=args.build_minutes, reserve_minutes=args.reserve_minutes, extra_settings=args.set,
                workers=args.workers, seed=args.seed, val_pairs=args.val_pairs, prepare_from=args.prepare_from)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
