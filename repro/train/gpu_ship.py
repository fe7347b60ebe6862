"""``python -m repro gpu-ship DIR``: read what a GPU job returned (:data:`repro.train.gpu_job.BUNDLE`),
measure its networks and the shipped ones on the same validation pairs, and ship the pair only if
it beats the shipped one there (``make gpu-ship DIR=...`` then remakes the results).

The rule, stated once: the returned DeblurNet^WILD and DeblurNet^SI ship together, or neither does,
and they ship only when **each** gains more (dB over the blurry input, the mean over the validation
pairs of every ``--val-root`` together) than the shipped network of its kind on the very same pairs,
measured here by the same code. Together, because Table 2's WILD-vs-SI comparison needs both from
one job at an equal budget. Test pairs play no part.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..measure.storage import MAX_DELTA_DB
from .gpu_job import BUNDLE, FILE_LIMIT_MIB, JOB_NAME, KINDS

DEFAULT_VAL_ROOTS = (Path("data/bundled"), Path("data/corpus"))
LOGS_DIR = Path("results/gpu_job")  # where a shipped job's logs and summary are kept


@dataclass(frozen=True)
class Bundle:
    """A GPU job's returned files: the folder, each network's weights and card, the summary."""

    folder: Path
    weights: dict[str, Path]
    cards: dict[str, dict]
    summary: dict


def read_bundle(folder: str | os.PathLike) -> Bundle:
    """The bundle in ``folder``, once every file of :data:`BUNDLE` is there, within
    :data:`FILE_LIMIT_MIB`, each card names its kind and the job, and each network loads
    (``ValueError`` / ``FileNotFoundError`` in one line otherwise)."""
    from ..core.checkpoint import load_model

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (a GPU job's --out)")
    missing = [name for name in BUNDLE if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a GPU job's bundle, {', '.join(missing)} missing")
    big = [name for name in BUNDLE if (folder / name).stat().st_size > FILE_LIMIT_MIB * 2**20]
    if big:
        raise ValueError(f"{folder}: {', '.join(big)} over {FILE_LIMIT_MIB:g} MiB")
    summary = json.loads((folder / "summary.json").read_text())
    cards, weights = {}, {}
    for kind in KINDS:
        weights[kind] = folder / f"deblurnet_{kind}.pt"
        card = json.loads(weights[kind].with_suffix(".json").read_text())
        if card.get("job") != JOB_NAME or card.get("data") != kind:
            raise ValueError(f"{weights[kind]}: its card says job {card.get('job')!r}, data {card.get('data')!r}; "
                             f"expected {JOB_NAME!r}, {kind!r}")
        if card.get("weights_dtype") != "float16":
            raise ValueError(f"{weights[kind]}: weights {card.get('weights_dtype')}, expected float16")
        moved = (card.get("stored") or {}).get("max_abs_delta_psnr_db")
        if moved is None or moved > MAX_DELTA_DB:
            raise ValueError(f"{weights[kind]}: stored in float16 it moves a validation image by {moved} dB "
                             f"(its card's stored entry), over {MAX_DELTA_DB} dB or not measured")
        model, meta = load_model(weights[kind])
        if meta.get("data") != kind or model.config.to_dict() != card.get("model_config"):
            raise ValueError(f"{weights[kind]}: the network does not match its card")
        cards[kind] = card
    return Bundle(folder, weights, cards, summary)


def measure(bundle: Bundle, val_roots: list[Path], *, device: str = "cpu") -> dict[str, float]:
    """Mean validation gain (dB) of ``gpu <kind>`` and ``shipped <kind>`` for each kind, over the
    validation pairs of ``val_roots`` together (each pair weighted once)."""
    from ..measure.gains import PairSet, checkpoint_rows, validation_gains
    from ..io.paths import shipped_checkpoint

    missing = [str(root / "val") for root in val_roots if not (root / "val").is_dir()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: no validation pairs there (make corpus-data builds them)")
    checkpoints = {}
    for kind in KINDS:
        checkpoints[f"gpu {kind}"] = bundle.weights[kind]
        checkpoints[f"shipped {kind}"] = shipped_checkpoint(kind)
    sets = [PairSet(f"val, {root.name}", root, "val") for root in val_roots]
    rows = checkpoint_rows(checkpoints, sets, device=device)
    return validation_gains(rows, names=list(checkpoints))


def decide(gains: dict[str, float]) -> tuple[bool, str]:
    """Whether the pair ships (the module's rule), and why, in one line."""
    parts = [f"DeblurNet^{k.upper()} {gains[f'gpu {k}']:+.3f} dB (shipped {gains[f'shipped {k}']:+.3f})"
             for k in KINDS]
    losers = [k for k in KINDS if not gains[f"gpu {k}"] > gains[f"shipped {k}"]]
    if losers:
        return False, (f"nothing shipped: {'; '.join(parts)} on validation; "
                       f"{' and '.join('DeblurNet^' + k.upper() for k in losers)} does not beat the shipped one")
    return True, f"shipped: {'; '.join(parts)} on validation"


def ship_bundle(bundle: Bundle, gains: dict[str, float], *, weights_dir: str | os.PathLike,
                logs_dir: str | os.PathLike) -> None:
    """Copy the pair into ``weights_dir`` (``deblurnet_<kind>.{pt,json}``; each card gains where its
    log is kept, the gains measured here and the rule) and the logs and summary into ``logs_dir``,
    all or nothing (the weights are staged in a temporary folder beside them first)."""
    weights_dir, logs_dir = Path(weights_dir), Path(logs_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir, prefix=".gpu-ship-") as tmp:
        for kind in KINDS:
            card = dict(bundle.cards[kind])
            card["training_log"] = (logs_dir / f"train_gpu_{kind}.csv").as_posix()
            card["selection"] = (f"make gpu-ship: validation gain {gains[f'gpu {kind}']:+.3f} dB against the shipped "
                                 f"network's {gains[f'shipped {kind}']:+.3f} dB on the same pairs "
                                 "(both networks had to beat theirs; repro.train.gpu_ship)")
            shutil.copyfile(bundle.weights[kind], Path(tmp) / f"deblurnet_{kind}.pt")
            (Path(tmp) / f"deblurnet_{kind}.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
        for name in ("train_gpu_wild.csv", "train_gpu_si.csv", "summary.json", "job.log"):
            shutil.copyfile(bundle.folder / name, logs_dir / name)
        for path in sorted(Path(tmp).iterdir()):
            shutil.move(path, weights_dir / path.name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``gpu-ship`` command's arguments: defined in :mod:`repro.core.arguments` (torch-free, for a fast --help)."""
    from ..core.arguments import gpu_ship_arguments

    gpu_ship_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Read, measure, decide; ship unless ``--check``. Exit 0 when it shipped (or ``--check`` read
    the bundle), 1 when the pair did not beat the shipped one."""
    from ..io.paths import weights_dir

    bundle = read_bundle(args.bundle)
    gains = measure(bundle, args.val_root or list(DEFAULT_VAL_ROOTS), device=args.device)
    wins, reason = decide(gains)
    if args.check:
        print(f"the bundle reads; {reason.replace('shipped:', 'would ship:').replace('nothing shipped', 'would ship nothing')}")
        return 0
    if not wins:
        print(reason, file=sys.stderr)
        return 1
    ship_bundle(bundle, gains, weights_dir=args.weights or weights_dir(), logs_dir=args.logs)
    print(reason)
    return 0
