"""Image files keep their depth (16-bit PNG and TIFF), one RGB and one gray conversion, errors in words."""

from __future__ import annotations

import numpy as np
import pytest

from repro.io.images import LUMA_WEIGHTS, image_format, read_image, to_gray, to_rgb, write_image


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("channels", [None, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_files_round_trip_exactly_at_their_depth(tmp_path, suffix, channels, dtype):
    rng = np.random.default_rng(7)
    shape = (9, 13) if channels is None else (9, 13, channels)
    img = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    path = tmp_path / f"img{suffix}"
    write_image(path, img)
    back = read_image(path)
    assert back.dtype == img.dtype and back.shape == img.shape
    np.testing.assert_array_equal(back, img)  # channel order kept too (OpenCV stores BGR)


def test_a_16bit_rgb_png_written_by_another_tool_reads_at_16_bits(tmp_path):
    """Pillow (behind imageio) reads 16-bit colour PNG as 8-bit; the reader must not."""
    import cv2

    rgb = np.zeros((4, 5, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1000, 30000, 65535  # not multiples of 257: not 8-bit values
    path = tmp_path / "sixteen.png"
    assert cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    head = path.read_bytes()[:26]
    assert head[24] == 16 and head[25] == 2  # IHDR: 16 bits, RGB
    back = read_image(path)
    assert back.dtype == np.uint16
    assert back[0, 0].tolist() == [1000, 30000, 65535]


def test_uint16_to_an_8bit_format_is_refused_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"out\.jpg: \.jpg holds 8 bits"):
        write_image(tmp_path / "out.jpg", np.zeros((4, 4, 3), np.uint16))
    assert not (tmp_path / "out.jpg").exists()


def test_to_rgb_replicates_gray_and_drops_alpha():
    gray = np.arange(6, dtype=np.uint16).reshape(2, 3)
    rgb = to_rgb(gray)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint16
    assert rgb[1, 2].tolist() == [5, 5, 5]
    rgba = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    out = to_rgb(rgba)
    assert out.flags.c_contiguous and out[0, 1].tolist() == [4.0, 5.0, 6.0]
    assert to_rgb(gray[..., None])[0, 1].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="shape"):
        to_rgb(np.zeros((2, 3, 2)))


def test_to_gray_is_bt601_luma():
    assert LUMA_WEIGHTS == (0.299, 0.587, 0.114)
    px = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.4, 0.6]]])
    np.testing.assert_allclose(to_gray(px)[0], [0.299, 0.587, 0.114, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6])
    assert to_gray(px.astype(np.float32)).dtype == np.float32
    u8 = np.full((1, 1, 4), 255, np.uint8)  # alpha ignored, integers scaled to [0, 1]
    assert to_gray(u8).dtype == np.float32 and to_gray(u8)[0, 0] == pytest.approx(1.0)
    over = np.full((1, 1, 3), 2.0)  # float values are not clipped
    assert to_gray(over)[0, 0] == pytest.approx(2.0)


def test_image_format_from_the_first_bytes():
    assert image_format(b"\x89PNG\r\n\x1a\n....") == "PNG"
    assert image_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert image_format(b"II*\x00") == "TIFF"
    assert image_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WebP"
    assert image_format(b"hello") is None


@pytest.mark.parametrize("name,content,reason", [
    ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "its PNG data cannot be decoded (truncated or corrupt file?)"),
    ("notes.jpg", b"these are my notes, not a photo\n" * 4,
     "not an image file (its content is not PNG, JPEG, TIFF, BMP, WebP or GIF)"),
    ("empty.png", b"", "file is empty"),
])
def test_unreadable_files_say_why_in_words(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        read_image(path)
    assert str(err.value) == f"{path}: {reason}"


def test_a_truncated_png_is_named_truncated(tmp_path):
    path = tmp_path / "cut.png"
    write_image(path, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.png: its PNG data cannot be decoded \(truncated"):
        read_image(path)
