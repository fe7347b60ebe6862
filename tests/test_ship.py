"""Shipping the long runs: the best run on validation of each kind, both or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repro.core.checkpoint import load_model, save_checkpoint, stored_dtype
from repro.core.model import DeblurNet, DeblurNetConfig
from repro.train import ship

LOG_HEADER = "step,epoch,lr,loss,val_psnr,val_psnr_input,minutes,steps_per_s,data_fraction\n"


def _run(runs: Path, logs: Path, name: str, *, data: str, psnr: float, step: int, seed: int,
         init: str = "") -> DeblurNet:
    """A run folder whose best.pt gains ``psnr - 25`` dB on validation at ``step``, and its kept log."""
    torch.manual_seed(seed)
    model = DeblurNet(DeblurNetConfig(width=0.0625))
    meta = {"preset": "cpu-12h", "data": data, "steps": step, "seed": seed, "psnr": psnr, "input_psnr": 25.0,
            "best_psnr": psnr, "date": "2026-12-06 01:00 UTC", "precision": "fp32",
            "train_config": {"width": 0.0625, "init": init}, "overrides": [f"seed={seed}"]}
    save_checkpoint(runs / name / "best.pt", model, meta)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"train_{name}.csv").write_text(LOG_HEADER + f"0,0,0.001,,25.0,25.0,0.0,,\n{step},1,0.001,0.01,{psnr},25.0,12.5,1.5,0.01\n")
    return model


def _same_weights(a: DeblurNet, b: DeblurNet, *, rounded: bool = False) -> bool:
    """Whether ``a``'s tensors equal ``b``'s (with ``rounded``: ``b``'s rounded to float16 and back)."""
    sa, sb = a.state_dict(), b.state_dict()
    if rounded:
        sb = {k: v.half().to(v.dtype) if v.is_floating_point() and v.ndim >= 2 else v for k, v in sb.items()}
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_best_run_on_validation_of_each_kind_ships_with_its_card(tmp_path):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    best = _run(runs, logs, "wild_b", data="wild", psnr=26.3, step=200, seed=1, init="runs/wild_a/best.pt")
    _run(runs, logs, "wild_c", data="wild", psnr=26.3, step=300, seed=2)  # a tie: the first given wins
    si = _run(runs, logs, "si_a", data="si", psnr=25.5, step=50, seed=3)
    chosen = ship.ship(runs, {"wild": ["wild_a", "wild_b", "wild_c"], "si": ["si_a"]}, out, logs_dir=logs,
                       command="make long-run", device="cpu (test)", to_beat={"wild": 1.29})  # +1.30 beats it
    assert (chosen["wild"].run, chosen["si"].run) == ("wild_b", "si_a")
    assert chosen["wild"].gain_db == pytest.approx(1.3) and chosen["si"].gain_db == pytest.approx(0.5)
    assert sorted(p.name for p in out.iterdir()) == ["deblurnet_si.json", "deblurnet_si.pt",
                                                     "deblurnet_wild.json", "deblurnet_wild.pt"]
    shipped, meta = load_model(out / "deblurnet_wild.pt")  # stored in float16, loaded as float32
    assert _same_weights(shipped, best, rounded=True) and meta["steps"] == 200 and meta["run"] == "wild_b"
    assert not _same_weights(shipped, best) and next(shipped.parameters()).dtype == torch.float32
    assert _same_weights(load_model(out / "deblurnet_si.pt")[0], si, rounded=True)
    stored = torch.load(out / "deblurnet_wild.pt", weights_only=True)["state_dict"]
    assert stored_dtype(stored) == "fp16"  # filters in float16, vectors in float32
    card = json.loads((out / "deblurnet_wild.json").read_text())
    assert card["psnr"] == 26.3 and card["input_psnr"] == 25.0 and card["data"] == "wild"
    assert card["command"] == "make long-run (its run wild_b)" and card["device"] == "cpu (test)"
    assert card["minutes"] == 12.5 and card["training_log"] == (logs / "train_wild_b.csv").as_posix()
    assert "'wild_a': 1.1" in card["selection"] and "never on test" in card["exported_from"]
    assert card["overrides"] == ["seed=1"] and card["weights_dtype"] == "float16"
    assert card["initialised_from"].startswith("runs/wild_a/best.pt (minutes and steps here count from")
    assert card["earlier_logs"] == [(logs / "train_wild_a.csv").as_posix()]  # the curve of the run it continued
    si_card = json.loads((out / "deblurnet_si.json").read_text())
    assert "initialised_from" not in si_card and "earlier_logs" not in si_card


def test_nothing_ships_over_the_size_limit_or_from_the_wrong_data(tmp_path, capsys):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    _run(runs, logs, "si_a", data="si", psnr=25.5, step=50, seed=3)
    out.mkdir()
    (out / "deblurnet_wild.pt").write_bytes(b"the network shipped before")
    with pytest.raises(ValueError, match="over the limit of 0.001 MB; nothing shipped"):
        ship.ship(runs, {"wild": ["wild_a"], "si": ["si_a"]}, out, logs_dir=logs, command="c", max_mb=0.001)
    with pytest.raises(ValueError, match=r"wild_a gains \+1.10 dB on validation, not more than the shipped "
                                         r"DeblurNet\^WILD's \+1.20 dB; nothing shipped"):
        ship.ship(runs, {"wild": ["wild_a"], "si": ["si_a"]}, out, logs_dir=logs, command="c", to_beat={"wild": 1.2})
    with pytest.raises(ValueError, match="si_a: trained on other data than 'wild'"):
        ship.ship(runs, {"wild": ["wild_a", "si_a"]}, out, logs_dir=logs, command="c")
    assert [p.name for p in out.iterdir()] == ["deblurnet_wild.pt"]  # untouched, no temporary folder left
    assert (out / "deblurnet_wild.pt").read_bytes() == b"the network shipped before"
    with pytest.raises(SystemExit) as exit_:
        ship.main(["--runs", str(runs), "--wild", "missing", "--logs", str(logs), "--out", str(out), "--command", "c"])
    assert exit_.value.code == 1 and "missing/best.pt" in capsys.readouterr().err


def test_the_shipped_networks_yardstick_needs_the_validation_pairs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing/val: no validation pairs there"):
        ship.shipped_validation_gain("wild", [tmp_path / "nothing"])


def test_the_do_no_harm_rule_ships_wild_only_above_the_shipped_networks_score(tmp_path, monkeypatch):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    _run(runs, logs, "si_a", data="si", psnr=25.5, step=50, seed=3)
    shipped = {"wild": tmp_path / "old_wild.pt", "si": tmp_path / "old_si.pt"}
    monkeypatch.setattr("repro.io.paths.shipped_checkpoint", lambda kind: shipped[kind])
    scores = {str(runs / "wild_a" / "best.pt"): 1.0, str(runs / "si_a" / "best.pt"): 0.2,
              str(shipped["wild"]): 0.5, str(shipped["si"]): 0.1}

    def fake_harm(checkpoint, data, *, device="cpu"):  # the measure itself: tests/test_do_no_harm.py
        return {"identity_psnr": 40.0, "validation_gain": 1.0, "score": scores[str(checkpoint)]}

    monkeypatch.setattr(ship, "harm_card", fake_harm)
    ship.ship(runs, {"wild": ["wild_a"], "si": ["si_a"]}, out, logs_dir=logs, command="make", harm_data=tmp_path)
    card = json.loads((out / "deblurnet_wild.json").read_text())
    assert card["do_no_harm"]["score"] == 1.0 and card["do_no_harm"]["shipped_before"]["score"] == 0.5
    assert json.loads((out / "deblurnet_si.json").read_text())["do_no_harm"]["identity_psnr"] == 40.0
    scores[str(shipped["wild"])] = 1.5  # the shipped network scores higher: nothing ships
    out2 = tmp_path / "weights2"
    with pytest.raises(ValueError, match="not above the shipped"):
        ship.ship(runs, {"wild": ["wild_a"], "si": ["si_a"]}, out2, logs_dir=logs, command="make", harm_data=tmp_path)
    assert not list(out2.glob("*.pt"))


def test_the_harm_card_needs_the_validation_pairs_and_the_still_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="make corpus-data"):
        ship.harm_card(tmp_path / "x.pt", tmp_path)


def test_a_continuation_of_shipped_weights_keeps_the_logs_of_every_run_before_it(tmp_path):
    logs = tmp_path / "results" / "long_run"
    logs.mkdir(parents=True)
    for run in ("wild_w0.25", "wild_w0.25_cont"):
        (logs / f"train_{run}.csv").write_text("step\n")
    weights = tmp_path / "weights"
    weights.mkdir()
    # a card written before cards listed earlier_logs: its initialised_from names the run it continued
    old = {"training_log": (logs / "train_wild_w0.25_cont.csv").as_posix(),
           "initialised_from": "runs/long/wild_w0.25/best.pt (minutes and steps here count from that checkpoint)"}
    (weights / "deblurnet_wild.json").write_text(json.dumps(old))
    expected = [(logs / "train_wild_w0.25.csv").as_posix(), (logs / "train_wild_w0.25_cont.csv").as_posix()]
    assert ship.lineage_logs((weights / "deblurnet_wild.pt").as_posix(), tmp_path / "elsewhere") == expected
    # a newer card lists them itself; a run's checkpoint gives that run's log; a run without a kept log, none
    (weights / "deblurnet_wild.json").write_text(json.dumps({"training_log": "b.csv", "earlier_logs": ["a.csv"]}))
    assert ship.lineage_logs((weights / "deblurnet_wild.pt").as_posix(), logs) == ["a.csv", "b.csv"]
    assert ship.lineage_logs("runs/long/wild_w0.25/best.pt", logs) == [expected[0]]
    assert ship.lineage_logs("runs/long/gone/best.pt", logs) == []


def test_a_runs_final_weights_ship_when_asked(tmp_path):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    final = _run(runs, logs, "wild_end", data="wild", psnr=26.0, step=300, seed=5)
    (runs / "wild_end" / "best.pt").rename(runs / "wild_end" / "last.pt")
    (runs / "wild_a" / "best.pt").rename(runs / "wild_a" / "last.pt")
    chosen = ship.ship(runs, {"wild": ["wild_end"]}, out, logs_dir=logs, command="make", checkpoint_name="last.pt")
    assert chosen["wild"].checkpoint.name == "last.pt" and _same_weights(load_model(out / "deblurnet_wild.pt")[0], final,
                                                                          rounded=True)
    assert "wild_end/last.pt (the run's final weights, step 300" in json.loads((out / "deblurnet_wild.json").read_text())[
        "exported_from"]
    with pytest.raises(ValueError, match="checkpoint_name"):
        ship.read_candidate(runs, "wild_a", "other.pt")


def test_ship_keeps_float32_weights_when_asked(tmp_path):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    model = _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    ship.ship(runs, {"wild": ["wild_a"]}, out, logs_dir=logs, command="c", half=False)
    assert _same_weights(load_model(out / "deblurnet_wild.pt")[0], model)
    assert json.loads((out / "deblurnet_wild.json").read_text())["weights_dtype"] == "float32"


def test_ship_measures_the_float16_storage_on_the_validation_pairs_given(tmp_path, val_pairs):
    runs, logs, out = tmp_path / "runs", tmp_path / "logs", tmp_path / "weights"
    _run(runs, logs, "wild_a", data="wild", psnr=26.1, step=100, seed=0)
    ship.ship(runs, {"wild": ["wild_a"]}, out, logs_dir=logs, command="c", stored_on=[val_pairs])
    stored = json.loads((out / "deblurnet_wild.json").read_text())["stored"]
    assert stored["dtype"] == "fp16" and stored["images"] == 3 and stored["max_abs_delta_psnr_db"] <= 0.01
    assert stored["bytes"] == (out / "deblurnet_wild.pt").stat().st_size < stored["fp32_bytes"]
    assert stored_dtype(torch.load(out / "deblurnet_wild.pt", weights_only=True)["state_dict"]) == "fp16"
    assert not list(out.glob("fp32_*"))  # the float32 twin that gave its size is gone
