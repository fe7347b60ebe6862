"""Tests of repro.train: presets, the learning-rate schedule, deterministic batches, the smoke
preset end to end (WILD and SI data), exact resuming, the CLI and the exported weight cards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro import train as T
from repro.core.checkpoint import load_checkpoint, load_model
from repro.io.images import write_image
from repro.core.model import DeblurNet


def _make_folder(root: Path, *, n_train: int = 4, n_test: int = 2, size: tuple[int, int] = (80, 96)) -> Path:
    """A tiny GoPro-layout dataset: sharp = smooth random texture, blurry = mean of 5 shifts."""
    rng = np.random.default_rng(0)
    H, W = size
    for split, n in (("train", n_train), ("val", n_test), ("test", n_test)):
        for i in range(n):
            base = rng.random((H // 4 + 4, W // 4 + 4, 3)).astype(np.float32)
            big = np.kron(base, np.ones((4, 4, 1), np.float32))  # blocky texture with edges
            sharp = big[8:8 + H, 8:8 + W]
            blur = np.mean([big[8:8 + H, 8 + d:8 + d + W] for d in range(-2, 3)], axis=0)
            for kind, img in (("blur", blur), ("sharp", sharp)):
                write_image(root / split / f"scene{i % 2}" / kind / f"{i:06d}.png", img)
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return _make_folder(tmp_path_factory.mktemp("wild"))


def _smoke(**changes) -> T.TrainConfig:
    return T.PRESETS["tiny-test"].replace(**changes)


def _train(cfg, root, out, *, figures: bool = False, **kw):
    return T.train(cfg, data_root=root, out=out, results_dir=out / "results",
                   figures_dir=out / "figures" if figures else None, progress=False, workers=1, **kw)


# ----------------------------------------------------------------------------- config


def test_presets_follow_the_paper_where_not_declared():
    paper = T.PRESETS["gpu-paper"]
    assert (paper.width, paper.batch_size, paper.lr, paper.betas, paper.decay_factor, paper.decay_every) == (
        1.0, 10, 1e-3, (0.9, 0.999), 0.75, 10_000)
    assert paper.loss_reduction == "sum" and not paper.zero_init_residual and paper.warmup_steps == 0
    quick = T.PRESETS["cpu-15min"]
    assert quick.batch_size == 10 and quick.lr == 1e-3 and quick.betas == (0.9, 0.999)
    # every departure of quick from the paper is written down
    text = " ".join(quick.departures)
    for word in ("width", "zero", "warm-up", "divided", "crops", "decayed"):
        assert word in text
    assert quick.max_minutes <= 15
    # the paper's weighting of the scales everywhere (the per-scale mean weights a 1/4-scale pixel 16x)
    for name, preset in T.PRESETS.items():
        assert preset.loss_reduction in ("sum", "scaled_sum"), name
        assert preset.val_split != "test", name
    cpu = T.PRESETS["cpu-4h"]
    assert cpu.max_minutes <= 240 and cpu.checkpoint_every <= 100
    # the long run: the arms' recipe with a 12-hour budget and early stopping, said in its departures
    long, arm = T.PRESETS["cpu-12h"], T.PRESETS["data-arm"]
    assert long.max_minutes == 720 and long.patience > 0 and long.checkpoint_every <= 100
    assert (long.width, long.batch_size, long.crop, long.lr) == (arm.width, arm.batch_size, arm.crop, arm.lr)
    assert any("12 hours" in d and "validations" in d for d in long.departures)
    assert any("SI kernels" in d for d in cpu.departures) and any("batch 8" in d for d in cpu.departures)


def test_config_validation_and_string_overrides():
    with pytest.raises(ValueError, match="multiple of 4"):
        T.TrainConfig(crop=30)
    with pytest.raises(ValueError, match="loss_reduction"):
        T.TrainConfig(loss_reduction="median")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        T.TrainConfig().replace(colour="red")
    with pytest.raises(ValueError, match="unknown preset"):
        T.get_preset("nope")
    cfg = T.TrainConfig().replace(width="0.5", steps="1e3", zero_init_residual="true", betas="0.8,0.99")
    assert (cfg.width, cfg.steps, cfg.zero_init_residual, cfg.betas) == (0.5, 1000, True, (0.8, 0.99))


def test_learning_rate_schedule_known_values():
    cfg = T.TrainConfig(lr=1e-3, decay_every=100, decay_factor=0.75, warmup_steps=10)
    assert T.lr_at(cfg, 0) == pytest.approx(1e-4)
    assert T.lr_at(cfg, 9) == pytest.approx(1e-3)
    assert T.lr_at(cfg, 99) == pytest.approx(1e-3)
    assert T.lr_at(cfg, 100) == pytest.approx(7.5e-4)
    assert T.lr_at(cfg, 250) == pytest.approx(1e-3 * 0.75**2)
    assert T.lr_at(T.TrainConfig(), 0) == 1e-3  # the paper: no warm-up


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), step=st.integers(0, 10**7), n=st.integers(1, 10**5))
def test_batch_plan_is_a_function_of_seed_and_step(seed, step, n):
    a, b = T.batch_plan(seed, step, n, 10, 1000), T.batch_plan(seed, step, n, 10, 1000)
    assert np.array_equal(a.index, b.index) and np.array_equal(a.corner, b.corner)
    assert np.array_equal(a.flip, b.flip) and a.noise_seed == b.noise_seed
    assert ((a.index >= 0) & (a.index < n)).all() and ((a.corner >= 0) & (a.corner < 1)).all()
    c = T.batch_plan(seed, step + 1, n, 10, 1000)
    assert not np.array_equal(a.corner, c.corner)


def test_batch_plan_draws_of_runs_made_before_the_symmetries_are_unchanged():
    # the symmetries come from their own stream: the pair/crop/flip/kernel draws are the old ones,
    # so a run started before them resumes on the very same batches
    rng = np.random.default_rng([7, 123, 0x7EA1])
    plan = T.batch_plan(7, 123, 50, 6, 1000)
    assert np.array_equal(plan.index, rng.integers(0, 50, 6))
    assert np.array_equal(plan.corner, rng.random((6, 2)))
    assert np.array_equal(plan.flip, rng.random(6) < 0.5)
    assert sorted(plan.colours[0].tolist()) == [0, 1, 2]


def test_augment_applies_the_plans_symmetry_to_blur_and_sharp_alike():
    # Known answer on a 2x2 image per channel: rotating [[a, b], [c, d]] a quarter turn
    # counter-clockwise gives [[b, d], [a, c]]; channels follow the drawn permutation.
    img = torch.arange(12, dtype=torch.float32).reshape(3, 2, 2)
    plan = T.BatchPlan(index=np.zeros(1, int), corner=np.zeros((1, 2)), flip=np.array([False]),
                       kernel=np.zeros(1, int), noise_seed=0, rot90=np.array([1]), vflip=np.array([False]),
                       colours=np.array([[2, 0, 1]]))
    cfg = T.TrainConfig(rotate=True, permute_colours=True)
    out = T.augment(img, plan, 0, cfg)
    assert out[1].tolist() == [[1.0, 3.0], [0.0, 2.0]]  # channel 0, turned
    assert out[0].tolist() == [[9.0, 11.0], [8.0, 10.0]]  # channel 2 first
    # off by default: only the horizontal flip
    plan_f = T.BatchPlan(**{**plan.__dict__, "flip": np.array([True])})
    assert T.augment(img, plan_f, 0, T.TrainConfig()).tolist() == img.flip(-1).tolist()
    # in a training batch, blur and sharp of every item get the same symmetry: a pair whose blur
    # is a pixelwise function of its sharp frame keeps that relation
    sharp = torch.rand(3, 8, 8)
    for k in range(4):
        p = T.BatchPlan(**{**plan.__dict__, "rot90": np.array([k]), "vflip": np.array([k % 2 == 0])})
        torch.testing.assert_close(T.augment(0.5 * sharp, p, 0, cfg), 0.5 * T.augment(sharp, p, 0, cfg))


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def smoke_run(data_root, tmp_path_factory):
    """One uninterrupted smoke run (6 steps, checkpoints at 3 and 6), shared by several tests."""
    return _train(_smoke(), data_root, tmp_path_factory.mktemp("smoke") / "run", seed=3, figures=True)


def test_smoke_preset_trains_and_writes_everything(smoke_run):
    res = smoke_run
    assert res.steps == 6
    assert res.checkpoint.exists() and res.best_checkpoint.exists()
    rows = T.read_log(res.log_csv)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6]
    assert rows[0]["loss"] is None and all(np.isfinite(r["loss"]) for r in rows[1:])
    val = [r for r in rows if r["val_psnr"] is not None]
    assert [r["step"] for r in val] == [0, 3, 6]
    # zero-initialised residual layers: the untrained network is the identity
    assert val[0]["val_psnr"] == pytest.approx(val[0]["val_psnr_input"], abs=1e-3)
    # the input PSNR of the validation set is the blurry-vs-sharp PSNR of the test pairs
    assert 10 < val[0]["val_psnr_input"] < 40
    assert res.final_psnr == pytest.approx(val[-1]["val_psnr"], abs=1e-3)
    assert res.best_psnr == pytest.approx(max(r["val_psnr"] for r in val), abs=1e-3)
    assert res.results_csv.read_text() == res.log_csv.read_text()
    assert res.figure.exists() and res.figure.stat().st_size > 5000
    model, meta = load_model(res.best_checkpoint)
    assert meta["preset"] == "tiny-test" and meta["data"] == "wild" and meta["seed"] == 3
    assert model.config.width == T.PRESETS["tiny-test"].width
    payload = load_checkpoint(res.checkpoint)
    assert {"optimizer", "scheduler", "train_state"} <= set(payload)
    assert payload["train_state"]["step"] == 6
    body, heads = payload["optimizer"]["param_groups"]
    assert len(heads["params"]) == 6  # weight + bias of the three residual-emitting layers
    assert heads["lr"] == pytest.approx(body["lr"] * T.PRESETS["tiny-test"].head_lr_scale)


def test_zero_init_starts_at_the_identity_and_max_minutes_stops(data_root, tmp_path):
    # a time budget that is spent after the first step: training stops there and checkpoints;
    # with a negligible learning rate the zero-initialised network still returns its input
    cfg = _smoke(steps=1000, max_minutes=1e-9, lr=1e-12, warmup_steps=0)
    res = _train(cfg, data_root, tmp_path / "run")
    assert res.steps == 1 and res.checkpoint.exists()
    assert res.final_psnr == pytest.approx(res.input_psnr, abs=1e-3)
    # resuming with the budget spent trains no further; a larger budget goes on
    assert _train(cfg, data_root, tmp_path / "run", resume=True).steps == 1
    assert _train(cfg.replace(max_minutes=0.0, steps=3), data_root, tmp_path / "run", resume=True).steps == 3


def test_cpu_training_time_counts_compute_not_pauses(data_root, tmp_path, monkeypatch):
    # the clock does not run while the process sleeps (as under SIGSTOP, or waiting for busy cores);
    # a run whose every batch waits 1 s without using the CPU counts no more time than one that does not
    import time

    import repro.train.loop as loop

    clock = loop.training_clock(torch.device("cpu"))
    t0 = clock()
    time.sleep(0.3)
    assert clock() - t0 < 0.1
    assert loop.training_clock(torch.device("cuda")) is time.perf_counter  # a GPU's budget stays wall time

    cfg = _smoke(steps=4, val_every=100, checkpoint_every=100)
    plain = _train(cfg, data_root, tmp_path / "plain")  # first, so that it bears any one-time costs
    make_batch = loop._TrainData.batch

    def waiting(self, *args, **kwargs):
        time.sleep(1.0)
        return make_batch(self, *args, **kwargs)

    monkeypatch.setattr(loop._TrainData, "batch", waiting)
    t_wall = time.perf_counter()
    res = _train(cfg, data_root, tmp_path / "waiting")
    assert res.steps == 4 and time.perf_counter() - t_wall >= 4.0
    assert res.seconds < plain.seconds + 1.0  # a wall clock would have counted 4 s more


def test_patience_stops_after_that_many_validations_without_a_better_one(data_root, tmp_path, monkeypatch):
    # validation PSNRs that only fall after step 0: with patience 2 and a validation every step,
    # steps 1 and 2 find nothing better, so training stops after step 3 (one step later: the stop is
    # decided after each step, and the end validates and checkpoints) instead of running to 50
    import repro.train.loop as loop

    calls = []

    def falling(model, cache, device, precision="fp32"):
        calls.append(1)
        return 30.0 - len(calls), 25.0

    monkeypatch.setattr(loop, "_validate", falling)
    cfg = _smoke(steps=50, val_every=1, checkpoint_every=50, patience=2)
    res = _train(cfg, data_root, tmp_path / "run")
    assert res.steps == 3 and res.best_psnr == 29.0 and res.checkpoint.exists()
    assert [r["val_psnr"] for r in T.read_log(res.log_csv)] == [29.0, 28.0, 27.0, 26.0]
    state = load_checkpoint(res.checkpoint)["train_state"]
    assert state["since_best"] == 3
    # resuming a run that stopped early trains no further; more patience lets it go on (validations
    # at steps 4 and 5 find nothing better either: 5 in a row, so it stops after step 6)
    assert _train(cfg, data_root, tmp_path / "run", resume=True).steps == 3
    assert _train(cfg.replace(patience=5), data_root, tmp_path / "run", resume=True).steps == 6
    with pytest.raises(ValueError, match="patience"):
        _smoke(patience=-1)


def test_resume_gives_the_same_loss_curve(smoke_run, data_root, tmp_path):
    cfg = _smoke()
    assert (cfg.steps, cfg.checkpoint_every) == (6, 3)
    full = smoke_run
    part = _train(cfg.replace(steps=3), data_root, tmp_path / "part", seed=3)
    assert part.steps == 3
    resumed = _train(cfg, data_root, tmp_path / "part", seed=3, resume=True)
    assert resumed.steps == 6
    a, b = T.read_log(full.log_csv), T.read_log(resumed.log_csv)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # exact: same batches, same optimizer state
    assert [r["val_psnr"] for r in a] == [r["val_psnr"] for r in b]
    wa, wb = load_checkpoint(full.checkpoint)["state_dict"], load_checkpoint(resumed.checkpoint)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_saved_run_restored_into_a_lost_folder_resumes_exactly(smoke_run, data_root, tmp_path):
    from repro.train import snapshot

    cfg = _smoke()
    part = _train(cfg.replace(steps=3), data_root, tmp_path / "part", seed=3)
    kept, results = tmp_path / "kept", tmp_path / "results"
    assert snapshot.save(tmp_path / "part", kept, results_dir=results, run="part") == 3
    assert sorted(p.name for p in kept.iterdir()) == ["best.pt", "last.pt"]
    assert (results / "train_part.png").is_file()
    for f in (tmp_path / "part").iterdir():  # the sitting's runs/ is lost
        f.unlink() if f.is_file() else None
    lost = tmp_path / "part"
    assert snapshot.restore(kept, lost, log=results / "train_part.csv") == 3
    assert snapshot.restore(kept, lost, log=results / "train_part.csv") is None  # its own last.pt: untouched
    resumed = _train(cfg, data_root, lost, seed=3, resume=True)
    a, b = T.read_log(smoke_run.log_csv), T.read_log(resumed.log_csv)
    assert [(r["step"], r["loss"], r["val_psnr"]) for r in a] == [(r["step"], r["loss"], r["val_psnr"]) for r in b]
    assert part.steps == 3 and resumed.steps == 6


def test_a_saved_sitting_without_a_kept_folder_is_its_log_and_curve_only(smoke_run, tmp_path, capsys):
    from repro.train import snapshot

    results = tmp_path / "results"
    assert snapshot.save(smoke_run.log_csv.parent, results_dir=results, run="smoke") == 6
    assert sorted(p.name for p in results.iterdir()) == ["train_smoke.csv", "train_smoke.png"]
    assert (results / "train_smoke.csv").read_text() == smoke_run.log_csv.read_text()
    assert snapshot.main(["save", str(smoke_run.log_csv.parent), "--results", str(tmp_path / "cli"), "--run", "s"]) == 0
    assert "into " + str(tmp_path / "cli") in capsys.readouterr().out
    (tmp_path / "no-log").mkdir()
    with pytest.raises(FileNotFoundError, match="no-log/log.csv: no such file"):
        snapshot.save(tmp_path / "no-log", results_dir=results, run="x")


def test_snapshot_refuses_a_log_that_ends_before_the_checkpoint(smoke_run, tmp_path, capsys):
    from repro.train import snapshot

    short_log = tmp_path / "log.csv"
    lines = smoke_run.log_csv.read_text().splitlines(keepends=True)
    short_log.write_text("".join(line for line in lines if not line.startswith("6,")))
    assert T.read_log(short_log)[-1]["step"] < 6
    with pytest.raises(ValueError, match="before .*step 6"):
        snapshot.restore(smoke_run.checkpoint.parent, tmp_path / "empty", log=short_log)
    assert not (tmp_path / "empty").exists()
    assert snapshot.main(["restore", str(tmp_path / "nothing"), str(tmp_path / "empty"), "--log", str(short_log)]) == 0
    assert "nothing restored" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        snapshot.main(["save", str(tmp_path / "no-run"), str(tmp_path / "kept"), "--results", str(tmp_path), "--run", "x"])
    assert exit_.value.code == 1 and "no-run/last.pt: no such file" in capsys.readouterr().err


def test_resume_warns_of_a_changed_config_but_not_of_a_former_preset_name(caplog):
    from repro.train.state import _warn_if_config_differs

    cfg = _smoke()
    recorded = {**json.loads(json.dumps(cfg.to_dict())), "name": "smoke"}  # last.pt written before the renaming
    with caplog.at_level("WARNING", logger="repro.train.state"):
        _warn_if_config_differs({"meta": {"train_config": recorded}}, cfg)
        assert not caplog.records
        _warn_if_config_differs({"meta": {"train_config": {**recorded, "lr": 0.5}}}, cfg)
    assert len(caplog.records) == 1 and "['lr']" in caplog.records[0].getMessage()


def test_resume_without_checkpoint_is_a_clear_error(data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        _train(_smoke(), data_root, tmp_path / "empty", resume=True)


def test_production_si_batch_is_the_exact_convolution_plus_the_seeded_noise(data_root):
    # Known answer: crop the sharp frame with the plan's corner (enlarged by k - 1), flip, blur by
    # an explicit "valid" correlation with the flipped kernel (= convolution), add the noise drawn
    # from the plan's seed, clip. A flipped kernel or a missing noise term fails this test.
    from scipy.signal import convolve2d

    cfg = _smoke(si_kernels=20, si_kernel_size=7, si_psz=(5, 3), si_noise_std=0.02)
    cache = T._PairCache(data_root, "train", workers=1)
    trainer = T._TrainData(cache, cfg, "si", 3, torch.device("cpu"))
    blurry, sharp = trainer.batch(5)
    plan = T.batch_plan(3, 5, len(cache), cfg.batch_size, cfg.si_kernels)
    bank = T.si_kernel_bank(cfg, 3)
    gen = torch.Generator().manual_seed(plan.noise_seed)
    size = cfg.crop + bank.size - 1
    for b in range(cfg.batch_size):
        patch = T._crop(cache.sharp[int(plan.index[b])], plan.corner[b], size).float().div(255).numpy()
        if plan.flip[b]:
            patch = patch[..., ::-1]
        k = np.asarray(bank[int(plan.kernel[b])], dtype=np.float64)
        assert not np.allclose(k, k[::-1, ::-1])  # an asymmetric kernel, so a flip would show
        conv = np.stack([convolve2d(ch, k, mode="valid") for ch in patch])
        c = bank.size // 2
        np.testing.assert_allclose(sharp[b].numpy(), patch[:, c:-c, c:-c], atol=1e-6)
        expected_noise_free = conv
        blurry_b = blurry[b].numpy()
        # the noise of the whole batch is drawn at once: reproduce it in the same order
        if b == 0:
            noise = torch.randn((cfg.batch_size, 3, cfg.crop, cfg.crop), generator=gen).numpy()
        expected = np.clip(expected_noise_free + cfg.si_noise_std * noise[b], 0, 1)
        np.testing.assert_allclose(blurry_b, expected, atol=2e-5)


def test_training_validates_on_the_val_split_never_on_test(data_root, tmp_path):
    with pytest.raises(ValueError, match="must not be 'test'"):
        T.TrainConfig(val_split="test")
    root = tmp_path / "noval"
    _make_folder(root, n_train=2, n_test=1)
    import shutil

    shutil.rmtree(root / "val")
    with pytest.raises(FileNotFoundError, match="no 'val' pairs"):
        _train(_smoke(steps=1), root, tmp_path / "out")


def test_si_data_trains_on_synthetic_blur(data_root, tmp_path):
    cfg = _smoke(steps=2, val_every=2, si_kernels=50)
    trainer = T._TrainData(T._PairCache(data_root, "train", workers=1), cfg, "si", 0, torch.device("cpu"))
    blurry, sharp = trainer.batch(0)
    assert blurry.shape == sharp.shape == (2, 3, 32, 32)
    assert not torch.allclose(blurry, sharp)
    again, _ = trainer.batch(0)
    assert torch.equal(blurry, again)  # SI kernels and noise are a function of (seed, step) too
    res = _train(cfg, data_root, tmp_path / "si", data="si")
    assert res.steps == 2 and np.isfinite(res.final_psnr)
    assert load_model(res.checkpoint)[1]["data"] == "si"


def test_cli_trains_and_exports_a_card(data_root, tmp_path, monkeypatch):
    from repro.__main__ import main

    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "w" / "net.pt"
    rc = main(["train", "--preset", "tiny-test", "--data", "wild", "--data-root", str(data_root), "--out", "run",
               "--steps", "2", "--set", "val_every=2", "--set", "log_every=2", "--seed", "4", "--workers", "1",
               "--export", str(weights)])
    assert rc == 0
    assert (tmp_path / "results" / "train_tiny-test_wild.csv").exists()
    assert (tmp_path / "figures" / "train_tiny-test_wild.png").exists()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2
    card = json.loads(weights.with_suffix(".json").read_text())
    for key in ("data", "preset", "steps", "seed", "psnr", "date", "command"):
        assert key in card
    assert card["seed"] == 4 and card["steps"] == 2 and "--preset tiny-test" in card["command"]
    # the card says what the command changed from the preset (tiny-test: steps 6, val_every 3, log_every 1)
    assert card["overrides"] == ["steps=2 (preset tiny-test: 6)", "val_every=2 (preset tiny-test: 3)",
                                 "log_every=2 (preset tiny-test: 1)"]
    model, meta = load_model(weights)
    assert meta["preset"] == "tiny-test"


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from repro.__main__ import main

    assert main(["train", "--preset", "nope", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny-test", "--data-root", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "o")]) == 2


def test_steps_of_gives_a_run_as_many_steps_as_another_log(tmp_path, capsys):
    from repro.__main__ import command_parser, main
    from repro.train.cli import config_from_args

    log = tmp_path / "log.csv"
    log.write_text("# run=wild\nstep,epoch,lr,loss,val_psnr,val_psnr_input,minutes,steps_per_s,data_fraction\n"
                   "0,0,0.001,,25.0,25.0,0.0,,\n100,1,0.001,0.01,,,12.3,1.5,0.01\n"
                   "201,2,0.001,0.01,25.5,25.0,24.6,1.5,0.01\n")
    required = ["--data-root", str(tmp_path), "--out", str(tmp_path / "o")]
    args = command_parser("train").parse_args([*required, "--preset", "tiny-test", "--steps-of", str(log)])
    config = config_from_args(args)
    assert config.steps == 201 and config.max_minutes == T.get_preset("tiny-test").max_minutes
    with pytest.raises(SystemExit):  # one number of steps or the other, not both
        command_parser("train").parse_args([*required, "--steps", "5", "--steps-of", str(log)])
    assert "not allowed with argument" in capsys.readouterr().err
    untrained = tmp_path / "untrained.csv"
    untrained.write_text("step,epoch,lr,loss,val_psnr,val_psnr_input,minutes,steps_per_s,data_fraction\n"
                         "0,0,0.001,,25.0,25.0,0.0,,\n")
    for bad in (untrained, tmp_path / "missing.csv"):
        assert main(["train", "--preset", "tiny-test", *required, "--steps-of", str(bad)]) == 2
        assert bad.name in capsys.readouterr().err


def test_export_half_weights_load_back(smoke_run, tmp_path):
    res = smoke_run
    dest = T.export_weights(res.best_checkpoint, tmp_path / "w.pt", command="x", half=True)
    model, _ = load_model(dest)
    ref, _ = load_model(res.best_checkpoint)
    assert next(model.parameters()).dtype == torch.float32
    for (k, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-2, rtol=1e-2), k


def test_init_starts_from_a_checkpoints_weights(smoke_run, data_root, tmp_path):
    start = smoke_run.checkpoint
    res = _train(_smoke(steps=1, init=str(start), val_at_start=True), data_root, tmp_path / "init")
    rows = T.read_log(res.log_csv)
    first = next(r for r in rows if r["step"] == 0)
    # step 0 validates the loaded network: the PSNR it had at the end of the run it came from
    assert first["val_psnr"] == pytest.approx(load_model(start)[1]["psnr"], abs=1e-3)
    with pytest.raises(ValueError, match="differs"):
        _train(_smoke(steps=1, init=str(start), width=0.125), data_root, tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        _train(_smoke(steps=1, init=str(tmp_path / "none.pt")), data_root, tmp_path / "none")


def test_cosine_schedule_anneals_to_zero_at_the_last_step():
    cfg = T.TrainConfig(lr=1e-3, steps=1000, lr_schedule="cosine", warmup_steps=10)
    assert T.lr_at(cfg, 5) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 5 / 1000)) * 6 / 10)
    assert T.lr_at(cfg, 500) == pytest.approx(0.5e-3)
    assert T.lr_at(cfg, 1000) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="lr_schedule"):
        T.TrainConfig(lr_schedule="linear")


def test_sharp_fraction_makes_the_last_items_identity_pairs_of_the_same_plan(data_root):
    cache = T._PairCache(data_root, "train", workers=1)
    cfg = T.PRESETS["tiny-test"].replace(batch_size=4, crop=16, rotate=True, permute_colours=True)
    dev = torch.device("cpu")
    blur, sharp = T._TrainData(cache, cfg, "wild", 5, dev).batch(3)
    blur_s, sharp_s = T._TrainData(cache, cfg.replace(sharp_fraction=0.5), "wild", 5, dev).batch(3)
    torch.testing.assert_close(sharp_s, sharp)  # the targets do not change
    torch.testing.assert_close(blur_s[:2], blur[:2])  # the first items keep their blurry input
    torch.testing.assert_close(blur_s[2:], sharp[2:])  # the last two learn the identity
    assert not torch.equal(blur[2:], sharp[2:])  # (a real WILD pair differs from its sharp frame)
    # with SI mixed in, SI takes the first items, sharp -> sharp the last
    mixed_b, mixed_s = T._TrainData(cache, cfg.replace(si_fraction=0.25, sharp_fraction=0.25, si_kernel_size=5,
                                                       si_psz=(3,), si_kernels=10), "wild", 5, dev).batch(3)
    torch.testing.assert_close(mixed_b[1:3], blur[1:3])
    torch.testing.assert_close(mixed_b[3:], mixed_s[3:])
    with pytest.raises(ValueError, match="sharp_fraction"):
        T._TrainData(cache, cfg.replace(sharp_fraction=0.5), "si", 5, dev)
    with pytest.raises(ValueError, match="sharp_fraction"):
        T.TrainConfig(sharp_fraction=-0.1)
    with pytest.raises(ValueError, match="sharp_fraction"):
        T.TrainConfig(si_fraction=0.6, sharp_fraction=0.6)


def test_overrides_name_what_differs_from_the_preset():
    fast = T.PRESETS["gpu-fast-start"]
    assert T.overrides(fast) == []
    changed = fast.replace(width="0.5", sharp_fraction="0.125", departures=("ignored",))
    assert T.overrides(changed) == ["width=0.5 (preset gpu-fast-start: 1.0)",
                                      "sharp_fraction=0.125 (preset gpu-fast-start: 0.0)"]
    assert T.overrides(changed.to_dict()) == T.overrides(changed)  # as a card stores it
    assert T.overrides(T.TrainConfig(width=0.5)) == []  # "custom": no preset to compare with
    # a card written before the presets were renamed names "fast": read as gpu-fast-start
    assert T.overrides({**changed.to_dict(), "name": "fast"}) == T.overrides(changed)


def test_training_presets_cannot_be_confused_with_study_presets():
    from repro.study.reproduce import PRESETS as STUDY

    for name, preset in T.PRESETS.items():
        assert "-" in name and name not in STUDY and preset.name == name, name
        assert not preset.init, name  # no preset starts from a file that a clone lacks
    for study in STUDY.values():
        assert "-" not in study.name and study.train_preset in T.PRESETS, study.name
    # former names: read from records (logs, cards, checkpoints), refused by --preset with the new name
    assert set(T.FORMER_NAMES.values()) <= set(T.PRESETS) and not set(T.FORMER_NAMES) & set(T.PRESETS)
    assert T.current_name("quick") == "cpu-15min" and T.current_name("data-arm") == "data-arm"
    with pytest.raises(ValueError, match="unknown preset 'quick' \\(now 'cpu-15min'\\)"):
        T.get_preset("quick")
    cards = [json.loads(p.read_text()) for p in sorted((Path(T.__file__).parents[1] / "weights").glob("deblurnet_*.json"))]
    assert cards and all(T.card_config(c, "cpu-15min").name == T.current_name(c["preset"]) for c in cards)


def test_extra_roots_add_their_training_pairs(data_root, tmp_path):
    extra = _make_folder(tmp_path / "extra", n_train=3, n_test=1)
    base = T._PairCache(data_root, "train", workers=1)
    both = T._PairCache(data_root, "train", workers=1)
    both.extend(T._PairCache(extra, "train", workers=1), prefix="extra")
    assert len(both) == len(base) + 3
    assert both.names[:len(base)] == base.names and both.names[-1].startswith("extra/")
    torch.testing.assert_close(both.blur[-1], T._PairCache(extra, "train", workers=1).blur[-1])
    # a run trains on the union and names both roots in its checkpoint; validation stays data_root's
    result = _train(_smoke(steps=2, val_every=2), data_root, tmp_path / "run", extra_roots=[extra])
    meta = load_checkpoint(tmp_path / "run" / "last.pt")["meta"]
    assert meta["data_root"] == f"{data_root},{extra}"
    assert result.steps == 2
    assert T.summarise_log(result.log_csv)["data"] == "wild + extra"  # training_runs names the extra root
    with pytest.raises(FileNotFoundError, match="missing"):
        _train(_smoke(steps=1), data_root, tmp_path / "run2", extra_roots=[tmp_path / "missing"])


def test_ema_weights_are_validated_saved_and_resumed_exactly(data_root, tmp_path):
    cfg = _smoke(ema_decay=0.9, val_at_start=False, val_every=6)  # one validation, at the end
    full = _train(cfg, data_root, tmp_path / "full", seed=4)
    last = load_checkpoint(full.checkpoint)
    raw, avg = last["raw_state_dict"], last["state_dict"]
    with torch.random.fork_rng(devices=[]):  # the run's initial weights (seeded as train() does)
        torch.manual_seed(4)
        init = DeblurNet(cfg.model_config()).state_dict()
    floats = [k for k in raw if raw[k].is_floating_point() and "running" not in k]

    def dist(w):
        return sum(float((w[k] - init[k]).pow(2).sum()) for k in floats) ** 0.5

    # an average over 6 steps with decay 0.9 still weighs the start by 0.9^6 = 0.53: nearer to it
    assert 0 < dist(avg) < 0.8 * dist(raw)
    # best.pt holds the validated weights: the average
    best = load_checkpoint(full.best_checkpoint)
    assert best["meta"]["steps"] == full.steps == 6
    assert all(torch.equal(best["state_dict"][k], avg[k]) for k in avg)
    part = _train(cfg.replace(steps=3), data_root, tmp_path / "part", seed=4)
    resumed = _train(cfg, data_root, tmp_path / "part", seed=4, resume=True)
    a, b = T.read_log(full.log_csv), T.read_log(resumed.log_csv)
    assert part.steps == 3 and [r["loss"] for r in a] == [r["loss"] for r in b]
    assert a[-1]["val_psnr"] == b[-1]["val_psnr"] is not None  # (the part run also validated at its end, step 3)
    again = load_checkpoint(resumed.checkpoint)
    assert all(torch.equal(again["state_dict"][k], avg[k]) for k in avg)
    assert all(torch.equal(again["raw_state_dict"][k], raw[k]) for k in raw)
    # a run without averaging cannot resume as one with it
    _train(_smoke(steps=3), data_root, tmp_path / "plain", seed=4)
    with pytest.raises(ValueError, match="ema_decay"):
        _train(cfg, data_root, tmp_path / "plain", seed=4, resume=True)
    with pytest.raises(ValueError, match="ema_decay"):
        T.TrainConfig(ema_decay=1.0)


def test_several_validation_roots_validate_on_their_pairs_together(data_root, tmp_path):
    from repro.core.metrics import psnr

    other = _make_folder(tmp_path / "other", n_train=2, n_test=3, size=(64, 96))
    from repro.io.datasets import PairedFolder

    expected = []
    for root in (data_root, other):
        ds = PairedFolder(root, "val")
        for i in range(len(ds)):
            b, s = ds.load(i)
            expected.append(psnr(s, b, data_range=1.0))
    result = _train(_smoke(steps=1, val_every=1, val_images=0), data_root, tmp_path / "run",
                    val_root=[data_root, other])
    assert result.input_psnr == pytest.approx(np.mean(expected), abs=1e-3)  # 2 + 3 pairs, each counted once
    meta = load_checkpoint(tmp_path / "run" / "last.pt")["meta"]
    assert meta["val_root"] == f"{data_root},{other}"
    with pytest.raises(FileNotFoundError, match="no 'val' pairs"):
        _train(_smoke(steps=1), data_root, tmp_path / "run2", val_root=[data_root, tmp_path / "other" / "train"])


# ----------------------------------------------------------------------------- the long run's report


def test_the_long_run_report_measures_best_pt_by_blur_on_validation_never_on_test(smoke_run, tmp_path):
    from repro.evaluate import long_run
    from repro.wild import build_wild

    data = tmp_path / "data"
    for split in ("val", "test"):
        build_wild("virtual", data / "bundled", split=split, pairs=2, workers=0, flow_backend="true", progress=False)
    run_dir, out = smoke_run.log_csv.parent, tmp_path / "by_blur.md"
    assert (run_dir / "best.pt").is_file()
    assert long_run.main(["--runs", str(run_dir.parent), "--run", run_dir.name, "--data", str(data),
                          "--out", str(out), "--precision", "fp32"]) == 0
    text = out.read_text()
    assert f"| {run_dir.name} | val, bundled | 2 |" in text and "| shipped (reference) | val, bundled | 2 |" in text
    assert "test," not in text and "train pairs" not in text.split("## Gains")[1].split("## Do no harm")[0]
    assert f"| {run_dir.name} | 6 |" in text  # its training so far, from the log
    assert "## Do no harm: < 4 px on validation, at least -0.5 dB" in text
    assert "Over both validation sets together (pair-weighted" in text and f"{run_dir.name} " in text.split("pair-weighted")[1]


def test_the_do_no_harm_verdict_counts_only_validation_near_sharp_pairs():
    from repro.evaluate.long_run import harm_verdicts

    def row(arm, pair_set, near_sharp):
        return {"arm": arm, "set": pair_set, "n": 8, "input dB": 30.0, "gain dB": 0.0, "< 4 px": near_sharp}

    rows = [row("a", "val, bundled", -0.4), row("a", "val, corpus", -0.5), row("a", "train pairs, bundled", -3.0),
            row("b", "val, bundled", -0.7), row("b", "val, corpus", 0.2), row("b", "test, corpus", 5.0),
            row("c", "val, bundled", None), row("c", "train pairs, corpus", -9.0)]
    assert harm_verdicts(rows) == {"a": "met", "b": "missed (val, bundled -0.70)", "c": "no near-sharp pairs"}
    assert harm_verdicts(rows, floor=-0.45)["a"] == "missed (val, corpus -0.50)"


def test_the_long_run_report_refuses_a_run_that_has_not_started(tmp_path, capsys):
    from repro.evaluate import long_run

    with pytest.raises(SystemExit) as exit_:
        long_run.main(["--runs", str(tmp_path), "--run", "wild_w0.25"])
    assert exit_.value.code == 2 and "no training log in" in capsys.readouterr().err


def test_the_long_run_report_weighs_both_validation_sets_by_their_pairs():
    from repro.evaluate.long_run import long_run_markdown

    rows = [{"arm": "wild", "set": "val, bundled", "n": 48, "input dB": 25.0, "gain dB": 1.0},
            {"arm": "wild", "set": "val, corpus", "n": 16, "input dB": 27.0, "gain dB": -2.0},
            {"arm": "wild", "set": "train pairs, corpus", "n": 96, "input dB": 30.0, "gain dB": 9.0}]
    text = long_run_markdown(rows, provenance="p", logs={})
    assert "(pair-weighted, the number checkpoints are chosen on): wild +0.25 dB." in text
