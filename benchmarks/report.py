"""The written report of ``benchmarks/run.py``: a half's markdown (its provenance header, then each
topic's section), its JSON beside it, and ``benchmarks.md`` combined from whichever halves exist."""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks import inference, pipeline, tiled, training
from repro.io.files import atomic_write_text
from repro.io.provenance import portable_path

SECTIONS = (inference.render_section, tiled.render_section, training.render_section, pipeline.render_section)


def header_lines(res: dict, kind: str) -> list[str]:
    """Markdown lines: the command, device, versions and load; bf16 on this CPU; the matmul peaks."""
    h = res["header"]
    out = [f"## {kind.upper()} half", ""]
    out.append(f"Made by `python benchmarks/run.py {' '.join(res.get('argv', []))}` on {h['date']}: "
               f"device **{h['device']}**, CPU {h.get('cpu')}, {h['threads']} torch threads, "
               f"load average at start {h['load_average']}; torch {h['torch']}, numpy {h['numpy']}, "
               f"python {h['python']}, repro {h['repro']} (commit {h['commit']})"
               + (f", CUDA {h['cuda']}, cuDNN {h['cudnn']}" if "cuda" in h else "") + ".")
    if kind == "cpu":
        out += ["", "The CPU was shared with other jobs when these numbers were taken if the load average "
                "above exceeds the thread count; such timings are upper bounds."]
    peaks = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" if v < 1e12 else f"{k} {v / 1e12:.1f} TFLOP/s"
                      for k, v in res["peak"].items())
    out += ["", f"Measured peak (matmul {'2048' if kind == 'cpu' else '8192'}^2, best of up to 10 runs: fewer where one "
            f"takes seconds): {peaks}" + "".join(f"; {n}" for n in res.get("notes", [])) + ".", ""]
    if res.get("precision"):
        p = res["precision"]
        native = "native bf16 flags: none" not in p["cpu"]
        out += [f"**Precision** (issue 27, `repro.core.precision`): {p['cpu']}. `precision=\"auto\"` resolves to "
                f"**{p['auto']}** on this CPU; under bf16 autocast a 3x3 convolution (64 channels, 96x128) runs at "
                f"{p['conv_bf16_speedup']:.2f}x its float32 speed"
                + ("." if native else " (no AMX or AVX512-BF16: oneDNN emulates bf16, so the bf16 rows below "
                   "show its cost here, not the speed-up of a CPU that computes bf16 natively)."), ""]
    return out


def render(res: dict, kind: str) -> str:
    """A half's markdown (``benchmarks_<kind>.md``) from its record ``res``."""
    out = header_lines(res, kind)
    for section in SECTIONS:
        out += section(res, kind)
    if res.get("skipped"):
        out += ["", "Skipped (time budget or failure):", ""] + [f"- {s}" for s in res["skipped"]]
    out += ["", f"This half took {res['elapsed_s']:.0f} s."]
    return "\n".join(out) + "\n"


def write_half(res: dict, kind: str, out_dir: Path, argv: list[str]) -> str:
    """Record the command (paths inside the repository relative to it, see ``portable_path``) in
    ``res``; write ``benchmarks_<kind>.json`` and ``.md`` into ``out_dir``; return the markdown."""
    res["argv"] = [portable_path(a) if os.path.isabs(a) else a for a in argv]
    md = render(res, kind)
    atomic_write_text(out_dir / f"benchmarks_{kind}.json", json.dumps(res, indent=1, default=str) + "\n")
    atomic_write_text(out_dir / f"benchmarks_{kind}.md", md)
    return md


def combine(out_dir: Path) -> Path:
    """``out_dir/benchmarks.md`` from ``benchmarks_cpu.md`` and ``benchmarks_gpu.md`` (a pending note
    for a missing half); returns its path."""
    parts = []
    for kind in ("cpu", "gpu"):
        p = out_dir / f"benchmarks_{kind}.md"
        parts.append(p.read_text() if p.exists() else
                     f"## {kind.upper()} half\n\npending: run `python benchmarks/run.py "
                     f"{'--cpu' if kind == 'cpu' else '--gpu-only'}` on a machine with "
                     f"{'a CPU' if kind == 'cpu' else 'a CUDA GPU'}.\n")
    text = ("# Benchmarks (issue 9)\n\nWritten by `benchmarks/run.py` (see its docstring and "
            "`benchmarks/README.md`); each half says how, where and when it was measured.\n\n"
            + "\n".join(parts))
    path = out_dir / "benchmarks.md"
    atomic_write_text(path, text)
    return path
