"""The verdicts: paired bootstrap statistics against known answers, and the claims built from tables."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from repro.evaluate import claims as cl
from repro.evaluate.stats import (N_RESAMPLES, bootstrap_mean, correlation_interval, paired, paired_difference,
                                  verdict)

ROOT = Path(__file__).resolve().parent.parent


def test_a_constant_gain_of_one_db_holds_with_an_interval_around_one():
    d = 1.0 + np.random.default_rng(0).normal(0, 0.05, 40)
    g = bootstrap_mean(d, seed=0)
    assert g.verdict == "holds" and g.n == 40 and g.n_positive == 40
    assert 0.95 < g.low < 1.0 < g.high < 1.05 and g.mean == pytest.approx(d.mean())
    assert bootstrap_mean([1.0] * 10).as_dict() == {"n": 10, "mean": 1.0, "low": 1.0, "high": 1.0, "median": 1.0,
                                                  "n_positive": 10, "verdict": "holds"}


def test_a_symmetric_zero_mean_sample_is_not_resolved_and_a_loss_is_reversed():
    d = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0] * 5)
    g = bootstrap_mean(d, seed=3)
    assert g.verdict == "not resolved" and g.low < 0 < g.high and g.mean == 0.0 and g.median == 0.0
    assert abs(g.low + g.high) < 0.15  # the interval is about symmetric around 0
    assert bootstrap_mean(-0.5 + 0.1 * np.sin(np.arange(20))).verdict == "reversed"
    assert verdict(-0.1, 0.1) == "not resolved" and verdict(0.01, 0.2) == "holds" and verdict(-0.3, -0.01) == "reversed"
    assert verdict(math.nan, 1.0) == "not resolved"


def test_the_bootstrap_interval_is_seeded_and_matches_the_normal_interval():
    d = np.random.default_rng(1).normal(0.3, 1.0, 400)
    a, b = bootstrap_mean(d, seed=7), bootstrap_mean(d, seed=7)
    assert a == b and bootstrap_mean(d, seed=8) != a
    half = 1.96 * d.std(ddof=1) / math.sqrt(d.size)  # the textbook 95 % interval of a mean, for large n
    assert a.high - a.low == pytest.approx(2 * half, rel=0.1) and (a.low + a.high) / 2 == pytest.approx(d.mean(), abs=0.02)
    assert N_RESAMPLES == 10_000


def test_too_few_or_bad_values():
    assert bootstrap_mean([]).verdict == "not resolved" and bootstrap_mean([]).n == 0
    one = bootstrap_mean([2.0])
    assert one.n == 1 and one.mean == 2.0 and math.isnan(one.low) and one.verdict == "not resolved"
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean([1.0, math.nan])
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean([1.0, 2.0], n_resamples=0)


def test_paired_differences_use_only_the_images_both_methods_ran():
    rows = [{"method": "a", "name": "x", "psnr": "30", "error": ""}, {"method": "b", "name": "x", "psnr": "29", "error": ""},
            {"method": "a", "name": "y", "psnr": "31", "error": ""}, {"method": "b", "name": "y", "psnr": "", "error": "boom"},
            {"method": "a", "name": "z", "psnr": 25.0, "error": ""}, {"method": "b", "name": "z", "psnr": 24.5, "error": ""},
            {"method": "b", "name": "w", "psnr": "20", "error": ""}]
    names, d = paired(rows, "a", "b")
    assert names == ["x", "z"] and d.tolist() == [1.0, 0.5]
    assert paired_difference(rows, "a", "b").mean == 0.75


def test_correlation_intervals():
    x = np.arange(50, dtype=float)
    c = correlation_interval(x, 2 * x + 1, seed=0)
    assert c.pearson_r == pytest.approx(1.0) and c.spearman_r == pytest.approx(1.0) and c.pearson_low == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = correlation_interval(rng.normal(size=200), rng.normal(size=200), seed=0)
    assert noise.pearson_low < 0 < noise.pearson_high and noise.spearman_low < 0 < noise.spearman_high
    assert 0 <= noise.pearson_p <= 1
    flat = correlation_interval(x, np.zeros(50), seed=0)  # a constant residual (an untrained network's)
    assert math.isnan(flat.pearson_r) and math.isnan(flat.pearson_low) and math.isnan(flat.spearman_high)
    with pytest.raises(ValueError, match="same length"):
        correlation_interval([1.0, 2.0, 3.0], [1.0, 2.0])


def _write(path: Path, rows: list[dict], comment: str | None = None) -> None:
    with open(path, "w", newline="") as f:
        if comment:
            f.write(f"# {comment}\n")
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _table2(gains: dict[str, float], n: int, seed: int) -> list[dict]:
    """Per-image rows: the input's PSNR per image, each method that plus its gain plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(22, 32, n)
    rows = []
    for method, gain in gains.items():
        for i in range(n):
            p = base[i] + gain + (rng.normal(0, 0.1) if method != "identity" else 0.0)
            rows.append({"method": method, "name": f"s/{i:06d}", "psnr": p, "psnr_shift": p + 0.1, "error": ""})
    return rows


def test_claims_from_tables_give_the_planted_verdicts(tmp_path):
    gains = {"identity": 0.0, "deblurnet-wild": 1.0, "deblurnet-si": 0.0, "sun": 1.0, "xu-jia": 0.5, "l0": -1.0}
    _write(tmp_path / "table2_per_image.csv", _table2(gains, 30, 0))
    rng = np.random.default_rng(2)
    blur = rng.uniform(1, 20, 60)
    _write(tmp_path / "residual_per_image.csv", [{"name": str(i), "blur_px": b, "residual_l1": 0.01 * b + rng.normal(0, 0.01)}
                                                 for i, b in enumerate(blur)], comment="made by: test")
    rows = {r["id"]: r for r in cl.claims(tmp_path)}
    assert rows["table2:deblurnet-wild>deblurnet-si:bundled"]["verdict"] == "holds"
    assert rows["table2:deblurnet-wild>deblurnet-si:bundled"]["difference"] == pytest.approx(1.0, abs=0.1)
    assert rows["table2:deblurnet-wild>sun:bundled"]["verdict"] == "not resolved"  # planted equal
    assert rows["table2:xu-jia>l0:bundled"]["verdict"] == "holds"
    assert rows["table2:deblurnet-wild>sun:bundled"]["paper"] == "+2.62 dB"  # 28.10 - 25.48, as the paper reports
    assert rows["fig8:deblurnet-wild>deblurnet-si:bundled"]["verdict"] == "holds"
    assert rows["table2:deblurnet-wild>deblurnet-si:corpus"]["verdict"] == cl.NOT_MEASURED  # no corpus table here
    assert rows["fig9:pearson"]["verdict"] == "holds" and rows["fig9:pearson"]["n"] == 60
    card = {c["claim"]: c for c in cl.scorecard(list(rows.values()))}
    assert card["DeblurNet^WILD > each classical method (bundled test photos)"]["verdict"] == "not resolved"
    fig8 = card["Fig. 8: a shift search does not reverse Table 2's ordering"]
    assert fig8["ours"].startswith("0 of 6 comparisons reverse") and fig8["verdict"] == "holds"
    assert card["Fig. 9: the residual norm grows with the blur"]["verdict"] == "holds"


def test_the_ablation_verdicts_are_carried_over_as_they_stand():
    with open(ROOT / "results" / "ablations.csv", newline="") as f:
        table = list(csv.DictReader(line for line in f if not line.startswith("#")))
    rows = cl.ablation_claims(table)
    words = {r["variant"]: r["verdict"] for r in table if r["verdict"] != "reference"}
    assert len(rows) == len(words)
    for r in rows:
        variant = r["id"].split(":", 1)[1]
        expected = {"supported": "holds", "contradicted": "reversed"}.get(words[variant], "not resolved")
        assert r["verdict"] == expected and words[variant] in r["basis"]
        original = next(float(t["vs paper, test dB"]) for t in table if t["variant"] == variant)
        assert r["difference"] == -original and r["low"] < r["difference"] < r["high"]


def test_write_claims_and_the_forest_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    gains = {"identity": 0.0, "deblurnet-wild": 0.5, "deblurnet-si": 0.2, "sun": 1.0, "xu-jia": 0.5, "l0": 0.0}
    _write(tmp_path / "table2_per_image.csv", _table2(gains, 20, 1))
    _write(tmp_path / "table2_corpus_per_image.csv", _table2(gains, 12, 2))
    rows = cl.write_claims(tmp_path, provenance={"preset": "test", "seed": 0})
    md = (tmp_path / "claims.md").read_text()
    with open(tmp_path / "claims.csv", newline="") as f:
        assert f.readline().startswith("# ") and len(list(csv.DictReader(f))) == len(rows)
    assert "## Scorecard" in md and "preset=test" in md and "| corpus test photos | 12 |" in md
    fig = cl.forest_plot(rows)
    assert len(fig.axes) == 1  # no correlation panel without Fig. 9's table
