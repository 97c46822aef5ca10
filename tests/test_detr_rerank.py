"""Zero-shot re-ranking of a trained detector's moments (inference.zeroshot_rerank, issue #18)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from momentfinder.cli import main
from momentfinder.data.readers import read_annotations
from momentfinder.errors import InputError
from momentfinder.grounding.detr import load_grounder
from momentfinder.grounding.detr.checkpoint import load_checkpoint, save_checkpoint
from momentfinder.grounding.detr.config import DetrConfig
from momentfinder.grounding.detr.predict.rerank import (
    calibration_from_payload,
    calibration_payload,
    fit_rerank_calibration,
    rerank,
)
from momentfinder.grounding.detr.train import train_detector
from momentfinder.grounding.registry import GrounderSpec, build_grounder
from momentfinder.grounding.zeroshot import ZeroShotGrounder
from momentfinder.pipeline.train import official_metrics
from momentfinder.store import FeatureDirectory
from momentfinder.types import ClipFeatures, Moment, QueryFeatures, Timeline

from .conftest import generate_synthetic
from .test_detr_train import synth, tiny_config  # noqa: F401  (synth: the module fixture)


@pytest.fixture(scope="module")
def synth_bank(tmp_path_factory):
    """Enough val queries (120) for the zero-shot grounder's query bank, so re-ranking has its
    look-alike contrast."""
    return generate_synthetic(tmp_path_factory.mktemp("synth_bank"), seed=5, n_videos=800, dim=24)


class FixedScores:
    """A zero-shot stand-in that returns fixed span scores and records the spans it was asked."""

    def __init__(self, scores):
        self.scores, self.spans = np.asarray(scores, dtype=float), None

    def span_scores(self, clips, query, spans, contrast_only=False):
        self.spans = spans.tolist()
        return self.scores


def pair(n=10, dim=4):
    clips = ClipFeatures(np.ones((n, dim), np.float32), Timeline.of(n, 2.0))
    return clips, QueryFeatures("q", np.ones(dim, np.float32) / 2)


def test_rerank_adds_the_weighted_normalised_zero_shot_score():
    moments = [Moment(0.0, 2.0, 1.9, confidence=0.7), Moment(4.0, 8.0, 1.8), Moment(10.0, 11.0, 1.0)]
    zs = FixedScores([1.0, 4.0, -2.0])  # normalised: (z - 4) / 4 = -0.75, 0, -1.5
    out = rerank(moments, *pair(), zs, 0.4)
    assert zs.spans == [[0, 1], [2, 4], [5, 6]]  # seconds -> clips, a half clip rounds outwards
    assert [(m.start, m.end) for m in out] == [(4.0, 8.0), (0.0, 2.0), (10.0, 11.0)]
    assert [m.score for m in out] == pytest.approx([1.8, 1.6, 0.4])
    assert out[1].confidence == 0.7  # the other fields are kept
    # nothing to do: weight 0, one moment, all-zero scores, a query of another width
    assert rerank(moments, *pair(), zs, 0.0) == moments
    assert rerank(moments[:1], *pair(), zs, 0.4) == moments[:1]
    assert rerank(moments, *pair(), FixedScores([0.0, 0.0, 0.0]), 0.4) == moments
    clips, _ = pair()
    assert rerank(moments, clips, QueryFeatures("q", np.ones(5, np.float32)), zs, 0.4) == moments
    no_contrast = FixedScores([1.0])
    no_contrast.scores = None  # no look-alike contrast for this query
    assert rerank(moments, *pair(), no_contrast, 0.4) == moments


def test_rerank_keeps_spans_inside_the_video():
    zs = FixedScores([1.0, 2.0])
    rerank([Moment(18.0, 20.0, 1.0), Moment(19.5, 20.0, 0.5)], *pair(n=10), zs, 1.0)
    assert zs.spans == [[9, 10], [9, 10]]


def val_pairs(root):
    fd = FeatureDirectory(root, normalize=True)
    samples = read_annotations(root / "val.jsonl")
    return [
        (fd.clip_features(s.vid, duration=s.duration), fd.query_features(s.qid, s.query)) for s in samples
    ]


def test_span_scores_match_the_zero_shot_grounders_own_moments(synth):  # noqa: F811
    pairs = val_pairs(synth)
    grounder = ZeroShotGrounder()
    grounder.calibration = grounder.calibrate(pairs)
    for clips, query in pairs[:5]:
        res = grounder.ground(clips, query)
        spans = np.rint(np.array([[m.start, m.end] for m in res.moments]) / clips.clip_len).astype(int)
        scores = grounder.span_scores(clips, query, spans)
        assert scores == pytest.approx([m.score for m in res.moments])


def test_calibration_survives_a_checkpoint(synth, tmp_path):  # noqa: F811
    pairs = val_pairs(synth)
    cal = fit_rerank_calibration(pairs, [])
    assert cal is not None and cal.feature_threshold is None and cal.curve_threshold is None
    assert cal.feature_mean is not None
    torch.save(calibration_payload(cal), tmp_path / "c.pt")
    back = calibration_from_payload(torch.load(tmp_path / "c.pt", weights_only=True), "c.pt")
    for name in ("feature_mean", "common_tokens", "query_bank", "bank_clip_sims"):
        want, got = getattr(cal, name), getattr(back, name)
        assert (want is None) == (got is None), name
        if want is not None:
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    assert back.common_token_shares == cal.common_token_shares and back.evidence_model == cal.evidence_model
    with pytest.raises(InputError, match="malformed"):
        calibration_from_payload({"fields": {}, "arrays": {"weights": torch.zeros(2)}}, "x.ckpt")
    with pytest.raises(InputError, match="malformed"):
        calibration_from_payload([1, 2], "x.ckpt")
    # clip and query features of different widths (SlowFast + CLIP clips, CLIP text): none
    clips, query = pairs[0]
    wide = ClipFeatures(np.concatenate([clips.features, clips.features], axis=1), clips.timeline)
    assert fit_rerank_calibration([(wide, query)], []) is None


def test_training_keeps_the_calibration_and_inference_reranks(synth_bank, tmp_path, caplog):
    cfg = tiny_config(tmp_path, epochs=1)
    cfg.inference.zeroshot_rerank = 0.5
    train_detector(
        cfg,
        FeatureDirectory(synth_bank, normalize=True),
        read_annotations(synth_bank / "train.jsonl")[:120],  # the val split is what the bank needs
        read_annotations(synth_bank / "val.jsonl"),
        tmp_path / "r",
        evaluate=official_metrics,
        seed=7,
        progress=False,
    )
    ckpt = tmp_path / "r" / "best.ckpt"
    grounder = load_grounder(ckpt)
    assert grounder.zeroshot is not None and grounder.config.inference.zeroshot_rerank == 0.5
    fd = FeatureDirectory(synth_bank, normalize=True)
    samples = read_annotations(synth_bank / "test.jsonl")[:60]
    pairs = [
        (fd.clip_features(s.vid, duration=s.duration), fd.query_features(s.qid, s.query)) for s in samples
    ]
    with_rerank = grounder.ground_batch(pairs, 5, reject=False)
    for res in with_rerank:
        scores = [m.score for m in res.moments]
        assert scores == sorted(scores, reverse=True)
    grounder.config.inference.zeroshot_rerank = 0.0
    without = grounder.ground_batch(pairs, 5, reject=False)
    # the same moments, only their order and scores change (for some queries)
    for a, b in zip(with_rerank, without, strict=True):
        assert sorted((m.start, m.end) for m in a.moments) == sorted((m.start, m.end) for m in b.moments)
    assert grounder.zeroshot.calibration.query_bank is not None
    assert any(
        [(m.start, m.end) for m in a.moments] != [(m.start, m.end) for m in b.moments]
        for a, b in zip(with_rerank, without, strict=True)
    )

    # the weight as a user overrides it (predict / ground --zeroshot-rerank)
    spec = GrounderSpec(checkpoint=str(ckpt), device="cpu", zeroshot_rerank=0.0)
    for grounder_, want in (
        (build_grounder(spec), without),
        (load_grounder(ckpt, zeroshot_rerank=0.5), with_rerank),
    ):
        got = grounder_.ground_batch(pairs, 5, reject=False)
        assert [r.moments for r in got] == [r.moments for r in want]
    # a direct caller's override goes through the config's checks too
    for bad in (-0.5, float("nan")):
        with pytest.raises(InputError, match="zeroshot_rerank must be a finite number >= 0"):
            load_grounder(ckpt, zeroshot_rerank=bad)
    # a checkpoint from before re-ranking: a warning, and the moments as the detector ranks them
    payload = load_checkpoint(ckpt)
    del payload["zeroshot_calibration"]
    save_checkpoint(tmp_path / "old.ckpt", payload)
    with caplog.at_level(logging.WARNING):
        old = load_grounder(tmp_path / "old.ckpt")
    assert old.zeroshot is None and "holds no zero-shot calibration" in caplog.text
    # (the same batch as `without`: another batch pads differently, which moves scores by ~1e-7)
    assert [r.moments for r in old.ground_batch(pairs, 5, reject=False)] == [r.moments for r in without]

    # the same from the command line (predict --zeroshot-rerank)
    ann = tmp_path / "test.jsonl"
    ann.write_text("".join(line + "\n" for line in (synth_bank / "test.jsonl").read_text().splitlines()[:60]))
    preds = {}
    for weight in ("0", "0.5"):
        argv = [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--features",
            str(synth_bank),
            "--annotations",
            str(ann),
        ]
        assert main([*argv, "--out", str(tmp_path / weight), "--no-reject", "--zeroshot-rerank", weight]) == 0
        preds[weight] = [json.loads(line)["pred_relevant_windows"] for line in open(tmp_path / weight)]
    assert preds["0"] != preds["0.5"]
    for weight, value in (("0", 0.0), ("0.5", 0.5)):
        want = load_grounder(ckpt, zeroshot_rerank=value).ground_batch(pairs, 10, reject=False)
        for windows, res in zip(preds[weight], want, strict=True):
            spans = [[m.start, m.end] for m in res.moments]
            np.testing.assert_allclose([w[:2] for w in windows], spans, atol=1e-2)


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf"), "-1"])
def test_config_refuses_a_bad_weight(weight):
    with pytest.raises(InputError, match="zeroshot_rerank must be a finite number >= 0"):
        DetrConfig.from_dict({"inference": {"zeroshot_rerank": weight}})


def test_config_refuses_a_section_that_is_not_a_mapping():
    with pytest.raises(InputError, match="section 'inference' must be a mapping"):
        DetrConfig.from_dict({"inference": [0.2]})


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf")])
def test_override_refuses_a_bad_weight(weight):
    with pytest.raises(InputError, match="--zeroshot-rerank must be 0 or more"):
        GrounderSpec(checkpoint="run/best.ckpt", zeroshot_rerank=weight)


def test_override_needs_a_checkpoint():
    with pytest.raises(InputError, match="trained checkpoint only"):
        GrounderSpec(zeroshot_rerank=0.2)
