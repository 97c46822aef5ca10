"""Pseudo labels for the DETR grounder: point/weak labels seeded by another grounder's windows,
self-training with ``momentfinder train --pseudo-labels`` and its bad inputs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from momentfinder.cli import main
from momentfinder.data.readers import read_annotations
from momentfinder.errors import InputError
from momentfinder.grounding.detr.config import DetrConfig, load_config
from momentfinder.grounding.detr.dataset import build_examples
from momentfinder.grounding.detr.supervision import (
    PseudoLabel,
    apply_pseudo_labels,
    apply_supervision,
    detector_window,
    grow_window,
    merge_spans,
    point_saliency,
    pseudo_window_quality,
    refresh_pseudo_windows,
    sure_saliency,
)
from momentfinder.grounding.detr.train import train_detector
from momentfinder.pipeline.train import official_metrics
from momentfinder.store import FeatureDirectory

from .conftest import generate_synthetic

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("synth"), seed=4, n_videos=40, dim=24)


def tiny_config(mode: str = "weak"):
    cfg = load_config("detr")
    cfg.model.hidden_dim, cfg.model.dim_feedforward, cfg.model.nheads = 32, 64, 4
    cfg.train.batch_size, cfg.train.epochs = 8, 2
    cfg.supervision.mode = mode
    return cfg


# -- labels ----------------------------------------------------------------------------------


def test_point_saliency_is_flat_or_peaks_at_the_point():
    flat = point_saliency(10, [(2, 7)], [4.5], 0.0)
    assert flat.tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    peaked = point_saliency(10, [(2, 7)], [3.5], 0.3)
    inside = peaked[2:7]
    assert (peaked[:2] == 0).all() and (peaked[7:] == 0).all()
    assert int(np.argmax(peaked)) == 3 and (inside > 0.5).all() and inside.max() <= 1.0
    assert peaked[3] > peaked[2] and peaked[3] > peaked[4] > peaked[5] > peaked[6]
    # two spans keep their own centres; overlap takes the larger label
    both = point_saliency(12, [(0, 4), (6, 10)], [0.5, 9.5], 0.3)
    assert both[0] > both[3] and both[9] > both[6] and both[5] == 0


def test_sure_saliency_leaves_the_unsure_edges_unlabelled():
    curve = np.array([0.05, 0.1, 0.2, 0.4, 0.9, 1.0, 0.8, 0.5, 0.25, 0.2, 0.05, 0.6])
    seed = 5
    grown = [grow_window(curve, seed, 0.3)]
    assert grown == [(3, 8)]
    off = load_config("detr_point").supervision
    assert (
        sure_saliency(curve, grown, [seed], 0.0, off).tolist()
        == point_saliency(12, grown, [5.5], 0.0).tolist()
    )
    sup = DetrConfig.from_dict(
        {
            "supervision": {
                "mode": "point",
                "expand_ratio": 0.3,
                "sure_inside_ratio": 0.6,
                "sure_outside_ratio": 0.15,
            }
        }
    ).supervision
    labels = sure_saliency(curve, grown, [seed], 0.0, sup)
    # sure inside (>= 0.6): 4..6; unsure: the rest of the run down to 0.15 (2..9); far clips stay negatives
    assert labels.tolist() == [0, 0, -2, -2, 1, 1, 1, -2, -2, -2, 0, 0]
    # two points: a clip sure for one is relevant even inside the other's unsure band
    two = sure_saliency(curve, [(3, 8), (11, 12)], [seed, 11], 0.0, sup)
    assert two[11] == 1 and two[10] == 0
    # without an outside ratio, only the window's own weak clips are unsure
    sup.sure_outside_ratio = 0.0
    assert sure_saliency(curve, grown, [seed], 0.0, sup).tolist()[2:9] == [0, -2, 1, 1, 1, -2, 0]


def test_merge_spans():
    assert merge_spans([(5, 8), (0, 2), (1, 3), (8, 9)]) == [(0, 3), (5, 9)]
    assert merge_spans([]) == []


def _examples(synth, mode, n=6):
    fd = FeatureDirectory(synth, normalize=True)
    ex = build_examples(read_annotations(synth / "train.jsonl")[:n], fd)
    apply_supervision(ex, mode, seed=1)
    return ex


def test_weak_pseudo_labels_take_the_top_windows(synth):
    ex = _examples(synth, "weak")
    cfg = tiny_config("weak").supervision
    first, second = ex[0], ex[1]
    n = first.n_clips
    pseudo = {
        first.sample.qid: PseudoLabel([[4.0, 10.0, 0.9], [20.0, 24.0, 0.5]]),
        second.sample.qid: PseudoLabel([]),  # the other grounder rejected it
    }
    assert apply_pseudo_labels(ex, pseudo, cfg) == 1
    assert first.span_valid and first.extra["pseudo"]
    assert np.flatnonzero(first.saliency).tolist() == [2, 3, 4]
    assert np.allclose(first.spans, [[7.0 / (2 * n), 6.0 / (2 * n)]])  # centre, width of 4-10 s
    assert not second.span_valid and (second.saliency == -1).all()
    assert not ex[2].span_valid  # no pseudo label at all: unchanged
    cfg.pseudo_windows = 2
    apply_pseudo_labels(ex, pseudo, cfg)
    assert len(first.spans) == 2 and np.flatnonzero(first.saliency).tolist() == [2, 3, 4, 10, 11]


def test_point_pseudo_labels_pick_the_window_holding_the_point(synth):
    ex = _examples(synth, "point")
    cfg = tiny_config("point").supervision
    e = ex[0]
    n, t = e.n_clips, e.extra["points"][0]
    c = int(t / e.clip_len)
    far = [(c + n // 2) % n * 2.0, (c + n // 2) % n * 2.0 + 2.0]
    holding = [max(0.0, t - 3.0), t + 3.0]
    e.extra["points"] = [t]
    pseudo = {e.sample.qid: PseudoLabel([[*far, 0.9], [*holding, 0.4]])}  # the best-scored one is elsewhere
    apply_pseudo_labels([e], pseudo, cfg)
    relevant = np.flatnonzero(e.saliency > 0)
    assert relevant.min() <= c <= relevant.max() and e.span_valid
    assert relevant.max() - relevant.min() <= 4
    # no window holds the point: grow one on the pseudo labeller's saliency curve
    curve = np.zeros(n)
    curve[max(0, c - 1) : c + 3] = 1.0
    e2 = _examples(synth, "point")[0]
    e2.extra["points"] = [t]
    apply_pseudo_labels([e2], {e2.sample.qid: PseudoLabel([[*far, 0.9]], curve)}, cfg)
    assert np.flatnonzero(e2.saliency > 0).tolist() == list(range(max(0, c - 1), min(n, c + 3)))
    # neither: the point label stays as it was
    e3 = _examples(synth, "point")[0]
    e3.extra["points"] = [t]
    assert apply_pseudo_labels([e3], {e3.sample.qid: PseudoLabel([[*far, 0.9]])}, cfg) == 0
    assert not e3.span_valid


def test_config_checks_pseudo_settings():
    with pytest.raises(InputError, match="pseudo_windows"):
        DetrConfig.from_dict({"supervision": {"pseudo_windows": 0}})
    with pytest.raises(InputError, match="pseudo_grow_ratio"):
        DetrConfig.from_dict({"supervision": {"pseudo_grow_ratio": 0}})
    with pytest.raises(InputError, match="point_sigma"):
        DetrConfig.from_dict({"supervision": {"point_sigma": -1}})
    for bad in ({"sure_inside_ratio": 0.4}, {"sure_inside_ratio": 1.5}, {"sure_outside_ratio": 0.6}):
        with pytest.raises(InputError, match="sure_outside_ratio <= expand_ratio <= sure_inside_ratio"):
            DetrConfig.from_dict({"supervision": {"expand_ratio": 0.5, **bad}})
    with pytest.raises(InputError, match="sure_outside_ratio works only with sure_inside_ratio"):
        DetrConfig.from_dict({"supervision": {"sure_outside_ratio": 0.1}})
    assert DetrConfig.from_dict({"supervision": {"refine_pseudo": True}}).supervision.refine_pseudo
    with pytest.raises(InputError, match="refresh_every"):
        DetrConfig.from_dict({"supervision": {"refresh_every": -1}})
    with pytest.raises(InputError, match="refine_source"):
        DetrConfig.from_dict({"supervision": {"refine_source": "oracle"}})
    assert DetrConfig.from_dict({"supervision": {"refine_source": "detector"}}).supervision.refine_source == (
        "detector"
    )


def test_builtin_point_config_grows_windows_once():
    sup = load_config("detr_point").supervision
    assert (sup.mode, sup.warmup_epochs, sup.refresh_every, sup.expand_ratio) == ("point", 1, 0, 0.3)
    assert sup.restart_after_warmup and not load_config("detr").supervision.restart_after_warmup
    assert load_config("detr_point").model == load_config("detr").model
    assert load_config("detr_point").train.select_metric == "MR-full-R1@0.5"


def test_builtin_weak_config_selects_on_r1_with_the_default_model():
    cfg = load_config("detr_weak")
    assert (cfg.supervision.mode, cfg.train.select_metric) == ("weak", "MR-full-R1@0.5")
    assert (cfg.model, cfg.train.epochs) == (load_config("detr").model, load_config("detr").train.epochs)
    assert cfg.train.average_epochs == 2 and load_config("detr").train.average_epochs == 0


def test_builtin_configs_rerank_point_and_weak_only():
    weights = {
        name: load_config(name).inference.zeroshot_rerank for name in ("detr", "detr_point", "detr_weak")
    }
    assert weights == {"detr": 0.0, "detr_point": 0.2, "detr_weak": 0.2}
    # the rest of inference is the default model's
    for name in ("detr_point", "detr_weak"):
        inference = dataclasses.replace(load_config(name).inference, zeroshot_rerank=0.0)
        assert inference == load_config("detr").inference


@pytest.mark.parametrize(
    "supervision, pseudo, name, mode",
    [
        (None, None, "detr", "full"),
        ("full", None, "detr", "full"),
        ("point", None, "detr_point", "point"),
        ("point", "zs.jsonl", "detr_point", "point"),
        ("weak", None, "detr_weak", "weak"),
        (None, "zs.jsonl", "detr_weak", "weak"),
    ],
)
def test_train_without_config_uses_the_config_tuned_for_its_labels(tmp_path, supervision, pseudo, name, mode):
    from momentfinder.grounding.detr.config import default_config_name
    from momentfinder.pipeline.train import TrainRequest, training_config

    request = TrainRequest(
        "feats", "t.jsonl", "v.jsonl", str(tmp_path / "run"), supervision=supervision, pseudo_labels=pseudo
    )
    assert default_config_name(supervision, pseudo is not None) == name
    cfg = training_config(request)
    assert cfg.supervision.mode == mode
    assert cfg.train.select_metric == load_config(name).train.select_metric
    explicit = training_config(
        TrainRequest(
            "feats",
            "t.jsonl",
            "v.jsonl",
            str(tmp_path / "r2"),
            config="detr",
            supervision=supervision,
            pseudo_labels=pseudo,
        )
    )
    assert explicit.train.select_metric == "MR-full-mAP"  # --config wins


def test_detector_window_is_the_most_confident_prediction_holding_the_point():
    # 10 clips of 2 s; predictions as shares of the 20 s sequence
    pred = np.array([[0.0, 0.2], [0.5, 0.8], [0.45, 0.95], [0.6, 0.6]])
    prob = np.array([0.9, 0.5, 0.7, 0.99])
    assert detector_window(pred, prob, 10, 2.0, 2.0) == (0, 2)
    assert detector_window(pred, prob, 10, 2.0, 11.0) == (4, 10)  # 0.45-0.95 beats 0.5-0.8
    assert detector_window(pred, prob, 10, 2.0, 19.5) is None  # nothing holds it
    assert detector_window(pred, prob, 10, 2.0, None) == (0, 2)  # weak: the top non-empty window


def test_pseudo_window_quality_against_the_annotation(synth):
    ex = _examples(synth, "point")[:4]
    assert pseudo_window_quality(ex) is None  # no pseudo windows yet
    exact = {e.sample.qid: PseudoLabel([[*w[:2], 1.0] for w in e.sample.windows]) for e in ex}
    apply_pseudo_labels(ex, exact, tiny_config("point").supervision)
    q = pseudo_window_quality(ex)
    assert q["iou_0.7"] == 1.0 and q["mean_iou"] > 0.95
    assert (q["clip_pos_right"], q["clip_neg_right"], q["clip_unsure"]) == (1.0, 1.0, 0.0)
    ex[0].saliency[ex[0].saliency == 0] = -2.0  # background left unsure
    unsure = pseudo_window_quality(ex)["clip_unsure"]
    assert 0 < unsure == (ex[0].saliency == -2).sum() / sum(e.n_clips for e in ex)
    shifted = {
        e.sample.qid: PseudoLabel([[w[0] + 0.8 * (w[1] - w[0]), w[1] + 0.8 * (w[1] - w[0]), 1.0]])
        for e in ex
        for w in e.sample.windows[:1]
    }
    for e in ex:
        e.extra["points"] = [e.sample.windows[0][1] - 0.01]
    apply_pseudo_labels(ex, shifted, tiny_config("point").supervision)
    q = pseudo_window_quality(ex)
    assert q["iou_0.5"] < 0.5 and q["clip_pos_right"] < 1.0


def test_refresh_from_the_detector_takes_its_window_holding_the_point(synth):
    ex = _examples(synth, "point")[:3]
    cfg = tiny_config("point").supervision
    cfg.refine_source = "detector"

    class Fixed(torch.nn.Module):  # predicts clips 1-4 confidently, the whole video less so
        def forward(self, vid, vid_mask, txt, txt_mask):
            b, n = vid_mask.shape
            length = vid_mask.sum(1, keepdim=True).double()  # spans are shares of each video's clips
            spans = torch.stack(
                [torch.cat([2.5 / length, 3.0 / length], 1), torch.tensor([[0.5, 1.0]] * b)], 1
            )
            logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]]).expand(b, 2, 2)
            return {"saliency": torch.zeros(b, n), "pred_spans": spans, "pred_logits": logits}

    for e in ex:
        e.extra["points"] = [2.5 * e.clip_len]
    # first refresh without windows (the detector has not trained): grown on the (flat) saliency
    refresh_pseudo_windows(Fixed(), ex, cfg, torch.device("cpu"))
    assert all((e.saliency > 0).all() for e in ex)
    refresh_pseudo_windows(Fixed(), ex, cfg, torch.device("cpu"))
    for e in ex:
        assert e.span_valid and np.flatnonzero(e.saliency > 0).tolist() == [1, 2, 3]
    for e in ex:  # a point the confident window misses: the next one holding it (the whole video)
        e.extra["points"] = [(e.n_clips - 0.5) * e.clip_len]
    refresh_pseudo_windows(Fixed(), ex, cfg, torch.device("cpu"))
    assert all((e.saliency > 0).all() for e in ex)


# -- training ------------------------------------------------------------------------------


def _train(synth, out, cfg, train_samples, pseudo):
    return train_detector(
        cfg,
        FeatureDirectory(synth, normalize=True),
        train_samples,
        read_annotations(synth / "val.jsonl"),
        out,
        evaluate=official_metrics,
        seed=3,
        progress=False,
        pseudo_labels=pseudo,
    )


def test_weak_training_uses_pseudo_windows_from_the_first_epoch(synth, tmp_path):
    samples = read_annotations(synth / "train.jsonl")
    # unlabelled videos: no windows, only the pseudo labels say where the moment is
    for s in samples:
        s.windows = []
    pseudo = {s.qid: PseudoLabel([[0.0, 8.0, 1.0]]) for s in samples}
    cfg = tiny_config("weak")
    cfg.supervision.warmup_epochs = cfg.supervision.refresh_every = 1
    _train(synth, tmp_path / "run", cfg, samples, pseudo)
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log[0]["loss_span"] > 0  # spans supervise from epoch 1 (no saliency-only warm-up)
    assert all("pseudo_window_clips" not in r for r in log)  # kept, not refreshed
    cfg.supervision.refine_pseudo = True
    _train(synth, tmp_path / "refined", cfg, samples, pseudo)
    log = json.loads((tmp_path / "refined" / "log.json").read_text())
    assert "pseudo_window_clips" in log[1]
    with pytest.raises(InputError, match="no training query"):
        _train(synth, tmp_path / "none", tiny_config("weak"), samples, {})
    with pytest.raises(InputError, match="point or weak"):
        _train(synth, tmp_path / "full", tiny_config("full"), samples, pseudo)


def test_point_windows_grown_once_are_kept_and_scored_against_the_annotation(synth, tmp_path):
    cfg = tiny_config("point")
    cfg.train.epochs = 3
    cfg.supervision.warmup_epochs, cfg.supervision.refresh_every = 1, 0
    _train(synth, tmp_path / "once", cfg, read_annotations(synth / "train.jsonl"), None)
    log = json.loads((tmp_path / "once" / "log.json").read_text())
    assert [("pseudo_window_clips" in r) for r in log] == [False, True, False]
    assert log[0]["loss_span"] == 0 and log[1]["loss_span"] > 0 and log[2]["loss_span"] > 0
    # the grown windows are scored against the windows the points were drawn from
    assert 0 <= log[1]["pseudo_iou_0.7"] <= log[1]["pseudo_iou_0.5"] <= 1 and "pseudo_mean_iou" not in log[2]


# -- CLI: self-training from the zero-shot grounder ----------------------------------------------


@pytest.fixture
def unlabelled(synth, tmp_path):
    """The training queries without their windows (videos nobody labelled)."""
    path = tmp_path / "unlabelled.jsonl"
    rows = [json.loads(line) for line in (synth / "train.jsonl").read_text().splitlines()]
    keep = ("qid", "query", "vid", "duration")
    path.write_text("".join(json.dumps({k: r[k] for k in keep}) + "\n" for r in rows))
    return path


def _train_args(synth, unlabelled, tmp_path, pseudo):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {hidden_dim: 32, dim_feedforward: 64, nheads: 4}\ntrain: {batch_size: 8}\n")
    return [
        "train",
        "--features",
        str(synth),
        "--train",
        str(unlabelled),
        "--val",
        str(synth / "val.jsonl"),
        "--pseudo-labels",
        str(pseudo),
        "--config",
        str(cfg),
        "--epochs",
        "1",
        "-q",
    ]


def test_cli_self_training_from_zero_shot_predictions(synth, unlabelled, tmp_path, capsys):
    pseudo = tmp_path / "zs.jsonl"
    predict = ["predict", "--grounder", "zero-shot", "--features", str(synth), "--annotations"]
    assert main([*predict, str(unlabelled), "--out", str(pseudo), "--no-reject"]) == 0
    args = _train_args(synth, unlabelled, tmp_path, pseudo)
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    ckpt = torch.load(tmp_path / "run" / "best.ckpt", weights_only=False)
    assert ckpt["config"]["supervision"]["mode"] == "weak"  # pseudo labels imply weak
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log[0]["loss_span"] > 0
    pred = tmp_path / "pred.jsonl"
    ran = ["predict", "--checkpoint", str(tmp_path / "run" / "best.ckpt"), "--features", str(synth)]
    assert main([*ran, "--annotations", str(synth / "val.jsonl"), "--out", str(pred), "--device", "cpu"]) == 0
    assert len(pred.read_text().splitlines()) == len(read_annotations(synth / "val.jsonl"))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "pseudo-label file not found"),
        (
            '{"qid": 0, "pred_relevant_windows": [[0, 4, 0.5]]}\n{"qid": 1, "pred_rel',
            "pseudo.jsonl:2: not valid JSON",
        ),
        ('{"qid": 0, "pred_relevant_windows": [[4, 0, 0.5]]}\n', "is not a window"),
        ('{"qid": -12345, "pred_relevant_windows": [[0, 4, 0.5]]}\n', "no pseudo label for"),
        ("", "empty"),
    ],
)
def test_cli_bad_pseudo_label_files(synth, unlabelled, tmp_path, capsys, content, message):
    pseudo = tmp_path / "pseudo.jsonl"
    if content is not None:
        pseudo.write_text(content)
    args = _train_args(synth, unlabelled, tmp_path, pseudo)
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("momentfinder: error:") and message in err[0], err
    assert not (tmp_path / "run" / "last.ckpt").exists()


def test_cli_pseudo_labels_refuse_full_supervision(synth, unlabelled, tmp_path, capsys):
    pseudo = tmp_path / "pseudo.jsonl"
    pseudo.write_text('{"qid": 0, "pred_relevant_windows": [[0, 4, 0.5]]}\n')
    args = _train_args(synth, unlabelled, tmp_path, pseudo)
    assert main([*args, "--out", str(tmp_path / "run"), "--supervision", "full"]) == 2
    assert "not full" in capsys.readouterr().err
