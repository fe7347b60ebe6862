"""Frame sources: folders, video files (PyAV), the GoPro layout, and clear errors for bad input."""

from pathlib import Path

import numpy as np
import pytest

from repro.io.images import write_image
from repro.io.video import FolderSource, VideoSource, open_sources


def _frames(n=5, h=32, w=48, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return [np.roll(base, i, axis=1) for i in range(n)]


def _smooth_frames(n=6, h=32, w=48):
    """Smooth colour ramps moving by 1 px per frame (codec friendly)."""
    y, x = np.mgrid[0:h, 0:w].astype(float)
    return [np.stack([(x + i) / (w + n) * 255, y / h * 255, 128 + 60 * np.sin((x + i) / 7)], -1).astype(np.uint8)
            for i in range(n)]


def _write_folder(folder: Path, frames, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        write_image(folder / (names[i] if names else f"{i:06d}.png"), f)
    return folder


def _write_mp4(path: Path, frames, fps=240):
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_folder_source_natural_order_lazy_frames(tmp_path):
    frames = _frames(3)
    names = ["f2.png", "f10.png", "f1.png"]  # natural order: f1, f2, f10
    _write_folder(tmp_path / "clip", frames, names)
    src = open_sources(tmp_path / "clip")[0]
    assert isinstance(src, FolderSource)
    assert (src.name, len(src), src.fps, src.size) == ("clip", 3, 240.0, (32, 48))
    got = list(src)
    np.testing.assert_array_equal(got[0], frames[2])  # f1
    np.testing.assert_array_equal(got[1], frames[0])  # f2
    np.testing.assert_array_equal(src.frame(2), frames[1])  # f10
    assert got[0].dtype == np.uint8 and got[0].shape == (32, 48, 3)


def test_gopro_layout_one_source_per_scene(tmp_path):
    root = tmp_path / "GOPRO_Large_all"
    _write_folder(root / "train" / "GOPR0372_07_00", _frames(4))
    _write_folder(root / "train" / "GOPR0374_11_00", _frames(2))
    _write_folder(root / "test" / "GOPR0384_11_00", _frames(3))
    train = open_sources(root, "train")
    assert [s.name for s in train] == ["GOPR0372_07_00", "GOPR0374_11_00"]
    assert [len(s) for s in train] == [4, 2]
    assert [s.name for s in open_sources(root / "test")] == ["GOPR0384_11_00"]
    with pytest.raises(ValueError, match="split"):
        open_sources(root)  # ambiguous: train and test


def test_video_source_decodes_mp4(tmp_path):
    frames = _smooth_frames(6, h=32, w=48)
    path = _write_mp4(tmp_path / "clip.mp4", frames)
    (src,) = open_sources(path)
    assert isinstance(src, VideoSource)
    assert (src.name, len(src)) == ("clip", 6)
    assert src.fps == pytest.approx(240.0)
    got = list(src)
    assert len(got) == 6 and got[0].shape == (32, 48, 3) and got[0].dtype == np.uint8
    # lossy codec: close to the originals, and frame(i) matches iteration (also going backwards)
    assert np.abs(got[3].astype(float) - frames[3]).mean() < 6
    np.testing.assert_array_equal(src.frame(4), got[4])
    np.testing.assert_array_equal(src.frame(1), got[1])
    assert [s.name for s in open_sources(tmp_path)] == ["clip"]  # a folder of videos


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        open_sources(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no frames found"):
        open_sources(tmp_path / "empty")
    with pytest.raises(ValueError, match="no image frames"):
        FolderSource(tmp_path / "empty")


def test_mixed_frame_sizes_name_path_and_index(tmp_path):
    folder = _write_folder(tmp_path / "clip", _frames(3))
    write_image(folder / "000003.png", np.zeros((16, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"000003\.png: frame 3 is 16x48"):
        open_sources(folder)


def test_unreadable_frame_names_path_and_index(tmp_path):
    folder = _write_folder(tmp_path / "clip", _frames(3))
    (folder / "000001.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match=r"000001\.png: frame 1 of .*clip"):
        open_sources(folder)


def test_truncated_frame_fails_when_read(tmp_path):
    folder = _write_folder(tmp_path / "clip", _frames(3))
    data = (folder / "000002.png").read_bytes()
    (folder / "000002.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    src = open_sources(folder)[0]
    src.frame(0)
    with pytest.raises(ValueError, match=r"000002\.png: frame 2 of .*unreadable"):
        src.frame(2)


def test_undecodable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"bad\.mp4"):
        open_sources(bad)


def test_truncated_video_names_frame_index(tmp_path):
    # AVI keeps its frame count in the header, so a cut file opens and fails at a frame
    path = _write_mp4(tmp_path / "cut.avi", _frames(30, h=64, w=96))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    src = VideoSource(path)
    assert len(src) == 30
    with pytest.raises(ValueError, match=r"cut\.avi: frame \d+ cannot be decoded"):
        for i in range(len(src)):
            src.frame(i)
