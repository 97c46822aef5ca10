"""The moving average of the detector's weights (train.average_epochs): the update rule, the
config check, and a run that validates / saves the average and resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch

from momentfinder.errors import InputError
from momentfinder.grounding.detr.averaging import decay_for, weight_average
from momentfinder.grounding.detr.checkpoint import load_checkpoint
from momentfinder.grounding.detr.config import DetrConfig

from .test_detr_train import run, synth, tiny_config  # noqa: F401 (synth is a fixture)


def test_decay_reaches_back_the_given_epochs():
    assert decay_for(2, 100) == pytest.approx(1 - 1 / 200)
    assert decay_for(0.001, 10) == 0.0  # never below one step
    assert weight_average(torch.nn.Linear(2, 2), 0, 100) is None


def test_average_follows_the_ema_rule_with_a_warm_start():
    lin = torch.nn.Linear(1, 1, bias=False)
    avg = weight_average(lin, 1, 1000)  # decay 0.999, but (1 + n) / (10 + n) at first
    values = [1.0, 2.0, 4.0]
    expected = None
    for n, v in enumerate(values):
        lin.weight.data.fill_(v)
        avg.update_parameters(lin)
        if expected is None:
            expected = v  # the first update copies
        else:
            d = min(0.999, (1 + n) / (10 + n))  # n: the updates done before this one
            expected = d * expected + (1 - d) * v
    assert float(avg.module.weight.detach()) == pytest.approx(expected)
    assert float(avg.module.weight.detach()) != pytest.approx(values[-1])


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "often"])
def test_config_refuses_a_bad_average(bad):
    with pytest.raises(InputError, match="train.average_epochs"):
        DetrConfig.from_dict({"train": {"average_epochs": bad}})


def test_run_keeps_the_average_and_resumes_exactly(synth, tmp_path):  # noqa: F811
    # select_metric last: best.ckpt is the last epoch's, so it must hold the same averaged weights
    cfg = tiny_config(tmp_path, average_epochs=1.0, epochs=3, select_metric="last")
    run(cfg, synth, tmp_path / "a")
    last = load_checkpoint(tmp_path / "a" / "last.ckpt")
    raw, averaged = last["train_state"]["weights"], last["model"]
    assert set(raw) == set(averaged)
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)  # the payload holds the average
    assert last["train_state"]["n_averaged"] > 0
    best = load_checkpoint(tmp_path / "a" / "best.ckpt")
    log = json.loads((tmp_path / "a" / "log.json").read_text())
    assert best["epoch"] == 2 and all(torch.equal(best["model"][k], averaged[k]) for k in raw)

    run(cfg, synth, tmp_path / "b", stop_after=1)  # as if killed after the first epoch
    run(cfg, synth, tmp_path / "b", resume=True)
    resumed = load_checkpoint(tmp_path / "b" / "last.ckpt")
    assert all(torch.equal(resumed["model"][k], averaged[k]) for k in raw)
    assert all(torch.equal(resumed["train_state"]["weights"][k], raw[k]) for k in raw)
    assert json.loads((tmp_path / "b" / "log.json").read_text())[2]["loss"] == log[2]["loss"]
