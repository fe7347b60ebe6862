"""Run the study's notebooks in order through papermill: ``python -m repro reproduce``.

Each notebook in ``notebooks/`` has a cell tagged ``parameters``; this module passes the common
parameters (preset, device, data, seed, output folders), runs the notebooks one after another,
keeps the executed copies under ``<results>/notebooks/``, stops at the first failing notebook
naming it, and writes ``<results>/RUN.md`` (how the outputs were made, and how long each took).

Only the default preset (quick) writes the committed ``results/`` and ``figures/``; another
preset writes ``results/<preset>/`` and ``figures/<preset>/`` (:func:`repro.io.paths.output_dirs`),
so trying a preset never overwrites the committed results. The folders are always passed to the
notebooks by name: a notebook run alone (papermill, Jupyter) with empty folder parameters writes
git-ignored scratch folders instead, the default preset's too (:mod:`repro.study.notebook`).

What a preset means for each notebook is :func:`settings`, so notebooks stay thin.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..evaluate import methods
from ..core.devices import DEVICE_CHOICES, check_device
from ..io.files import atomic_write_text
from ..io.paths import DEFAULT_PRESET, output_dirs
from ..io.provenance import portable_path, provenance

log = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class ReproSettings:
    """What one reproduction preset does in each notebook (all sizes are counts of images)."""

    name: str
    wild_train_pairs: int  # WILD training pairs built from the virtual camera (nb 1)
    wild_test_pairs: int  # WILD test pairs (other photos: "shot at another place") (nb 1)
    wild_val_pairs: int  # WILD validation pairs (photos of neither): training picks checkpoints on them (nb 1, 3)
    averaging_seeds: int  # clips per speed in the averaging-approximation check (nb 1)
    train_preset: str  # repro.train preset (nb 3)
    train: bool  # train in nb 3 (False: use the shipped checkpoints)
    eval_n_random: int  # Table 2: the paper's 15 random test images
    eval_limit: int | None  # Table 2: the input and the networks on at most this many images (None = all)
    eval_methods: tuple[str, ...]
    residual_images: int  # Fig. 9: pairs of the separate "residual" split (test photos, other clips; paper: 700)
    qualitative_images: int  # Figs. 1, 5-7
    averaging_speeds: tuple[float, ...] | None = None  # peak flows (px/frame) checked; None = default
    photos: str | None = None  # folder of photos for the virtual camera (None: the bundled photos)
    # which test images Figs. 1 and 4 show: "random" (seeded, one per scene) or "strong-blur" (the
    # same draw among images blurred by 8-16 px, where deblurring has most to undo: repro.study.notebook.pick_images)
    qualitative_pick: str = "random"
    still_split: bool = False  # notebook 04 measures the networks on the still split (issue 41; `make corpus-data`)
    # Table 2 and the corpus's: the slow classical methods (10-60 s an image) on the first this many
    # of the same seeded permutation (None: eval_limit); their rows are cached in <runs>/eval_cache
    eval_limit_classical: int | None = None
    corpus_limit_classical: int | None = None
    notes: str = ""


_ALL_METHODS = methods.keys()  # every method of repro.evaluate.methods, in Table 2's order

PRESETS: dict[str, ReproSettings] = {
    "smoke": ReproSettings(
        name="smoke", wild_train_pairs=12, wild_test_pairs=6, wild_val_pairs=4,
        averaging_seeds=1, averaging_speeds=(0.3, 0.6, 1.0, 2.0), train_preset="tiny-test", train=True, eval_n_random=3, eval_limit=4,
        eval_methods=("identity", "deblurnet-wild", "deblurnet-si"), residual_images=6,
        qualitative_images=2, notes="seconds per notebook; for tests only, numbers are meaningless"),
    "demo": ReproSettings(
        name="demo", wild_train_pairs=0, wild_test_pairs=24, wild_val_pairs=0,
        averaging_seeds=1, averaging_speeds=(0.3, 0.6, 1.0, 2.8), train_preset="cpu-15min", train=False,
        eval_n_random=15, eval_limit=24, eval_methods=("identity", "deblurnet-si", "deblurnet-wild", "deblurnet-wild-x8"),
        residual_images=24, qualitative_images=3, qualitative_pick="strong-blur",
        notes="shipped checkpoints, no training, no slow baselines; the self-ensemble, and figures of strongly "
              "blurred test images (8-16 px): teaching sessions"),
    "quick": ReproSettings(
        name="quick", wild_train_pairs=120, wild_test_pairs=120, wild_val_pairs=48,
        averaging_seeds=2, train_preset="cpu-15min", train=False, eval_n_random=15, eval_limit=None,
        eval_limit_classical=40, corpus_limit_classical=20,
        eval_methods=_ALL_METHODS, residual_images=300, qualitative_images=4,
        still_split=True, notes="default of `make reproduce` on a 2-core CPU"),
    "paper": ReproSettings(
        name="paper", wild_train_pairs=50_000, wild_test_pairs=1_000, wild_val_pairs=1_000,
        averaging_seeds=8, train_preset="gpu-paper", train=True, eval_n_random=15, eval_limit=None,
        eval_limit_classical=100, corpus_limit_classical=40, eval_methods=_ALL_METHODS, residual_images=700, qualitative_images=8,
        still_split=True, notes="the paper's sizes; for a GPU machine (days of training)"),
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


class ParameterError(ValueError):
    """A notebook parameter that is unknown or has a bad value: one line. In a kernel its traceback
    is that line alone (IPython shows ``_render_traceback_``'s lines in place of the stack), so
    papermill's report of the failed cell is short."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it and where its executed copy is."""


def folders(preset: str, *, out: str | Path | None = None, results_dir: str | Path | None = None,
            figures_dir: str | Path | None = None, runs_dir: str | Path | None = None,
            data_root: str | Path | None = None) -> dict[str, Path]:
    """Absolute ``results``, ``figures``, ``runs`` and ``data_root`` folders of a reproduction:
    each one given is resolved against the current folder, the others are the preset's own
    (:func:`repro.io.paths.output_dirs`, under ``out`` when given)."""
    settings(preset)
    routed = output_dirs(preset, out=Path(out).resolve() if out is not None else None)
    given = {"results": results_dir, "figures": figures_dir, "runs": runs_dir, "data_root": data_root}
    return {k: (Path(v).resolve() if v is not None else routed[k]) for k, v in given.items()}


def run_notebooks(
    preset: str,
    *,
    device: str = "auto",
    data: str = "virtual",
    data_root: str | Path | None = None,
    seed: int = 0,
    results_dir: str | Path | None = None,
    figures_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    out: str | Path | None = None,
    only: str | None = None,
    folder: Path = NOTEBOOK_DIR,
    extra_parameters: dict | None = None,
    log_output: bool = False,
) -> list[dict]:
    """Execute the notebooks with papermill; returns one record per notebook (name, seconds).

    Folders not given are the preset's own (:func:`folders`): only the default preset writes
    ``results/`` and ``figures/``. Given paths are resolved against the current folder.
    Raises :class:`NotebookFailed` at the first failing notebook.
    """
    import papermill as pm

    settings(preset)  # validate early: a bad preset or device fails before anything runs
    check_device(device)
    where = folders(preset, out=out, results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir,
                    data_root=data_root)
    executed_dir = where["results"] / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    where["figures"].mkdir(parents=True, exist_ok=True)
    data_path = data if data == "virtual" else portable_path(Path(data).resolve())
    # folders inside the repository are passed relative to it (the notebooks read them so), so
    # the executed copies under results/notebooks/ do not name the clone they ran in
    params = {
        "preset": preset, "device": device, "data": data_path, "data_root": portable_path(where["data_root"]),
        "seed": seed, "results_dir": portable_path(where["results"]), "figures_dir": portable_path(where["figures"]),
        "runs_dir": portable_path(where["runs"]),
        **(extra_parameters or {}),
    }
    records = []
    for book in select(notebooks(folder), only):
        out = executed_dir / book.name
        log.info("running %s (preset %s)", book.name, preset)
        takes = set(pm.inspect_notebook(str(book)))  # e.g. only notebook 1 takes `photos`
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(book), str(out), parameters={k: v for k, v in params.items() if k in takes},
                                cwd=str(book.parent), progress_bar=False, log_output=log_output,
                                kernel_name="python3", config=kernel_config())
        except Exception as exc:
            raise NotebookFailed(f"notebook {book.name} failed (executed copy: {out}): "
                                 f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}") from exc
        records.append({"notebook": book.name, "seconds": round(time.perf_counter() - t0, 1)})
    return records


def kernel_config():
    """The notebook client's configuration, which keeps the console free of kernel noise that reads
    like failure:

    - the kernel's messages are encrypted with CurveZMQ keys where pyzmq supports them (the
      kernelspec declares it), so the kernel does not warn "Kernel is running over TCP without
      encryption" once per notebook;
    - the kernel manager is :func:`quiet_kernel_manager`'s, which does not interrupt the kernel
      when shutting it down.
    """
    import zmq
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport_encryption = "auto" if zmq.has("curve") else "disabled"
    config.NotebookClient.kernel_manager_class = quiet_kernel_manager()
    return config


def quiet_kernel_manager() -> type:
    """jupyter_client's ``AsyncKernelManager``, but shutting a kernel down without first sending it
    SIGINT. jupyter_client interrupts before every shutdown (to stop a running cell); papermill
    shuts the kernel down right after the kernel's last reply, and when the interrupt lands before
    the kernel has left that reply's handler (a loaded machine), ipykernel logs
    ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` though every cell succeeded.
    Nothing runs at that point, so the shutdown request alone ends the kernel (a timed-out cell
    is interrupted by nbclient itself, not here)."""
    from jupyter_client import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


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
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                        help=f"{', '.join(PRESETS)} (default {DEFAULT_PRESET}, the committed results); "
                             "see repro.study.reproduce.PRESETS")
    parser.add_argument("--device", default="auto", type=_device, help=f"{DEVICE_CHOICES} (default auto)")
    parser.add_argument("--only", default=None, help="notebook numbers to run, e.g. 1,3 or 2-4")
    parser.add_argument("--data", default="virtual",
                        help="'virtual' (the embedded virtual camera) or a path to high-frame-rate "
                             "footage (frame folder, video, GOPRO_Large_all)")
    parser.add_argument("--out", default=None,
                        help="write results, figures and runs under OUT/ (default: results/ and figures/ "
                             f"for {DEFAULT_PRESET}, results/<preset>/ and figures/<preset>/ for the others)")
    parser.add_argument("--data-root", default=None,
                        help=f"where the WILD dataset is built/read (default data/wild for {DEFAULT_PRESET}, "
                             "data/wild-<preset> for the others)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every notebook's random choices (default 0)")
    parser.add_argument("--results", default=None, help="tables, RUN.md and executed notebooks (overrides --out)")
    parser.add_argument("--figures", default=None, help="figures, PNG and PDF (overrides --out)")
    parser.add_argument("--runs", default=None, help="training runs and checkpoints, not committed (overrides --out)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter beside the options above (repeatable), as papermill's -p; "
                             "checked before any notebook starts: an unknown NAME is refused naming the valid ones "
                             "(e.g. --only 5 -p photos_dir ~/blurry)")
    parser.add_argument("--photos", default=None,
                        help="folder of JPEG/PNG photos for the virtual camera instead of the bundled ones "
                             "(split into train/val/test by file name; use a --data-root of its own)")


# the notebook parameters that reproduce sets from its own options (-p refuses them, naming the option)
RESERVED = {"preset": "--preset", "device": "--device", "data": "--data", "data_root": "--data-root",
            "seed": "--seed", "results_dir": "--results", "figures_dir": "--figures", "runs_dir": "--runs",
            "photos": "--photos"}


def given_parameters(books: list[Path], given: list[tuple[str, str]]) -> dict[str, object]:
    """The ``-p NAME VALUE`` pairs (strings, as typed) for the notebooks ``books``, checked against
    their parameters cells (papermill's reading of them) before any kernel starts: each name must be
    a parameter of at least one of them (it is passed to those that take it), typed as its default
    (int, float or str). :class:`ParameterError` in one line naming the valid names, the option of
    a name that reproduce sets itself (:data:`RESERVED`), or the type a value does not read as."""
    import papermill as pm

    declared = {b.stem: pm.inspect_notebook(str(b)) for b in books}
    values: dict[str, object] = {}
    for name, text in given:
        if name in RESERVED:
            raise ParameterError(f"parameter {name} is set by {RESERVED[name]}, not by -p")
        takers = [stem for stem, params in declared.items() if name in params]
        if not takers:
            if len(books) > 1:
                raise ParameterError(f"unknown parameter {name}; none of {', '.join(declared)} takes it "
                                     "(`--only N -p NAME VALUE` names one notebook's parameters)")
            stem, params = next(iter(declared.items()))
            own = [n for n in params if n not in RESERVED]
            options = [RESERVED[n] for n in params if n in RESERVED]
            raise ParameterError(f"unknown parameter {name}; {stem} takes: {', '.join(own) or 'none'}"
                                 + (f" (and, by their options, {', '.join(options)})" if options else ""))
        kind = {"int": int, "float": float}.get(declared[takers[0]][name]["inferred_type_name"], str)
        try:
            values[name] = kind(text)
        except ValueError:
            raise ParameterError(f"parameter {name} takes {'an integer' if kind is int else 'a number'}, "
                                 f"got {text!r}") from None
    return values


def _device(text: str) -> str:
    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import sys

    logging.getLogger("papermill").setLevel(logging.WARNING)  # one "running NN_name" line per notebook is enough
    extra = given_parameters(select(notebooks(), args.only), args.parameter)  # before any kernel starts
    if args.photos:
        extra["photos"] = str(Path(args.photos).resolve())
    where = folders(args.preset, out=args.out, results_dir=args.results, figures_dir=args.figures,
                    runs_dir=args.runs, data_root=args.data_root)
    print(f"preset {args.preset}: results in {where['results']}, figures in {where['figures']}", file=sys.stderr)
    if args.preset == "demo":
        from .demo import expectation

        print(expectation(settings("demo").wild_test_pairs), file=sys.stderr)
    t0 = time.perf_counter()
    try:
        records = run_notebooks(args.preset, device=args.device, data=args.data, data_root=where["data_root"],
                                seed=args.seed, results_dir=where["results"], figures_dir=where["figures"],
                                runs_dir=where["runs"], only=args.only, extra_parameters=extra)
    except NotebookFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.only:
        write_run_md(records, where["results"] / "RUN.md", preset=args.preset, device=args.device,
                     seed=args.seed, data=args.data)
    for r in records:
        print(f"{r['notebook']:40s} {r['seconds']:8.1f} s")
    print(f"{'total':40s} {time.perf_counter() - t0:8.1f} s")
    if args.preset == "demo" and not args.only:  # the demo's last lines: what it found, what to open first
        from .demo import summary

        print("\n".join(["", "What the demo found:", *summary(where["results"] / "records", where["figures"])]))
    return 0
