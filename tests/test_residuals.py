import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.evaluate.residuals import extremes, standardize
from repro.measure.records import correlation


def test_correlation_known_answers():
    x = np.arange(10.0)
    c = correlation(x, 3 * x + 1)
    assert c["pearson_r"] == pytest.approx(1.0) and c["spearman_r"] == pytest.approx(1.0)
    assert c["pearson_p"] < 1e-6 and c["n"] == 10
    c = correlation(x, -(x ** 3))  # monotone but not linear
    assert c["spearman_r"] == pytest.approx(-1.0)
    assert -1.0 < c["pearson_r"] < -0.8
    with pytest.raises(ValueError):
        correlation(x, x[:5])
    flat = correlation(x, np.zeros(10))
    assert np.isnan(flat["pearson_r"]) and np.isnan(flat["spearman_p"]) and flat["n"] == 10


def test_standardize_constant_is_zero():
    assert np.array_equal(standardize(np.full(4, 2.5)), np.zeros(4))


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=50).filter(lambda v: np.std(v) > 1e-3))
@settings(max_examples=30, deadline=None)
def test_standardize_has_mean0_std1(values):
    z = standardize(np.array(values))
    assert abs(z.mean()) < 1e-9
    assert z.std() == pytest.approx(1.0)


def test_extremes():
    hi, lo = extremes(np.array([0.3, 0.9, 0.1, 0.5]), k=2)
    assert list(hi) == [1, 3] and list(lo) == [2, 0]


def test_write_table_csv_and_markdown(tmp_path):
    import csv

    from repro.io.reports import markdown_table, write_table

    rows = [{"method": "a", "psnr": 25.123}, {"method": "b", "psnr": 30.0}]
    csv_path, md_path = write_table(rows, tmp_path / "t", provenance={"preset": "smoke", "seed": 0}, title="T")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("# T; made by: preset=smoke; seed=0")
    parsed = list(csv.DictReader(lines[1:]))
    assert parsed == [{"method": "a", "psnr": "25.123"}, {"method": "b", "psnr": "30.0"}]
    assert "| a | 25.12 |" in md_path.read_text()
    assert "| 3.20e-07 |" in markdown_table([{"p": 3.2e-7}])
    with pytest.raises(ValueError):
        markdown_table([])


def test_atomic_write_keeps_old_file_on_error_and_uses_umask(tmp_path):
    import os

    from repro.io.files import atomic_path, atomic_write_text

    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_identity_psnr_known_answers():
    from types import SimpleNamespace

    import torch

    from repro.measure.records import identity_psnr
    from repro.core.model import DeblurNet, DeblurNetConfig

    rng = np.random.default_rng(0)
    data = [(torch.zeros(3, 16, 16), torch.from_numpy(rng.uniform(0.1, 0.9, (3, 16, 16)).astype(np.float32)))
            for _ in range(3)]

    class AddsOnePercent(torch.nn.Module):
        def forward(self, x):
            return SimpleNamespace(restored=x + 0.01)

    np.testing.assert_allclose(identity_psnr(AddsOnePercent(), data, device="cpu"), [40.0] * 3, atol=1e-3)

    class AddsOnePercentAsTensor(torch.nn.Module):  # returns the image itself, as SelfEnsemble does
        def forward(self, x):
            return x + 0.01

    np.testing.assert_allclose(identity_psnr(AddsOnePercentAsTensor(), data, device="cpu"), [40.0] * 3, atol=1e-3)
    identity = DeblurNet(DeblurNetConfig(width=0.0625, zero_init_residual=True))  # starts as the identity
    assert np.all(identity_psnr(identity, data, device="cpu", limit=2) > 60) and len(identity_psnr(
        identity, data, device="cpu", limit=2)) == 2
    with pytest.raises(ValueError, match="empty"):
        identity_psnr(identity, [], device="cpu")


def test_gains_by_blur_known_answers():
    from repro.evaluate.residuals import gains_by_blur

    psnr = {"a": (30.0, 31.0, 2.0), "b": (20.0, 23.0, 6.0), "c": (25.0, 24.0, 6.5), "d": (22.0, 22.5, 20.0)}
    rows = [{"method": "identity", "name": n, "psnr": str(p[0]), "error": ""} for n, p in psnr.items()]
    rows += [{"method": "net", "name": n, "psnr": p[1], "error": ""} for n, p in psnr.items()]
    rows.append({"method": "broken", "name": "a", "psnr": "", "error": "boom"})  # failed: left out
    rows.append({"method": "broken", "name": "b", "psnr": 21.0, "error": ""})
    sizes = {n: p[2] for n, p in psnr.items()}
    net, broken = gains_by_blur(rows, sizes, edges=(0, 4, 8, 16, float("inf")))
    assert net == {"method": "net", "all (n=4)": 0.875, "better than the input": "3 of 4", "< 4 px (n=1)": 1.0,
                   "4-8 px (n=2)": 1.0, "8-16 px (n=0)": None, ">= 16 px (n=1)": 0.5}
    assert broken["all (n=4)"] == 1.0 and broken["better than the input"] == "1 of 1"
    assert broken["< 4 px (n=1)"] is None and list(broken) == list(net)  # same columns for every method
    with pytest.raises(KeyError, match="no blur size"):
        gains_by_blur(rows, {"a": 1.0})
    with pytest.raises(ValueError, match="baseline"):
        gains_by_blur(rows, sizes, baseline="sharp")
    with pytest.raises(ValueError, match="increasing"):
        gains_by_blur(rows, sizes, edges=(4, 0))
