"""repro.io.datasets.PairedFolder on a tiny GoPro-layout fixture."""

import numpy as np
import pytest
import torch

from repro.io.datasets import PairedFolder
from repro.io.images import write_image


@pytest.fixture()
def gopro(tmp_path):
    """GOPRO-like: train/{GOPR0001_07_00 (3 pairs), GOPR0002_11_00 (2 pairs)}, blur + blur_gamma + sharp."""
    rng = np.random.default_rng(0)
    for scene, n in (("GOPR0002_11_00", 2), ("GOPR0001_07_00", 3)):
        for i in range(n):
            sharp = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            blur = (255 - sharp).astype(np.uint8)  # a known relation between the two images
            for sub, img in (("sharp", sharp), ("blur", blur), ("blur_gamma", blur)):
                write_image(tmp_path / "train" / scene / sub / f"{i * 10 + 4:06d}.png", img)
    (tmp_path / "train" / "GOPR0003_empty").mkdir()  # a scene with no pairs is skipped
    # A temporary file of an interrupted atomic write is hidden and ignored.
    (tmp_path / "train" / "GOPR0001_07_00" / "blur" / ".000099.abc.tmp.png").write_bytes(b"half")
    return tmp_path


def test_reads_pairs_in_order_with_names(gopro):
    ds = PairedFolder(gopro, "train")
    assert len(ds) == 5
    assert ds.names == ["GOPR0001_07_00/000004", "GOPR0001_07_00/000014", "GOPR0001_07_00/000024",
                        "GOPR0002_11_00/000004", "GOPR0002_11_00/000014"]
    assert [b.parent.name for b, _ in ds.pairs] == ["blur"] * 5
    blurry, sharp = ds[0]
    assert blurry.shape == sharp.shape == (3, 20, 30) and blurry.dtype == torch.float32
    torch.testing.assert_close(blurry, 1 - sharp)  # whole images, same pair
    assert PairedFolder(gopro, "train", blur_dir="blur_gamma").pairs[0][0].parent.name == "blur_gamma"
    assert len(PairedFolder(gopro / "train", None)) == 5


def test_crops_and_flips_are_paired_and_deterministic(gopro):
    ds = PairedFolder(gopro, "train", crop=8, flip=True, seed=3)
    seen = set()
    for i in range(len(ds)):
        b, s = ds[i]
        assert b.shape == (3, 8, 8)
        torch.testing.assert_close(b, 1 - s)  # the same window and flip in both images
        b2, _ = ds[i]
        torch.testing.assert_close(b, b2)  # deterministic per (seed, epoch, index)
        seen.add(b.sum().item())
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i][0], PairedFolder(gopro, "train", crop=8, flip=True, seed=3)[i][0])
               for i in range(len(ds)))
    # Flips happen for some seeds/indices and not others.
    full = PairedFolder(gopro, "train", flip=True, seed=0)
    plain = PairedFolder(gopro, "train")
    flipped = [torch.equal(full[i][0], plain[i][0].flip(-1)) for i in range(len(full))]
    assert any(flipped) and not all(flipped)


def test_dataloader_with_workers_gives_the_same_batches(gopro):
    ds = PairedFolder(gopro, "train", crop=8, flip=True, seed=1)
    a = torch.cat([b for b, _ in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)])
    b = torch.cat([b for b, _ in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)])
    torch.testing.assert_close(a, b)


def test_bad_layouts_are_named(gopro, tmp_path):
    with pytest.raises(FileNotFoundError, match="test"):
        PairedFolder(gopro, "test")
    with pytest.raises(ValueError, match="crop 64 larger than the image"):
        PairedFolder(gopro, "train", crop=64)[3]
    (gopro / "train" / "GOPR0001_07_00" / "sharp" / "000004.png").unlink()
    with pytest.raises(ValueError, match="000004.png: no sharp partner"):
        PairedFolder(gopro, "train")
    with pytest.raises(ValueError, match="crop must be"):
        PairedFolder(gopro, "train", crop=0)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="no image pairs"):
        PairedFolder(tmp_path / "empty", "train")
