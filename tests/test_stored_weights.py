"""Weights stored in float16 (issue 44, item 4): what the file holds, what the loaders make of it,
and the shipped files against their cards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from repro.core.checkpoint import (CheckpointError, cast_state_dict, load_model, read_checkpoint_file, save_checkpoint,
                              store_checkpoint, stored_dtype)
from repro.core.model import DeblurNet, DeblurNetConfig
from repro.io.paths import weights_dir

SHIPPED = ("deblurnet_wild", "deblurnet_si", "sun2015")


def _tiny(seed: int = 0) -> DeblurNet:
    """A width-1/16 DeblurNet with random (not identity) residual layers and moved batch-norm statistics."""
    torch.manual_seed(seed)
    model = DeblurNet(DeblurNetConfig(width=0.0625, zero_init_residual=False))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _rounded(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s filters rounded to float16 and back to their own dtype (vectors stay float32)."""
    return {k: v.half().to(v.dtype) if v.is_floating_point() and v.ndim >= 2 else v
            for k, v in model.state_dict().items()}


def test_cast_state_dict_casts_filters_keeps_vectors_float32_and_names_the_form():
    state = _tiny().state_dict()
    half = cast_state_dict(state, "fp16")
    assert stored_dtype(state) == "fp32" and stored_dtype(half) == "fp16"
    assert stored_dtype(cast_state_dict(state, "bf16")) == "bf16"
    counts = [k for k in half if k.endswith("num_batches_tracked")]
    assert counts and all(half[k].dtype == torch.int64 for k in counts)
    assert all(v.dtype == torch.float32 for v in half.values() if v.is_floating_point() and v.ndim < 2)
    assert half["n1.head.weight"].dtype == torch.float16 and half["n1.head.bias"].dtype == torch.float32
    assert stored_dtype({**half, "extra": torch.zeros(2, 2)}) == "mixed" and stored_dtype({}) == "fp32"
    assert stored_dtype({**half, "n1.head.bias": half["n1.head.bias"].half()}) == "mixed"
    with pytest.raises(ValueError, match="stored must be one of fp32, fp16, bf16, got 'int8'"):
        cast_state_dict(state, "int8")


def test_an_fp16_stored_checkpoint_loads_as_float32_equal_to_the_rounded_weights(tmp_path):
    model = _tiny()
    save_checkpoint(tmp_path / "w.pt", model, {"steps": 3})
    assert store_checkpoint(tmp_path / "w.pt", tmp_path / "h.pt") == tmp_path / "h.pt"
    assert (tmp_path / "h.pt").stat().st_size < 0.6 * (tmp_path / "w.pt").stat().st_size
    payload = read_checkpoint_file(tmp_path / "h.pt")
    assert stored_dtype(payload["state_dict"]) == "fp16" and payload["meta"] == {"steps": 3}
    loaded, meta = load_model(tmp_path / "h.pt")
    assert meta == {"steps": 3} and {p.dtype for p in loaded.parameters()} == {torch.float32}
    got, want = loaded.state_dict(), _rounded(model)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert not all(torch.equal(got[k], v) for k, v in model.state_dict().items())  # rounding did happen
    with pytest.raises(CheckpointError, match="no 'state_dict' entry"):
        torch.save({"weights": 1}, tmp_path / "other.pt")
        store_checkpoint(tmp_path / "other.pt", tmp_path / "x.pt")


def test_an_fp16_stored_tiny_network_deblurs_as_its_float32_original(tmp_path):
    from repro.core.inference import deblur, load_deblurnet

    model = _tiny(seed=1)
    save_checkpoint(tmp_path / "w.pt", model)
    store_checkpoint(tmp_path / "w.pt", tmp_path / "h.pt", "fp16")
    image = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)
    full = deblur(image, model=load_deblurnet(tmp_path / "w.pt", "cpu"), precision="fp32")
    half = deblur(image, model=load_deblurnet(tmp_path / "h.pt", "cpu"), precision="fp32")
    diff = np.abs(full.astype(np.float64) - half)
    assert 0 < diff.max() < 2e-3  # float16 keeps 11 bits: the outputs differ, by far less than one 8-bit level
    assert 10 * np.log10(1 / np.mean(diff**2)) > 70  # PSNR of one output against the other, dB


def test_training_from_fp16_stored_weights_starts_from_their_float32_values(tmp_path):
    from repro.train.state import _initialise_from

    model = _tiny(seed=2)
    save_checkpoint(tmp_path / "w.pt", model)
    store_checkpoint(tmp_path / "w.pt", tmp_path / "h.pt")
    net = DeblurNet(model.config)
    _initialise_from(net, str(tmp_path / "h.pt"))
    got, want = net.state_dict(), _rounded(model)
    assert all(torch.equal(got[k], want[k]) for k in got) and next(net.parameters()).dtype == torch.float32


def test_the_sun_cnn_loads_from_fp16_storage_as_float32(tmp_path):
    from repro.baselines.sun.cnn import SunCNN, load_sun_checkpoint, save_sun_checkpoint

    torch.manual_seed(0)
    model = SunCNN().eval()
    save_sun_checkpoint(tmp_path / "s.pt", model, {"steps": 1})
    store_checkpoint(tmp_path / "s.pt", tmp_path / "s16.pt")
    loaded, _ = load_sun_checkpoint(tmp_path / "s16.pt")
    got, want = loaded.state_dict(), _rounded(model)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    assert all(torch.equal(got[k], want[k]) for k in got)


@pytest.mark.parametrize("stem", SHIPPED)
def test_the_shipped_weights_are_stored_as_their_card_says(stem):
    path = weights_dir() / f"{stem}.pt"
    card = json.loads(path.with_suffix(".json").read_text())
    stored = card["stored"]
    assert stored_dtype(read_checkpoint_file(path)["state_dict"]) == stored["dtype"]
    assert stored["bytes"] == path.stat().st_size and stored["bytes"] < stored["fp32_bytes"]
    if "weights_dtype" in card:  # the DeblurNets' cards name it as export_weights writes it
        assert card["weights_dtype"] == {"fp16": "float16", "fp32": "float32"}[stored["dtype"]]
    if stored["dtype"] != "fp32":  # the bar it was measured against (repro.measure.storage)
        moved = stored["max_abs_delta_psnr_db"]
        assert moved is not None, f"{stem}: stored in {stored['dtype']} unmeasured; benchmarks/weights_precision.py --record-cards"
        assert moved <= 0.01


def test_rounded_is_what_loading_an_fp16_file_gives(tmp_path):
    from repro.measure.storage import rounded

    model = _tiny()
    save_checkpoint(tmp_path / "w.pt", model, {})
    store_checkpoint(tmp_path / "w.pt", tmp_path / "w16.pt")
    got, want = rounded(model).state_dict(), load_model(tmp_path / "w16.pt")[0].state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert not all(torch.equal(got[k], model.state_dict()[k]) for k in got)  # the original is left as it was


def test_storage_delta_is_zero_for_weights_that_fp16_holds_exactly(val_pairs):
    from repro.measure.storage import storage_delta, stored_entry

    exact = _tiny()
    with torch.no_grad():  # weights that float16 represents exactly: rounding changes nothing
        for v in exact.state_dict().values():
            if v.is_floating_point():
                v.copy_(v.half().float())
    delta = storage_delta(exact, [val_pairs], limit=None)
    assert delta["images"] == 3 and delta["max_abs_delta_psnr_db"] == 0.0
    coarse = stored_entry(exact, [val_pairs])
    assert coarse["dtype"] == "fp16" and "3 pairs of" in coarse["measured_by"]
    with pytest.raises(ValueError, match="stored must be one of"):
        storage_delta(exact, [val_pairs], stored="int4")

