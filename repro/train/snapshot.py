"""A long training run kept between sittings: :func:`save` copies a stopped run's log and curve to
the results (committed) and, given a folder, its resumable checkpoints (``last.pt``, ``best.pt``)
there; :func:`restore` puts such a folder back into a run folder that was lost, so that
``--resume`` continues exactly where the saved sitting stopped. Checkpoints are never committed
(only ``repro/weights/`` is; ``tests/test_files.py``): a resumable run keeps its state in ``runs/``.

    python -m repro.train.snapshot save runs/long/wild_w0.25 --results results/long_run --run wild_w0.25
    python -m repro.train.snapshot save runs/long/wild_w0.25 ../kept/wild_w0.25 --results results/long_run \\
        --run wild_w0.25
    python -m repro.train.snapshot restore ../kept/wild_w0.25 runs/long/wild_w0.25 \\
        --log results/long_run/train_wild_w0.25.csv
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.checkpoint import load_checkpoint
from ..io.files import atomic_copy
from .logs import plot_training, read_log

CHECKPOINTS = ("last.pt", "best.pt")


def checkpoint_step(path: str | os.PathLike) -> int:
    """The training step a ``last.pt`` was written at (read safely, ``weights_only=True``)."""
    state = load_checkpoint(path).get("train_state") or {}
    if "step" not in state:
        raise ValueError(f"{path}: no training step in it (a best.pt or an exported checkpoint, not a last.pt)")
    return int(state["step"])


def _check_log_covers(log: Path, last: Path) -> int:
    """The step of ``last``; ``ValueError`` unless ``log`` reaches it (a resumed run keeps only the
    log rows up to its checkpoint's step, so a shorter log would lose the curve between them)."""
    step = checkpoint_step(last)
    rows = read_log(log)
    logged = rows[-1]["step"] if rows else -1
    if logged < step:
        raise ValueError(f"{log} ends at step {logged}, before {last}'s step {step}: they are not from the same run")
    return step


def save(run_dir: str | os.PathLike, kept_dir: str | os.PathLike | None = None, *,
         results_dir: str | os.PathLike, run: str) -> int:
    """Copy ``run_dir``'s ``log.csv`` and its curve to ``results_dir/train_<run>.{csv,png}`` and,
    when ``kept_dir`` is given, its ``last.pt`` and ``best.pt`` into ``kept_dir``. Stop the run
    first: a run still training may write a newer ``best.pt`` than the ``last.pt`` copied. Returns
    the saved step (the ``last.pt``'s with ``kept_dir``, else the log's last)."""
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    needed = ("log.csv",) if kept_dir is None else (*CHECKPOINTS, "log.csv")
    for name in needed:
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: no such file; is {run_dir} a training run's folder?")
    if kept_dir is None:
        rows = read_log(run_dir / "log.csv")
        if not rows:
            raise ValueError(f"{run_dir / 'log.csv'}: no logged step to save")
        step = rows[-1]["step"]
    else:
        step = _check_log_covers(run_dir / "log.csv", run_dir / "last.pt")
        for name in CHECKPOINTS:
            atomic_copy(run_dir / name, Path(kept_dir) / name)
    log_copy = results_dir / f"train_{run}.csv"
    atomic_copy(run_dir / "log.csv", log_copy)
    import matplotlib.pyplot as plt

    plt.close(plot_training(log_copy, log_copy.with_suffix(".png"), labels=[run], title=f"DeblurNet training: {run}"))
    return step


def restore(kept_dir: str | os.PathLike, run_dir: str | os.PathLike, *, log: str | os.PathLike) -> int | None:
    """Put the saved ``last.pt``, ``best.pt`` and ``log`` back into ``run_dir`` when it has no
    ``last.pt``. Returns the restored step; ``None`` (nothing written) when ``run_dir`` has its own
    ``last.pt`` (never overwritten) or nothing was saved in ``kept_dir``."""
    kept_dir, run_dir, log = Path(kept_dir), Path(run_dir), Path(log)
    if (run_dir / "last.pt").exists() or not (kept_dir / "last.pt").is_file():
        return None
    for path in (kept_dir / "best.pt", log):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file; the saved run in {kept_dir} is incomplete")
    step = _check_log_covers(log, kept_dir / "last.pt")
    atomic_copy(log, run_dir / "log.csv")
    atomic_copy(kept_dir / "best.pt", run_dir / "best.pt")
    atomic_copy(kept_dir / "last.pt", run_dir / "last.pt")  # last: its presence is what marks the folder restored
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.train.snapshot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_save = sub.add_parser("save", help="keep a stopped run's log and curve (and its checkpoints, given KEPT_DIR)")
    p_save.add_argument("run_dir", type=Path)
    p_save.add_argument("kept_dir", type=Path, nargs="?", default=None,
                        help="a folder for last.pt and best.pt (outside the tree: checkpoints are not committed)")
    p_save.add_argument("--results", type=Path, required=True, help="folder of the log's copy train_<run>.csv and its .png")
    p_save.add_argument("--run", required=True, help="the run's name (as given to `repro train --run`)")
    p_restore = sub.add_parser("restore", help="put a kept run back where its folder has no last.pt")
    p_restore.add_argument("kept_dir", type=Path)
    p_restore.add_argument("run_dir", type=Path)
    p_restore.add_argument("--log", type=Path, required=True, help="the kept log (results/.../train_<run>.csv)")
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            step = save(args.run_dir, args.kept_dir, results_dir=args.results, run=args.run)
            kept = f"{args.kept_dir} and " if args.kept_dir is not None else ""
            print(f"saved {args.run_dir} at step {step} into {kept}{args.results}/train_{args.run}.csv")
        else:
            step = restore(args.kept_dir, args.run_dir, log=args.log)
            print(f"restored {args.run_dir} at step {step} from {args.kept_dir}" if step is not None else
                  f"{args.run_dir}: nothing restored (it has its own last.pt, or {args.kept_dir} holds none)")
    except (OSError, ValueError) as exc:
        parser.exit(1, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
