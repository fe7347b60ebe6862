"""What ``make demo`` says before it starts and at its end: the numbers read from the demo's own
records (``<results>/records/04_table2.json`` and ``05_qualitative.json``), never written by hand.

The README's *The demo* section quotes the summary of the reference run (``results/demo_reference/``);
``tests/test_readme.py`` checks that every number it prints there is in the README, so a new
reference (``make demo-reference``) is seen to need a README edit.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.provenance import portable_path

__all__ = ["SUMMARY_METHODS", "EXPECT", "expectation", "read_records", "summary"]

# the rows of the summary, in its order: the input, the network of the paper, its self-ensemble, and SI
SUMMARY_METHODS = ("identity", "deblurnet-wild", "deblurnet-wild-x8", "deblurnet-si")
SHORT = {"identity": "input", "deblurnet-wild": "WILD", "deblurnet-wild-x8": "WILD x8", "deblurnet-si": "SI"}
EXPECT = ("the demo: the shipped DeblurNet^WILD and ^SI (no training) on {n} held-out test pairs, in a few minutes "
          "on 2 cores ({times}); its last lines sum up what it found and which picture to open first")


def expectation(n_pairs: int, times: str = "results/benchmarks/timings.md") -> str:
    """The line printed before the demo starts: what it runs, how long it takes, what it ends with."""
    return EXPECT.format(n=n_pairs, times=times)


def read_records(records: Path) -> dict[str, dict]:
    """The ``numbers`` of ``04_table2.json`` and ``05_qualitative.json`` in the folder ``records``
    (a demo run's ``records/``, or ``results/demo_reference/``); a ``FileNotFoundError`` naming the
    missing file otherwise."""
    out = {}
    for notebook in ("04_table2", "05_qualitative"):
        path = Path(records) / f"{notebook}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no record of notebook {notebook} (did it run?)")
        out[notebook] = json.loads(path.read_text())["numbers"]
    return out


def _dB(x: float) -> str:
    return f"{x:.2f}"


def _gain(x: float) -> str:
    return f"{x:+.2f}"


def summary(records: Path, figures: Path) -> list[str]:
    """The demo's closing lines from its records in ``records`` (:func:`read_records`); ``figures``
    is where its figures are (named in the "open first" line).

    1. Table 2 on the demo's test pairs: mean PSNR (dB) of the input, WILD, WILD x8 and SI, and on
       how many images WILD x8 beats the input where the record has it;
    2. the gains over the input by blur size (``by_blur`` of notebook 04's record, when present);
    3. what to open first: Fig. 1's scenes, each network's gain on them.
    """
    rec = read_records(records)
    table, qual = rec["04_table2"], rec["05_qualitative"]
    present = [m for m in SUMMARY_METHODS if f"{m}/split" in table]
    n = table[f"{present[0]}/split"]["n"]
    lines = [f"Table 2 on {n} test pairs (PSNR, dB): "
             + ", ".join(f"{SHORT[m]} {_dB(table[f'{m}/split']['psnr'])}" for m in present)]
    by_blur = table.get("by_blur") or {}
    for bin_name in ("8-16 px", "< 4 px"):
        gains = [(m, by_blur[m][bin_name]) for m in present if m in by_blur and by_blur[m].get(bin_name) is not None]
        if gains:
            count = by_blur.get("n", {}).get(bin_name)
            lines.append(f"gain over the input at {bin_name}" + (f" ({count} images)" if count else "") + ": "
                         + ", ".join(f"{SHORT[m]} {_gain(g)}" for m, g in gains) + " dB")
    scenes = qual.get("scenes", {})
    drawn = "blurred by 8-16 px" if qual.get("pick") == "strong-blur" else "drawn at random"
    lines += [f"open first: {portable_path(Path(figures) / 'fig1_qualitative.png')}: {len(scenes)} test scenes "
              f"{drawn}, as blurry | sharp | SI | WILD | WILD x8",
              f"  then {portable_path(Path(figures) / 'fig4.png')} (the first of them); gains over the blurry input:"]
    for name, s in scenes.items():
        blur = f", {s['blur_px']:.1f} px of blur" if s.get("blur_px") is not None else ""
        gains = ", ".join(f"{SHORT[m]} {_gain(s[m] - s['identity'])}" for m in SUMMARY_METHODS[1:] if m in s)
        lines.append(f"  {name}{blur}: input {_dB(s['identity'])} dB; {gains} dB")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m repro.study.demo [--records DIR] [--figures DIR]``: print :func:`summary` (by default the
    reference run's, ``results/demo_reference/``, which the README quotes)."""
    import argparse

    from ..io.paths import repo_root

    parser = argparse.ArgumentParser(prog="python -m repro.study.demo", description=main.__doc__)
    parser.add_argument("--records", type=Path, default=repo_root() / "results" / "demo_reference",
                        help="a folder with 04_table2.json and 05_qualitative.json (default results/demo_reference)")
    parser.add_argument("--figures", type=Path, default=repo_root() / "figures" / "demo",
                        help="where the demo's figures are (default figures/demo)")
    args = parser.parse_args(argv)
    print("\n".join(summary(args.records, args.figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
