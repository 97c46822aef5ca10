"""The QVHighlights evaluation protocol, as published with Moment-DETR (``standalone_eval/eval.py``).

Moment retrieval: mAP over IoU 0.50:0.05:0.95 (all-point interpolated AP, greedy matching of the
top-10 windows in score order), R@1 at each IoU, for all queries and for the queries whose
ground-truth moments are short (<= 10 s), middle (10-30 s) or long (> 30 s). Highlight detection:
mAP and HIT@1 of the per-clip saliency scores at the Fair / Good / VeryGood minimum scores (2/3/4).

:func:`evaluate` returns the official metrics layout (``brief`` plus the full tables, every
value a percentage rounded with ``"{:.2f}"``); ``extended=True`` gives CG-DETR's layout, which adds
R@1 at IoU 0.30-0.45 and the mean IoU of the top-1 window (``MR-mIoU``).

All arrays are padded to the longest query and computed at once with numpy; the official script's
per-query Python loops live on only in :mod:`.reference`, to cross-check this module and to time it.

Where the official script crashes or silently mis-scores, this one decides, and says so here:

* a query whose submission line has no windows scores AP 0 and R@1 0 (the official script crashes);
* a ground-truth query with no windows (a negative query) is left out of moment retrieval, and
  one without saliency labels out of highlight detection, with a warning (the official script crashes);
* two zero-length windows have IoU 0 (the official script gets NaN and counts it as a match);
* the ``long`` range is ``> 30 s`` without the official upper bound of 150 s (identical on
  QVHighlights, whose videos are at most 150 s, and correct on longer videos).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import numpy as np

from ..data.readers import read_annotations, sample_from_record
from ..data.submission import check_submission_record, read_submission, submission_record
from ..errors import InputError
from ..types import GroundingResult, GroundingSample
from .iou import iou_cross, iou_paired

log = logging.getLogger(__name__)

MAP_IOU_THRESHOLDS = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))
R1_IOU_THRESHOLDS = MAP_IOU_THRESHOLDS
R1_IOU_THRESHOLDS_EXTENDED = tuple(float(f"{t:.2f}") for t in np.linspace(0.3, 0.95, 14))
#: name -> (min_len, max_len] of a ground-truth window, seconds; None = every query
LENGTH_RANGES: dict[str, tuple[float, float] | None] = {
    "short": (0.0, 10.0),
    "middle": (10.0, 30.0),
    "long": (30.0, math.inf),
    "full": None,
}
#: highlight label name -> minimum saliency score (0-4) of a positive clip
HL_MIN_SCORES = {"Fair": 2, "Good": 3, "VeryGood": 4}


def evaluate(
    submission: Sequence[dict],
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    extended: bool = False,
    match_number: bool = True,
    max_pred_windows: int = 10,
    clip_len: float = 2.0,
    strict_windows: bool = False,
) -> dict:
    """Score a QVHighlights submission against the ground truth; the official metrics dict.

    ``submission``: dicts with ``qid`` and ``pred_relevant_windows`` ``[[start_s, end_s, score], ...]``
    (ranked: the first row is the top-1 for R@1) and/or ``pred_saliency_scores`` (one per
    ``clip_len`` s clip), or :class:`GroundingResult` objects with a ``qid`` (scored as written by
    :func:`~momentfinder.data.submission.write_submission`). ``ground_truth``: QVHighlights dicts or :class:`GroundingSample`.
    ``match_number``: the qid sets must be equal (else only shared qids are scored).
    ``strict_windows``: also reject windows that end after the video (released Moment-DETR-style
    predictions overshoot short videos up to 150 s, so by default only windows that start after
    the end of the video are rejected).
    """
    submission, gt_by_qid = align(
        submission, ground_truth, match_number=match_number, strict_windows=strict_windows
    )
    metrics: dict = {}
    brief: dict = {}
    if _has_field(submission, "pred_relevant_windows"):
        mr = _moment_retrieval(submission, gt_by_qid, extended, max_pred_windows)
        metrics.update(mr)
        mr_brief = {
            "MR-full-mAP": mr["full"]["MR-mAP"]["average"],
            "MR-full-mAP@0.5": mr["full"]["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": mr["full"]["MR-mAP"]["0.75"],
            "MR-short-mAP": mr["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": mr["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": mr["long"]["MR-mAP"]["average"],
            "MR-full-R1@0.5": mr["full"]["MR-R1"]["0.5"],
            "MR-full-R1@0.7": mr["full"]["MR-R1"]["0.7"],
        }
        if extended:
            mr_brief["MR-full-R1@0.3"] = mr["full"]["MR-R1"]["0.3"]
            mr_brief["MR-full-mIoU"] = mr["full"]["MR-mIoU"]
        brief.update(sorted(mr_brief.items()))
    if _has_field(submission, "pred_saliency_scores"):
        labelled = [d for d in submission if gt_by_qid[d["qid"]].saliency_clip_ids]
        if len(labelled) < len(submission):
            log.warning(
                "%d of %d ground-truth queries have no saliency labels (relevant_clip_ids); "
                "highlight detection leaves them out",
                len(submission) - len(labelled),
                len(submission),
            )
        if labelled:
            hl = _highlight_detection(labelled, gt_by_qid, clip_len)
            metrics.update(hl)
            for name, table in hl.items():
                for key, value in table.items():
                    brief[f"{name}-{key.split('-')[1]}"] = value
    if not metrics:
        raise InputError("the submission has neither pred_relevant_windows nor pred_saliency_scores")
    return {"brief": brief, **dict(sorted(metrics.items()))}


def evaluate_files(pred_path: str | os.PathLike, gt_path: str | os.PathLike, **kwargs) -> dict:
    """:func:`evaluate` on a submission jsonl and a ground-truth file (any format :func:`read_annotations` reads)."""
    return evaluate(read_submission(pred_path), read_annotations(gt_path), **kwargs)


def per_query(
    submission: Sequence[dict],
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    match_number: bool = True,
    max_pred_windows: int = 10,
    clip_len: float = 2.0,
) -> list[dict]:
    """One row per query for error analysis (fractions, not percentages), in submission order.

    Keys: ``qid``; ``MR-AP`` (mean over the 10 IoU thresholds), ``MR-AP@0.5``, ``MR-AP@0.75``,
    ``MR-top1-IoU``; per highlight threshold ``HL-min-{name}-AP`` (mean over annotators) and
    ``HL-min-{name}-Hit1``. A metric a query cannot have (a negative query has no MR) is absent.
    """
    submission, gt_by_qid = align(submission, ground_truth, match_number=match_number)
    rows = {d["qid"]: {"qid": d["qid"]} for d in submission}
    if _has_field(submission, "pred_relevant_windows"):
        positives = [d for d in submission if gt_by_qid[d["qid"]].windows]
        if positives:
            pred, pred_mask, gt, gt_mask = moment_arrays(positives, gt_by_qid, max_pred_windows)
            ap = detection_ap(pred, pred_mask, gt, gt_mask, MAP_IOU_THRESHOLDS)
            top1 = top1_iou_with_best_gt(pred, pred_mask, gt, gt_mask)
            i50, i75 = MAP_IOU_THRESHOLDS.index(0.5), MAP_IOU_THRESHOLDS.index(0.75)
            for d, a, iou in zip(positives, ap, top1, strict=True):
                rows[d["qid"]].update(
                    {
                        "MR-AP": float(a.mean()),
                        "MR-AP@0.5": float(a[i50]),
                        "MR-AP@0.75": float(a[i75]),
                        "MR-top1-IoU": float(iou),
                    }
                )
    if _has_field(submission, "pred_saliency_scores"):
        labelled = [d for d in submission if gt_by_qid[d["qid"]].saliency_clip_ids]
        if labelled:
            hl_ap, hit = highlight_arrays(labelled, gt_by_qid, clip_len)
            for i, d in enumerate(labelled):
                for k, name in enumerate(HL_MIN_SCORES):
                    rows[d["qid"]][f"HL-min-{name}-AP"] = float(hl_ap[i, k].mean())
                    rows[d["qid"]][f"HL-min-{name}-Hit1"] = float(hit[i, k])
    return list(rows.values())


# -- input checks -----------------------------------------------------------------------------


def align(
    submission: Sequence[dict],
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    match_number: bool = True,
    strict_windows: bool = False,
) -> tuple[list[dict], dict]:
    """Validated ``(submission, {qid: GroundingSample})`` restricted to the scored qids.

    Raises :class:`InputError` for duplicate qids, differing qid sets (unless ``match_number`` is
    False), malformed rows, NaN scores and windows outside the video.
    """
    gts = _ground_truth_samples(ground_truth)
    unlabelled = [s.qid for s in gts if s.extra.get("unlabelled")]
    if unlabelled:
        raise InputError(
            f"the ground truth has no labels for {len(unlabelled)} queries (e.g. qid {unlabelled[0]!r}): "
            "a test split without relevant_windows cannot be scored"
        )
    submission = [submission_record(d) if isinstance(d, GroundingResult) else d for d in submission]
    if not submission:
        raise InputError("the submission is empty")
    gt_by_qid = {s.qid: s for s in gts}
    pred_qids = [d.get("qid") for d in submission]
    if len(set(pred_qids)) != len(pred_qids):
        dup = next(q for q in pred_qids if pred_qids.count(q) > 1)
        raise InputError(f"qid {dup!r} appears more than once in the submission")
    pred_set, gt_set = set(pred_qids), set(gt_by_qid)
    if pred_set != gt_set:
        if match_number:
            raise InputError(_qid_mismatch_message(pred_set, gt_set))
        submission = [d for d in submission if d["qid"] in gt_set]
        if not submission:
            raise InputError("the submission and the ground truth share no qid")
    for d in submission:
        check_submission_record(d, f"submission qid {d['qid']!r}")
        _check_windows_in_video(d, gt_by_qid[d["qid"]], strict_windows)

    return submission, gt_by_qid


def _ground_truth_samples(ground_truth) -> list[GroundingSample]:
    out = []
    for i, g in enumerate(ground_truth):
        out.append(
            g
            if isinstance(g, GroundingSample)
            else sample_from_record(g, where=f"ground truth record {i + 1}")
        )
    if not out:
        raise InputError("the ground truth is empty")
    qids = [s.qid for s in out]
    if len(set(qids)) != len(qids):
        dup = next(q for q in qids if qids.count(q) > 1)
        raise InputError(f"qid {dup!r} appears more than once in the ground truth")
    return out


def _qid_mismatch_message(pred: set, gt: set) -> str:
    only_pred, only_gt = sorted(pred - gt, key=str), sorted(gt - pred, key=str)
    parts = []
    if only_gt:
        parts.append(f"{len(only_gt)} ground-truth qid(s) missing from the submission (e.g. {only_gt[:3]})")
    if only_pred:
        parts.append(f"{len(only_pred)} submission qid(s) not in the ground truth (e.g. {only_pred[:3]})")
    if {str(q) for q in pred} == {str(q) for q in gt}:
        parts.append("they differ only in type: numbers in one file, strings in the other")
    return (
        "qids differ: "
        + "; ".join(parts)
        + " (pass match_number=False / --allow-partial to score the shared ones)"
    )


def _check_windows_in_video(pred: dict, gt: GroundingSample, strict: bool) -> None:
    duration = gt.duration
    if not math.isfinite(duration):
        return
    for w in pred.get("pred_relevant_windows") or []:
        if w[0] > duration or (strict and w[1] > duration + 1e-6):
            raise InputError(
                f"submission qid {pred['qid']!r}: window {w[:2]} lies outside the video (duration {duration:g} s)"
            )


def _has_field(submission: list[dict], field: str) -> bool:
    present = [field in d for d in submission]
    if any(present) and not all(present):
        missing = submission[present.index(False)]["qid"]
        raise InputError(f"{field} is missing for qid {missing!r} but present for other queries")
    return all(present)


def _pct(x: float) -> float:
    """The official rounding: a percentage printed with two decimals."""
    return float(f"{100 * x:.2f}")


# -- moment retrieval -------------------------------------------------------------------------


def _moment_retrieval(submission: list[dict], gt_by_qid: dict, extended: bool, max_pred: int) -> dict:
    pred_arr, pred_mask, gt_arr, gt_mask = moment_arrays(submission, gt_by_qid, max_pred)
    n = len(pred_arr)
    r1_thds = R1_IOU_THRESHOLDS_EXTENDED if extended else R1_IOU_THRESHOLDS
    gt_len = gt_arr[..., 1] - gt_arr[..., 0]
    out = {}
    for name, bounds in LENGTH_RANGES.items():
        if bounds is None:
            rows, gmask = np.arange(n), gt_mask
        else:
            gmask = gt_mask & (gt_len > bounds[0]) & (gt_len <= bounds[1])
            rows = np.flatnonzero(gmask.any(axis=1))
        table = _mr_tables(pred_arr[rows], pred_mask[rows], gt_arr[rows], gmask[rows], r1_thds)
        if extended:
            table = {"MR-mIoU": table.pop("MR-mIoU"), **table}
        else:
            table.pop("MR-mIoU")
        out[name] = table
    return out


def moment_arrays(
    submission: list[dict], gt_by_qid: dict, max_pred: int | None = 10
) -> tuple[np.ndarray, ...]:
    """Padded ``(pred (Q, P, 3), pred_mask (Q, P), gt (Q, G, 2), gt_mask (Q, G))`` in submission order.

    Predictions keep their file order (the first row is the top-1). Negative ground-truth queries
    (no window) cannot be scored for moment retrieval: they are left out, with a warning.
    """
    negatives = [d["qid"] for d in submission if not gt_by_qid[d["qid"]].windows]
    if negatives:
        log.warning(
            "%d ground-truth queries have no relevant window (negative queries); moment retrieval skips them",
            len(negatives),
        )
        submission = [d for d in submission if gt_by_qid[d["qid"]].windows]
    if not submission:
        raise InputError("no ground-truth query has a relevant window: nothing to score for moment retrieval")
    preds = [
        np.asarray(d["pred_relevant_windows"][:max_pred], dtype=np.float64).reshape(-1, 3) for d in submission
    ]
    gts = [np.asarray(gt_by_qid[d["qid"]].windows, dtype=np.float64).reshape(-1, 2) for d in submission]
    return (*_pad(preds, 3), *_pad(gts, 2))


def _pad(arrays: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    longest = max(1, max(len(a) for a in arrays))
    out = np.zeros((len(arrays), longest, width), dtype=np.float64)
    mask = np.zeros((len(arrays), longest), dtype=bool)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
        mask[i, : len(a)] = True
    return out, mask


def _mr_tables(pred, pred_mask, gt, gt_mask, r1_thds) -> dict:
    if len(pred) == 0:  # no query in this length range
        none = dict.fromkeys([str(t) for t in MAP_IOU_THRESHOLDS] + ["average"])
        return {"MR-mAP": none, "MR-R1": dict.fromkeys(str(t) for t in r1_thds), "MR-mIoU": None}
    ap = detection_ap(pred, pred_mask, gt, gt_mask, MAP_IOU_THRESHOLDS)  # (Q, T)
    ap_per_thd = ap.mean(0)
    mr_map = {str(t): _pct(v) for t, v in zip(MAP_IOU_THRESHOLDS, ap_per_thd, strict=True)}
    mr_map["average"] = _pct(np.mean(ap_per_thd))
    top1_iou = top1_iou_with_best_gt(pred, pred_mask, gt, gt_mask)
    return {
        "MR-mAP": mr_map,
        "MR-R1": {str(t): _pct(np.mean(top1_iou >= t)) for t in r1_thds},
        "MR-mIoU": _pct(np.mean(top1_iou)),
    }


def detection_ap(
    pred: np.ndarray, pred_mask: np.ndarray, gt: np.ndarray, gt_mask: np.ndarray, thresholds: Sequence[float]
) -> np.ndarray:
    """Per-query average precision at each IoU threshold: ``(Q, T)``.

    ``pred``: ``(Q, P, 3)`` ``[start, end, score]`` (seconds), ``pred_mask`` ``(Q, P)`` real rows;
    ``gt``: ``(Q, G, 2)``, ``gt_mask`` ``(Q, G)``. Predictions are visited by descending score (ties in
    file order); each takes the unmatched ground-truth window of highest IoU >= threshold (equal IoUs
    in the order numpy's ``argsort`` gives, as the official script), as in the ActivityNet/VOC
    detection AP; AP is the all-point interpolated area.
    """
    q, p = pred.shape[0], pred.shape[1]
    thr = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(-np.where(pred_mask, pred[..., 2], -np.inf), axis=1, kind="stable")
    pred = np.take_along_axis(pred, order[..., None], axis=1)
    pred_mask = np.take_along_axis(pred_mask, order, axis=1)
    iou = np.where(gt_mask[:, None, :], iou_cross(pred[..., :2], gt), -np.inf)  # (Q, P, G)
    # real windows first, in their order; then match the queries with the same number of windows
    # together, so that each query's IoU row has exactly its own length (see _greedy_match)
    gt_order = np.argsort(~gt_mask, axis=1, kind="stable")
    iou = np.take_along_axis(iou, gt_order[:, None, :], axis=2)
    n_gt = gt_mask.sum(axis=1)
    tp = np.zeros((q, len(thr), p), dtype=bool)
    for n in np.unique(n_gt):
        rows = np.flatnonzero(n_gt == n)
        tp[rows] = _greedy_match(iou[rows, :, :n], pred_mask[rows], thr)
    fp = pred_mask[:, None, :] & ~tp
    tp_cum = np.cumsum(tp, axis=-1).astype(np.float64)
    fp_cum = np.cumsum(fp, axis=-1).astype(np.float64)
    n_pos = gt_mask.sum(axis=1).astype(np.float64)[:, None, None]
    recall = tp_cum / n_pos
    denom = tp_cum + fp_cum
    precision = np.divide(tp_cum, denom, out=np.zeros_like(tp_cum), where=denom > 0)
    return interpolated_ap(precision, recall)


def _greedy_match(iou: np.ndarray, pred_mask: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """True positives ``(Q, T, P)``: predictions in order each take the first free window, in
    descending IoU, whose IoU reaches the threshold.

    Windows are visited in ``np.argsort(iou)[::-1]`` order, as the official script does. numpy's
    default sort is not stable on every CPU (AVX-512 builds reorder equal IoUs), so the same
    function is called on rows of the same length to break ties the same way as the official run.
    """
    q, p, g = iou.shape
    order = np.argsort(iou, axis=-1)[..., ::-1]  # (Q, P, G): visiting order of the windows
    iou_sorted = np.take_along_axis(iou, order, axis=-1)
    locked = np.zeros((q, len(thr), g), dtype=bool)
    tp = np.zeros((q, len(thr), p), dtype=bool)
    rows = np.arange(q)[:, None]
    cols = np.arange(len(thr))[None, :]
    for i in range(p):
        visit = np.broadcast_to(order[:, None, i, :], locked.shape)
        cand = (iou_sorted[:, None, i, :] >= thr[None, :, None]) & ~np.take_along_axis(locked, visit, axis=-1)
        first = np.argmax(cand, axis=-1)  # (Q, T): the first free window above the threshold
        hit = cand.any(axis=-1) & pred_mask[:, None, i]
        tp[:, :, i] = hit
        chosen = np.take_along_axis(order[:, i, :], first, axis=1)
        locked[rows, cols, chosen] |= hit
    return tp


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """All-point interpolated AP (VOC 2010+) along the last axis; padding that repeats the last point is neutral."""
    shape = precision.shape[:-1]
    mprec = np.concatenate([np.zeros(shape + (1,)), precision, np.zeros(shape + (1,))], axis=-1)
    mrec = np.concatenate([np.zeros(shape + (1,)), recall, np.ones(shape + (1,))], axis=-1)
    mprec = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    step = mrec[..., 1:] - mrec[..., :-1]
    return np.where(step != 0, step * mprec[..., 1:], 0.0).sum(axis=-1)


def top1_iou_with_best_gt(
    pred: np.ndarray, pred_mask: np.ndarray, gt: np.ndarray, gt_mask: np.ndarray
) -> np.ndarray:
    """IoU of each query's first window with the ground-truth window it overlaps most: ``(Q,)``.

    The first row in file order is the top-1 (the official R@1 does not re-sort); a query with
    no window gets 0.
    """
    top1 = pred[:, 0, :2]
    cross = np.where(gt_mask, iou_cross(top1[:, None, :], gt)[:, 0, :], -np.inf)
    best = np.argmax(cross, axis=1)
    chosen = gt[np.arange(len(gt)), best]
    return np.where(pred_mask[:, 0], iou_paired(top1, chosen), 0.0)


# -- highlight detection ----------------------------------------------------------------------


def _highlight_detection(submission: list[dict], gt_by_qid: dict, clip_len: float) -> dict:
    ap, hit = highlight_arrays(submission, gt_by_qid, clip_len)
    out = {}
    for k, name in enumerate(HL_MIN_SCORES):
        out[f"HL-min-{name}"] = {
            "HL-mAP": _pct(np.mean(np.ascontiguousarray(ap[:, k]))),
            "HL-Hit1": _pct(np.mean(hit[:, k])),
        }
    return out


def highlight_arrays(
    submission: list[dict], gt_by_qid: dict, clip_len: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query highlight AP ``(Q, S, A)`` and HIT@1 ``(Q, S)`` for the ``S`` thresholds of :data:`HL_MIN_SCORES`."""
    labels, lengths = [], []
    for d in submission:
        s = gt_by_qid[d["qid"]]
        labels.append(_full_saliency(s, clip_len))
        lengths.append(labels[-1].shape[0])
    widths = {lab.shape[1] for lab in labels}
    if len(widths) > 1:
        raise InputError(f"saliency_scores rows have different numbers of annotators: {sorted(widths)}")
    n_ann = widths.pop()
    n, longest = len(submission), max(1, max(lengths))
    lengths = np.asarray(lengths)
    valid = np.arange(longest)[None, :] < lengths[:, None]  # (Q, L)
    label_arr = np.zeros((n, longest, n_ann))
    pred_lens = [len(d["pred_saliency_scores"]) for d in submission]
    pred = np.full((n, max(1, longest, *pred_lens)), -np.inf)
    for i, d in enumerate(submission):
        label_arr[i, : lengths[i]] = labels[i]
        pred[i, : pred_lens[i]] = d["pred_saliency_scores"]
    # HIT@1 looks at the whole prediction; AP at the prediction cut or zero-padded to the labelled clips
    top_clip = np.where(np.asarray(pred_lens) > 0, np.argmax(pred, axis=1), longest)
    scores = np.where(np.isneginf(pred[:, :longest]), 0.0, pred[:, :longest])
    scores = np.where(valid, scores, -np.inf)
    top_in_video = top_clip < lengths
    min_scores = np.asarray(list(HL_MIN_SCORES.values()), dtype=np.float64)
    positive = np.moveaxis(label_arr, 1, -1)[:, None, :, :] >= min_scores[None, :, None, None]  # (Q, S, A, L)
    # one ranking of the clips serves every threshold and annotator
    ap = saliency_ap(scores, valid, positive.reshape(n, -1, longest)).reshape(n, len(min_scores), n_ann)
    top_labels = positive[np.arange(n), :, :, np.minimum(top_clip, longest - 1)]  # (Q, S, A)
    hit = (top_labels & top_in_video[:, None, None]).max(axis=-1)  # (Q, S): any annotator
    return ap, hit


def _full_saliency(s: GroundingSample, clip_len: float) -> np.ndarray:
    """``(n_clips, n_annotators)`` scores of every clip of the video, 0 for clips without labels."""
    n_clips = int(s.duration / clip_len)
    rows = np.asarray(s.saliency_scores, dtype=np.float64)
    if rows.ndim != 2:
        raise InputError(f"qid {s.qid!r}: saliency_scores must have the same number of scores in every row")
    ids = np.asarray(s.saliency_clip_ids, dtype=np.int64)
    if ids.size and ids.max() >= n_clips:
        raise InputError(
            f"qid {s.qid!r}: relevant clip id {ids.max()} is beyond the video ({n_clips} clips of {clip_len:g} s)"
        )
    full = np.zeros((n_clips, rows.shape[1]))
    full[ids] = rows
    return full


def saliency_ap(scores: np.ndarray, valid: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Average precision of per-clip scores, one value per query and annotator: ``(Q, A)``.

    ``scores`` ``(Q, L)`` (``valid`` marks the real clips), ``positive`` ``(Q, A, L)`` bool labels.
    Clips with equal scores form one rank (as ``sklearn.metrics.precision_recall_curve``); the AP is
    the mean, over the distinct recall levels, of the best precision at that recall or beyond (the
    interpolated AP of the official ``get_ap``). All-negative labels give 0, all-positive 1.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    v = np.take_along_axis(valid, order, axis=1)
    y = np.take_along_axis(positive, order[:, None, :], axis=2).astype(np.float64)  # (Q, A, L)
    nxt_same = np.zeros_like(v)
    nxt_same[:, :-1] = (s[:, 1:] == s[:, :-1]) & v[:, 1:]
    prev_same = np.zeros_like(v)
    prev_same[:, 1:] = nxt_same[:, :-1]
    group_end = (v & ~nxt_same)[:, None, :]
    group_start = (v & ~prev_same)[:, None, :]
    tp = np.cumsum(y, axis=-1)
    rank = np.arange(1, s.shape[1] + 1, dtype=np.float64)
    precision = np.where(group_end, tp / rank, 0.0)
    best_beyond = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    tp_before_group = np.maximum.accumulate(np.where(group_start, tp - y, 0.0), axis=-1)
    new_recall = group_end & (tp > tp_before_group)
    n_levels = new_recall.sum(axis=-1)
    ap = np.divide(
        np.where(new_recall, best_beyond, 0.0).sum(axis=-1),
        n_levels,
        out=np.zeros(n_levels.shape),
        where=n_levels > 0,
    )
    n_pos = (y * v[:, None, :]).sum(axis=-1)
    n_valid = v.sum(axis=-1)[:, None]
    return np.where(n_pos == n_valid, 1.0, ap) * (n_valid > 0)
