"""DeepDeblur (Nah et al. 2017) peer: size, shapes, pyramid, and use with tiled inference."""

from __future__ import annotations

import pytest
import torch

from repro.core.inference import deblur_tensor
from repro.core.model import count_flops, count_parameters
from repro.peers import DeepDeblur, DeepDeblurConfig
from repro.peers.deepdeblur import gaussian_pyramid


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _tiny(seed: int = 0) -> DeepDeblur:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DeepDeblur(DeepDeblurConfig(n_resblocks=2, n_feats=8)).eval()


def test_paper_size_parameter_count():
    """3 scales x (head + 19 ResBlocks x 2 + tail) 5x5 convs of 64 maps, + 2 up-convolutions.

    Counted by hand: 3 * 38 * (64*64*25 + 64) + (3 + 6 + 6) * 64 * 25 + 3 * 64 + 3 * (64*3*25 + 3)
    + 2 * (3*3*25 + 3) = 11 719 953 (the paper's model is ~11.7 M).
    """
    model = DeepDeblur()
    assert count_parameters(model) == 11_719_953
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert n_convs == 120  # 40 per scale, as the paper says


@pytest.mark.parametrize("h,w", [(64, 48), (61, 47), (10, 9)])
def test_outputs_coarse_to_fine_any_size(h, w):
    model = _tiny()
    x = torch.rand(2, 3, h, w)
    out = model(x)
    assert [o.shape[-2:] for o in out.outputs] == [
        (-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
    assert out.restored.shape == x.shape and torch.isfinite(out.restored).all()


def test_gaussian_pyramid_keeps_constants_and_halves():
    x = torch.full((1, 3, 32, 24), 0.3)
    pyr = gaussian_pyramid(x, 3)
    assert [p.shape[-2:] for p in pyr] == [(32, 24), (16, 12), (8, 6)]
    for p in pyr:
        torch.testing.assert_close(p, torch.full_like(p, 0.3))
    # The symmetric binomial filter preserves linear functions: away from the border, level 2
    # of a ramp is the ramp sampled at even pixels.
    ramp = torch.arange(20, dtype=torch.float32).expand(1, 1, 12, 20)
    down = gaussian_pyramid(ramp, 2)[1]
    torch.testing.assert_close(down[..., 1:-1], ramp[:, :, ::2, ::2][..., 1:-1])


def test_flops_scale_with_pixels_and_exceed_a_resblock_lower_bound():
    model = _tiny()
    f1, f2 = count_flops(model, 32, 32), count_flops(model, 64, 64)
    assert f2 == pytest.approx(4 * f1, rel=0.02)
    # ResBlock convs alone at the finest scale: 2 blocks x 2 convs x 2*8*8*25 FLOPs per pixel.
    assert f2 > 2 * 2 * 2 * 8 * 8 * 25 * 64 * 64


def test_peer_runs_through_tiled_inference():
    model = _tiny()
    x = torch.rand(1, 3, 72, 100)
    with torch.inference_mode():
        ref = model(x).restored
    out = deblur_tensor(model, x, tile=64, overlap=32)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-2  # blended seams; the receptive field exceeds the overlap
