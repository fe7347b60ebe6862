"""Run the study's notebooks in order through papermill: ``python -m repro reproduce``.

Each notebook in ``notebooks/`` has a cell tagged ``parameters``; this module passes the common
parameters (preset, device, data, seed, output folders), runs the notebooks one after another,
keeps the executed copies under ``results/notebooks/``, stops at the first failing notebook
naming it, and writes ``results/RUN.md`` (how the outputs were made, and how long each took).

What a preset means for each notebook is :func:`settings`, so notebooks stay thin.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import atomic_write_text
from .paths import shipped_checkpoint
from .provenance import provenance

log = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class ReproSettings:
    """What one reproduction preset does in each notebook (all sizes are counts of images)."""

    name: str
    wild_train_pairs: int  # WILD training pairs built from the virtual camera (nb 1)
    wild_test_pairs: int  # WILD test pairs (other photos: "shot at another place") (nb 1)
    wild_clip_frames: int  # frames per rendered clip (240 fps)
    averaging_seeds: int  # clips per speed in the averaging-approximation check (nb 1)
    train_preset: str  # repro.train preset (nb 3)
    train: bool  # train in nb 3 (False: use the shipped checkpoints)
    eval_n_random: int  # Table 2: the paper's 15 random test images
    eval_limit: int | None  # Table 2 "whole split": at most this many images (None = all)
    eval_methods: tuple[str, ...]
    residual_images: int  # Fig. 9: images in the residual analysis (paper: 700)
    qualitative_images: int  # Figs. 1, 5-7
    averaging_speeds: tuple[float, ...] | None = None  # camera speeds (px/frame) checked; None = default
    sun_steps: int = 0  # retrain the Sun et al. CNN with this many steps (0 = shipped weights)
    notes: str = ""
    extra: dict = field(default_factory=dict)


_ALL_METHODS = ("identity", "sun", "xu-jia", "l0", "deblurnet-si", "deblurnet-wild")

PRESETS: dict[str, ReproSettings] = {
    "smoke": ReproSettings(
        name="smoke", wild_train_pairs=12, wild_test_pairs=6, wild_clip_frames=48,
        averaging_seeds=1, averaging_speeds=(0.5, 2.0), train_preset="smoke", train=True, eval_n_random=3, eval_limit=4,
        eval_methods=("identity", "deblurnet-wild", "deblurnet-si"), residual_images=6,
        qualitative_images=2, notes="seconds per notebook; for tests only, numbers are meaningless"),
    "demo": ReproSettings(
        name="demo", wild_train_pairs=0, wild_test_pairs=24, wild_clip_frames=96,
        averaging_seeds=1, averaging_speeds=(0.25, 1.0, 2.8), train_preset="quick", train=False,
        eval_n_random=15, eval_limit=24, eval_methods=("identity", "deblurnet-si", "deblurnet-wild"), residual_images=24,
        qualitative_images=3, notes="shipped checkpoints, no training, no slow baselines: teaching sessions"),
    "quick": ReproSettings(
        name="quick", wild_train_pairs=120, wild_test_pairs=120, wild_clip_frames=120,
        averaging_seeds=2, train_preset="quick", train=False, eval_n_random=15, eval_limit=20,
        eval_methods=_ALL_METHODS, residual_images=120, qualitative_images=4,
        notes="default of `make reproduce` on a 2-core CPU"),
    "paper": ReproSettings(
        name="paper", wild_train_pairs=50_000, wild_test_pairs=1_000, wild_clip_frames=240,
        averaging_seeds=8, train_preset="paper", train=True, eval_n_random=15, eval_limit=None,
        eval_methods=_ALL_METHODS, residual_images=700, qualitative_images=8,
        notes="the paper's sizes; for a GPU machine (days of training)"),
}


def settings(preset: str) -> ReproSettings:
    """The :class:`ReproSettings` of a preset name; ``ValueError`` naming the choices otherwise."""
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}") from None


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The study's notebooks in run order (``NN_name.ipynb``)."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"{folder}: no notebooks (NN_name.ipynb) found")
    return found


def select(books: list[Path], only: str | None) -> list[Path]:
    """Notebooks whose number is in ``only`` ("1,3" or "2-4"); all when ``only`` is None."""
    if not only:
        return books
    wanted: set[int] = set()
    for part in only.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                wanted.update(range(int(a), int(b) + 1))
            else:
                wanted.add(int(part))
        except ValueError:
            raise ValueError(f"--only: cannot read {part!r}; use numbers like 1,3 or 2-4") from None
    chosen = [b for b in books if int(b.name[:2]) in wanted]
    if not chosen:
        raise ValueError(f"--only {only}: no notebook has that number (have {[b.name for b in books]})")
    return chosen


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it and where its executed copy is."""


def run_notebooks(
    preset: str,
    *,
    device: str = "auto",
    data: str = "virtual",
    data_root: str = "data/wild",
    seed: int = 0,
    results_dir: str | Path = "results",
    figures_dir: str | Path = "figures",
    runs_dir: str | Path = "runs",
    only: str | None = None,
    folder: Path = NOTEBOOK_DIR,
    extra_parameters: dict | None = None,
    log_output: bool = False,
) -> list[dict]:
    """Execute the notebooks with papermill; returns one record per notebook (name, seconds).

    Raises :class:`NotebookFailed` at the first failing notebook. Paths are resolved against
    the current folder so notebooks (which run in ``notebooks/``) find the same places.
    """
    import papermill as pm

    settings(preset)  # validate early: a bad preset fails before anything runs
    results_dir, figures_dir = Path(results_dir).resolve(), Path(figures_dir).resolve()
    executed_dir = results_dir / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    data_path = data if data == "virtual" else str(Path(data).resolve())
    params = {
        "preset": preset, "device": device, "data": data_path, "data_root": str(Path(data_root).resolve()),
        "seed": seed, "results_dir": str(results_dir), "figures_dir": str(figures_dir),
        "runs_dir": str(Path(runs_dir).resolve()),
        **(extra_parameters or {}),
    }
    records = []
    for book in select(notebooks(folder), only):
        out = executed_dir / book.name
        log.info("running %s (preset %s)", book.name, preset)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(book), str(out), parameters=params, cwd=str(book.parent),
                                progress_bar=False, log_output=log_output, kernel_name="python3")
        except Exception as exc:
            raise NotebookFailed(f"notebook {book.name} failed (executed copy: {out}): "
                                 f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}") from exc
        records.append({"notebook": book.name, "seconds": round(time.perf_counter() - t0, 1)})
    return records


def write_run_md(records: list[dict], path: Path, *, preset: str, device: str, seed: int, data: str) -> None:
    """``results/RUN.md``: how the committed outputs were made."""
    prov = provenance(preset=preset, device=device, seed=seed, data=data)
    lines = ["# How the results and figures were made", "",
             "Written by `python -m repro reproduce` after its last run.", ""]
    lines += [f"- **{k}**: {v}" for k, v in prov.items()]
    lines += ["", f"Preset settings: `{asdict(settings(preset))}`", "",
              "| notebook | seconds |", "|---|---|"]
    lines += [f"| {r['notebook']} | {r['seconds']} |" for r in records]
    lines += [f"| **total** | {round(sum(r['seconds'] for r in records), 1)} |", ""]
    atomic_write_text(path, "\n".join(lines))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="quick", help=f"one of {sorted(PRESETS)} (default quick)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--only", default=None, help="notebook numbers to run, e.g. 1,3 or 2-4")
    parser.add_argument("--data", default="virtual",
                        help="'virtual' (the embedded virtual camera) or a path to high-frame-rate "
                             "footage (frame folder, video, GOPRO_Large_all)")
    parser.add_argument("--data-root", default="data/wild", help="where the WILD dataset is built/read")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default="results")
    parser.add_argument("--figures", default="figures")
    parser.add_argument("--runs", default="runs", help="training runs and checkpoints (not committed)")


def run(args: argparse.Namespace) -> int:
    import sys

    settings(args.preset)
    t0 = time.perf_counter()
    try:
        records = run_notebooks(args.preset, device=args.device, data=args.data, data_root=args.data_root,
                                seed=args.seed, results_dir=args.results, figures_dir=args.figures,
                                runs_dir=args.runs, only=args.only)
    except NotebookFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.only:
        write_run_md(records, Path(args.results) / "RUN.md", preset=args.preset, device=args.device,
                     seed=args.seed, data=args.data)
    for r in records:
        print(f"{r['notebook']:40s} {r['seconds']:8.1f} s")
    print(f"{'total':40s} {time.perf_counter() - t0:8.1f} s")
    return 0


@dataclass
class Context:
    """What a notebook needs besides its parameters: resolved folders, provenance, checkpoints.

    Built by :func:`context` in every notebook's second cell; ``save_figure``/``write_table``
    put outputs where the parameters say, stamped with how they were made.
    """

    preset: str
    device: str
    data: str
    data_root: Path
    seed: int
    results_dir: Path
    figures_dir: Path
    runs_dir: Path
    checkpoint_wild: str = ""
    checkpoint_si: str = ""

    def provenance(self, **extra: object) -> dict:
        return provenance(preset=self.preset, device=self.device, seed=self.seed, data=self.data, **extra)

    def checkpoint(self, kind: str) -> Path:
        """The DeblurNet checkpoint for ``kind`` ("wild" or "si").

        Order: the notebook parameter if given; else the best checkpoint trained in notebook 3
        under ``runs_dir/<kind>/``; else the shipped ``repro/weights/deblurnet_<kind>.pt``.
        """
        if kind not in ("wild", "si"):
            raise ValueError(f"checkpoint kind must be 'wild' or 'si', got {kind!r}")
        explicit = self.checkpoint_wild if kind == "wild" else self.checkpoint_si
        if explicit:
            path = Path(explicit)
            if not path.is_file():
                raise FileNotFoundError(f"checkpoint_{kind}={explicit!r}: no such file")
            return path
        trained = self.runs_dir / kind / "best.pt"
        if trained.is_file():
            return trained
        shipped = shipped_checkpoint(kind)
        if shipped.is_file():
            return shipped
        raise FileNotFoundError(f"no DeblurNet^{kind.upper()} checkpoint: not given, not trained under "
                                f"{self.runs_dir / kind}, and none shipped at {shipped}")

    def card(self, kind: str) -> dict:
        """The JSON card beside :meth:`checkpoint`'s file (``{}`` if none), with ``training_log``
        resolved to an absolute path (cards store it relative to the repository)."""
        import json

        path = self.checkpoint(kind).with_suffix(".json")
        if not path.is_file():
            return {}
        card = json.loads(path.read_text())
        if card.get("training_log"):
            card["training_log"] = str(Path(__file__).resolve().parent.parent / card["training_log"])
        return card

    def save_figure(self, fig, name: str) -> list[Path]:
        from .figures import save_figure

        return save_figure(fig, self.figures_dir / name)

    def write_table(self, rows: list[dict], name: str, *, title: str, notes=(), **prov: object):
        from .reports import write_table

        return write_table(rows, self.results_dir / name, provenance=self.provenance(**prov), title=title,
                           notes=notes)


def context(*, preset: str, device: str = "auto", data: str = "virtual", data_root: str = "data/wild",
            seed: int = 0, results_dir: str = "results", figures_dir: str = "figures", runs_dir: str = "runs",
            checkpoint_wild: str = "", checkpoint_si: str = "") -> Context:
    """Validate a notebook's parameters and make its :class:`Context` (creating output folders)."""
    settings(preset)
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if data != "virtual" and not Path(data).exists():
        raise FileNotFoundError(f"data={data!r}: no such file or folder (use 'virtual' for the embedded camera)")
    ctx = Context(preset=preset, device=device, data=data, data_root=Path(data_root), seed=seed,
                  results_dir=Path(results_dir), figures_dir=Path(figures_dir), runs_dir=Path(runs_dir),
                  checkpoint_wild=checkpoint_wild, checkpoint_si=checkpoint_si)
    for folder in (ctx.results_dir, ctx.figures_dir, ctx.runs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return ctx
