import pytest
import torch

from repro.core.model import (
    DeblurNet,
    DeblurNetConfig,
    count_flops,
    count_parameters,
    downsample,
    multiscale_loss,
    table1,
)


def test_full_width_parameter_count_matches_reading():
    n = count_parameters(DeblurNet())
    assert 24.5e6 < n < 24.9e6, n  # docs/paper.md: 24.68 M (both stride readings)


@pytest.mark.parametrize("h,w", [(64, 64), (61, 47), (32, 48), (9, 13)])
def test_output_shapes_any_size(h, w):
    torch.manual_seed(0)
    model = DeblurNet(DeblurNetConfig(width=0.125)).eval()
    x = torch.rand(2, 3, h, w)
    out = model(x)
    o1, o2, o3 = out.outputs
    assert o3.shape == x.shape
    assert o2.shape[-2:] == (-(-h // 2), -(-w // 2))
    assert o1.shape[-2:] == (-(-h // 4), -(-w // 4))
    assert all(r.shape == o.shape for r, o in zip(out.residuals, out.outputs))
    assert torch.isfinite(o3).all()


def test_residual_skips_make_zero_init_an_identity():
    model = DeblurNet(DeblurNetConfig(width=0.125, zero_init_residual=True)).eval()
    x = torch.rand(1, 3, 32, 40)
    out = model(x)
    torch.testing.assert_close(out.restored, x)
    torch.testing.assert_close(out.outputs[1], downsample(x, 2))
    torch.testing.assert_close(out.outputs[0], downsample(x, 4))


def test_downsample_is_block_average():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = downsample(x, 2)
    torch.testing.assert_close(y, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    with pytest.raises(ValueError, match="divisible"):
        downsample(torch.zeros(1, 1, 5, 4), 2)


def test_multiscale_loss_known_answer():
    sharp = torch.zeros(1, 3, 8, 8)
    outs = (torch.full((1, 3, 2, 2), 1.0), torch.full((1, 3, 4, 4), 2.0), torch.full((1, 3, 8, 8), 3.0))
    assert multiscale_loss(outs, sharp).item() == pytest.approx(1 + 4 + 9)
    assert multiscale_loss(outs, sharp, reduction="sum").item() == pytest.approx(12 * 1 + 48 * 4 + 192 * 9)


def test_strides_alternative_reading_and_validation():
    cfg = DeblurNetConfig(width=0.125, strides=(2, 2, 1, 1, 1, 1, 1))
    out = DeblurNet(cfg)(torch.rand(1, 3, 16, 16))
    assert out.outputs[0].shape[-2:] == (4, 4)
    with pytest.raises(ValueError):
        DeblurNetConfig(strides=(2, 2, 2, 1, 1, 1, 1))
    with pytest.raises(ValueError):
        DeblurNet(cfg)(torch.rand(1, 1, 16, 16))


def test_table1_from_model():
    rows = table1(DeblurNet(DeblurNetConfig(width=1.0)))
    assert len(rows) == 17  # 7 + 5 + 5 layers, as the paper's kernel row
    assert [r["channels"] for r in rows[:7]] == [96, 256, 384, 384, 256, 256, 3]
    assert [r["kernel"] for r in rows[:7]] == ["11x11", "7x7", "7x7", "7x7", "3x3", "3x3", "3x3"]
    assert rows[0]["output"] == "120x216" and rows[6]["output"] == "60x108"
    assert rows[11]["type"] == "deconv" and rows[11]["output"] == "120x216"
    assert rows[16]["output"] == "240x432"
    conv_params = sum(p.numel() for n, p in DeblurNet().named_parameters() if p.ndim == 4 or n.endswith("head.bias"))
    assert sum(r["params"] for r in rows) == conv_params
    assert [r["bn_relu"] for r in rows].count(False) == 3


def _analytic_flops(rows, cin=3):
    """2 * Cin * Cout * k^2 per output position (per input position for a deconv)."""
    total = 0
    prev_out = "240x432"
    for r in rows:
        k = int(r["kernel"].split("x")[0])
        h, w = map(int, (prev_out if r["type"] == "deconv" else r["output"]).split("x"))
        total += 2 * cin * r["channels"] * k * k * h * w
        cin = r["channels"] if r["layer"] != 7 or r["stage"] != "N1" else 3
        if r["stage"] != "N1" and r["type"] == "deconv":
            cin = 3
        prev_out = r["output"]
    return total


@pytest.mark.parametrize("strides", [(2, 1, 1, 2, 1, 1, 1), (2, 2, 1, 1, 1, 1, 1)])
def test_flop_counter_matches_analytic_count(strides):
    model = DeblurNet(DeblurNetConfig(strides=strides))
    flops = count_flops(model, 240, 432)
    assert flops == _analytic_flops(table1(model, 240, 432))


def test_flops_of_both_stride_readings():
    # Default reading (stride 2 on N1 layers 1 and 4): ~0.75 TFLOP at 432x240; the alternative
    # reading (layers 1 and 2) gives ~0.51 TFLOP (docs/paper.md, "Table 1").
    assert count_flops(DeblurNet(), 240, 432) == pytest.approx(0.748e12, rel=0.01)
    alt = DeblurNet(DeblurNetConfig(strides=(2, 2, 1, 1, 1, 1, 1)))
    assert count_flops(alt, 240, 432) == pytest.approx(0.514e12, rel=0.01)
