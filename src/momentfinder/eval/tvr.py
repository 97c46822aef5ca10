"""TVR protocol for searching a whole library: VCMR, SVMR and VR recall (``jayleicn/TVRetrieval`` eval).

* **VCMR** (video corpus moment retrieval): a query is answered at rank ``k`` when one of its first
  ``k`` ``[video, start, end]`` predictions is in the right video with IoU >= ``m``.
* **SVMR** (single video moment retrieval): the same, counting only predictions in the right video.
* **VR** (video retrieval): one of the first ``k`` predicted videos is the right one.

Keys and rounding follow the official ``metrics_raw.json``: ``"{iou}-r{k}"`` (``"r{k}"`` for VR) in
percent rounded to 2 decimals, per query type (``v``/``t``/``vt``) under ``"{TASK}_by_type"``.
Times are seconds; as in the official script, windows and IoU are computed in float32 and only
the first 100 predictions of a query count. DiDeMo-style ground truth (>= 4 windows) needs IoU
>= ``m`` with at least two of them.

Submission (a JSON object)::

    {"video2idx": {vid_name: int, ...},
     "VCMR": [{"desc_id": int, "desc": str, "predictions": [[video_idx, start, end, score], ...]}, ...],
     "SVMR": [...], "VR": [...]}          # any subset of the three tasks
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..data.readers import read_annotations, sample_from_record
from ..data.submission import numeric_array
from ..errors import InputError
from ..types import GroundingSample

TASKS = ("VCMR", "SVMR", "VR")
TVR_IOU_THRESHOLDS = (0.5, 0.7)
TVR_TOPK = (1, 5, 10, 100)
DESC_TYPES = ("v", "t", "vt")
MAX_PRED_PER_QUERY = 100


def evaluate_tvr(
    submission: Mapping,
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    iou_thresholds: Sequence[float] = TVR_IOU_THRESHOLDS,
    topk: Sequence[int] = TVR_TOPK,
    match_number: bool = True,
) -> dict:
    """The official TVR metrics dict for the tasks present in ``submission``."""
    gts = [
        g if isinstance(g, GroundingSample) else sample_from_record(g, "tvr", f"ground truth record {i + 1}")
        for i, g in enumerate(ground_truth)
    ]
    if not gts:
        raise InputError("the ground truth is empty")
    if not isinstance(submission, Mapping) or "video2idx" not in submission:
        raise InputError("a TVR submission is a JSON object with 'video2idx' and VCMR / SVMR / VR entries")
    video2idx = submission["video2idx"]
    tasks = [t for t in TASKS if t in submission]
    if not tasks:
        raise InputError("the TVR submission has none of the tasks VCMR, SVMR, VR")
    missing_vids = sorted({g.vid for g in gts} - set(video2idx))
    if missing_vids:
        raise InputError(
            f"video2idx lacks {len(missing_vids)} ground-truth video(s), e.g. {missing_vids[:3]}"
        )
    use_type = all(g.extra.get("type") in DESC_TYPES for g in gts)
    types = np.array([g.extra.get("type", "") for g in gts])
    metrics, by_type = {}, {}
    for task in tasks:
        preds = _task_predictions(submission[task], task, gts, match_number)
        keep = np.array([g.qid in preds for g in gts])
        scored = [g for g, k in zip(gts, keep, strict=True) if k]
        vid_ok, correct = _match(scored, preds, video2idx, iou_thresholds)  # (Q, P), (T, Q, P)
        t_types = types[keep]
        hits = {}  # metric key -> (Q,) bool: answered at that rank / IoU
        if task == "VR":
            for k in topk:
                hits[f"r{k}"] = vid_ok[:, :k].any(axis=1)
        else:
            rank_in_video = np.cumsum(vid_ok, axis=1)  # SVMR ranks only the predictions in the right video
            for ti, thd in enumerate(iou_thresholds):
                for k in topk:
                    if task == "VCMR":
                        hits[f"{thd}-r{k}"] = correct[ti][:, :k].any(axis=1)
                    else:
                        hits[f"{thd}-r{k}"] = (correct[ti] & vid_ok & (rank_in_video <= k)).any(axis=1)
        task_metrics = {key: _pct(hit.mean()) for key, hit in hits.items()}
        task_by_type: dict = {}
        if use_type:  # official order: type, then IoU, then k
            task_by_type = {
                f"{t}-{key}": _pct_of(hit, t_types == t) for t in DESC_TYPES for key, hit in hits.items()
            }
            task_by_type["desc_type_ratio"] = "v {} t {} vt {}".format(
                *[_pct(np.mean(t_types == t)) for t in DESC_TYPES]
            )
        metrics[task] = task_metrics
        by_type[f"{task}_by_type"] = task_by_type
    return {**metrics, **(by_type if use_type else {})}


def evaluate_tvr_files(pred_path: str | os.PathLike, gt_path: str | os.PathLike, **kwargs) -> dict:
    """:func:`evaluate_tvr` on a submission JSON file and a TVR jsonl ground-truth file."""
    try:
        with open(pred_path, encoding="utf-8") as f:
            submission = json.load(f)
    except OSError as err:
        raise InputError(f"cannot read {pred_path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{pred_path}:{err.lineno}: not valid JSON ({err.msg})") from None
    return evaluate_tvr(submission, read_annotations(gt_path, fmt="tvr"), **kwargs)


def tvr_submission(
    ranked: Mapping[int | str, Sequence[tuple[str, float, float, float]]],
    video2idx: Mapping[str, int],
    task: str = "VCMR",
    queries: Mapping[int | str, str] | None = None,
) -> dict:
    """Build a TVR submission from ``{desc_id: [(video, start_s, end_s, score), ...]}`` ranked lists."""
    if task not in TASKS:
        raise InputError(f"unknown TVR task {task!r}; choose one of {', '.join(TASKS)}")
    entries = []
    for desc_id, rows in ranked.items():
        preds = []
        for vid, st, ed, score in list(rows)[:MAX_PRED_PER_QUERY]:
            if vid not in video2idx:
                raise InputError(f"desc_id {desc_id!r}: video {vid!r} is not in video2idx")
            preds.append([video2idx[vid], float(st), float(ed), float(score)])
        entries.append({"desc_id": desc_id, "desc": (queries or {}).get(desc_id, ""), "predictions": preds})
    return {"video2idx": dict(video2idx), task: entries}


def _task_predictions(entries, task: str, gts: list[GroundingSample], match_number: bool) -> dict:
    if not isinstance(entries, list):
        raise InputError(f"{task} must be a list of {{desc_id, predictions}} objects")
    preds: dict = {}
    for i, e in enumerate(entries):
        where = f"{task}[{i}]"
        if not isinstance(e, dict) or "desc_id" not in e or not isinstance(e.get("predictions"), list):
            raise InputError(f"{where}: needs desc_id and a predictions list")
        rows = e["predictions"][:MAX_PRED_PER_QUERY]
        arr = numeric_array(rows)
        if arr is None or (rows and (arr.ndim != 2 or arr.shape[1] < 3)):
            raise InputError(f"{where}.predictions: rows must be [video_idx, start, end, score] numbers")
        arr = arr.reshape(-1, arr.shape[1] if arr.ndim == 2 else 3)[:, :4]
        if not np.isfinite(arr).all():
            j = int(np.argmin(np.isfinite(arr).all(axis=1)))
            raise InputError(f"{where}.predictions[{j}] = {rows[j]!r} has a NaN or infinite value")
        if e["desc_id"] in preds:
            raise InputError(f"{where}: duplicate desc_id {e['desc_id']!r}")
        preds[e["desc_id"]] = arr[:, :3].astype(np.float32)
    gt_ids = {g.qid for g in gts}
    if set(preds) != gt_ids:
        if match_number:
            only_gt, only_pred = sorted(gt_ids - set(preds), key=str), sorted(set(preds) - gt_ids, key=str)
            raise InputError(
                f"{task}: desc_ids differ from the ground truth: {len(only_gt)} missing (e.g. {only_gt[:3]}), "
                f"{len(only_pred)} unknown (e.g. {only_pred[:3]})"
            )
        preds = {k: v for k, v in preds.items() if k in gt_ids}
        if not preds:
            raise InputError(f"{task}: no desc_id is shared with the ground truth")
    return preds


def _match(
    gts: list[GroundingSample], preds: dict, video2idx: Mapping, thresholds
) -> tuple[np.ndarray, np.ndarray]:
    """``vid_ok`` ``(Q, P)`` and ``correct`` ``(T, Q, P)`` bools; short prediction lists are padded with misses."""
    n_pred = max(1, max(len(p) for p in preds.values()))
    q = len(gts)
    rows = np.zeros((q, n_pred, 3), dtype=np.float32)
    real = np.zeros((q, n_pred), dtype=bool)
    n_win = max(1, max(len(g.windows) for g in gts))
    gt_win = np.zeros((q, n_win, 2), dtype=np.float32)
    gt_real = np.zeros((q, n_win), dtype=bool)
    target = np.zeros(q, dtype=np.float32)
    for i, g in enumerate(gts):
        p = preds[g.qid]
        rows[i, : len(p)] = p
        real[i, : len(p)] = True
        if not g.windows:
            raise InputError(
                f"desc_id {g.qid!r} has no ground-truth window (an unlabelled split cannot be scored)"
            )
        gt_win[i, : len(g.windows)] = g.windows
        gt_real[i, : len(g.windows)] = True
        target[i] = video2idx[g.vid]
    vid_ok = real & (rows[..., 0] == target[:, None])
    st, ed = rows[..., 1][..., None], rows[..., 2][..., None]  # (Q, P, 1)
    gst, ged = gt_win[:, None, :, 0], gt_win[:, None, :, 1]  # (Q, 1, G)
    inter = np.maximum(np.float32(0), np.minimum(ed, ged) - np.maximum(st, gst))
    union = np.maximum(ed, ged) - np.minimum(st, gst)  # the official hull "union"
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union != 0) * vid_ok[..., None]
    many = gt_real.sum(axis=1) >= 4  # DiDeMo: at least two annotators' windows must agree
    correct = []
    for thd in thresholds:
        n_ok = ((iou >= np.float32(thd)) & gt_real[:, None, :]).sum(axis=-1)
        correct.append(np.where(many[:, None], n_ok >= 2, n_ok >= 1) & real)
    return vid_ok, np.stack(correct)


def _pct(x) -> float:
    """The official ``round(x * 100, 2)`` on a numpy float."""
    return float(np.round(np.float64(x) * 100, 2))


def _pct_of(hit: np.ndarray, member: np.ndarray) -> float | None:
    n = int(member.sum())
    return _pct(1.0 * np.sum(hit & member) / n) if n else None
