"""TVR VCMR / SVMR / VR recall against the official key layout and a plain loop."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from momentfinder.data.readers import read_annotations
from momentfinder.errors import InputError
from momentfinder.eval.tvr import evaluate_tvr, evaluate_tvr_files, tvr_submission

TVR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tvr"


@pytest.fixture(scope="module")
def tvr_val():
    if not (TVR / "tvr_val_release.jsonl").is_file():
        pytest.skip(f"{TVR} is absent (the shared/ folder is not beside the repo)")
    gts = read_annotations(TVR / "tvr_val_release.jsonl")
    durations = json.loads((TVR / "tvr_video2dur_idx.json").read_text())["val"]
    return gts, {vid: idx for vid, (_, idx) in durations.items()}


def _random_ranking(gts, vids, n_pred, seed):
    rng = random.Random(seed)
    ranked = {}
    for g in gts:
        rows = []
        for j in range(n_pred):
            vid = g.vid if rng.random() < 0.3 else rng.choice(vids)
            if rng.random() < 0.3:  # near the truth, so that every IoU band gets hits
                st = g.windows[0][0] + rng.uniform(-2, 2)
                ed = g.windows[0][1] + rng.uniform(-2, 2)
            else:
                st = rng.uniform(0, 60)
                ed = st + rng.uniform(1, 20)
            rows.append((vid, max(0.0, st), max(0.0, st, ed), 1 - j / n_pred))
        ranked[g.qid] = rows
    return ranked


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull else 0.0


def _loop_recall(gts, ranked, task, thd, k):
    hits = 0
    for g in gts:
        rows = ranked[g.qid]
        if task == "VR":
            hits += any(v == g.vid for v, *_ in rows[:k])
            continue
        if task == "SVMR":
            rows = [r for r in rows if r[0] == g.vid]
        hits += any(v == g.vid and _iou((st, ed), g.windows[0]) >= thd for v, st, ed, _ in rows[:k])
    return round(100 * hits / len(gts), 2)


def test_matches_official_layout_and_type_ratio(tvr_val):
    gts, video2idx = tvr_val
    ranked = _random_ranking(gts, list(video2idx), 5, seed=0)
    sub = tvr_submission(ranked, video2idx, "VCMR")
    sub["VR"] = sub["VCMR"]
    got = evaluate_tvr(sub, gts)
    expected = json.loads((TVR / "sample_val_predictions_metrics_raw.json").read_text())
    assert list(got) == list(expected) == ["VCMR", "VR", "VCMR_by_type", "VR_by_type"]
    for key in expected:
        assert set(got[key]) == set(expected[key])
    # the one value the released metrics pin down without the (absent) prediction file
    assert got["VCMR_by_type"]["desc_type_ratio"] == expected["VCMR_by_type"]["desc_type_ratio"]
    assert got["VR_by_type"]["desc_type_ratio"] == "v 74.32 t 8.85 vt 16.83"


def test_agrees_with_a_plain_loop(tvr_val):
    gts, video2idx = tvr_val
    gts = gts[:400]
    ranked = _random_ranking(gts, list(video2idx)[:40], 30, seed=1)
    sub = {"video2idx": video2idx}
    for task in ("VCMR", "SVMR", "VR"):
        sub[task] = tvr_submission(ranked, video2idx, task)[task]
    got = evaluate_tvr(sub, gts)
    for task in ("VCMR", "SVMR"):
        for thd in (0.5, 0.7):
            for k in (1, 5, 10, 100):
                assert got[task][f"{thd}-r{k}"] == _loop_recall(gts, ranked, task, thd, k), (task, thd, k)
    for k in (1, 5, 10, 100):
        assert got["VR"][f"r{k}"] == _loop_recall(gts, ranked, "VR", None, k)
    assert 0 < got["VCMR"]["0.7-r1"] < got["VCMR"]["0.5-r10"] < 100
    assert got["SVMR"]["0.5-r10"] >= got["VCMR"]["0.5-r10"]


def test_oracle_scores_100_and_didemo_rule():
    gts = [
        {"desc_id": 1, "desc": "a", "vid_name": "x", "duration": 30, "ts": [2.0, 8.0], "type": "v"},
        {"desc_id": 2, "desc": "b", "vid_name": "y", "duration": 30, "ts": [10.0, 20.0], "type": "t"},
    ]
    v2i = {"x": 0, "y": 1}
    sub = tvr_submission({1: [("x", 2.0, 8.0, 1.0)], 2: [("x", 10, 20, 0.9), ("y", 10.0, 20.0, 0.5)]}, v2i)
    got = evaluate_tvr(sub, gts)
    assert got["VCMR"]["0.7-r1"] == 50.0 and got["VCMR"]["0.7-r5"] == 100.0
    assert got["VCMR_by_type"]["vt-0.5-r1"] is None  # no query of that type
    # four ground-truth windows: a hit needs IoU >= m with two of them
    didemo = [
        {
            "desc_id": 1,
            "desc": "a",
            "vid_name": "x",
            "duration": 30,
            "ts": [[0, 5], [0, 5], [0, 10], [20, 25]],
        }
    ]
    assert evaluate_tvr(tvr_submission({1: [("x", 0, 5, 1)]}, v2i), didemo)["VCMR"]["0.7-r1"] == 100.0
    assert evaluate_tvr(tvr_submission({1: [("x", 20, 25, 1)]}, v2i), didemo)["VCMR"]["0.5-r1"] == 0.0


def test_bad_tvr_input(tmp_path):
    gts = [{"desc_id": 1, "desc": "a", "vid_name": "x", "duration": 30, "ts": [2.0, 8.0], "type": "v"}]
    with pytest.raises(InputError, match="video2idx"):
        evaluate_tvr({"VCMR": []}, gts)
    with pytest.raises(InputError, match="desc_ids differ"):
        evaluate_tvr({"video2idx": {"x": 0}, "VCMR": [{"desc_id": 2, "predictions": []}]}, gts)
    with pytest.raises(InputError, match="NaN"):
        evaluate_tvr(
            {"video2idx": {"x": 0}, "VCMR": [{"desc_id": 1, "predictions": [[0, 1, float("nan"), 1]]}]}, gts
        )
    with pytest.raises(InputError, match="not in video2idx"):
        tvr_submission({1: [("z", 0, 1, 1)]}, {"x": 0})
    p = tmp_path / "sub.json"
    p.write_text('{"video2idx": ')
    with pytest.raises(InputError, match=r"sub\.json:1: not valid JSON"):
        evaluate_tvr_files(p, tmp_path / "gt.jsonl")
