#!/usr/bin/env python
"""The shipped weights stored in fewer bits (issue 44, item 4): outputs against float32's.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/weights_precision.py                 # every val pair, ~20 min on 1 core
    python benchmarks/weights_precision.py --pairs 12 --sun-pairs 2          # a seeded subset of each set

For each shipped network (``repro/weights/deblurnet_{wild,si}.pt``, ``sun2015.pt``) its float32
weights are stored as fp16, bf16 (filters; vectors stay float32: :func:`repro.core.checkpoint.cast_state_dict`)
and (measured only: nothing loads it) int8 per output channel,
loaded back through the project's own loaders (which upcast to the model's float32) and run in
float32 on the CPU, as Table 2 runs them (:func:`repro.evaluate.methods.build`): on the validation pairs of
``data/bundled``, ``data/corpus`` and the still split ``data/still_{bundled,corpus}`` (Sun et al. on
``--sun-pairs`` of the first two: 10-20 s an image). Per image: PSNR against the sharp frame of
each (:func:`repro.core.metrics.psnr`), its difference to float32's, and the PSNR between the two
outputs; file sizes. The bar: every image within 0.01 dB of float32.

Where the shipped file is already stored in fewer bits, its float32 original is read from git at
the commit its card records (``stored.fp32_original``), and the shipped file is checked to be
exactly its rounding. Writes ``results/benchmarks/weights_precision.md`` and ``.json``;
``--record-cards`` writes the measured |ΔPSNR| into each card's ``stored`` entry.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from repro.core.checkpoint import STORED_DTYPES, cast_state_dict, read_checkpoint_file, stored_dtype  # noqa: E402
from repro.io.files import atomic_path, atomic_write_text  # noqa: E402
from repro.core.metrics import psnr  # noqa: E402
from repro.io.provenance import portable_path, provenance  # noqa: E402

BAR_DB = 0.01  # issue 44: a stored form ships only if every image stays within 0.01 dB of float32
NETWORKS = {"deblurnet_wild": "deblurnet-wild", "deblurnet_si": "deblurnet-si", "sun2015": "sun"}  # file -> method
FORMATS = ("fp16", "bf16", "int8")
SETS = ("bundled", "corpus", "still_bundled", "still_corpus")
SUN_SETS = ("bundled", "corpus")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the stored forms

def int8_per_channel(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(dequantized, stored)``: every float weight of 2 or more dimensions (convolutions ``(O, I,
    kh, kw)``, linear layers ``(O, I)``) rounded symmetrically to int8 with one float32 scale per
    output channel (``max |w| / 127``); 1-D tensors (biases, batch norm) kept float32. ``stored`` is
    what a file would hold (``<name>`` int8, ``<name>.scale`` ``(O,)``), ``dequantized`` what the
    model would compute with."""
    dequantized, stored = {}, {}
    for name, w in state_dict.items():
        if not (w.is_floating_point() and w.dim() >= 2):
            dequantized[name] = stored[name] = w
            continue
        w = w.float()
        scale = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12) / 127.0
        q = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
        dequantized[name], stored[name], stored[f"{name}.scale"] = q.float() * scale, q, scale.flatten()
    return dequantized, stored


def saved_bytes(payload: dict) -> int:
    """How many bytes ``torch.save(payload)`` writes."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.tell()


def write_variant(payload: dict, state_dict: dict[str, torch.Tensor], dest: Path) -> Path:
    """``payload`` with ``state_dict`` in place of its own, saved to ``dest`` (a checkpoint file)."""
    with atomic_path(dest) as tmp:
        torch.save({**payload, "state_dict": state_dict}, tmp)
    return dest


def fp32_original(path: Path) -> tuple[dict, str]:
    """``(payload, where)``: the float32 checkpoint behind the shipped file ``path``: the file itself
    when it stores float32, else the file at the commit its card names (``stored.fp32_original``)."""
    payload = read_checkpoint_file(path)
    if stored_dtype(payload["state_dict"]) == "fp32":
        return payload, portable_path(path)
    card = json.loads(path.with_suffix(".json").read_text())
    commit = (card.get("stored") or {}).get("fp32_original")
    if not commit:
        raise SystemExit(f"{path}: stored in {stored_dtype(payload['state_dict'])} and its card names no "
                         "stored.fp32_original commit to compare with")
    rel = portable_path(path)
    blob = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=ROOT, capture_output=True, check=True).stdout
    original = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    return original, f"git show {commit}:{rel}"


def shipped_is_rounding(path: Path, original: dict) -> bool | None:
    """Whether the shipped file's tensors equal ``original``'s rounded to its stored dtype (None
    when it stores float32, i.e. it is the original)."""
    shipped = read_checkpoint_file(path)["state_dict"]
    kind = stored_dtype(shipped)
    if kind == "fp32":
        return None
    rounded = cast_state_dict(original["state_dict"], kind)
    return shipped.keys() == rounded.keys() and all(torch.equal(shipped[k], rounded[k]) for k in shipped)


# ----------------------------------------------------------------------------- the measurement

def pairs_of(data: Path, sets: tuple[str, ...], limit: int | None) -> list[tuple[str, str, Path, Path]]:
    """``(set, name, blurry, sharp)`` of each set's validation pairs (a seeded subset of ``limit``
    per set, :func:`repro.evaluate.data.select_images`); sets not built are left out."""
    from repro.evaluate.data import list_pairs, select_images

    out = []
    for name in sets:
        if not (data / name / "val").is_dir():
            _log(f"  {data / name / 'val'}: not built, left out")
            continue
        names, pairs = list_pairs(data / name, "val")
        _, idx = select_images(len(pairs), n_random=0, seed=0, limit=limit)
        out += [(name, names[i], *pairs[i]) for i in idx]
    return out


def measure(method_key: str, checkpoints: dict[str, Path], pairs: list[tuple[str, str, Path, Path]]) -> list[dict]:
    """Per pair: PSNR of each checkpoint's output (float32 arithmetic, CPU) against the sharp frame,
    and the PSNR of each output against the first checkpoint's (the float32 reference)."""
    from repro.evaluate.data import load_rgb
    from repro.evaluate.methods import build

    options = {"precision": "fp32"} if method_key.startswith("deblurnet") else {}
    methods = {f: build(method_key, checkpoint=p, device="cpu", **options) for f, p in checkpoints.items()}
    rows = []
    for set_name, name, blurry_path, sharp_path in tqdm(pairs, desc=method_key, leave=False):
        blurry, sharp = load_rgb(blurry_path), load_rgb(sharp_path)
        outs = {f: np.clip(m.deblur(blurry), 0, 1) for f, m in methods.items()}
        ref = outs["fp32"]
        rows.append({"set": set_name, "name": name,
                     "psnr": {f: psnr(sharp, o, data_range=1.0) for f, o in outs.items()},
                     "vs_fp32": {f: psnr(ref, o, data_range=1.0) for f, o in outs.items() if f != "fp32"}})
    return rows


def summarise(rows: list[dict], fmt: str) -> dict:
    """Mean PSNR of ``fmt`` and of float32, mean and max |ΔPSNR| per image, outputs' PSNR min/mean."""
    delta = [abs(r["psnr"][fmt] - r["psnr"]["fp32"]) for r in rows]
    apart = [r["vs_fp32"][fmt] for r in rows]
    return {"n": len(rows), "psnr_fp32": float(np.mean([r["psnr"]["fp32"] for r in rows])),
            "psnr": float(np.mean([r["psnr"][fmt] for r in rows])), "mean_abs_delta_db": float(np.mean(delta)),
            "max_abs_delta_db": float(np.max(delta)), "outputs_psnr_min": float(np.min(apart)),
            "outputs_psnr_mean": float(np.mean(np.minimum(apart, 200.0))), "within_bar": bool(np.max(delta) <= BAR_DB)}


def network_part(weights: Path, stem: str, pairs: list, formats: tuple[str, ...], tmp: Path) -> dict:
    """One shipped network: its stored forms, their sizes, their outputs against float32's."""
    path = weights / f"{stem}.pt"
    original, where = fp32_original(path)
    states = {f: cast_state_dict(original["state_dict"], f) for f in formats if f in STORED_DTYPES}
    files = {"fp32": write_variant(original, original["state_dict"], tmp / f"{stem}_fp32.pt")}
    sizes = {"fp32": files["fp32"].stat().st_size}
    for f, state in states.items():
        files[f] = write_variant(original, state, tmp / f"{stem}_{f}.pt")
        sizes[f] = files[f].stat().st_size
    if "int8" in formats:
        dequantized, stored = int8_per_channel(original["state_dict"])
        files["int8"] = write_variant(original, dequantized, tmp / f"{stem}_int8.pt")
        sizes["int8"] = saved_bytes({**original, "state_dict": stored})
    rows = measure(NETWORKS[stem], files, pairs)
    by_set = {s: {f: summarise([r for r in rows if r["set"] == s], f) for f in formats}
              for s in dict.fromkeys(r["set"] for r in rows)}
    return {"file": portable_path(path), "fp32_from": where, "shipped_stored": stored_dtype(
        read_checkpoint_file(path)["state_dict"]), "shipped_is_rounding": shipped_is_rounding(path, original),
        "shipped_bytes": path.stat().st_size, "bytes": sizes, "all": {f: summarise(rows, f) for f in formats},
        "by_set": by_set, "per_image": rows}


def record_in_card(path: Path, net: dict, report: str) -> bool:
    """Write what was measured of the shipped file ``path``'s stored dtype into its card's ``stored``
    entry (largest and mean |ΔPSNR| per image, images, where the numbers are); False, card untouched,
    where the file stores float32 or is not exactly its original rounded."""
    kind = net["shipped_stored"]
    if kind not in net["all"] or not net["shipped_is_rounding"]:
        return False
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    s = net["all"][kind]
    card["stored"] = {**card.get("stored", {}), "dtype": kind, "bytes": path.stat().st_size,
                      "max_abs_delta_psnr_db": round(s["max_abs_delta_db"], 5),
                      "mean_abs_delta_psnr_db": round(s["mean_abs_delta_db"], 5), "images": s["n"],
                      "measured_by": f"benchmarks/weights_precision.py ({report})"}
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    return True


# ----------------------------------------------------------------------------- report

def render(res: dict) -> str:
    h = res["header"]
    lines = [
        "# The shipped weights in fewer bits (issue 44, item 4)", "",
        f"Made by `python benchmarks/weights_precision.py {' '.join(res['argv'])}` on {h['date']} (commit "
        f"{h['commit']}; {h['device']}, torch {h['torch']}, {res['threads']} torch thread(s)).", "",
        "Each network's float32 weights stored as fp16, bf16 or int8 (per output channel, symmetric; convolution "
        "and linear weights only, biases and batch norm kept float32: measured, not shipped, nothing loads it), "
        "loaded back by the project's loaders into a float32 model and run in float32 on the CPU as Table 2 runs "
        f"them, on validation pairs: {res['pairs_note']}. |ΔPSNR| is per image, against the float32 weights' PSNR; "
        f"'outputs' the PSNR of the stored form's output against float32's. Bar: every image within {BAR_DB} dB.", "",
        "| network | stored | file MB | images | PSNR fp32 → stored (dB) | mean / max \\|ΔPSNR\\| (dB) | "
        "outputs PSNR, min / mean (dB) | within 0.01 dB |",
        "|---|---|---|---|---|---|---|---|"]
    for stem, net in res["networks"].items():
        lines.append(f"| {stem} | fp32 | {net['bytes']['fp32'] / 1e6:.2f} | | | | | |")
        for f, s in net["all"].items():
            lines.append(f"| {stem} | {f} | {net['bytes'][f] / 1e6:.2f} | {s['n']} | {s['psnr_fp32']:.4f} → "
                         f"{s['psnr']:.4f} | {s['mean_abs_delta_db']:.5f} / {s['max_abs_delta_db']:.5f} | "
                         f"{s['outputs_psnr_min']:.1f} / {s['outputs_psnr_mean']:.1f} | "
                         f"{'yes' if s['within_bar'] else 'NO'} |")
    lines += ["", "By set (max |ΔPSNR| per image, dB; n images):", "",
              "| network | set | n | PSNR fp32 | " + " | ".join(res["formats"]) + " |",
              "|---|---|---|---|" + "---|" * len(res["formats"])]
    for stem, net in res["networks"].items():
        for set_name, per in net["by_set"].items():
            first = next(iter(per.values()))
            lines.append(f"| {stem} | {set_name} | {first['n']} | {first['psnr_fp32']:.4f} | "
                         + " | ".join(f"{per[f]['max_abs_delta_db']:.5f}" for f in res["formats"]) + " |")
    lines += ["", "What ships (`repro/weights/`):", ""]
    for stem, net in res["networks"].items():
        check = {None: "", True: ", exactly the float32 original rounded", False: ", NOT the float32 original rounded"}
        lines.append(f"- `{net['file']}`: stored {net['shipped_stored']}, {net['shipped_bytes'] / 1e6:.2f} MB"
                     f"{check[net['shipped_is_rounding']]} (float32 original: `{net['fp32_from']}`).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data", help="folder of the built sets (default data)")
    ap.add_argument("--weights", type=Path, default=ROOT / "repro" / "weights", help="the shipped weights")
    ap.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated, of {', '.join(NETWORKS)}")
    ap.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, of {', '.join(FORMATS)}")
    ap.add_argument("--pairs", type=int, default=None, help="validation pairs per set (a seeded subset; default all)")
    ap.add_argument("--sun-pairs", type=int, default=2, help="validation pairs per set for Sun et al. (default 2)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "weights_precision.md")
    ap.add_argument("--record-cards", action="store_true",
                    help="write the measured |ΔPSNR| of each shipped file's stored dtype into its card")
    args = ap.parse_args(argv)
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = sorted(set(networks) - set(NETWORKS)) + sorted(set(formats) - set(FORMATS))
    if bad or not formats:
        raise SystemExit(f"unknown network(s) or format(s) {bad}; networks {', '.join(NETWORKS)}, formats {', '.join(FORMATS)}")
    if args.pairs is not None and args.pairs < 1 or args.sun_pairs < 1:
        raise SystemExit("--pairs and --sun-pairs must be at least 1")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    deblur_pairs = pairs_of(args.data, SETS, args.pairs)
    sun_pairs = pairs_of(args.data, SUN_SETS, args.sun_pairs)
    if not deblur_pairs:
        raise SystemExit(f"{args.data}: no validation pairs in {', '.join(SETS)} (make corpus-data builds them)")
    res = {"header": provenance(device="cpu"), "threads": torch.get_num_threads(), "formats": list(formats),
           "argv": [portable_path(a) if os.path.isabs(a) else a for a in (sys.argv[1:] if argv is None else argv)],
           "pairs_note": (f"DeblurNets on {'all' if args.pairs is None else f'a seeded {args.pairs} per set of the'} "
                          f"val pairs of {', '.join(sorted({p[0] for p in deblur_pairs}))}; Sun et al. on a seeded "
                          f"{args.sun_pairs} per set of {', '.join(sorted({p[0] for p in sun_pairs}))}"),
           "networks": {}}
    with tempfile.TemporaryDirectory(prefix="weights-precision-") as tmp:
        for stem in networks:
            _log(f"{stem} ...")
            pairs = sun_pairs if NETWORKS[stem] == "sun" else deblur_pairs
            res["networks"][stem] = network_part(args.weights, stem, pairs, formats, Path(tmp))
            _log("  " + ", ".join(f"{f}: max {s['max_abs_delta_db']:.5f} dB" for f, s in
                                  res["networks"][stem]["all"].items()))
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(res, indent=1, default=str) + "\n")
    atomic_write_text(args.out, render(res) + f"\nNumbers as JSON: `{portable_path(args.out.with_suffix('.json'))}`.\n")
    if args.record_cards:
        recorded = [stem for stem, net in res["networks"].items()
                    if record_in_card(args.weights / f"{stem}.pt", net, portable_path(args.out))]
        _log(f"recorded in the cards of {', '.join(recorded) or 'none'}")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
