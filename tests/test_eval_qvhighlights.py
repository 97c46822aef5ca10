"""The QVHighlights evaluation must reproduce the released official metrics files to every digit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from momentfinder.data.submission import read_submission
from momentfinder.errors import InputError
from momentfinder.eval.qvhighlights import detection_ap, evaluate, evaluate_files, saliency_ap

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VAL_GT = DATA / "qvhighlights" / "highlight_val_release.jsonl"

RELEASED = [
    ("moment_detr/sample_val_preds.jsonl", "moment_detr/sample_val_preds_metrics_raw.json", False),
    (
        "moment_detr/inference_hl_val_test_code_preds.jsonl",
        "moment_detr/inference_hl_val_test_code_preds_metrics.json",
        False,
    ),
    (
        "qd_detr/video_checkpoint/best_hl_val_preds.jsonl",
        "qd_detr/video_checkpoint/best_hl_val_preds_metrics.json",
        False,
    ),
    (
        "qd_detr/QDDETR_onlyclip/best_hl_val_preds.jsonl",
        "qd_detr/QDDETR_onlyclip/best_hl_val_preds_metrics.json",
        False,
    ),
    ("cg_detr/best_hl_val_preds.jsonl", "cg_detr/best_hl_val_preds_metrics.json", True),
]


def _need_data():
    if not VAL_GT.is_file():
        pytest.skip(f"{VAL_GT} is absent (the shared/ folder is not beside the repo)")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize(
    ("pred", "metrics", "extended"), RELEASED, ids=[r[0].split(".")[0] for r in RELEASED]
)
def test_reproduces_released_metrics_exactly(pred, metrics, extended):
    _need_data()
    got = evaluate_files(DATA / pred, VAL_GT, extended=extended)
    raw = (DATA / metrics).read_text()
    flat_got, flat_exp = _flatten(got), _flatten(json.loads(raw))
    assert len(flat_exp) == (126 if extended else 104)
    assert {k: v for k, v in flat_got.items() if flat_exp.get(k) != v} == {}
    # same keys in the same order: the file we write is byte-identical to the released one
    assert json.dumps(got, indent=4) == raw


def test_sample_metrics_have_all_104_values():
    _need_data()
    got = evaluate_files(DATA / RELEASED[0][0], VAL_GT)
    assert len(_flatten(got)) == 104
    assert got["brief"]["MR-full-mAP"] == 32.2 and got["brief"]["HL-min-VeryGood-Hit1"] == 55.55


def test_extended_layout_adds_r1_at_0_3_and_miou():
    _need_data()
    got = evaluate_files(DATA / RELEASED[0][0], VAL_GT, extended=True)
    plain = evaluate_files(DATA / RELEASED[0][0], VAL_GT)
    assert set(got["brief"]) - set(plain["brief"]) == {"MR-full-R1@0.3", "MR-full-mIoU"}
    for rng in ("full", "short", "middle", "long"):
        assert list(got[rng]) == ["MR-mIoU", "MR-mAP", "MR-R1"]
        assert list(got[rng]["MR-R1"])[:4] == ["0.3", "0.35", "0.4", "0.45"]
        assert {k: got[rng]["MR-R1"][k] for k in plain[rng]["MR-R1"]} == plain[rng]["MR-R1"]
        assert got[rng]["MR-R1"]["0.3"] >= got[rng]["MR-R1"]["0.5"]


# -- the algorithm on cases small enough to work out by hand ----------------------------------


def _gt(qid, windows, duration=150, clip_ids=None, scores=None):
    rec = {"qid": qid, "query": "q", "vid": f"v{qid}", "duration": duration, "relevant_windows": windows}
    if clip_ids is not None:
        rec["relevant_clip_ids"] = clip_ids
        rec["saliency_scores"] = scores
    return rec


def _ap(preds, gts, thresholds=(0.5,)):
    p = np.asarray(preds, float)[None]
    g = np.asarray(gts, float)[None]
    return detection_ap(p, np.ones(p.shape[:2], bool), g, np.ones(g.shape[:2], bool), thresholds)[0]


def test_detection_ap_by_hand():
    # one hit at rank 1 of 1 gt: AP 1
    assert _ap([[0, 10, 0.9]], [[0, 10]]).tolist() == [1.0]
    # miss then hit (rank order by score, not by row): precision 1/2 at recall 1
    assert _ap([[0, 10, 0.2], [50, 60, 0.9]], [[0, 10]]).tolist() == [0.5]
    # two gts, hits at ranks 1 and 3: 0.5 * 1 + 0.5 * 2/3
    assert math.isclose(
        _ap([[0, 10, 0.9], [30, 40, 0.8], [20, 30, 0.7]], [[0, 10], [20, 30]])[0], 0.5 + 1 / 3
    )
    # a duplicate of a matched window is a false positive
    assert _ap([[0, 10, 0.9], [0, 10, 0.8]], [[0, 10]]).tolist() == [1.0]
    assert _ap([[0, 10, 0.9], [0, 10, 0.8]], [[0, 10], [100, 110]]).tolist() == [0.5]
    # IoU 0.6: a hit at 0.5, a miss at 0.7
    assert _ap([[0, 6, 1.0]], [[0, 10]], (0.5, 0.7)).tolist() == [1.0, 0.0]


def test_greedy_matching_takes_the_best_free_gt():
    # first pred overlaps both gts; it takes the higher-IoU one, leaving the other for pred 2
    preds = [[0, 10, 0.9], [4, 12, 0.8]]
    gts = [[0, 9], [2, 12]]
    assert _ap(preds, gts).tolist() == [1.0]


def test_equal_ious_are_visited_in_numpy_argsort_order():
    # three copies of one window: which copy a prediction locks decides later matches, and the
    # official script takes them in np.argsort(iou)[::-1] order (not stable on AVX-512 CPUs)
    from momentfinder.eval.reference import query_ap

    gts = [[6, 10], [0, 16], [4, 20], [10, 20], [8, 10], [10, 20], [10, 20], [6, 20]]
    preds = [
        [2.0, 18.0, 0.1], [4.0, 20.0, 0.5], [4.0, 14.0, 0.95], [16.0, 20.0, 0.1], [10.0, 20.0, 0.14],
        [0.0, 20.0, 0.9], [0.0, 18.0, 0.1], [12.0, 18.0, 0.9], [4.0, 20.0, 0.1],
    ]  # fmt: skip
    thresholds = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    np.testing.assert_array_equal(_ap(preds, gts, thresholds), query_ap(preds, gts, thresholds))


def test_saliency_ap_ties_form_one_rank():
    # scores: clip0 and clip1 tie; labels 1, 0, 1  -> ranks: {0,1} then {2}
    # group 1: tp 1 of 2 -> precision 0.5, recall 0.5; group 2: tp 2 of 3 -> 2/3, recall 1
    # interpolated: max precision at recall >= 0.5 is 2/3; AP = mean(2/3, 2/3)
    s = np.array([[0.5, 0.5, 0.1]])
    y = np.array([[[True, False, True]]])
    assert math.isclose(saliency_ap(s, np.ones((1, 3), bool), y)[0, 0], 2 / 3)
    # without the tie: ranks 0,1,2 -> precisions 1, 1/2, 2/3 at recalls .5,.5,1 -> mean(1, 2/3)
    s2 = np.array([[0.6, 0.5, 0.1]])
    assert math.isclose(saliency_ap(s2, np.ones((1, 3), bool), y)[0, 0], (1 + 2 / 3) / 2)
    assert saliency_ap(s2, np.ones((1, 3), bool), np.zeros((1, 1, 3), bool))[0, 0] == 0.0
    assert saliency_ap(s2, np.ones((1, 3), bool), np.ones((1, 1, 3), bool))[0, 0] == 1.0


def test_perfect_submission_scores_100():
    gt = [
        _gt(1, [[0, 8]], clip_ids=[0, 1, 2, 3], scores=[[4, 4, 4]] * 4),
        _gt(2, [[20, 60]], clip_ids=[10, 11], scores=[[2, 3, 4], [1, 1, 1]]),
        _gt(3, [[60, 80], [100, 110]], clip_ids=[30], scores=[[4, 3, 2]]),
    ]
    sub = []
    for g in gt:
        sal = [0.0] * 75
        for c, sc in zip(g["relevant_clip_ids"], g["saliency_scores"], strict=True):
            sal[c] = sum(sc) / 12
        wins = [[*w, 1.0 - i / 10] for i, w in enumerate(g["relevant_windows"])]
        sub.append({"qid": g["qid"], "pred_relevant_windows": wins, "pred_saliency_scores": sal})
    got = evaluate(sub, gt)
    assert got["brief"]["MR-full-mAP"] == 100.0 and got["brief"]["MR-full-R1@0.7"] == 100.0
    assert got["brief"]["MR-long-mAP"] == 100.0  # qid 2 (40 s window)
    assert got["middle"]["MR-mAP"]["average"] == 100.0  # qid 3's 20 s window
    # the short range keeps only qid 3's 10 s window, so its first-ranked 20 s window is a false positive
    assert got["short"]["MR-mAP"]["0.5"] == 75.0 and got["short"]["MR-R1"]["0.5"] == 50.0
    assert got["HL-min-Fair"] == {"HL-mAP": 100.0, "HL-Hit1": 100.0}


def test_empty_range_gives_null_and_empty_prediction_scores_zero():
    gt = [_gt(1, [[0, 50]]), _gt(2, [[0, 60]])]
    sub = [{"qid": 1, "pred_relevant_windows": [[0, 50, 1.0]]}, {"qid": 2, "pred_relevant_windows": []}]
    got = evaluate(sub, gt)
    assert got["short"]["MR-mAP"]["average"] is None and got["brief"]["MR-short-mAP"] is None
    assert got["full"]["MR-mAP"]["average"] == 50.0 and got["full"]["MR-R1"]["0.5"] == 50.0
    assert "HL-min-Fair" not in got


def test_negative_queries_are_left_out_of_moment_retrieval_and_highlights(caplog):
    gt = [_gt(1, [[0, 50]], clip_ids=[0, 1], scores=[[4, 4, 4], [0, 0, 0]]), _gt(2, [])]
    sal = [1.0, 0.5] + [0.0] * 73
    sub = [
        {"qid": 1, "pred_relevant_windows": [[0, 50, 1.0]], "pred_saliency_scores": sal},
        {"qid": 2, "pred_relevant_windows": [[0, 5, 0.1]], "pred_saliency_scores": sal[::-1]},
    ]
    got = evaluate(sub, gt)
    assert got["full"]["MR-mAP"]["average"] == 100.0
    assert got["HL-min-VeryGood"] == {"HL-mAP": 100.0, "HL-Hit1": 100.0}  # qid 1 only
    assert "1 ground-truth queries have no relevant window" in caplog.text
    assert "1 of 2 ground-truth queries have no saliency labels" in caplog.text


# -- bad input ------------------------------------------------------------------------------


def test_qid_sets_must_match():
    gt = [_gt(1, [[0, 10]]), _gt(2, [[0, 10]])]
    sub = [
        {"qid": 1, "pred_relevant_windows": [[0, 10, 1.0]]},
        {"qid": 3, "pred_relevant_windows": [[0, 10, 1.0]]},
    ]
    with pytest.raises(InputError, match=r"qids differ: 1 ground-truth qid\(s\) missing .*\[2\].*\[3\]"):
        evaluate(sub, gt)
    got = evaluate(sub, gt, match_number=False)
    assert got["full"]["MR-mAP"]["average"] == 100.0
    as_strings = [{**d, "qid": str(d["qid"])} for d in sub[:1]] + [{**sub[0], "qid": "2"}]
    with pytest.raises(InputError, match="differ only in type"):
        evaluate(as_strings, gt)


def test_windows_outside_the_video_and_nan_scores_are_rejected():
    gt = [_gt(1, [[0, 10]], duration=40)]
    with pytest.raises(InputError, match=r"window \[41, 45\] lies outside the video \(duration 40 s\)"):
        evaluate([{"qid": 1, "pred_relevant_windows": [[41, 45, 1.0]]}], gt)
    evaluate([{"qid": 1, "pred_relevant_windows": [[30, 45, 1.0]]}], gt)  # overshoot: accepted ...
    with pytest.raises(InputError, match="outside the video"):
        evaluate(
            [{"qid": 1, "pred_relevant_windows": [[30, 45, 1.0]]}], gt, strict_windows=True
        )  # ... unless strict
    with pytest.raises(InputError, match="NaN"):
        evaluate([{"qid": 1, "pred_relevant_windows": [[0, 10, float("nan")]]}], gt)
    with pytest.raises(InputError, match="not a window"):
        evaluate([{"qid": 1, "pred_relevant_windows": [[10, 5, 1.0]]}], gt)


def test_unlabelled_ground_truth_is_rejected():
    gt = [{"qid": 1, "query": "q", "vid": "v", "duration": 150}]  # a test-split record
    with pytest.raises(InputError, match="has no labels for 1 queries"):
        evaluate([{"qid": 1, "pred_relevant_windows": [[0, 10, 1.0]]}], gt)


def test_saliency_labels_beyond_the_video_are_rejected():
    gt = [_gt(1, [[0, 10]], duration=20, clip_ids=[10], scores=[[1, 2, 3]])]
    with pytest.raises(InputError, match="relevant clip id 10 is beyond the video"):
        evaluate([{"qid": 1, "pred_saliency_scores": [0.1] * 10}], gt)


def test_read_submission_reports_file_and_line(tmp_path):
    p = tmp_path / "pred.jsonl"
    p.write_text(
        '{"qid": 1, "pred_relevant_windows": [[0, 1, 0.5]]}\n{"qid": 2, "pred_relevant_windows": [[0, 1, NaN]]}\n'
    )
    with pytest.raises(InputError, match=r"pred\.jsonl:2: .*NaN"):
        read_submission(p)
    p.write_text('{"qid": 1, "pred_relevant_windows": [[0, 1, 0.5]]}\n{"qid": 2, "pred_rel\n')
    with pytest.raises(InputError, match=r"pred\.jsonl:2: not valid JSON"):
        read_submission(p)
    p.write_text('{"qid": 1, "pred_saliency_scores": [1]}\n{"qid": 1, "pred_saliency_scores": [1]}\n')
    with pytest.raises(InputError, match=r"pred\.jsonl:2: duplicate qid 1 \(first on line 1\)"):
        read_submission(p)


def _random_case(seed, n=300):
    rng = np.random.default_rng(seed)
    gt, sub = [], []
    for qid in range(n):
        duration = float(rng.choice([40, 64, 150]))
        n_gt = int(rng.integers(1, 5))
        starts = np.sort(rng.choice(np.arange(0, duration - 4, 2), n_gt, replace=False))
        wins = [[float(s), float(min(duration, s + 2 * rng.integers(1, 20)))] for s in starts]
        n_clips = int(duration / 2)
        ids = sorted(set(rng.integers(0, n_clips, 8).tolist()))
        gt.append(_gt(qid, wins, duration, ids, rng.integers(0, 5, (len(ids), 3)).tolist()))
        preds = []
        for _ in range(int(rng.integers(0, 13))):
            base = wins[int(rng.integers(len(wins)))] if rng.random() < 0.6 else [0.0, duration]
            st = max(0.0, base[0] + 2 * float(rng.integers(-3, 4)))
            ed = min(duration, max(st, base[1] + 2 * float(rng.integers(-3, 4))))
            preds.append([st, ed, float(rng.choice([0.1, 0.5, 0.9, rng.random()]))])  # ties on purpose
        sal = np.round(rng.random(n_clips + int(rng.integers(-2, 3))), 1).tolist()  # ties, odd lengths
        sub.append({"qid": qid, "pred_relevant_windows": preds, "pred_saliency_scores": sal})
    return sub, gt


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_the_per_query_loop(seed):
    from momentfinder.eval.reference import evaluate_loop

    sub, gt = _random_case(seed)
    got = evaluate(sub, gt, extended=True)
    ref = evaluate_loop(sub, gt)
    for rng_name in ("full", "short", "middle", "long"):
        want = ref[rng_name]
        assert [
            got[rng_name]["MR-mAP"][str(t)] for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
        ] == [float(f"{100 * v:.2f}") for v in want["mAP"]]
        assert {k: v for k, v in got[rng_name]["MR-R1"].items() if float(k) >= 0.5} == {
            str(t): float(f"{100 * v:.2f}") for t, v in want["R1"].items()
        }
    for name, (hl_map, hit1) in ref["HL"].items():
        assert got[f"HL-min-{name}"] == {
            "HL-mAP": float(f"{100 * hl_map:.2f}"),
            "HL-Hit1": float(f"{100 * hit1:.2f}"),
        }
    assert 0 < got["brief"]["MR-full-mAP"] < 100 and 0 < got["brief"]["HL-min-Good-mAP"] < 100
