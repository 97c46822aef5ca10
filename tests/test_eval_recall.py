"""R@n at IoU=m and mIoU (Charades-STA / ActivityNet Captions convention)."""

from __future__ import annotations

import pytest

from momentfinder.errors import InputError
from momentfinder.eval.recall import recall_at_iou


def _gt(qid, windows, duration=30.0):
    return {"qid": qid, "query": "q", "vid": "v", "duration": duration, "relevant_windows": windows}


def test_recall_by_hand():
    gt = [_gt(1, [[0, 10]]), _gt(2, [[10, 20]]), _gt(3, [[20, 30]]), _gt(4, [[0, 4]])]
    sub = [
        {"qid": 1, "pred_relevant_windows": [[0, 10, 0.9]]},  # IoU 1
        {"qid": 2, "pred_relevant_windows": [[10, 16, 0.9], [0, 2, 0.5]]},  # IoU 0.6 at rank 1
        # rank 1 misses, rank 3 has IoU 0.4: a hit for R5@0.3 only
        {"qid": 3, "pred_relevant_windows": [[0, 5, 0.9], [1, 2, 0.8], [20, 24, 0.7]]},
        {"qid": 4, "pred_relevant_windows": []},  # nothing predicted: a miss everywhere
    ]
    got = recall_at_iou(sub, gt)
    assert got == {
        "R1@0.3": 50.0,
        "R1@0.5": 50.0,
        "R1@0.7": 25.0,
        "R5@0.3": 75.0,
        "R5@0.5": 50.0,
        "R5@0.7": 25.0,
        "mIoU": 40.0,  # (1 + 0.6 + 0 + 0) / 4
    }


def test_recall_uses_the_best_ground_truth_and_custom_cutoffs():
    gt = [_gt(1, [[0, 10], [20, 30]])]
    sub = [{"qid": 1, "pred_relevant_windows": [[21, 30, 0.9]]}]
    got = recall_at_iou(sub, gt, topk=(1,), thresholds=(0.9,))
    assert got == {"R1@0.9": 100.0, "mIoU": 90.0}


def test_recall_rejects_mismatched_qids():
    with pytest.raises(InputError, match="qids differ"):
        recall_at_iou([{"qid": 2, "pred_relevant_windows": []}], [_gt(1, [[0, 1]])])
