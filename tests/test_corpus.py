"""The wallpaper photo corpus (repro.camera.corpus): selection, licences, splits, manifest, verify,
and its use by the virtual camera (splits, every scale of a large photo)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from repro.camera import corpus
from repro.camera.corpus import (PHOTOGRAPHS, TEST_PHOTOGRAPHS, VAL_PHOTOGRAPHS, FetchError, corpus_splits,
                                 fetch_corpus, largest_per_wallpaper, licence_of, read_corpus, verify_corpus)

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wallpapers

Files: *
Copyright: someone
License: GPL-2+

Files: 16.04/special_by_Someone.jpg
Copyright: 2018, Someone
License: CC-BY-4.0

Files: debian/*
 AUTHORS
Copyright: packagers
License: Expat
"""


def _png(path: Path, w: int, h: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_licence_the_last_matching_paragraph_wins_and_packaging_files_are_ignored():
    assert licence_of(COPYRIGHT, "special_by_Someone.jpg") == "CC-BY-4.0"
    assert licence_of(COPYRIGHT, "other.png") == "GPL-2+"  # not the debian/* paragraph after it
    assert licence_of("Files: a.png\nLicense: MIT\n", "b.png") == "unknown"


def test_splits_photographs_only_in_val_and_test_with_fixed_counts_and_any_order():
    photos = sorted(PHOTOGRAPHS)
    names = photos + ["drawing_a", "drawing_b"]
    split = corpus_splits(names)
    assert split == corpus_splits(list(reversed(names)))
    assert sum(s == "test" for s in split.values()) == TEST_PHOTOGRAPHS
    assert sum(s == "val" for s in split.values()) == VAL_PHOTOGRAPHS
    assert split["drawing_a"] == split["drawing_b"] == "train"
    assert all(split[n] == "train" for n in names if n not in PHOTOGRAPHS)


def test_largest_file_of_each_wallpaper_skips_links_dark_variants_and_screenshots(tmp_path):
    images = tmp_path / "usr/share/wallpapers/Lake/contents/images"
    _png(images / "64x40.png", 64, 40)
    big = _png(images / "128x80.png", 128, 80)
    (images / "32x20.png").symlink_to(big)
    _png(tmp_path / "usr/share/wallpapers/Lake/contents/images_dark/256x160.png", 256, 160)
    _png(tmp_path / "usr/share/wallpapers/Lake/contents/screenshot.png", 300, 300)
    plain = _png(tmp_path / "usr/share/backgrounds/field_by_Someone.png", 50, 30)
    assert largest_per_wallpaper(tmp_path) == {"Lake": big, "field_by_Someone": plain}


def _fake_download(calls: list):
    """A stand-in for apt-get download + dpkg-deb -x: two tiny packages."""
    def download(work: Path, packages: tuple[str, ...]) -> dict:
        calls.append(packages)
        a = work / "x-a"
        _png(a / "usr/share/wallpapers/Lake/contents/images/64x40.png", 64, 40, seed=1)
        (a / "usr/share/doc/pkg-a").mkdir(parents=True)
        (a / "usr/share/doc/pkg-a/copyright").write_text(COPYRIGHT)
        b = work / "x-b"
        _png(b / "usr/share/backgrounds/special_by_Someone.jpg", 40, 64, seed=2)
        (b / "usr/share/doc/pkg-b").mkdir(parents=True)
        (b / "usr/share/doc/pkg-b/copyright").write_text(COPYRIGHT)
        return {"pkg-a": ("1.0-1", a), "pkg-b": ("2:3.4", b)}
    return download


def test_fetch_writes_a_manifest_verifies_it_and_refetches_only_on_a_mismatch(tmp_path):
    calls: list = []
    rows = fetch_corpus(tmp_path, download=_fake_download(calls))
    assert len(calls) == 1
    by_name = {r.name: r for r in rows}
    assert set(by_name) == {"Lake", "special_by_Someone"}
    lake = by_name["Lake"]
    assert (lake.package, lake.version, lake.width, lake.height, lake.licence) == ("pkg-a", "1.0-1", 64, 40, "GPL-2+")
    assert by_name["special_by_Someone"].licence == "CC-BY-4.0"
    assert lake.kind == "illustration" and lake.split == "train"
    assert read_corpus(tmp_path) == sorted(rows, key=lambda r: (r.package, r.name))
    assert verify_corpus(tmp_path) == []

    fetch_corpus(tmp_path, download=_fake_download(calls))  # everything matches: nothing downloaded
    assert len(calls) == 1

    (tmp_path / lake.file).write_bytes(b"changed")
    assert verify_corpus(tmp_path) == [f"{lake.file}: differs from the manifest (sha256)"]
    fetch_corpus(tmp_path, download=_fake_download(calls))
    assert len(calls) == 2 and verify_corpus(tmp_path) == []


def test_without_apt_the_error_is_one_line_that_says_how_to_bring_ones_own_photos(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus.shutil, "which", lambda name: None)
    with pytest.raises(FetchError) as err:
        fetch_corpus(tmp_path / "photos")
    assert "--photos DIR" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "photos" / "manifest.csv").exists()


def test_the_cli_reports_a_missing_apt_as_one_error_line(tmp_path, monkeypatch, capsys):
    from repro.__main__ import main

    monkeypatch.setattr(corpus.shutil, "which", lambda name: None)
    assert main(["photos", "fetch", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--photos DIR" in err[0]


def _fake_corpus(tmp_path: Path) -> Path:
    fields = [f.name for f in corpus.fields(corpus.CorpusFile)]
    rows = [dict(name=n, package="p", version="1", file=f"p/{n}.png", sha256="", bytes=0, width=160, height=120,
                 kind="photo", split=s, licence="x") for n, s in (("a", "train"), ("b", "val"), ("c", "test"))]
    for r in rows:
        _png(tmp_path / r["file"], 160, 120)
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path


def test_photo_pool_of_a_corpus_folder_follows_its_manifest(tmp_path):
    from repro.camera.photos import photo_pool

    _fake_corpus(tmp_path)
    assert [p.name for p in photo_pool("train", tmp_path)] == ["a"]
    assert [p.name for p in photo_pool("val", tmp_path)] == ["b"]
    assert [p.name for p in photo_pool("test", tmp_path)] == [p.name for p in photo_pool("residual", tmp_path)] == ["c"]


def test_multi_magnification_spans_the_whole_photo_to_the_default_top():
    from repro.camera.textures import COVER_MARGIN, MAGNIFICATION_RANGE, background_crop

    img = np.zeros((1200, 1800, 4), np.float32)
    cover = max(2 * (4 / 3) * COVER_MARGIN * 120 / 1800, 2 * COVER_MARGIN * 120 / 1200)
    mags = [background_crop(np.random.default_rng(s), img, 4 / 3, 24, 1, "multi")[2]["magnification"]
            for s in range(30)]
    assert min(mags) >= cover - 1e-9 and max(mags) <= MAGNIFICATION_RANGE[1] + 1e-9
    assert min(mags) < 3 * cover and max(mags) > MAGNIFICATION_RANGE[1] / 2  # both ends are reached
    small = np.zeros((200, 300, 4), np.float32)  # smaller than the view: always enlarged to cover it
    m = background_crop(np.random.default_rng(0), small, 4 / 3, 24, 1, "multi")[2]["magnification"]
    assert m == pytest.approx(max(2 * (4 / 3) * COVER_MARGIN * 120 / 300, 2 * COVER_MARGIN * 120 / 200))


def test_bad_magnification_is_refused_at_the_edges():
    from repro.camera import render_clip
    from repro.wild.cli import _magnification

    with pytest.raises(ValueError, match="magnification"):
        render_clip(0, n_frames=2, size=(24, 32), magnification="many")
    assert _magnification("multi") == "multi" and _magnification("0.5") == 0.5
    for bad in ("0", "-1", "big"):
        with pytest.raises(argparse.ArgumentTypeError):
            _magnification(bad)


# ---- the equal-budget photo arms (repro.evaluate.diversity) ------------------------------------

def test_an_identity_network_gains_exactly_nothing_on_every_blur_bin(tmp_path):
    import torch

    from repro.measure.gains import PairSet, gains_on
    from repro.core.model import DeblurNet, DeblurNetConfig
    from repro.wild import build_wild

    build_wild("virtual", tmp_path, split="val", pairs=2, workers=0, flow_backend="true", progress=False)
    torch.manual_seed(0)
    net = DeblurNet(DeblurNetConfig(width=0.0625, zero_init_residual=True)).eval()  # output = input
    row = gains_on(net, PairSet("val", tmp_path, "val"), device="cpu", precision="fp32")
    assert row["n"] == 2 and row["gain dB"] == pytest.approx(0.0, abs=1e-4)
    assert 10 < row["input dB"] < 60
    bins = [v for k, v in row.items() if k.endswith("px")]
    assert len(bins) == 4 and all(v is None or abs(v) < 1e-4 for v in bins) and any(v is not None for v in bins)


def test_the_residual_blur_correlation_of_a_pair_set_is_fig9s_pearson_r(tmp_path, monkeypatch):
    import numpy as np
    import torch

    from repro.evaluate.diversity import gains_table
    from repro.measure import records as residuals
    from repro.measure.gains import RESIDUAL_R, PairSet, gains_on
    from repro.core.model import DeblurNet, DeblurNetConfig
    from repro.wild import build_wild, read_manifest

    build_wild("virtual", tmp_path, split="val", pairs=4, workers=0, flow_backend="true", progress=False)
    torch.manual_seed(0)
    net = DeblurNet(DeblurNetConfig(width=0.0625, zero_init_residual=True)).eval()
    measured = residuals.residual_norms

    def residual_norms_as(slope):  # the real pass, its residual norms replaced by a known line of the blur size
        def fake(model, dataset, **kwargs):
            record = measured(model, dataset, **kwargs)
            sizes = residuals.blur_sizes(read_manifest(tmp_path / "manifest.csv"), record.names, split="val")
            assert np.ptp(sizes) > 0
            return residuals.ResidualRecord(record.names, 1.0 + slope * sizes, record.psnr_blurry, record.psnr_restored)
        return fake

    for slope, expected in [(0.5, 1.0), (-2.0, -1.0)]:
        monkeypatch.setattr(residuals, "residual_norms", residual_norms_as(slope))
        row = gains_on(net, PairSet("val", tmp_path, "val"), device="cpu", precision="fp32")
        assert row["n"] == 4 and row[RESIDUAL_R] == pytest.approx(expected)
    assert gains_table([{**row, "arm": "a"}])[2].endswith("| -1.00 |")
    monkeypatch.setattr(residuals, "residual_norms", measured)  # the identity network's residual is 0: no r
    assert gains_on(net, PairSet("val", tmp_path, "val"), device="cpu", precision="fp32")[RESIDUAL_R] is None


def test_the_diversity_report_names_every_arm_set_and_bin():
    from repro.evaluate.diversity import diversity_markdown

    rows = [{"arm": "corpus", "set": "val, bundled", "n": 48, "input dB": 25.0, "gain dB": 1.234,
             "< 4 px": -0.5, "4-8 px": 1.0, "8-16 px": None, ">= 16 px": 2.0}]
    text = diversity_markdown(rows, provenance="made here", logs={"corpus": {"steps": 3000, "minutes": 30.0,
                                                                             "best gain": 1.5, "best at step": 2750}})
    assert "| corpus | val, bundled | 48 | 25.00 | +1.23 | -0.50 | +1.00 |  | +2.00 |" in text
    assert "| corpus | corpus | 3000 | 30 | +1.50 | 2750 |" in text and "made here" in text


def test_the_data_are_chosen_on_the_validation_pairs_weighted_by_their_number():
    from repro.evaluate.diversity import ARMS, diversity_markdown
    from repro.measure.gains import validation_gains

    def row(arm, pair_set, n, gain):
        return {"arm": arm, "set": pair_set, "n": n, "input dB": 25.0, "gain dB": gain}

    rows = [row("bundled", "val, bundled", 48, 1.0), row("bundled", "val, corpus", 16, -2.0),
            row("both", "val, bundled", 48, 0.5), row("both", "val, corpus", 16, 0.5),
            row("both", "test, corpus", 60, 9.0),  # test pairs never choose
            row("shipped (reference)", "val, bundled", 48, 5.0)]  # nor does a reference
    gains = validation_gains(rows, names=ARMS)
    assert gains == pytest.approx({"bundled": (48 - 32) / 64, "both": 0.5})
    text = diversity_markdown(rows, provenance="p", logs={})
    assert "both +0.50 dB, bundled +0.25 dB; the best is **both**" in text


def test_corpus_sharpness_measures_every_photo_at_both_ends_of_the_scales(tmp_path):
    from repro.camera.sharpness import corpus_sharpness_table

    rows = corpus_sharpness_table(_fake_corpus(tmp_path), size=(48, 64), progress=False)
    assert [(r["photo"], r["split"], r["scale"]) for r in rows] == [
        (n, s, scale) for n, s in (("a", "train"), ("b", "val"), ("c", "test")) for scale in ("cover", "top")]
    assert all(np.isfinite(r["hf_energy_ratio"]) and r["hf_energy_ratio"] > 0 for r in rows)


class _Flipped:
    """A method that mirrors its input (module level: picklable)."""

    name = "flipped"

    def deblur(self, image):
        return image[:, ::-1].copy()


def test_table2_on_the_corpus_is_skipped_with_its_reason_or_written_beside_table2(tmp_path):
    from repro.evaluate import Identity
    from repro.evaluate.study_tables import corpus_table2
    from repro.study.notebook import context
    from repro.wild import build_wild

    ctx = context(preset="smoke", results_dir=str(tmp_path / "results"), figures_dir=str(tmp_path / "figures"),
                  runs_dir=str(tmp_path / "runs"))
    message = corpus_table2([Identity()], ctx, n_random=1, limit=2, corpus_root=tmp_path / "nowhere")
    assert message.startswith("Table 2 on the corpus: skipped") and "make corpus-data" in message
    assert not list((tmp_path / "results").iterdir())

    build_wild("virtual", tmp_path / "corpus", split="test", pairs=2, workers=0, flow_backend="true", progress=False)
    text = corpus_table2([Identity(), _Flipped()], ctx, n_random=1, limit=2, corpus_root=tmp_path / "corpus")
    written = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert written == ["table2_corpus.csv", "table2_corpus.md", "table2_corpus_by_blur.csv",
                       "table2_corpus_by_blur.md", "table2_corpus_per_image.csv"]
    assert "flipped" in text and "by blur size" in text
