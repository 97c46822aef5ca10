"""Training end to end on a tiny synthetic set: checkpoints, logs, exact resume, CLI, grounder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from momentfinder.cli import main
from momentfinder.data.readers import read_annotations
from momentfinder.errors import InputError
from momentfinder.grounding.base import Grounder
from momentfinder.grounding.detr import feature_spec, load_grounder
from momentfinder.grounding.detr.config import load_config
from momentfinder.grounding.detr.supervision import apply_supervision, grow_window
from momentfinder.grounding.detr.train import train_detector
from momentfinder.pipeline.train import official_metrics
from momentfinder.store import FeatureDirectory
from momentfinder.types import ClipFeatures, QueryFeatures, Timeline

from .conftest import generate_synthetic

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("synth"), seed=3, n_videos=40, dim=24)


def tiny_config(tmp_path, **train):
    cfg = load_config("detr")
    cfg.model.hidden_dim, cfg.model.dim_feedforward, cfg.model.nheads = 32, 64, 4
    cfg.train.batch_size, cfg.train.epochs = 8, 2
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def run(cfg, synth, out, **kw):
    fd = FeatureDirectory(synth, normalize=True)
    return train_detector(
        cfg,
        fd,
        read_annotations(synth / "train.jsonl"),
        read_annotations(synth / "val.jsonl"),
        out,
        evaluate=official_metrics,
        seed=7,
        progress=False,
        **kw,
    )


def test_train_writes_run_and_resumes_exactly(synth, tmp_path):
    cfg = tiny_config(tmp_path)
    straight = run(cfg, synth, tmp_path / "a")
    for name in ("best.ckpt", "last.ckpt", "log.csv", "log.json", "curves.png", "summary.json"):
        assert (tmp_path / "a" / name).is_file(), name
    log = json.loads((tmp_path / "a" / "log.json").read_text())
    assert [r["epoch"] for r in log] == [0, 1] and "val_MR-full-mAP" in log[0] and "loss_span" in log[0]
    assert straight["epochs"] == 2

    run(cfg, synth, tmp_path / "b", stop_after=1)  # as if killed after the first epoch
    with pytest.raises(InputError, match="--resume"):
        run(cfg, synth, tmp_path / "b")
    # a run started by an older version (a setting added since missing from its config) resumes
    from momentfinder.grounding.detr.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(tmp_path / "b" / "last.ckpt")
    del payload["config"]["train"]["select_min_negative_reject"]
    save_checkpoint(tmp_path / "b" / "last.ckpt", payload)
    run(cfg, synth, tmp_path / "b", resume=True)
    a = torch.load(tmp_path / "a" / "last.ckpt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.ckpt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "b" / "log.json").read_text())[1]["loss"] == log[1]["loss"]


def test_grounder_from_checkpoint(synth, tmp_path):
    run(tiny_config(tmp_path, epochs=1), synth, tmp_path / "r")
    ckpt = tmp_path / "r" / "best.ckpt"
    spec = feature_spec(ckpt)
    assert (spec.visual_dim, spec.text_dim, spec.clip_len, spec.text_tokens) == (24, 24, 2.0, True)
    grounder = load_grounder(ckpt)
    assert isinstance(grounder, Grounder)
    fd = FeatureDirectory(synth, normalize=True)
    s = read_annotations(synth / "test.jsonl")[0]
    clips, query = fd.clip_features(s.vid, duration=s.duration), fd.query_features(s.qid, s.query)
    res = grounder.ground(clips, query, top_k=3)
    assert 0 <= len(res.moments) <= 3 and res.saliency.shape == (clips.n_clips,)
    assert res.no_moment_score is not None and 0 <= res.no_moment_score <= 1
    assert all(0 <= m.start <= m.end <= s.duration for m in res.moments)
    grounder.no_moment_threshold = -1.0  # everything is "no moment"
    assert grounder.ground(clips, query).moments == []
    with pytest.raises(InputError, match="dim 5"):
        grounder.ground(ClipFeatures(np.ones((4, 5), np.float32), Timeline(2.0, 8.0, 4)), query)
    with pytest.raises(InputError, match="1 s clips|trained on 2 s"):
        grounder.ground(ClipFeatures(clips.features, Timeline.of(clips.n_clips, 1.0, clips.duration)), query)
    with pytest.raises(InputError, match="query features"):
        grounder.ground(clips, QueryFeatures("x", np.ones(7, np.float32)))

    # a whole annotation file → QVHighlights submission, layout taken from the checkpoint
    from momentfinder.data.submission import read_submission
    from momentfinder.eval.qvhighlights import evaluate
    from momentfinder.pipeline.batch import PredictRequest, predict_file
    from momentfinder.pipeline.choices import GrounderSpec

    report = predict_file(
        PredictRequest(synth, synth / "test.jsonl", tmp_path / "pred.jsonl", GrounderSpec(checkpoint=ckpt))
    )
    assert len(report.results) == len(read_annotations(synth / "test.jsonl"))
    sub = read_submission(tmp_path / "pred.jsonl")
    gt = read_annotations(synth / "test.jsonl")
    assert [r["qid"] for r in sub] == [g.qid for g in gt]
    assert all(len(r["pred_relevant_windows"]) <= 10 and "no_moment_score" in r for r in sub)
    assert "MR-full-mAP" in evaluate(sub, gt)["brief"]


def test_point_and_weak_labels(synth, tmp_path):
    from momentfinder.grounding.detr.dataset import build_examples

    fd = FeatureDirectory(synth, normalize=True)
    samples = read_annotations(synth / "train.jsonl")[:10]
    ex = build_examples(samples, fd)
    apply_supervision(ex, "point", seed=1)
    for e in ex:
        assert not e.span_valid and len(e.extra["points"]) == min(len(e.sample.windows), 5)
        assert all(w[0] <= t <= w[1] for t, w in zip(e.extra["points"], e.sample.windows, strict=False))
        assert set(np.unique(e.saliency)) <= {-1.0, 1.0} and (e.saliency == 1).sum() >= 1
    apply_supervision(ex, "weak", seed=1)
    assert all((e.saliency == -1).all() and not e.span_valid for e in ex)
    assert grow_window(np.array([0.1, 0.6, 0.9, 0.7, 0.2, 0.8]), 2, 0.5) == (1, 4)


@pytest.mark.parametrize("mode", ["point", "weak"])
def test_point_and_weak_training_make_pseudo_windows(synth, tmp_path, mode):
    cfg = tiny_config(tmp_path)
    cfg.supervision.mode, cfg.supervision.warmup_epochs, cfg.supervision.refresh_every = mode, 1, 1
    run(cfg, synth, tmp_path / mode)
    log = json.loads((tmp_path / mode / "log.json").read_text())
    assert "pseudo_window_clips" not in log[0] and log[1]["pseudo_window_clips"] >= 1
    assert log[1]["loss_span"] > 0 and log[0]["loss_span"] == 0


def test_cli_train(synth, tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {hidden_dim: 32, dim_feedforward: 64, nheads: 4}\ntrain: {batch_size: 8}\n")
    args = [
        "train",
        "--features",
        str(synth),
        "--train",
        str(synth / "train.jsonl"),
        "--val",
        str(synth / "val.jsonl"),
    ]
    args += ["--out", str(tmp_path / "run"), "--config", str(cfg), "--epochs", "1", "-q"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    assert main(args) == 2  # the run exists: refuse without --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*args[:-3], "--epochs", "2", "--resume", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    pred = tmp_path / "pred.jsonl"
    predict = ["predict", "--checkpoint", str(tmp_path / "run" / "best.ckpt"), "--features", str(synth)]
    predict += ["--annotations", str(synth / "val_negative.jsonl"), "--out", str(pred), "--device", "cpu"]
    assert main(predict) == 0
    assert len(pred.read_text().splitlines()) == len(read_annotations(synth / "val_negative.jsonl"))
    assert main([*predict[:-2], "--checkpoint", str(tmp_path / "nope.ckpt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_resume_after_the_process_is_killed(synth, tmp_path):
    import os
    import signal
    import time

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {hidden_dim: 32, dim_feedforward: 64, nheads: 4}\ntrain: {batch_size: 8}\n")
    common = [
        "train",
        "--features",
        str(synth),
        "--train",
        str(synth / "train.jsonl"),
        "--val",
        str(synth / "val.jsonl"),
    ]
    common += ["--config", str(cfg), "--epochs", "5", "--threads", "1", "--seed", "3", "-q"]
    assert main([*common, "--out", str(tmp_path / "straight")]) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "momentfinder", *common, "--out", str(killed)], env=dict(os.environ)
    )
    deadline = time.time() + 120
    while not (killed / "last.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = torch.load(killed / "last.ckpt", weights_only=True)["epoch"] + 1  # epochs finished before the kill
    assert main([*common, "--out", str(killed), "--resume"]) == 0
    a = torch.load(tmp_path / "straight" / "last.ckpt", weights_only=True)
    b = torch.load(killed / "last.ckpt", weights_only=True)
    assert done < 5 and b["epoch"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_restart_after_warmup_trains_a_fresh_detector_and_resumes_exactly(synth, tmp_path):
    cfg = tiny_config(tmp_path, epochs=3)
    cfg.supervision.mode, cfg.supervision.warmup_epochs, cfg.supervision.refresh_every = "point", 1, 0
    run(cfg, synth, tmp_path / "kept")
    cfg.supervision.restart_after_warmup = True
    run(cfg, synth, tmp_path / "fresh")
    log = json.loads((tmp_path / "fresh" / "log.json").read_text())
    assert [r.get("restarted") for r in log] == [None, 1, None]  # once, when the windows are grown
    kept_log = json.loads((tmp_path / "kept" / "log.json").read_text())
    assert log[0]["loss"] == kept_log[0]["loss"]  # the same warm-up ...
    assert log[1]["loss"] != kept_log[1]["loss"]  # ... then another model
    fresh = torch.load(tmp_path / "fresh" / "last.ckpt", weights_only=True)["model"]

    run(cfg, synth, tmp_path / "resumed", stop_after=1)  # killed after the warm-up ...
    run(cfg, synth, tmp_path / "resumed", stop_after=1, resume=True)  # ... and right after the restart
    run(cfg, synth, tmp_path / "resumed", resume=True)
    resumed = torch.load(tmp_path / "resumed" / "last.ckpt", weights_only=True)["model"]
    assert all(torch.equal(resumed[k], fresh[k]) for k in fresh)
    assert json.loads((tmp_path / "resumed" / "log.json").read_text())[2]["loss"] == log[2]["loss"]


def test_restart_needs_a_warmup_of_its_own(synth, tmp_path):
    """With pseudo labels from another grounder there is no warm-up model, so nothing restarts."""
    from momentfinder.grounding.detr.supervision import PseudoLabel

    cfg = tiny_config(tmp_path)
    cfg.supervision.mode, cfg.supervision.warmup_epochs = "point", 1
    cfg.supervision.restart_after_warmup = cfg.supervision.refine_pseudo = True
    train = read_annotations(synth / "train.jsonl")
    pseudo = {s.qid: PseudoLabel([[*w[:2], 1.0] for w in s.windows]) for s in train}
    run(cfg, synth, tmp_path / "p", pseudo_labels=pseudo)
    log = json.loads((tmp_path / "p" / "log.json").read_text())
    assert "pseudo_window_clips" in log[1] and all("restarted" not in r for r in log)
