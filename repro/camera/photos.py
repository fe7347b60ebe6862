"""The virtual camera's photos: the bundled catalogue, its disjoint splits, users' photo folders.

Train, validation and test use disjoint photos ("the test set was shot at other places"). Masks
(horse silhouette, procedural shapes) are shapes, not photos, and are shared. Files are read
from the installed scikit-image, scikit-learn and matplotlib packages (nothing is downloaded).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PHOTOS", "TRAIN_PHOTOS", "VAL_PHOTOS", "TEST_PHOTOS", "SPLITS", "SPLIT_PHOTOS", "USER_SPLIT_FRACTIONS",
           "Photo", "photo_path", "photo_paths", "package_file", "photo_split", "photo_pool", "load_photo",
           "motorcycle_depth", "Layered", "motorcycle_layers"]

# name -> (package, file name, role); role "bg" = usable as background and object texture,
# "tex" = object texture / ground texture only, "sprite" = has its own alpha (object as is).
PHOTOS: dict[str, tuple[str, str, str]] = {
    # train
    "camera": ("skimage", "camera.png", "bg"),
    "coffee": ("skimage", "coffee.png", "tex"),
    "rocket": ("skimage", "rocket.jpg", "tex"),
    "motorcycle_left": ("skimage", "motorcycle_left.png", "bg"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg", "bg"),
    "coins": ("skimage", "coins.png", "tex"),
    "retina": ("skimage", "retina.jpg", "tex"),
    "brick": ("skimage", "brick.png", "tex"),
    "Minduka_Present_Blue_Pack": ("matplotlib", "Minduka_Present_Blue_Pack.png", "sprite"),
    # two colour photos of scikit-learn (a temple, a flower): with only three backgrounds above (one
    # grey, one mostly black sky) the network learnt the training photos, not deblurring (issue 15)
    "china": ("sklearn", "china.jpg", "bg"),
    "flower": ("sklearn", "flower.jpg", "bg"),
    # validation
    "astronaut": ("skimage", "astronaut.png", "bg"),
    "grass": ("skimage", "grass.png", "tex"),
    # test
    "grace_hopper": ("matplotlib", "grace_hopper.jpg", "bg"),
    "chelsea": ("skimage", "chelsea.png", "bg"),
    "ihc": ("skimage", "ihc.png", "bg"),
    "moon": ("skimage", "moon.png", "tex"),
    "gravel": ("skimage", "gravel.png", "tex"),
}
# Test backgrounds are photos on which optical flow is reliable: on coffee's fine stripes and
# rocket's empty sky DIS overestimates sub-pixel motion, so the 1 px rule rejected about 60 %
# of their windows (docs/virtual_camera.md); they serve as the training split's object textures.
TEST_PHOTOS = ("grace_hopper", "chelsea", "ihc", "moon", "gravel")
VAL_PHOTOS = ("astronaut", "grass")
TRAIN_PHOTOS = tuple(n for n in PHOTOS if n not in TEST_PHOTOS + VAL_PHOTOS)
# "residual": further test images (the paper's Fig. 9 used 700 beyond Table 2's), from the test
# photos but other clips, so that no image of the residual analysis is one of Table 2's.
SPLITS = ("train", "test", "val", "residual")  # order fixes clip seeds: new splits go at the end
SPLIT_PHOTOS = {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS, "val": VAL_PHOTOS, "residual": TEST_PHOTOS}


def _package_dir(package: str) -> Path:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.__file__).parent
    if package == "sklearn":  # located without importing scikit-learn (slow to import)
        import importlib.util

        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("scikit-learn is not installed: its sample photos train the virtual camera "
                                      "(pip install scikit-learn)")
        return Path(spec.submodule_search_locations[0]) / "datasets" / "images"
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def package_file(package: str, filename: str) -> Path:
    """A data file shipped with ``package`` ("skimage", "sklearn" or "matplotlib")."""
    return _package_dir(package) / filename


def photo_path(name: str) -> Path:
    """The file of the catalogue's photo ``name``."""
    package, filename, _ = PHOTOS[name]
    return package_file(package, filename)


def photo_paths(split: str) -> list[Path]:
    """Paths of the photos of ``split`` ("train", "test", "val" or "residual"); train, val and test
    are disjoint, "residual" films the test photos in other clips.

    Test photos: grace_hopper, chelsea, ihc (backgrounds), moon, gravel (textures); validation:
    astronaut, grass; every other photo of the catalogue is a training photo. Files are read
    from the installed scikit-image, scikit-learn and matplotlib packages (nothing is downloaded).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [photo_path(n) for n in SPLIT_PHOTOS[split]]


@dataclass(frozen=True)
class Photo:
    """A photo of a split's pool: its name, file and role ("bg", "tex" or "sprite", see PHOTOS)."""

    name: str
    path: Path
    role: str  # "bg", "tex" or "sprite"
    # the photo's width in pixels as its source records it (a corpus manifest), when the file is a
    # downscaled copy (the GPU job's carry, repro.train.gpu_job); 0 = the file's own width. The camera
    # measures magnifications in these pixels, so a copy downscaled no further than the camera ever
    # samples it (MAGNIFICATION_RANGE's top) films the same scenes as the full-size file
    width: int = 0


USER_SPLIT_FRACTIONS = {"test": 0.2, "val": 0.1}  # shares of a user's photo folder; the rest trains


def photo_split(paths: list[Path], split: str) -> list[Path]:
    """The photos of ``split`` among a user's ``paths``: a deterministic split by file name.

    The CRC-32 of each file name, as a fraction of its range, decides: below 0.2 test, from 0.2
    to 0.3 validation, else train (:data:`USER_SPLIT_FRACTIONS`), so adding photos to a folder
    does not move the others between splits (unless a split was empty and had borrowed one).
    With three or more photos every split gets at least one (an empty split borrows the photo
    whose CRC is nearest to its range); with fewer, every split uses all of them. The
    "residual" split films the test photos.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    paths = sorted({Path(p) for p in paths}, key=lambda p: p.name)
    if len(paths) < 3:
        return list(paths)
    crc = {p: zlib.crc32(p.name.encode("utf-8")) / 2**32 for p in paths}
    t, v = USER_SPLIT_FRACTIONS["test"], USER_SPLIT_FRACTIONS["test"] + USER_SPLIT_FRACTIONS["val"]
    groups = {"test": [p for p in paths if crc[p] < t], "val": [p for p in paths if t <= crc[p] < v],
              "train": [p for p in paths if crc[p] >= v]}
    for name, centre in (("test", t / 2), ("val", (t + v) / 2), ("train", (v + 1) / 2)):
        if not groups[name]:  # take the photo nearest to the empty range from the largest group
            donor = max(groups, key=lambda g: len(groups[g]))
            pick = min(groups[donor], key=lambda p: abs(crc[p] - centre))
            groups[donor].remove(pick)
            groups[name].append(pick)
    return groups["test" if split == "residual" else split]


def photo_pool(split: str, photos: list | tuple | str | Path | None = None) -> list[Photo]:
    """The split's photos: bundled, or the user's (a folder or a list of image files, all role
    "bg"), of which :func:`photo_split` gives the split's share; a folder fetched by
    ``python -m repro photos fetch`` (it holds a ``manifest.csv``) keeps its manifest's splits."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if photos is None:
        return [Photo(n, photo_path(n), PHOTOS[n][2]) for n in SPLIT_PHOTOS[split]]
    from ..io.images import list_images
    from .corpus import is_corpus, read_corpus

    if isinstance(photos, (str, Path)):
        if not Path(photos).is_dir():
            raise FileNotFoundError(f"{photos}: no such folder of photos")
        if is_corpus(photos):  # the wallpaper corpus: its manifest's splits (repro.camera.corpus)
            wanted = "test" if split == "residual" else split
            return [Photo(r.name, Path(photos) / r.file, "bg", width=r.width) for r in read_corpus(photos)
                    if r.split == wanted]
        paths = list_images(photos)
        if not paths:
            raise ValueError(f"{photos}: no photos found (JPEG, PNG or TIFF files)")
    else:
        paths = [Path(p) for p in photos]
        if not paths:
            raise ValueError("photos: empty list")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such photo")
    return [Photo(p.stem, p, "bg") for p in photo_split(paths, split)]


@functools.lru_cache(maxsize=8)  # corpus photos reach 6000x4000 (384 MB as float32 RGBA)
def load_photo(path: Path) -> np.ndarray:
    """A photo as float32 ``(h, w, 4)``: RGB in [0, 1] and alpha (1 where the file has none)."""
    from ..io.images import read_image, to_float

    img = to_float(read_image(path))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 3:
        img = np.concatenate([img, np.ones_like(img[..., :1])], axis=2)
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=1)
def motorcycle_depth() -> np.ndarray:
    """Relative depth of ``motorcycle_left`` (1 = nearest) from its disparity map; gaps filled."""
    from scipy import ndimage

    disp = np.load(package_file("skimage", "motorcycle_disp.npz"))["arr_0"].astype(np.float64)
    bad = ~np.isfinite(disp) | (disp <= 0)
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    disp = disp[tuple(idx)]
    depth = disp.max() / disp
    depth.setflags(write=False)
    return depth


@dataclass(frozen=True)
class Layered:
    """A photo cut into depth layers (:func:`motorcycle_layers`)."""

    rgba: np.ndarray  # (L, h, w, 4) straight alpha, far to near
    depths: np.ndarray  # (L,) relative depth of each layer (1 = nearest point)
    depth: np.ndarray  # (h, w) relative depth map


@functools.lru_cache(maxsize=1)
def motorcycle_layers(n_layers: int = 4) -> Layered:
    """``motorcycle_left`` cut into depth layers (quantiles of its disparity-derived depth).

    Layer k covers every pixel at its depth or nearer (so layers stack without holes at the
    reference view); colours hidden behind nearer layers are filled from the layer's own pixels
    (normalized convolution), so disoccluded background shows plausible colours, not ghosts.
    """
    from scipy import ndimage

    rgb = load_photo(photo_path("motorcycle_left"))[..., :3]
    dm = motorcycle_depth()
    edges = np.quantile(dm, np.linspace(0, 1, n_layers + 1))
    edges[-1] = np.inf
    sigma = max(rgb.shape[0] / 400, 0.6)
    out, depths = [], []
    for k in range(n_layers - 1, -1, -1):  # far to near
        sel = (dm >= edges[k]) & (dm < edges[k + 1])
        depths.append(float(np.median(dm[sel])) if sel.any() else float(edges[k]))
        if k == n_layers - 1:
            alpha = np.ones(dm.shape, np.float32)
        else:
            alpha = np.clip(ndimage.gaussian_filter((dm < edges[k + 1]).astype(np.float32), sigma), 0, 1)
        colour = _fill_from(rgb, dm >= edges[k], sigma=max(rgb.shape[0] / 40, 2.0)) if k > 0 else rgb
        out.append(np.concatenate([colour, alpha[..., None]], axis=2).astype(np.float32))
    return Layered(rgba=np.stack(out), depths=np.array(depths), depth=dm)


def _fill_from(rgb: np.ndarray, keep: np.ndarray, sigma: float) -> np.ndarray:
    """Replace pixels where ``keep`` is False by a normalized-convolution average of kept ones."""
    from scipy import ndimage

    w = ndimage.gaussian_filter(keep.astype(np.float32), sigma)
    out = rgb.copy()
    for ch in range(3):
        num = ndimage.gaussian_filter(rgb[..., ch] * keep, sigma)
        out[..., ch] = np.where(keep, rgb[..., ch], num / np.maximum(w, 1e-6))
    small = w < 1e-4  # far from any kept pixel: fall back to the mean of kept pixels
    if small.any() and keep.any():
        out[small & ~keep] = rgb[keep].mean(0)
    return out
