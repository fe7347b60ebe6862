"""Ship the long runs' networks as the default weights: of the DeblurNet^WILD runs given (the long
run and its continuations) the one whose ``best.pt`` has the best validation gain, and likewise
of the DeblurNet^SI runs, exported to ``repro/weights/deblurnet_{wild,si}.pt`` with their cards.

    python -m repro.train.ship --runs runs/long --wild wild_w0.25 --wild wild_w0.25_cont \\
        --si si_w0.25 --logs results/long_run --out repro/weights --command "make -C experiments/long_run long-run"

The choice reads only what the runs measured on their validation photos (the gain kept in each
``best.pt``); test pairs play no part. With ``--beat-shipped-on DATA`` (the runs' validation
roots) the WILD network ships only if it gains more on those validation pairs than the DeblurNet^WILD
shipped now does (measured then); DeblurNet^SI ships beside it whatever its gain, as the WILD run's
like-for-like comparison. Both networks are written together or not at all, and only when
together they stay under the size limit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.checkpoint import load_checkpoint
from .logs import read_log
from .loop import export_weights

KINDS = ("wild", "si")
MAX_MB = 30.0  # both shipped networks together (issue 28)


@dataclass(frozen=True)
class Candidate:
    """A run's ``best.pt`` and what its training measured on validation."""

    run: str
    checkpoint: Path
    step: int
    gain_db: float  # best validation PSNR minus the blurry input's, on the run's validation pairs
    data: str
    init: str = ""  # the checkpoint the run started from ("" when from scratch)


def read_candidate(runs_dir: str | os.PathLike, run: str, checkpoint_name: str = "best.pt") -> Candidate:
    """The candidate of ``runs_dir/run/best.pt`` (or ``checkpoint_name``, e.g. ``last.pt``: a run's
    final weights, validated at its last step; read safely, ``weights_only=True``)."""
    if checkpoint_name not in ("best.pt", "last.pt"):
        raise ValueError(f"checkpoint_name must be 'best.pt' or 'last.pt', got {checkpoint_name!r}")
    checkpoint = Path(runs_dir) / run / checkpoint_name
    meta = load_checkpoint(checkpoint).get("meta") or {}
    missing = [k for k in ("psnr", "input_psnr", "steps", "data") if meta.get(k) is None]
    if missing:
        raise ValueError(f"{checkpoint}: no {', '.join(missing)} in its metadata; not a validated training checkpoint")
    init = str((meta.get("train_config") or {}).get("init") or "")
    return Candidate(run, checkpoint, int(meta["steps"]), float(meta["psnr"]) - float(meta["input_psnr"]),
                     str(meta["data"]), init)


def choose(candidates: list[Candidate], kind: str) -> Candidate:
    """The candidate of data ``kind`` with the highest validation gain (the first given on a tie)."""
    if not candidates:
        raise ValueError(f"no {kind} run to choose from")
    wrong = [c.run for c in candidates if c.data != kind]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: trained on other data than {kind!r}")
    return max(candidates, key=lambda c: c.gain_db)  # max keeps the first of equal ones


def _minutes_at(log: Path, step: int) -> float | None:
    """The training minutes the log records at ``step`` (None without such a row)."""
    rows = [r for r in read_log(log) if r["step"] == step] if log.is_file() else []
    return rows[0]["minutes"] if rows and rows[0]["minutes"] is not None else None


def _card(chosen: Candidate, candidates: list[Candidate], *, logs_dir: Path, command: str, device: str) -> dict:
    """What the card says beyond the checkpoint's own metadata: where it came from and why."""
    log = logs_dir / f"train_{chosen.run}.csv"
    gains = {c.run: round(c.gain_db, 3) for c in candidates}
    card = {
        "run": chosen.run,
        "exported_from": (f"{chosen.run}/{chosen.checkpoint.name} ("
                          + ("best validation gain" if chosen.checkpoint.name == "best.pt" else "the run's final weights")
                          + f", step {chosen.step}; chosen on the validation split, never on test)"),
        "selection": f"best validation gain (dB over the blurry input) among {gains}",
        "command": f"{command} (its run {chosen.run})",
        "device": device,
        "minutes": _minutes_at(log, chosen.step),
        "training_log": log.as_posix(),
    }
    if chosen.init:  # a continuation: its minutes and steps count from where the run it continues stopped
        card["initialised_from"] = (f"{chosen.init} (minutes and steps here count from that checkpoint; "
                                    "its own run's are in that run's log)")
        earlier = lineage_logs(chosen.init, logs_dir)
        if earlier:  # so that the training curves show the runs it continued (notebook 03)
            card["earlier_logs"] = earlier
    return card


def lineage_logs(init: str, logs_dir: Path) -> list[str]:
    """The kept logs of the runs a continuation from ``init`` carries on, oldest first: for a run's
    checkpoint (``<runs>/<run>/best.pt``) that run's log in ``logs_dir``; for shipped weights with a
    card (``repro/weights/deblurnet_wild.pt``) the card's own ``earlier_logs`` and ``training_log``.
    A card written before cards listed ``earlier_logs`` names the run it continued in its
    ``initialised_from`` only: that run's log beside the card's ``training_log``. ``[]`` where none is kept."""
    import json

    card_path = Path(init).with_suffix(".json")
    if not card_path.is_file():
        parent = continued_log(init, logs_dir)
        return [parent.as_posix()] if parent is not None else []
    card = json.loads(card_path.read_text())
    log, earlier = card.get("training_log"), list(card.get("earlier_logs") or [])
    if not earlier and isinstance(card.get("initialised_from"), str) and isinstance(log, str):
        parent = continued_log(card["initialised_from"].split(" (")[0], Path(log).parent)
        earlier = [parent.as_posix()] if parent is not None else []
    return earlier + ([log] if isinstance(log, str) else [])


def continued_log(init: str, logs_dir: Path) -> Path | None:
    """The kept log of the run whose checkpoint ``init`` (``<runs>/<run>/best.pt``) a continuation
    started from: ``logs_dir/train_<run>.csv``, or None where there is no such log."""
    log = logs_dir / f"train_{Path(init).parent.name}.csv"
    return log if log.is_file() else None


def shipped_validation_gain(kind: str, val_roots: list[Path], *, device: str = "cpu") -> float:
    """The shipped DeblurNet of ``kind``'s mean gain (dB) over the validation pairs of ``val_roots``
    together (each pair weighted once, as a run's validation and :mod:`repro.evaluate.long_run` do)."""
    from ..measure.gains import PairSet, checkpoint_rows, validation_gains
    from ..io.paths import shipped_checkpoint

    missing = [str(root / "val") for root in val_roots if not (root / "val").is_dir()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: no validation pairs there (make corpus-data builds them)")
    sets = [PairSet(f"val, {root.name}", root, "val") for root in val_roots]
    rows = checkpoint_rows({"shipped": shipped_checkpoint(kind)}, sets, device=device)
    return validation_gains(rows, names=["shipped"])["shipped"]


def harm_card(checkpoint: Path, data: Path, *, device: str = "cpu") -> dict:
    """What a card says of a network's do-no-harm measures on validation (:mod:`repro.measure.harm`):
    its identity PSNR on both photo sets' validation sharp frames, its gain on their WILD pairs, the
    still split's gains by input PSNR, and the score the do-no-harm choice is made on."""
    from ..measure.harm import choice_score, harm_rows, still_roots
    from ..core.inference import load_deblurnet

    wild_roots = [data / "bundled", data / "corpus"]
    missing = [str(r / "val") for r in wild_roots if not (r / "val").is_dir()]
    if missing or not still_roots(data):
        raise FileNotFoundError(f"{data}: the validation pairs and the still split are not all built "
                                f"({', '.join(missing) or 'still_*'}; make corpus-data)")
    row = harm_rows(load_deblurnet(checkpoint, device=device), wild_roots=wild_roots, still=still_roots(data),
                    device=device)
    return {"identity_psnr": round(row["identity"], 2), "identity_psnr_min": round(row["identity_min"], 2),
            "validation_gain": round(row["wild_gain"], 3), "score": round(choice_score(row), 3),
            "still_gains_by_input_psnr": {k: {kk: (round(vv, 3) if isinstance(vv, float) else vv)
                                              for kk, vv in v.items()} for k, v in row.get("still", {}).items()},
            "measured_on": "the validation split: sharp frames (identity), WILD pairs and the still split of the "
                           "bundled photos and the corpus (repro.measure.harm)"}


def ship(runs_dir: str | os.PathLike, runs: dict[str, list[str]], out_dir: str | os.PathLike, *,
         logs_dir: str | os.PathLike, command: str, device: str = "cpu", max_mb: float = MAX_MB,
         to_beat: dict[str, float] | None = None, harm_data: Path | None = None,
         checkpoint_name: str = "best.pt", half: bool = True,
         stored_on: list[Path] | None = None) -> dict[str, Candidate]:
    """Export the best-on-validation run of each kind in ``runs`` (``{"wild": [...], "si": [...]}``)
    to ``out_dir/deblurnet_<kind>.{pt,json}``; a kind in ``to_beat`` ships only if its chosen run's
    validation gain is above that (dB). With ``harm_data`` (the folder of ``make corpus-data``) each
    card records the network's do-no-harm measures (:func:`harm_card`), and the WILD network ships only if
    its do-no-harm score is above the shipped DeblurNet^WILD's (the rule of issue 41: deblur where there is
    blur, leave alone where there is none, both on validation). The weights are stored in float16
    (``half=True``, half the bytes, loaded back into float32 models) where rounding them moves no
    validation image of ``stored_on`` by more than 0.01 dB (:func:`repro.measure.storage.stored_entry`,
    recorded in the card's ``stored``; without ``stored_on`` the card says it was not measured), in
    float32 with ``half=False``.
    Everything is exported to a temporary folder first: on any
    error, a gain not above ``to_beat``, or networks together over ``max_mb``, ``out_dir`` is left
    untouched. Returns the chosen candidate of each kind."""
    out_dir, logs_dir = Path(out_dir), Path(logs_dir)
    unknown = set(runs) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; expected {KINDS}")
    chosen: dict[str, Candidate] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".ship-") as tmp:
        for kind, names in runs.items():
            candidates = [read_candidate(runs_dir, name, checkpoint_name) for name in names]
            chosen[kind] = choose(candidates, kind)
            floor = (to_beat or {}).get(kind)
            if floor is not None and not chosen[kind].gain_db > floor:
                raise ValueError(f"{chosen[kind].run} gains {chosen[kind].gain_db:+.2f} dB on validation, not more than "
                                 f"the shipped DeblurNet^{kind.upper()}'s {floor:+.2f} dB; nothing shipped")
            card = _card(chosen[kind], candidates, logs_dir=logs_dir, command=command, device=device)
            if harm_data is not None:
                from ..io.paths import shipped_checkpoint

                card["do_no_harm"] = harm_card(chosen[kind].checkpoint, harm_data)
                before = harm_card(shipped_checkpoint(kind), harm_data)
                card["do_no_harm"]["shipped_before"] = {k: before[k] for k in ("identity_psnr", "validation_gain",
                                                                                "score")}
                if kind == "wild" and not card["do_no_harm"]["score"] > before["score"]:
                    raise ValueError(f"{chosen[kind].run}'s do-no-harm score {card['do_no_harm']['score']:+.2f} is not "
                                     f"above the shipped DeblurNet^WILD's {before['score']:+.2f}; nothing shipped")
            _export_stored(chosen[kind].checkpoint, Path(tmp) / f"deblurnet_{kind}.pt", card, half=half,
                           stored_on=stored_on)
        size_mb = sum(p.stat().st_size for p in Path(tmp).glob("*.pt")) / 2**20
        if size_mb > max_mb:
            raise ValueError(f"the networks take {size_mb:.1f} MB together, over the limit of {max_mb:g} MB; nothing shipped")
        for path in sorted(Path(tmp).iterdir()):
            shutil.move(path, out_dir / path.name)  # same filesystem: a rename each
    return chosen


def _validation_roots(harm_data: Path | None, beat_roots: list[Path]) -> list[Path] | None:
    """The roots whose validation pairs the float16 storage is measured on: both photo sets and the
    still split under ``harm_data`` (where rounding shows most: near-sharp images), else ``beat_roots``."""
    if harm_data is not None:
        from ..measure.harm import still_roots

        return [harm_data / "bundled", harm_data / "corpus", *still_roots(harm_data)]
    return list(beat_roots) or None


def _export_stored(checkpoint: Path, dest: Path, card: dict, *, half: bool, stored_on: list[Path] | None) -> Path:
    """:func:`export_weights` of ``checkpoint`` to ``dest`` in float16 if ``half`` and (when
    ``stored_on`` is given) rounding keeps every measured image within 0.01 dB, else in float32;
    the card's ``stored`` entry says which, what was measured, and both sizes."""
    from ..core.checkpoint import load_model
    from ..measure.storage import stored_entry

    if not half:
        stored = {"dtype": "fp32"}
    elif stored_on:
        stored = stored_entry(load_model(checkpoint)[0], stored_on)  # on this machine's CPU
    else:
        stored = {"dtype": "fp16", "max_abs_delta_psnr_db": None,
                  "measured_by": "not measured at shipping (no validation pairs given): benchmarks/weights_precision.py"}
    return export_weights(checkpoint, dest, half=stored["dtype"] == "fp16", **card, stored=stored)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.train.ship", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="folder of the run folders (runs/long)")
    for kind in KINDS:
        parser.add_argument(f"--{kind}", action="append", default=[], metavar="RUN",
                            help=f"a DeblurNet^{kind.upper()} run's name (repeat: the best on validation ships)")
    parser.add_argument("--logs", type=Path, required=True, help="folder of the runs' kept logs train_<run>.csv")
    parser.add_argument("--out", type=Path, required=True, help="the weights folder (repro/weights)")
    parser.add_argument("--command", required=True, help="the command that retrains the runs (for the cards)")
    parser.add_argument("--device", default="cpu", help="where the runs trained (for the cards)")
    parser.add_argument("--beat-shipped-on", type=Path, action="append", default=[], metavar="DATA",
                        help="a dataset root whose validation pairs the runs validated on (repeat for each): "
                             "the WILD run ships only if it gains more there than the shipped DeblurNet^WILD")
    parser.add_argument("--harm-data", type=Path, default=None, metavar="DATA",
                        help="the folder of make corpus-data: record each network's do-no-harm measures on "
                             "validation in its card, and ship the WILD network only if its do-no-harm score "
                             "beats the shipped one's (repro.measure.harm)")
    parser.add_argument("--checkpoint", default="best.pt", choices=("best.pt", "last.pt"),
                        help="which checkpoint of each run: best.pt (its best validation PSNR) or last.pt (its "
                             "final weights, e.g. at the end of a cosine; validated at its last step)")
    parser.add_argument("--fp32", action="store_true",
                        help="store the weights in float32 (default float16: half the bytes, loaded back into "
                             "float32 models; benchmarks/weights_precision.py measures what it changes)")
    args = parser.parse_args(argv)
    runs = {kind: getattr(args, kind) for kind in KINDS if getattr(args, kind)}
    if not runs:
        parser.error("give at least one --wild or --si run")
    try:
        to_beat = {}
        if args.beat_shipped_on and "wild" in runs:
            to_beat["wild"] = shipped_validation_gain("wild", args.beat_shipped_on)
            print(f"the shipped DeblurNet^WILD gains {to_beat['wild']:+.2f} dB on those validation pairs")
        chosen = ship(args.runs, runs, args.out, logs_dir=args.logs, command=args.command, device=args.device,
                      to_beat=to_beat, harm_data=args.harm_data, checkpoint_name=args.checkpoint,
                      half=not args.fp32, stored_on=_validation_roots(args.harm_data, args.beat_shipped_on))
    except (OSError, ValueError) as exc:
        parser.exit(1, f"error: {exc}\n")
    for kind, c in chosen.items():
        print(f"shipped {args.out / f'deblurnet_{kind}.pt'}: {c.run} step {c.step}, validation gain {c.gain_db:+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
