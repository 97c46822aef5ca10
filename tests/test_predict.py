"""``momentfinder predict`` on a small synthetic Moment-DETR-layout feature directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.eval.qvhighlights import evaluate_files
from momentfinder.grounding.zeroshot import NoMomentCalibration

from .conftest import generate_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synth"), seed=7, n_videos=200)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_calibrate_and_score(synth, tmp_path, capsys):
    out, cal = tmp_path / "pred.jsonl", tmp_path / "cal.json"
    args = [
        "predict",
        "--grounder",
        "zero-shot",
        "--features",
        str(synth),
        "--annotations",
        str(synth / "test.jsonl"),
    ]
    calib = ["--calibrate-on", str(synth / "val.jsonl"), str(synth / "val_negative.jsonl")]
    assert main([*args, "--out", str(out), *calib, "--save-calibration", str(cal)]) == 0
    assert "calibrated on" in capsys.readouterr().err
    preds, gts = read_jsonl(out), read_jsonl(synth / "test.jsonl")
    assert [p["qid"] for p in preds] == [g["qid"] for g in gts]
    for p, g in zip(preds, gts, strict=True):
        assert len(p["pred_saliency_scores"]) == int(g["duration"] / 2)
        scores = [w[2] for w in p["pred_relevant_windows"]]
        assert scores == sorted(scores, reverse=True) and len(scores) <= 10
        assert all(0 <= w[0] < w[1] <= g["duration"] for w in p["pred_relevant_windows"])
        assert 0 <= p["no_moment_score"] <= 1
    calibration = NoMomentCalibration.load(cal)
    assert (calibration.encoder, calibration.encoder_dim) == ("clip_features", 512)  # no videos.jsonl
    assert calibration.report["features"]["negatives_rejected"] >= 0.92
    # the generator's 20 filler words recur across the val queries (each in ~1/8 of them): stop
    # words; with only 60 calibration queries a few subjects and actions reach the 5 % share too
    shares = calibration.common_token_shares
    assert len(calibration.common_tokens) == len(shares) >= 20 and sum(v >= 0.1 for v in shares) >= 15
    # the submission scores well above the plain baseline's ~10-15 R1@0.5 on this data
    brief = evaluate_files(out, synth / "test.jsonl")["brief"]
    assert brief["MR-full-R1@0.5"] > 40

    neg_out = tmp_path / "neg.jsonl"
    neg_args = [
        *args[:-1],
        str(synth / "test_negative.jsonl"),
        "--out",
        str(neg_out),
        "--calibration",
        str(cal),
    ]
    assert main(neg_args) == 0
    negs = read_jsonl(neg_out)
    rejected = [not p["pred_relevant_windows"] for p in negs]
    assert np.mean(rejected) >= 0.6
    assert all((p["no_moment_score"] >= 0.5) == r for p, r in zip(negs, rejected, strict=True))
    assert "with no matching moment" in capsys.readouterr().err


def test_predict_with_the_windows_grounder(synth, tmp_path):
    out = tmp_path / "pred.jsonl"
    ann = synth / "val.jsonl"
    assert (
        main(
            [
                "predict",
                "--grounder",
                "windows",
                "--features",
                str(synth),
                "--annotations",
                str(ann),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    preds = read_jsonl(out)
    assert len(preds) == len(read_jsonl(ann)) and all(p["pred_relevant_windows"] for p in preds)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--save-calibration", "x.json"], "--save-calibration needs --calibrate-on"),
        (["--calibrate-on", "a", "b", "c"], "one or two files"),
        (["--target-rejection", "1.5"], "between 0 and 1"),
    ],
)
def test_predict_option_errors(tmp_path, capsys, extra, message):
    args = ["predict", "--features", str(tmp_path), "--annotations", "a.jsonl", "--out", "p.jsonl", *extra]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_predict_missing_feature_directory(tmp_path, capsys):
    args = ["predict", "--features", str(tmp_path / "nope"), "--annotations", "a.jsonl", "--out", "p.jsonl"]
    assert main(args) == 2
    assert "feature directory not found" in capsys.readouterr().err


def test_predict_zero_shot_options(synth, tmp_path, capsys):
    base = ["predict", "--features", str(synth), "--annotations", str(synth / "val.jsonl")]
    cal = tmp_path / "cal.json"
    calib = ["--calibrate-on", str(synth / "val.jsonl"), "--save-calibration", str(cal)]
    off = ["--set", "bank_temperature=0", "common_token_share=1.0"]
    assert main([*base, "--out", str(tmp_path / "p.jsonl"), *calib, *off]) == 0
    saved = NoMomentCalibration.load(cal)
    assert saved.query_bank is None and saved.common_tokens is None
    assert main([*base, "--out", str(tmp_path / "q.jsonl"), *calib]) == 0
    assert NoMomentCalibration.load(cal).query_bank is None  # 30 val queries: too few for a bank
    assert main([*base, "--out", str(tmp_path / "q.jsonl"), *calib, "--set", "bank_min_size=10"]) == 0
    saved = NoMomentCalibration.load(cal)
    assert len(saved.query_bank) >= 10 and len(saved.bank_clip_sims[0]) == len(saved.query_bank)
    capsys.readouterr()
    for extra, message in [
        (["--set", "nope=1"], "unknown zero-shot option(s): nope"),
        (["--set", "window_clips=x"], "zero-shot option window_clips: bad value 'x'"),
        (["--set", "window_clips"], "expected KEY=VALUE"),
        (["--set", "window_clips=0"], "window_clips must be >= 2, got 0"),
        (["--set", "nms_iou=1.5"], "nms_iou must be > 0.0 and <= 1.0"),
        (["--set", "nms_max_containment=0"], "nms_max_containment must be > 0.0 and <= 1.0"),
        (["--grounder", "windows", "--set", "levels=[1]"], "configure the zero-shot grounder"),
    ]:
        assert main([*base, "--out", str(tmp_path / "r.jsonl"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
