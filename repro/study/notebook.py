"""What every notebook's first two cells are: its parameters, declared here once, and :func:`setup`.

A notebook's ``parameters`` cell (the one papermill injects values after) is made by
:func:`parameters_cell` from :data:`PARAMETERS` and :data:`NOTEBOOKS`; its second cell is::

    from repro.study.notebook import setup
    S, ctx = setup("02_architecture", globals())

:func:`setup` refuses, in one line naming the valid names, a parameter papermill injected that the
notebook does not take (papermill itself only warns ``Passed unknown parameter``, then runs the
defaults), checks the values, and returns the preset's settings and the notebook's
:class:`Context`.

Where a notebook writes: a folder parameter left empty (the default) means the preset's
git-ignored scratch folders ``results/<preset>/`` and ``figures/<preset>/``, **for every preset,
the default one included**, so a notebook run with papermill's defaults, or opened in Jupyter,
never rewrites the committed results. The committed ``results/`` and ``figures/`` are written
only when named (``results_dir="results"``), as ``python -m repro reproduce --preset quick``
(``make reproduce``) does.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.devices import check_device
from ..io.paths import output_dirs, repo_root, resolve_in_repo, shipped_checkpoint
from ..io.provenance import portable_path, provenance
from ..io.reports import BLUR_BINS
from .reproduce import ParameterError, ReproSettings, settings

__all__ = ["Parameter", "PARAMETERS", "NOTEBOOKS", "ParameterError", "parameters_cell", "injected_names",
           "check_parameters",
           "scratch_dirs", "pick_images", "QUALITATIVE_PICKS", "STRONG_BLUR_PX", "Context", "context", "setup", "tidy_notebook"]


@dataclass(frozen=True)
class Parameter:
    """One notebook parameter: its default and what it means (the comment in the parameters cell)."""

    default: str | int | float
    help: str


PARAMETERS: dict[str, Parameter] = {
    "preset": Parameter("quick", "smoke | demo | quick | paper (repro.study.reproduce.PRESETS)"),
    "device": Parameter("auto", "auto | cpu | cuda | cuda:N | mps"),
    "data": Parameter("virtual", "'virtual' (the embedded 240 fps camera) or a path to high-frame-rate footage"),
    "data_root": Parameter("", "WILD dataset folder; empty: the preset's own (data/wild or data/wild-<preset>)"),
    "seed": Parameter(0, "seed of every random choice"),
    "results_dir": Parameter("", "empty: results/<preset>/ (git-ignored); 'results' rewrites the committed tables"),
    "figures_dir": Parameter("", "empty: figures/<preset>/ (git-ignored); 'figures' rewrites the committed figures"),
    "runs_dir": Parameter("", "training runs and checkpoints (not committed); empty: runs/ or runs/<preset>/"),
    "checkpoint_wild": Parameter("", "empty: the one trained in notebook 3 if present, else the shipped weights"),
    "checkpoint_si": Parameter("", "empty: the one trained in notebook 3 if present, else the shipped weights"),
    "photos": Parameter("", "folder of sharp photos for the virtual camera; empty: the bundled photos"),
    "photos_dir": Parameter("", "folder of your own blurry photos to deblur beside the bundled real one"),
    "study_size": Parameter("", "smoke | full; empty: smoke for the smoke preset, full otherwise"),
    "train_study": Parameter("", "yes | no; empty: yes for smoke and paper, no (report the runs done) otherwise"),
    "photo": Parameter("chelsea", "a bundled photo's name (repro.camera.photos) or an image file of your own"),
    "sway": Parameter(0, "which handheld path the camera takes (a seed)"),
    "speed": Parameter(1.0, "the camera's mean flow, px/frame at 240 rows; 0: a tripod"),
    "frames": Parameter(15, "N, the frames averaged: odd, 1 to 31 (the paper: 7 to 23)"),
    "flow_threshold": Parameter(1.0, "the flow rule: 99th percentile of |flow| per frame pair at most this, px"),
}

_COMMON = ("preset", "device", "data", "data_root", "seed", "results_dir", "figures_dir", "runs_dir")
_CHECKPOINTS = ("checkpoint_wild", "checkpoint_si")

NOTEBOOKS: dict[str, tuple[str, ...]] = {  # the parameters each notebook takes, in its cell's order
    "00_tour": (*_COMMON, *_CHECKPOINTS, "photo", "sway", "speed", "frames", "flow_threshold"),
    "01_wild_dataset": (*_COMMON, "photos"),
    "02_architecture": _COMMON,
    "03_training": (*_COMMON, *_CHECKPOINTS),
    "04_table2": (*_COMMON, *_CHECKPOINTS),
    "05_qualitative": (*_COMMON, *_CHECKPOINTS, "photos_dir"),
    "06_shift_search": (*_COMMON, *_CHECKPOINTS),
    "07_residuals": (*_COMMON, *_CHECKPOINTS),
    "08_ablations": (*_COMMON, "study_size", "train_study"),
    "09_claims": _COMMON,
}


def _declared(notebook: str) -> tuple[str, ...]:
    try:
        return NOTEBOOKS[notebook]
    except KeyError:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(NOTEBOOKS)}") from None


def parameters_cell(notebook: str) -> str:
    """The source of ``notebook``'s cell tagged ``parameters``: one ``name: type = default  # help`` line
    per parameter (papermill reads names, defaults and help from it: ``papermill --help-notebook``)."""
    lines = ["# papermill -p NAME VALUE sets these (declared in repro.study.notebook); an unknown NAME stops the run"]
    lines += [f"{name}: {type(PARAMETERS[name].default).__name__} = {json.dumps(PARAMETERS[name].default)}  # "
              f"{PARAMETERS[name].help}" for name in _declared(notebook)]
    return "\n".join(lines)


def injected_names(history: Sequence[str]) -> set[str]:
    """Names assigned by papermill's injected cells among the executed cell sources ``history``
    (IPython's ``In``): the cells whose source starts with papermill's ``# Parameters`` line."""
    names: set[str] = set()
    for source in history:
        if source.lstrip().startswith("# Parameters"):
            for node in ast.parse(source).body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def check_parameters(notebook: str, namespace: Mapping[str, object]) -> dict[str, object]:
    """The values of ``notebook``'s parameters in ``namespace`` (a notebook's ``globals()``).

    ``ValueError`` in one line when papermill injected a name the notebook does not take (the
    history of executed cells is ``namespace["In"]``, IPython's; absent: nothing was injected),
    naming the valid ones; a parameter missing from ``namespace`` takes its default.
    """
    declared = _declared(notebook)
    unknown = sorted(injected_names(namespace.get("In", ())) - set(declared))
    if unknown:
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"{notebook} takes: {', '.join(declared)}")
    return {name: namespace.get(name, PARAMETERS[name].default) for name in declared}


QUALITATIVE_PICKS = ("random", "strong-blur")
STRONG_BLUR_PX = BLUR_BINS[2:4]  # (8, 16) px: the blur-size bin where the networks gain most (table2_by_blur.md)


def pick_images(names: Sequence[str], k: int, *, how: str, seed: int = 0,
                blur: Mapping[str, float] | None = None) -> list[int]:
    """Indices of up to ``k`` images of different scenes for a figure (``names``: ``"<scene>/<stem>"``).

    ``how="random"``: :func:`repro.io.datasets.one_per_scene` with ``seed``. ``how="strong-blur"``: the
    same seeded draw among the images blurred by :data:`STRONG_BLUR_PX` (8 to 16 px; ``blur``:
    blur size in px by name, from the WILD manifest, :func:`repro.evaluate.residuals.blur_sizes`), topped
    up from the others when too few are; chosen by the input alone, never by how well a method
    does. Without ``blur`` (data without a manifest) it is ``"random"``.
    """
    from ..io.datasets import one_per_scene

    if how not in QUALITATIVE_PICKS:
        raise ValueError(f"unknown pick {how!r}; choose one of {', '.join(QUALITATIVE_PICKS)}")
    if how == "random" or not blur:
        return one_per_scene(list(names), k, seed=seed)
    lo, hi = STRONG_BLUR_PX
    strong = [i for i, name in enumerate(names) if lo <= blur[name] < hi]
    picks = [strong[j] for j in one_per_scene([names[i] for i in strong], k, seed=seed)]
    scenes = {names[i].split("/")[0] for i in picks}
    for i in one_per_scene(list(names), len(names), seed=seed):
        if len(picks) < k and names[i].split("/")[0] not in scenes:
            picks.append(i)
            scenes.add(names[i].split("/")[0])
    return picks


def scratch_dirs(preset: str) -> dict[str, Path]:
    """Where a notebook writes when its folder parameters are empty: :func:`repro.io.paths.output_dirs`,
    but ``results/<preset>/`` and ``figures/<preset>/`` (git-ignored) for the default preset too."""
    where = output_dirs(preset)
    root = repo_root()
    return {**where, "results": root / "results" / preset, "figures": root / "figures" / preset}


@dataclass
class Context:
    """What a notebook needs besides its parameters: resolved folders, provenance, checkpoints.

    Made by :func:`setup` in every notebook's second cell; ``save_figure``/``write_table``
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
        """The JSON card beside :meth:`checkpoint`'s file (``{}`` if none), with ``training_log`` and
        ``earlier_logs`` (the runs it was fine-tuned from) resolved to absolute paths (cards store
        them relative to the repository)."""
        path = self.checkpoint(kind).with_suffix(".json")
        if not path.is_file():
            return {}
        card = json.loads(path.read_text())
        root = repo_root()
        if card.get("training_log"):
            card["training_log"] = str(root / card["training_log"])
        card["earlier_logs"] = [str(root / p) for p in card.get("earlier_logs") or []]
        return card

    def footer(self, n: int | None = None, what: str = "images") -> str:
        """The line under a figure: preset, ``n`` (what the figure is made of) and seed."""
        from ..io.figures import figure_footer

        return figure_footer(self.preset, n, what, seed=self.seed)

    def save_figure(self, fig, name: str, *, n: int | None = None, what: str = "images") -> list[Path]:
        """Save ``fig`` as ``<figures_dir>/<name>.png`` and ``.pdf`` with :meth:`footer` under it."""
        from ..io.figures import save_figure

        return save_figure(fig, self.figures_dir / name, footer=self.footer(n, what))

    def stamped(self, n: int | None = None, what: str = "images"):
        """A ``with`` block in which figures saved by library functions get :meth:`footer`."""
        from ..io.figures import stamped

        return stamped(self.footer(n, what))

    def record(self, notebook: str, numbers: dict) -> Path:
        """Write a notebook's key numbers to ``<results_dir>/records/<notebook>.json`` (atomically), with
        how they were made; the notebook smoke test checks them against known answers."""
        from ..io.files import atomic_write_text
        from ..io.provenance import provenance_line

        path = self.results_dir / "records" / f"{notebook}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"notebook": notebook, "made_by": provenance_line(self.provenance()), "numbers": numbers}
        atomic_write_text(path, json.dumps(payload, indent=2, default=float) + "\n")
        return path

    def write_csv(self, rows: list[dict], name: str, *, title: str, **prov: object) -> Path:
        """``<results_dir>/<name>.csv`` alone (:func:`repro.io.reports.write_csv`), stamped."""
        from ..io.reports import write_csv

        return write_csv(rows, self.results_dir / name, provenance=self.provenance(**prov), title=title)

    def write_table(self, rows: list[dict], name: str, *, title: str, notes=(), **prov: object):
        from ..io.reports import write_table

        return write_table(rows, self.results_dir / name, provenance=self.provenance(**prov), title=title,
                           notes=notes)


def context(*, preset: str, device: str = "auto", data: str = "virtual", data_root: str = "",
            seed: int = 0, results_dir: str = "", figures_dir: str = "", runs_dir: str = "",
            checkpoint_wild: str = "", checkpoint_si: str = "") -> Context:
    """Validate a notebook's parameters and make its :class:`Context` (creating output folders).

    An empty folder parameter is the preset's scratch folder (:func:`scratch_dirs`); a relative
    one is taken relative to the repository root, not to the current folder, so a notebook
    writes to the same place from Jupyter, from papermill anywhere, and from
    ``python -m repro reproduce``.
    """
    settings(preset)
    check_device(device)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if data != "virtual" and not resolve_in_repo(data).exists():
        raise FileNotFoundError(f"data={data!r}: no such file or folder (use 'virtual' for the embedded camera)")
    routed = scratch_dirs(preset)
    where = {k: resolve_in_repo(v) if v else routed[k]
             for k, v in (("results", results_dir), ("figures", figures_dir), ("runs", runs_dir),
                          ("data_root", data_root))}
    ctx = Context(preset=preset, device=device, data=data if data == "virtual" else str(resolve_in_repo(data)),
                  data_root=where["data_root"], seed=seed, results_dir=where["results"],
                  figures_dir=where["figures"], runs_dir=where["runs"],
                  checkpoint_wild=str(resolve_in_repo(checkpoint_wild)) if checkpoint_wild else "",
                  checkpoint_si=str(resolve_in_repo(checkpoint_si)) if checkpoint_si else "")
    for folder in (ctx.results_dir, ctx.figures_dir, ctx.runs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return ctx


def setup(notebook: str, namespace: Mapping[str, object]) -> tuple[ReproSettings, Context]:
    """A notebook's second cell: its parameters checked (:func:`check_parameters`), then the
    preset's :class:`~repro.study.reproduce.ReproSettings` and the notebook's :class:`Context`.
    Prints where the outputs go."""
    values = check_parameters(notebook, namespace)
    keys = ("preset", "device", "data", "data_root", "seed", "results_dir", "figures_dir", "runs_dir",
            "checkpoint_wild", "checkpoint_si")
    try:
        ctx = context(**{k: values[k] for k in keys if k in values})
    except (ValueError, FileNotFoundError) as exc:  # a bad value: the one line, not the stack under it
        raise ParameterError(str(exc)) from None
    print(f"{notebook}, preset {ctx.preset}: tables in {portable_path(ctx.results_dir)}/, "
          f"figures in {portable_path(ctx.figures_dir)}/")
    return settings(ctx.preset), ctx


def tidy_notebook(path: Path) -> bool:
    """Give the notebook at ``path`` the parameters cell :func:`parameters_cell` makes and a cell id
    on every cell (``nbformat.validator.normalize``); rewrite it only when that changes it.
    Returns whether it changed."""
    import warnings

    import nbformat

    before = path.read_text()
    raw = json.loads(before)
    with warnings.catch_warnings():  # normalize warns about the missing ids it adds
        warnings.simplefilter("ignore")
        _, normalized = nbformat.validator.normalize(raw)  # adds missing cell ids (nbformat >= 4.5)
    nb = nbformat.from_dict(normalized)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{path.name}: needs exactly one cell tagged 'parameters', has {len(tagged)}")
    tagged[0].source = parameters_cell(path.stem)
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after)
    return after != before
