"""A plain per-query loop form of the QVHighlights metrics: the official script's approach.

It follows the same steps as Moment-DETR's ``standalone_eval`` (a Python loop over queries,
predictions and ground-truth windows; a precision-recall curve per query and annotator) and
is kept for two uses only: tests compare :mod:`.qvhighlights` against it on random inputs, and
``bench/eval_speed.py`` times it. Returns raw fractions (not rounded percentages).
"""

from __future__ import annotations

import numpy as np

from .qvhighlights import HL_MIN_SCORES, LENGTH_RANGES, MAP_IOU_THRESHOLDS


def _iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union != 0 else 0.0


def query_ap(preds: list, gts: list, thresholds=MAP_IOU_THRESHOLDS) -> list[float]:
    """AP of one query's ``[start, end, score]`` predictions against its ``[start, end]`` windows."""
    preds = sorted(preds, key=lambda w: -w[2])
    out = []
    for thd in thresholds:
        locked = [False] * len(gts)
        tp = []
        for p in preds:
            ious = [_iou(p, g) for g in gts]
            hit = False
            for j in np.argsort(ious)[::-1]:  # numpy's tie order, as the official script
                if ious[j] < thd:
                    break
                if not locked[j]:
                    locked[j] = hit = True
                    break
            tp.append(hit)
        # all-point interpolated area under the precision-recall curve
        prec, rec, n_tp = [0.0], [0.0], 0
        for i, hit in enumerate(tp, 1):
            n_tp += hit
            prec.append(n_tp / i)
            rec.append(n_tp / len(gts))
        prec.append(0.0)
        rec.append(1.0)
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        out.append(sum((rec[i] - rec[i - 1]) * prec[i] for i in range(1, len(rec)) if rec[i] != rec[i - 1]))
    return out


def curve_ap(labels: list[int], scores: list[float]) -> float:
    """Interpolated AP of per-clip scores (ties share a rank), the official highlight ``get_ap``."""
    if all(y == labels[0] for y in labels):
        return float(labels[0] == 1) if labels else 0.0
    pairs = sorted(zip(scores, labels, strict=True), key=lambda t: -t[0])
    points = []  # (precision, true positives so far) at the end of each group of equal scores
    n_tp = 0
    for i, (s, y) in enumerate(pairs):
        n_tp += y
        if i + 1 == len(pairs) or pairs[i + 1][0] != s:
            points.append((n_tp / (i + 1), n_tp))
    best_beyond = [0.0] * len(points)  # best precision at this recall or higher
    running = 0.0
    for i in range(len(points) - 1, -1, -1):
        running = max(running, points[i][0])
        best_beyond[i] = running
    # every group that raises the recall is one level, scored with the best precision beyond it
    levels = [best_beyond[i] for i in range(len(points)) if points[i][1] > (points[i - 1][1] if i else 0)]
    return sum(levels) / len(levels)


def evaluate_loop(submission: list[dict], ground_truth: list[dict], clip_len: float = 2.0) -> dict:
    """``{range: {"mAP": [per threshold], "R1": {thd: frac}}, "HL": {name: (mAP, hit1)}}`` as raw fractions."""
    gt = {d["qid"]: d for d in ground_truth}
    out: dict = {}
    for name, bounds in LENGTH_RANGES.items():
        aps, top1 = [], []
        for d in submission:
            wins = gt[d["qid"]]["relevant_windows"]
            if bounds is not None:
                wins = [w for w in wins if bounds[0] < w[1] - w[0] <= bounds[1]]
            if not wins:
                continue
            preds = d["pred_relevant_windows"][:10]
            aps.append(query_ap(preds, wins))
            if preds:
                ious = [_iou(preds[0], w) for w in wins]
                top1.append(ious[int(np.argmax(ious))])
            else:
                top1.append(0.0)
        out[name] = {
            "mAP": [sum(a[t] for a in aps) / len(aps) for t in range(len(MAP_IOU_THRESHOLDS))]
            if aps
            else None,
            "R1": {t: sum(v >= t for v in top1) / len(top1) for t in MAP_IOU_THRESHOLDS} if top1 else None,
        }
    if all("pred_saliency_scores" in d for d in submission):
        out["HL"] = {}
        for name, min_score in HL_MIN_SCORES.items():
            aps, hits = [], []
            for d in submission:
                g = gt[d["qid"]]
                n_clips = int(g["duration"] / clip_len)
                full = [[0] * len(g["saliency_scores"][0]) for _ in range(n_clips)]
                for c, row in zip(g["relevant_clip_ids"], g["saliency_scores"], strict=True):
                    full[c] = row
                pred = d["pred_saliency_scores"]
                top = int(np.argmax(pred))
                hits.append(max(int(x >= min_score) for x in full[top]) if top < n_clips else 0)
                scores = (list(pred) + [0.0] * n_clips)[:n_clips]
                for a in range(len(full[0])):
                    aps.append(curve_ap([int(row[a] >= min_score) for row in full], scores))
            out["HL"][name] = (sum(aps) / len(aps), sum(hits) / len(hits))
    return out
