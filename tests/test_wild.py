"""repro.wild: averaging, flow selection, blur size, layout, manifest, resume, parallel builds.

Frames here are a numpy pan (``np.roll`` of a photo) so the tests need no renderer.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data
from skimage.transform import downscale_local_mean

from repro import wild
from repro.io.images import read_image
from repro.wild import (BuildConfig, analyse_window, blur_size_map, build_wild, draw_window_sizes, prepare_frame,
                        read_manifest)

PHOTO = data.astronaut()  # (512, 512, 3) uint8


class Pan:
    """A FrameSource-like clip: the photo moving right by ``v`` full-resolution px per frame.

    ``jump_at``: at that frame the content jumps by ``jump`` px instead (a 9 px jump is 3 px
    after downsampling by 3).
    """

    fps = 240.0

    def __init__(self, name, v=1, n_frames=40, jump_at=None, jump=9, size=(192, 288)):
        self.name, self.v, self.n_frames, self.jump_at, self.jump, self.size = name, v, n_frames, jump_at, jump, size

    def __len__(self):
        return self.n_frames

    def positions(self):
        x, out = 0, []
        for t in range(self.n_frames):
            if t:
                x += self.jump if t == self.jump_at else self.v
            out.append(x)
        return out

    def __iter__(self):
        H, W = self.size
        for x in self.positions():
            yield np.roll(PHOTO, x, axis=1)[100:100 + H, 150:150 + W]


def tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- pieces ---------------------------------------------------------------------------------

def test_prepare_frame_is_the_3x3_block_mean_and_crops_the_remainder():
    frame = PHOTO[:100, :200]  # 100 x 200: 1 row and 2 columns beyond a multiple of 3
    enc, avg = prepare_frame(frame, downsample=3)
    assert enc.shape == (33, 66, 3) and enc is avg
    ref = downscale_local_mean(frame[:99, :198].astype(np.float64) / 255, (3, 3, 1))
    np.testing.assert_allclose(enc, ref, atol=1e-6)


def test_linear_light_static_scene_gives_blur_equal_sharp_and_differs_from_encoded():
    frames = [prepare_frame(PHOTO[:90, :90], downsample=3, linear=True) for _ in range(5)]
    res = analyse_window([f[0] for f in frames], [f[1] for f in frames], config=BuildConfig(linear=True))
    np.testing.assert_allclose(res.blurry, res.sharp, atol=1e-5)
    # Averaging a dark and a bright frame: linear light gives a brighter mean than the encoded values.
    dark, bright = np.full((32, 32, 3), 0.2, np.float32), np.full((32, 32, 3), 0.8, np.float32)
    lin = analyse_window([dark, bright, dark], [dark ** 2.2, bright ** 2.2, dark ** 2.2],
                         config=BuildConfig(linear=True, max_match_error=None))
    enc = analyse_window([dark, bright, dark], config=BuildConfig(max_match_error=None))
    assert enc.blurry.mean() == pytest.approx(0.4, abs=1e-6)
    assert lin.blurry.mean() == pytest.approx(((2 * 0.2 ** 2.2 + 0.8 ** 2.2) / 3) ** (1 / 2.2), abs=1e-5)


def test_window_sizes_are_odd_in_range_and_seeded():
    a = list(zip(range(300), draw_window_sizes(np.random.default_rng(1), (7, 23))))
    b = list(zip(range(300), draw_window_sizes(np.random.default_rng(1), (7, 23))))
    sizes = [n for _, n in a]
    assert a == b and set(sizes) == set(range(7, 24, 2))


def test_blur_size_map_known_answers():
    N, H, W = 9, 12, 16
    flows = np.zeros((N - 1, H, W, 2), np.float32)
    flows[..., 0], flows[..., 1] = 0.3, 0.4  # 0.5 px per frame
    np.testing.assert_allclose(blur_size_map(flows, N // 2), (N - 1) * 0.5, rtol=1e-5)
    # Accelerating motion, only after the centre: the length is the sum of the steps taken.
    flows = np.zeros((N - 1, H, W, 2), np.float32)
    for t in range(N - 1):
        flows[t, ..., 0] = 0.1 * t
    expected = sum(0.1 * t for t in range(N - 1))
    np.testing.assert_allclose(blur_size_map(flows, N // 2)[:, 2:-6], expected, rtol=1e-4)


@settings(max_examples=25, deadline=None)
@given(vx=st.floats(-2, 2), vy=st.floats(-2, 2), half=st.integers(0, 6))
def test_blur_size_of_any_constant_motion_is_its_path_length(vx, vy, half):
    n = 2 * half + 1
    flows = np.zeros((n - 1, 10, 12, 2), np.float32)
    flows[..., 0], flows[..., 1] = vx, vy
    np.testing.assert_allclose(blur_size_map(flows, half), (n - 1) * np.hypot(np.float32(vx), np.float32(vy)),
                               rtol=1e-4, atol=1e-5)


# ---- whole builds ---------------------------------------------------------------------------

def test_known_answer_pan_blur_and_blur_size(tmp_path):
    src = Pan("pan", v=1, n_frames=24)
    manifest = build_wild([src], tmp_path, workers=0, n_range=(7, 9), progress=False, save_blursize=True)
    rows = read_manifest(manifest)
    assert rows and all(r["accepted"] for r in rows), rows
    frames = list(src)
    for r in rows:
        window = frames[r["start"]:r["start"] + r["n"]]
        expected = np.mean([prepare_frame(f)[0] for f in window], axis=0)
        blurry = read_image(tmp_path / r["blur"]).astype(np.float32) / 255
        sharp = read_image(tmp_path / r["sharp"]).astype(np.float32) / 255
        assert np.abs(blurry - expected).max() <= 0.5 / 255 + 1e-6
        np.testing.assert_allclose(sharp, prepare_frame(frames[r["center"]])[0], atol=0.5 / 255 + 1e-6)
        # 1 px per frame at full resolution = 1/3 px after downsampling: blur size (N - 1) / 3.
        assert r["blur_size"] == pytest.approx((r["n"] - 1) / 3, rel=0.15)
        assert r["flow_stat"] == pytest.approx(1 / 3, abs=0.2)
        bmap = np.load(tmp_path / r["blur"].replace("/blur/", "/blursize/").replace(".png", ".npy"))
        assert bmap.shape == blurry.shape[:2] and bmap.mean() == pytest.approx(r["blur_size"], rel=1e-5)
        assert r["blur"] == f"train/pan/blur/{r['center']:06d}.png"


def test_window_with_a_3px_jump_is_rejected_with_the_reason(tmp_path):
    src = Pan("jumpy", v=0, n_frames=30, jump_at=12)  # 9 px at full size -> 3 px after downsampling
    rows = read_manifest(build_wild([src], tmp_path, workers=0, n_range=(7, 9), progress=False))
    bad = [r for r in rows if r["start"] < 12 <= r["start"] + r["n"] - 1]
    good = [r for r in rows if r not in bad]
    assert len(bad) == 1 and not bad[0]["accepted"]
    assert "flow" in bad[0]["reason"] and "> 1 px" in bad[0]["reason"]
    assert bad[0]["flow_stat"] == pytest.approx(3.0, abs=0.4) and bad[0]["blur"] == ""
    assert not (tmp_path / "train" / "jumpy" / "blur" / f"{bad[0]['center']:06d}.png").exists()
    assert good and all(r["accepted"] and r["flow_stat"] < 0.1 for r in good)


def test_unreliable_flow_is_rejected_by_matching_error(tmp_path):
    rng = np.random.default_rng(0)

    class Noise:  # independent noise frames: no flow can match them
        name = "noise"

        def __iter__(self):
            for _ in range(7):
                yield rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)

    rows = read_manifest(build_wild([Noise()], tmp_path, workers=0, n_range=(7, 7), max_flow=50, progress=False))
    assert len(rows) == 1 and not rows[0]["accepted"] and "matching error" in rows[0]["reason"]


def test_clip_shorter_than_the_window_is_skipped_with_a_reason(tmp_path):
    rows = read_manifest(build_wild([Pan("short", n_frames=5)], tmp_path, workers=0, n_range=(7, 7),
                                    progress=False))
    assert len(rows) == 1 and not rows[0]["accepted"]
    assert rows[0]["reason"] == "clip too short: 5 frames, window needs N=7"


class Interrupt(Exception):
    pass


def test_resume_after_interruption_is_byte_identical(tmp_path, monkeypatch):
    sources = [Pan("a", v=1, n_frames=30), Pan("b", v=0, n_frames=30, jump_at=10), Pan("c", v=2, n_frames=20)]
    kw = dict(workers=0, n_range=(7, 9), progress=False)
    build_wild(sources, tmp_path / "clean", **kw)

    seen = []

    def stop_after_five(row):
        seen.append(row)
        if len(seen) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        build_wild(sources, tmp_path / "resumed", callback=stop_after_five, **kw)
    # A temporary file as a kill during a write would leave it: the next run removes it.
    (tmp_path / "resumed" / "train" / "b" / "blur").mkdir(parents=True, exist_ok=True)
    (tmp_path / "resumed" / "train" / "b" / "blur" / ".000003.x1.tmp.png").write_bytes(b"half")
    computed = []
    real = wild.scene.analyse_window
    monkeypatch.setattr(wild.scene, "analyse_window", lambda *a, **k: computed.append(1) or real(*a, **k))
    build_wild(sources, tmp_path / "resumed", **kw)
    assert tree_bytes(tmp_path / "clean") == tree_bytes(tmp_path / "resumed")
    # Only the windows not finished before the interruption were computed again.
    assert len(computed) == len(read_manifest(tmp_path / "clean")) - 5


def test_pairs_cut_is_exact_and_extending_it_matches_a_clean_build(tmp_path):
    sources = [Pan("a", v=1, n_frames=30), Pan("b", v=1, n_frames=30), Pan("c", v=1, n_frames=30)]
    kw = dict(workers=0, n_range=(7, 9), progress=False)
    rows = read_manifest(build_wild(sources, tmp_path / "x", pairs=4, **kw))
    assert sum(r["accepted"] for r in rows) == 4
    pngs = sorted((tmp_path / "x" / "train").rglob("*.png"))
    assert len(pngs) == 8
    build_wild(sources, tmp_path / "x", pairs=7, **kw)
    build_wild(sources, tmp_path / "clean", pairs=7, **kw)
    assert tree_bytes(tmp_path / "x") == tree_bytes(tmp_path / "clean")


TINY_VIRTUAL = {"n_frames": 16, "size": (48, 80)}


def test_virtual_camera_parallel_workers_give_the_same_output_as_one_process(tmp_path):
    kw = dict(pairs=6, n_range=(7, 9), virtual=TINY_VIRTUAL, progress=False)
    rows = read_manifest(build_wild("virtual", tmp_path / "one", workers=0, **kw))
    build_wild("virtual", tmp_path / "two", workers=2, **kw)
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")
    assert sum(r["accepted"] for r in rows) == 6
    assert rows[0]["scene"] == "virtual_0000" and read_image(tmp_path / "one" / rows[0]["sharp"]).shape == (48, 80, 3)
    # The renderer's true flow as the "backend": the same windows, flow statistics close to DIS's.
    true_rows = read_manifest(build_wild("virtual", tmp_path / "true", workers=0, flow_backend="true", **kw))
    common = {(r["scene"], r["start"], r["n"]): r for r in true_rows}
    pairs = [(r, common[k]) for r in rows if (k := (r["scene"], r["start"], r["n"])) in common]
    assert pairs and all(abs(a["flow_stat"] - b["flow_stat"]) < 0.5 for a, b in pairs)


def test_virtual_builds_never_compute_the_true_flow_unless_it_is_the_backend(tmp_path, monkeypatch):
    # The renderer's exact flow costs several times the frames; DIS (the default backend, as on
    # real footage) does not need it, so the build must not pay for it.
    import repro.camera.render as render

    calls = []
    real = render._true_flows
    monkeypatch.setattr(render, "_true_flows", lambda *a, **k: calls.append(1) or real(*a, **k))
    kw = dict(pairs=2, n_range=(7, 9), virtual=TINY_VIRTUAL, progress=False, workers=0)
    build_wild("virtual", tmp_path / "dis", **kw)
    assert calls == []
    build_wild("virtual", tmp_path / "true", flow_backend="true", **kw)
    assert calls  # the "true" backend does ask for it (and gets it from the same renderer)


def test_a_build_stopped_by_max_minutes_resumes_to_the_same_dataset(tmp_path, caplog):
    kw = dict(pairs=3, n_range=(7, 9), virtual=TINY_VIRTUAL, progress=False, workers=0)
    with pytest.raises(ValueError, match="max_minutes"):
        build_wild("virtual", tmp_path / "bad", max_minutes=0, **kw)
    rows = read_manifest(build_wild("virtual", tmp_path / "cut", max_minutes=1e-9, **kw))
    assert sum(r["accepted"] for r in rows) == 0 and "max_minutes" in caplog.text
    build_wild("virtual", tmp_path / "cut", **kw)  # the same command, no limit: resumes
    build_wild("virtual", tmp_path / "whole", **kw)
    assert tree_bytes(tmp_path / "cut") == tree_bytes(tmp_path / "whole")


def test_command_line_on_a_frame_folder(tmp_path):
    from repro.__main__ import main
    from repro.io.images import write_image

    for i, frame in enumerate(Pan("p", v=1, n_frames=20)):
        write_image(tmp_path / "frames" / f"{i:05d}.png", frame)
    code = main(["build-wild", str(tmp_path / "frames"), str(tmp_path / "out"), "--workers", "0", "--n-min", "7",
                 "--n-max", "9", "--no-progress", "--save-blursize"])
    assert code == 0
    rows = read_manifest(tmp_path / "out")
    assert rows and all(r["accepted"] and r["scene"] == "frames" for r in rows)
    assert (tmp_path / "out" / rows[0]["blur"]).is_file()
    assert main(["build-wild", str(tmp_path / "missing"), str(tmp_path / "out2"), "--workers", "0"]) == 2


def test_other_parameters_refuse_to_resume_and_bad_input_is_named(tmp_path):
    build_wild([Pan("a", n_frames=10)], tmp_path, workers=0, n_range=(7, 7), progress=False)
    with pytest.raises(ValueError, match="other parameters"):
        build_wild([Pan("a", n_frames=10)], tmp_path, workers=0, n_range=(7, 9), progress=False)
    with pytest.raises(ValueError, match="unknown flow backend"):
        build_wild([Pan("a")], tmp_path / "y", flow_backend="flownet")
    with pytest.raises(ValueError, match="odd"):
        build_wild([Pan("a")], tmp_path / "y", n_range=(8, 8))
    with pytest.raises(ValueError, match="not unique"):
        build_wild([Pan("a"), Pan("a")], tmp_path / "z", workers=0)
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "nothing")


def test_a_build_config_passed_whole_builds_what_its_fields_as_keywords_build(tmp_path):
    kw = dict(workers=0, progress=False)
    build_wild([Pan("a", n_frames=12)], tmp_path / "kw", n_range=(7, 9), max_flow=2.0, seed=1, **kw)
    build_wild([Pan("a", n_frames=12)], tmp_path / "cfg", BuildConfig(n_range=(7, 9), max_flow=2, seed=1), **kw)
    assert tree_bytes(tmp_path / "kw") == tree_bytes(tmp_path / "cfg")
    with pytest.raises(TypeError, match="unknown parameters"):
        build_wild([Pan("a")], tmp_path / "x", max_flw=2.0)


def test_averaging_check_error_grows_with_the_flow_and_plots(tmp_path):
    from repro.wild import averaging_check, plot_averaging_check

    rows = averaging_check(speeds=(0.2, 4.0), seeds=(0,), n=5, temporal_supersample=4, size=(96, 160),
                           keep_images=True, progress=False)
    slow, fast = rows
    assert slow["flow_stat"] < fast["flow_stat"]
    assert slow["psnr_average"] > fast["psnr_average"] and slow["ghost_error"] < fast["ghost_error"]
    # The average is always closer to the continuous blur than the sharp frame is.
    assert all(r["psnr_average"] > r["psnr_sharp"] for r in rows)
    fig = plot_averaging_check(rows, tmp_path / "avg.png")
    assert (tmp_path / "avg.png").stat().st_size > 10_000 and len(fig.axes) == 3
    with pytest.raises(ValueError, match="even"):
        averaging_check(temporal_supersample=3)


def test_virtual_clips_are_one_window_each_and_record_the_input_psnr(tmp_path):
    rows = read_manifest(build_wild("virtual", tmp_path, pairs=4, workers=0, n_range=(7, 11),
                                    virtual={"size": (48, 64)}, progress=False))
    assert len({r["scene"] for r in rows}) == len(rows)  # one window tried per rendered clip
    assert all(r["start"] == 0 and r["n"] in (7, 9, 11) for r in rows)
    from repro.core.metrics import psnr

    acc = [r for r in rows if r["accepted"]]
    r = acc[0]
    expected = psnr(read_image(tmp_path / r["sharp"]), read_image(tmp_path / r["blur"]))
    assert r["input_psnr"] == pytest.approx(expected, abs=1e-3)


def test_averaging_summary_reports_the_requested_speeds():
    from repro.wild import averaging_summary

    rows = [dict(seed=s, speed=v, n=5, flow_stat=v, blur_size=4 * v, psnr_average=60 - 10 * v, psnr_sharp=30.0,
                 ghost_error=v / 255) for s in (0, 1) for v in (0.3, 0.6, 1.0)]
    out = averaging_summary(rows)
    assert [o["peak flow (px/frame)"] for o in out] == [0.3, 0.6, 1.0]
    assert out[1]["PSNR average vs continuous (dB)"] == pytest.approx(54.0) and out[2]["ghost error (grey levels)"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no rows at speed 0.5"):
        averaging_summary(rows, speeds=(0.5,))


def test_a_max_flow_2_build_draws_its_statistics_with_the_2_px_rule(tmp_path):
    """The build's settings travel downstream: the figure reads them from the dataset's build.json."""
    from repro.__main__ import main
    from repro.wild import read_build_config, wild_statistics

    root = tmp_path / "wild"
    assert main(["build-wild", "virtual", str(root), "--pairs", "2", "--workers", "0", "--max-flow", "2",
                 "--n-min", "7", "--n-max", "9", "--clip-frames", "16", "--no-progress"]) == 0
    config = read_build_config(root)
    assert (config.max_flow, config.n_range) == (2.0, (7, 9))
    fig = wild_statistics(read_manifest(root), config)
    rule = [line for line in fig.axes[1].lines if line.get_label() == "2 px rule"]
    assert rule and list(rule[0].get_xdata()) == [2.0, 2.0]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["7", "9"]
    default = wild_statistics(read_manifest(root))  # without the config: the paper's 1 px rule
    assert any(line.get_label() == "1 px rule" for line in default.axes[1].lines)


def test_read_build_config_round_trips_and_refuses_what_it_cannot_read(tmp_path):
    from repro.wild import read_build_config

    config = BuildConfig(split="val", n_range=(7, 9), max_flow=1.5, virtual={"size": [48, 80]})
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "build.json").write_text(config.to_json())
    assert read_build_config(tmp_path) == config == read_build_config(tmp_path, "val")
    assert read_build_config(tmp_path).to_json() == config.to_json()
    with pytest.raises(FileNotFoundError, match="build-wild"):
        read_build_config(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="build-wild"):
        read_build_config(tmp_path / "nothing")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "build.json").write_text(BuildConfig(max_flow=1.0, n_range=(7, 9)).to_json())
    with pytest.raises(ValueError, match="different max_flow"):
        read_build_config(tmp_path)
    assert read_build_config(tmp_path, "train").max_flow == 1.0
