"""The Table 2 runner on a tiny hand-made GoPro-layout fixture."""

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from repro import evaluate as ev
from repro.evaluate.fig4 import pick_crops
from repro.evaluate import methods
from repro.io.images import read_image, to_float, write_image
from repro.core.metrics import psnr, ssim

H, W = 40, 56


class Rolled:
    """Shifts the blurry input by a known amount (module level: picklable for worker processes)."""

    name = "rolled"

    def deblur(self, image):
        return np.roll(image, (2, -1), axis=(0, 1))


class CrashOnFirstScene:
    """Raises on scene A, works (returns the input) elsewhere; CPU-bound so it goes to the pool."""

    name = "crashy"

    def __init__(self):
        self.calls = 0

    def deblur(self, image):
        self.calls += 1
        if image[0, 0, 0] < 0.5:  # scene A images are dark in the corner (see the fixture)
            raise RuntimeError("boom")
        return image


class AlwaysCrash:
    """Fails on every image."""

    name = "broken"
    parallel = False

    def deblur(self, image):
        raise RuntimeError("no kernel found")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """root/test/{sceneA,sceneB}/{blur,sharp}/NNNNNN.png: 4 + 3 pairs, blur = Gaussian blur."""
    root = tmp_path_factory.mktemp("gopro")
    rng = np.random.default_rng(0)
    for scene, n, corner in (("sceneA", 4, 0.1), ("sceneB", 3, 0.9)):
        for i in range(n):
            sharp = ndimage.gaussian_filter(rng.random((H, W, 3)), (1, 1, 0))
            sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
            sharp[:3, :3] = corner
            blur = ndimage.gaussian_filter(sharp, (1.5, 1.5, 0))
            blur[:3, :3] = corner
            write_image(root / "test" / scene / "blur" / f"{i:06d}.png", blur)
            write_image(root / "test" / scene / "sharp" / f"{i:06d}.png", sharp)
    return root


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_list_pairs_and_seeded_selection(data):
    names, pairs = ev.list_pairs(data, "test")
    assert names[:2] == ["sceneA/000000", "sceneA/000001"] and len(names) == 7
    assert all(b.parent.name == "blur" and s.parent.name == "sharp" and b.name == s.name for b, s in pairs)
    r1, all1 = ev.select_images(7, n_random=3, seed=0)
    assert r1 == ev.select_images(7, n_random=3, seed=0)[0] and len(set(r1)) == 3 and all1 == list(range(7))
    assert ev.select_images(7, n_random=3, seed=1)[0] != r1 or ev.select_images(7, n_random=3, seed=2)[0] != r1
    r_lim, e_lim = ev.select_images(7, n_random=3, seed=0, limit=5)
    assert r_lim == r1 and set(r1) <= set(e_lim) and len(e_lim) == 5  # random subset independent of limit
    with pytest.raises(FileNotFoundError):
        ev.list_pairs(data / "nope", "test")
    with pytest.raises((FileNotFoundError, ValueError)):
        ev.list_pairs(data, "train")


def test_evaluate_writes_tables_and_records_crashes(data, tmp_path):
    out = tmp_path / "results"
    crashy = CrashOnFirstScene()
    res = ev.evaluate([ev.Identity(), Rolled(), crashy], data, n_random=3, seed=0, out=out, workers=0,
                      shift_radius=4, provenance={"preset": "fixture", "device": "cpu"}, progress=False)
    per_image = _read_csv(out / "table2_per_image.csv")
    assert len(per_image) == 3 * 7
    names, pairs = ev.list_pairs(data, "test")
    # identity rows are the PSNR/SSIM of the blurry files themselves
    for row in (r for r in per_image if r["method"] == "identity"):
        blur, sharp = (to_float(read_image(p)) for p in pairs[names.index(row["name"])])
        assert float(row["psnr"]) == pytest.approx(psnr(sharp, blur), abs=1e-9)
        assert float(row["ssim"]) == pytest.approx(ssim(sharp, blur), abs=1e-9)
        # shift PSNR: best integer shift (0, 0) on the image without a border of radius + 1 = 5
        assert (row["shift_dy"], row["shift_dx"]) == ("0", "0")
        assert float(row["psnr_shift"]) == pytest.approx(psnr(sharp[5:-5, 5:-5], blur[5:-5, 5:-5]), abs=1e-9)
    # the rolled output is found at its shift, and its plain PSNR is lower than its shift PSNR
    for row in (r for r in per_image if r["method"] == "rolled"):
        assert (float(row["shift_dy"]), float(row["shift_dx"])) == (2.0, -1.0)
        assert float(row["psnr_shift"]) > float(row["psnr"])
    crash_rows = [r for r in per_image if r["method"] == "crashy"]
    assert [bool(r["error"]) for r in crash_rows] == [True] * 4 + [False] * 3
    assert all("RuntimeError: boom" in r["error"] and r["psnr"] == "" for r in crash_rows[:4])

    summary = {(r["method"], r["subset"]): r for r in _read_csv(out / "table2.csv")}
    ident = [float(r["psnr"]) for r in per_image if r["method"] == "identity"]
    s = summary[("identity", "split")]
    assert int(s["n"]) == 7 and int(s["n_failed"]) == 0
    assert float(s["psnr_mean"]) == pytest.approx(np.mean(ident)) and float(s["psnr_std"]) == pytest.approx(np.std(ident, ddof=1))
    assert int(summary[("identity", "random")]["n"]) == 3
    assert int(summary[("crashy", "split")]["n"]) == 3 and int(summary[("crashy", "split")]["n_failed"]) == 4
    assert summary[("identity", "split")]["paper_psnr"] == ""
    assert "preset=fixture" in s["provenance"] and "7 pairs in 2 scenes" in s["data"]
    md = (out / "table2.md").read_text()
    assert "REPORTED" in md and "preset=fixture" in md and "RuntimeError: boom" in md
    assert len(res["random_names"]) == 3 and all(n in md for n in res["random_names"])
    # outputs of the random subset are saved
    saved = sorted(p.relative_to(out / "outputs" / "rolled").as_posix() for p in (out / "outputs" / "rolled").rglob("*.png"))
    assert saved == sorted(f"{n}.png" for n in res["random_names"])

    # resume: nothing is recomputed for rows without error; failed rows are tried again
    crashy.calls = 0
    ev.evaluate([ev.Identity(), Rolled(), crashy], data, n_random=3, seed=0, out=out, workers=0, shift_radius=4,
                provenance={}, progress=False, resume=True)
    assert crashy.calls == 4
    assert _read_csv(out / "table2_per_image.csv") == per_image
    # resume with fewer methods: the others' rows stay in the tables
    ev.evaluate([ev.Identity()], data, n_random=3, seed=0, out=out, workers=0, shift_radius=4, provenance={},
                progress=False, resume=True)
    assert sorted(map(repr, _read_csv(out / "table2_per_image.csv"))) == sorted(map(repr, per_image))
    assert {r["method"] for r in _read_csv(out / "table2.csv")} == {"identity", "rolled", "crashy"}
    assert "rows kept from an earlier run" in (out / "table2.md").read_text()
    # a rebuilt dataset with the same file names: the changed image's rows are computed again
    name = res["random_names"][0]
    scene, stem = name.split("/")
    blur_file = next((data / "test" / scene / "blur").glob(f"{stem}.*"))
    original = blur_file.read_bytes()
    write_image(blur_file, 255 - read_image(blur_file))
    ev.evaluate([ev.Identity()], data, n_random=3, seed=0, out=out, workers=0, shift_radius=4, provenance={},
                progress=False, resume=True)
    new = {r["name"]: r for r in _read_csv(out / "table2_per_image.csv") if r["method"] == "identity"}
    old = {r["name"]: r for r in per_image if r["method"] == "identity"}
    assert float(new[name]["psnr"]) < float(old[name]["psnr"]) - 3
    assert all(new[n]["psnr"] == old[n]["psnr"] for n in old if n != name)
    blur_file.write_bytes(original)  # the fixture is shared with the other tests


def test_evaluate_in_worker_processes(data, tmp_path):
    res = ev.evaluate([ev.Identity(), CrashOnFirstScene()], data, n_random=2, seed=0, out=tmp_path, workers=2,
                      limit=4, shift_radius=0, save_outputs="none", provenance={}, progress=False)
    rows = {(r["method"], r["name"]): r for r in res["per_image"]}
    assert len(rows) == 2 * 4
    for (method, name), r in rows.items():
        assert bool(r["error"]) == (method == "crashy" and name.startswith("sceneA"))
        if method == "crashy" and not r["error"]:
            assert r["psnr"] == pytest.approx(rows[("identity", name)]["psnr"])
        assert math.isnan(r["psnr_shift"])
    assert not (tmp_path / "outputs").exists()


def test_make_method_and_paper_numbers(monkeypatch):
    assert isinstance(ev.make_method("identity"), ev.Identity)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        ev.make_method("nope")
    broken = dataclasses.replace(methods.METHODS["xu-jia"], constructor="repro.baselines.not_there:XuJia2010")
    monkeypatch.setattr(methods, "METHODS", {**methods.METHODS, "xu-jia": broken})
    with pytest.raises(ValueError, match="needs repro.baselines.not_there.XuJia2010"):
        ev.make_method("xu-jia")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ev.make_method("deblurnet-si", checkpoint="missing.pt")
    assert ev.PAPER_TABLE2 == {"sun": 25.48, "xu-jia": 23.61, "l0": 22.50, "deblurnet-si": 25.8,
                               "deblurnet-wild": 28.1}


def test_deblurnet_method_runs_a_checkpoint(tmp_path):
    import torch

    from repro.core.checkpoint import save_checkpoint
    from repro.core.model import DeblurNet, DeblurNetConfig

    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, DeblurNet(DeblurNetConfig(width=0.125)), meta={"preset": "test"})
    method = ev.make_method("deblurnet-wild", checkpoint=path, device="cpu")
    img = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    out = method.deblur(img)
    assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert method.fingerprint.startswith("deblurnet-wild:sha256=")
    assert "preset=test" in method.describe()
    import pickle

    assert pickle.loads(pickle.dumps(method))._model is None  # weights are not pickled


def test_cli_and_figure4(data, tmp_path, capsys):
    from repro.__main__ import main

    out = tmp_path / "res"
    fig = tmp_path / "figs" / "fig4.png"
    rc = main(["evaluate", "--methods", "identity", "--data", str(data), "--out", str(out), "--n-random", "2",
               "--workers", "0", "--shift-radius", "3", "--fig4", str(fig)])
    assert rc == 0
    assert (out / "table2.csv").is_file() and (out / "table2.md").is_file()
    assert "blurry input" in capsys.readouterr().out
    assert fig.is_file() and fig.with_suffix(".pdf").is_file()
    img = read_image(fig)
    assert img.shape[1] > 200 and img[..., :3].std() > 10  # not blank
    assert main(["evaluate", "--methods", "identity,nope", "--data", str(data), "--out", str(out)]) == 2
    assert main(["evaluate", "--methods", "identity", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_figure4_layout(data, tmp_path):
    paths = ev.figure4([ev.Identity(), Rolled()], data, image="sceneB/000001", out=tmp_path / "f4.png", n_crops=2)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    blurry = np.zeros((H, W, 3))
    sharp = blurry.copy()
    sharp[10:20, 30:40] = 1.0  # the only place where blur changed the image
    corners = pick_crops(blurry, sharp, 10, 1)
    assert corners == [(10, 30)]


def test_a_failing_method_is_shown_as_failed_in_the_table_and_fig4(data, tmp_path, monkeypatch):
    out = tmp_path / "results"
    ev.evaluate([ev.Identity(), AlwaysCrash()], data, n_random=2, seed=0, out=out, workers=0, limit=3,
                shift_radius=0, save_outputs="none", provenance={}, progress=False)
    row = next(line for line in (out / "table2.md").read_text().splitlines() if line.startswith("| broken |"))
    assert "FAILED on 2" in row and "FAILED on 3" in row
    import repro.io.figures

    drawn = []
    monkeypatch.setattr(repro.io.figures, "save_figure", lambda fig, path: drawn.append(fig) or [Path(path)])
    ev.figure4([ev.Identity(), Rolled(), AlwaysCrash()], data, image=0, out=tmp_path / "f4.png", results=out)
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_title()]
    assert len(titles) == 4  # blurry, sharp, rolled and the failed method: no column is dropped
    assert titles[-1].startswith("broken\nFAILED")
    texts = [t.get_text() for ax in drawn[0].axes for t in ax.texts]
    assert any("RuntimeError: no kernel found" in t for t in texts)


def test_a_second_table_beside_table2_has_its_own_files_and_the_same_numbers(data, tmp_path):
    out = tmp_path / "results"
    kw = dict(n_random=2, seed=0, out=out, workers=0, shift_radius=0, save_outputs="none", progress=False,
              provenance={"preset": "fixture"})
    main = ev.evaluate([ev.Identity()], data, **kw)
    other = ev.evaluate([ev.Identity()], data, table="table2_corpus", **kw)
    assert sorted(p.name for p in out.iterdir()) == ["table2.csv", "table2.md", "table2_corpus.csv",
                                                      "table2_corpus.md", "table2_corpus_per_image.csv",
                                                      "table2_per_image.csv"]
    assert [(r["subset"], r["n"], r["psnr_mean"], r["ssim_mean"]) for r in other["summary"]] == \
        [(r["subset"], r["n"], r["psnr_mean"], r["ssim_mean"]) for r in main["summary"]]
    with pytest.raises(ValueError, match="file stem"):
        ev.evaluate([ev.Identity()], data, table="../elsewhere", **kw)


class Counting:
    """Returns its input and counts its calls (a slow classical method's stand-in: ``parallel`` by default)."""

    name = "counting"

    def __init__(self, strength: float = 1.0):
        self.strength = strength  # a setting: a new value is a new method for the cache
        self.calls = 0

    def deblur(self, image):
        self.calls += 1
        return image


def test_slow_methods_run_on_a_nested_subset_and_their_rows_are_cached(data, tmp_path):
    # the input on every pair, the slow method on the first 4 of the seeded permutation
    slow = Counting()
    res = ev.evaluate([ev.Identity(), slow], data, n_random=3, seed=0, out=tmp_path / "a", workers=0,
                      limits=ev.classical_limits([ev.Identity(), slow], 4), cache=tmp_path / "cache",
                      provenance={}, progress=False)
    rows = res["per_image"]
    ident = {r["name"] for r in rows if r["method"] == "identity"}
    mine = {r["name"] for r in rows if r["method"] == "counting"}
    names = ev.list_pairs(data, "test")[0]
    _, first4 = ev.select_images(7, n_random=3, seed=0, limit=4)
    assert len(ident) == 7 and mine == {names[i] for i in first4} and set(res["random_names"]) <= mine
    assert slow.calls == 4 and len(list((tmp_path / "cache" / "counting").glob("*.json"))) == 4
    summary = {(r["method"], r["subset"]): r for r in res["summary"]}
    assert summary[("counting", "split")]["n"] == 4 and summary[("identity", "split")]["n"] == 7
    # the method returns its input: its gain over the input is exactly 0 on each of its 4 images
    g = summary[("counting", "split")]
    assert (g["gain_mean"], g["gain_low"], g["gain_high"], g["n_improved"]) == (0.0, 0.0, 0.0, "0/4")
    assert "| 4 |" in res["markdown"] and "n of 7" in res["markdown"]
    # a fresh output folder (no per-image CSV to resume from): the cache alone spares the work
    again = Counting()
    ev.evaluate([ev.Identity(), again], data, n_random=3, seed=0, out=tmp_path / "b", workers=0,
                limits={"counting": 4}, cache=tmp_path / "cache", provenance={}, progress=False)
    assert again.calls == 0
    # other settings, or more images: only what the cache lacks runs
    other = Counting(strength=2.0)
    ev.evaluate([other], data, n_random=3, seed=0, out=tmp_path / "c", workers=0, limits={"counting": 5},
                cache=tmp_path / "cache", provenance={}, progress=False)
    assert other.calls == 5
    more = Counting()
    ev.evaluate([more], data, n_random=3, seed=0, out=tmp_path / "d", workers=0, limits={"counting": 6},
                cache=tmp_path / "cache", provenance={}, progress=False)
    assert more.calls == 2
    with pytest.raises(ValueError, match="limits name methods not evaluated"):
        ev.evaluate([ev.Identity()], data, out=tmp_path / "e", limits={"sun": 4}, progress=False)
