"""repro.evaluate.methods is the one table of methods: evaluate, reproduce and the figures read it."""

import argparse
import dataclasses

import pytest

from repro import evaluate as ev
from repro.evaluate import methods
from repro.evaluate.method import fingerprint
from repro.study.reproduce import PRESETS


def test_every_method_has_a_label_a_constructor_and_a_paper_value_or_none():
    assert list(methods.METHODS) == [s.key for s in methods.METHODS.values()]
    labels = [s.label for s in methods.METHODS.values()]
    assert all(labels) and len(set(labels)) == len(labels)
    for s in methods.METHODS.values():
        assert s.paper_psnr is None or isinstance(s.paper_psnr, float), s
        module, _, attribute = s.constructor.partition(":")
        assert module.startswith("repro.") and attribute, s
    assert methods.paper_psnr("identity") is None  # explicit: the paper has no such row
    assert methods.label("not-a-method") == "not-a-method"


@pytest.mark.parametrize("key", list(methods.METHODS))
def test_every_method_builds_under_its_key(key):
    method = methods.build(key, device="cpu")
    assert method.name == key and callable(method.deblur)


def test_build_rejects_unknown_keys_and_checkpoints_for_methods_without_weights():
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from identity"):
        methods.build("nope")
    with pytest.raises(ValueError, match="takes no checkpoint"):
        methods.build("xu-jia", checkpoint="weights.pt")
    with pytest.raises(TypeError):
        methods.METHODS["x"] = methods.METHODS["identity"]  # read-only: no global state to mutate


def test_evaluate_and_reproduce_read_the_table():
    assert ev.PAPER_TABLE2 == {k: s.paper_psnr for k, s in methods.METHODS.items() if s.paper_psnr is not None}
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    args = parser.parse_args(["--data", "d"])
    assert args.methods.split(",") == list(methods.METHODS)
    for s in methods.METHODS.values():
        if s.checkpoint_flag:
            assert hasattr(args, s.checkpoint_flag.lstrip("-").replace("-", "_"))
    for preset in PRESETS.values():
        assert set(preset.eval_methods) <= set(methods.METHODS), preset.name
    assert PRESETS["quick"].eval_methods == PRESETS["paper"].eval_methods == methods.keys()


def test_a_new_method_needs_only_its_table_entry(monkeypatch, tmp_path, capsys):
    """A method added to the table is built, evaluated and labelled with no other change."""
    import numpy as np

    from repro.__main__ import main
    from repro.io.images import write_image

    for i in range(2):
        img = np.random.default_rng(i).random((24, 32, 3))
        write_image(tmp_path / "data" / "test" / "s" / "blur" / f"{i:06d}.png", img)
        write_image(tmp_path / "data" / "test" / "s" / "sharp" / f"{i:06d}.png", img)
    new = methods.MethodSpec("copy", "a copy of the input", "repro.evaluate:Identity", None)
    monkeypatch.setattr(methods, "METHODS", {**methods.METHODS, "copy": new})
    rc = main(["evaluate", "--methods", "identity,copy", "--data", str(tmp_path / "data"), "--out",
               str(tmp_path / "out"), "--n-random", "1", "--workers", "0", "--shift-radius", "0"])
    assert rc == 0
    table = (tmp_path / "out" / "table2.md").read_text()
    assert "| a copy of the input | – |" in table
    broken = dataclasses.replace(new, constructor="repro.not_there:Nothing")
    monkeypatch.setattr(methods, "METHODS", {**methods.METHODS, "copy": broken})
    assert main(["evaluate", "--methods", "copy", "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "out")]) == 2
    assert "needs repro.not_there.Nothing" in capsys.readouterr().err


def test_the_self_ensemble_row_shares_the_wild_weights_but_not_their_results():
    """deblurnet-wild-x8 runs DeblurNet^WILD's checkpoint (the same --checkpoint-wild) through the
    8 flips and turns; its fingerprint differs, so resumed tables never mix the two rows."""
    one, ens = methods.build("deblurnet-wild", device="cpu"), methods.build("deblurnet-wild-x8", device="cpu")
    assert one.checkpoint == ens.checkpoint and ens.self_ensemble and not one.self_ensemble
    assert fingerprint(one) != fingerprint(ens)
    assert methods.spec("deblurnet-wild-x8").checkpoint_flag == methods.spec("deblurnet-wild").checkpoint_flag
    assert methods.paper_psnr("deblurnet-wild-x8") is None  # not a row of the paper
