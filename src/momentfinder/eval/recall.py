"""The Charades-STA / ActivityNet Captions convention: R@n at IoU=m, and mean IoU.

``R{n}@{m}``: percentage of queries for which at least one of the first ``n`` predicted windows
(in submission order, which is the ranking) has IoU >= ``m`` with a ground-truth window.
``mIoU``: mean IoU of the first window with the ground-truth window it overlaps most. Values are
percentages rounded like the official QVHighlights script (``"{:.2f}"``). Papers apply NMS before
R@5; this module scores the windows as submitted (grounders here already return NMS'd windows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..types import GroundingSample
from .iou import iou_cross
from .qvhighlights import _pct, align, moment_arrays, top1_iou_with_best_gt

RECALL_TOPK = (1, 5)
RECALL_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def recall_at_iou(
    submission: Sequence[dict],
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    topk: Sequence[int] = RECALL_TOPK,
    thresholds: Sequence[float] = RECALL_IOU_THRESHOLDS,
    match_number: bool = True,
    strict_windows: bool = False,
) -> dict:
    """``{"R1@0.3": .., "R1@0.5": .., ..., "R5@0.7": .., "mIoU": ..}`` (percentages) over the positive queries."""
    submission, gt_by_qid = align(
        submission, ground_truth, match_number=match_number, strict_windows=strict_windows
    )
    pred, pred_mask, gt, gt_mask = moment_arrays(submission, gt_by_qid, max_pred=max(topk))
    iou = np.where(gt_mask[:, None, :], iou_cross(pred[..., :2], gt), 0.0)  # (Q, P, G)
    best = np.where(pred_mask, iou.max(axis=-1), 0.0)  # (Q, P): each window against its best ground truth
    out = {}
    for k in topk:
        best_k = best[:, :k].max(axis=1)
        for m in thresholds:
            out[f"R{k}@{m}"] = _pct(np.mean(best_k >= m))
    out["mIoU"] = _pct(np.mean(top1_iou_with_best_gt(pred, pred_mask, gt, gt_mask)))
    return out
