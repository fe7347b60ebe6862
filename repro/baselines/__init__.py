"""Classical and learned baselines of Table 2 (Xu & Jia 2010, Xu-Zheng-Jia 2013, Sun et al. 2015).

Every baseline is a class with ``name`` and ``deblur(image (H, W, 3) float32 [0, 1]) -> image``
(the ``repro.evaluate.Method`` protocol) and keeps its estimated kernel(s) for inspection.
Shared non-blind deconvolution: :mod:`repro.baselines.deconv`.
"""

from .deconv import deconvolve, deconvolve_spatially_varying, tile_grid
from .l0 import XuZhengJia2013
from .xu_jia import XuJia2010

__all__ = ["deconvolve", "deconvolve_spatially_varying", "tile_grid", "XuJia2010", "XuZhengJia2013"]
