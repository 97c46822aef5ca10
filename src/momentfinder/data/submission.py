"""QVHighlights submission files: one JSON object per query.

``{"qid", "query", "vid", "pred_relevant_windows": [[start_s, end_s, score], ...],
"pred_saliency_scores": [one score per 2 s clip], "no_moment_score"?}``. Every grounder in the
project writes its predictions with :func:`write_submission`; the evaluators read them with
:func:`read_submission`, which rejects what the official script would silently mis-score.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import GroundingResult
from .readers import iter_jsonl, write_jsonl


def submission_record(result: GroundingResult) -> dict:
    """The submission line of one result (times rounded to 0.01 s, scores to 1e-4)."""
    if result.qid is None:
        raise InputError(f"result for query {result.query!r} has no qid; a submission needs one per line")
    rec = {
        "qid": result.qid,
        "query": result.query,
        "vid": result.video,
        "pred_relevant_windows": [m.as_list() for m in result.moments],
        "pred_saliency_scores": [round(float(s), 4) for s in result.saliency],
    }
    if result.no_moment_score is not None:
        rec["no_moment_score"] = round(float(result.no_moment_score), 4)
    return rec


def write_submission(path: str | os.PathLike, results: Iterable[GroundingResult]) -> int:
    """Write ``results`` as a QVHighlights submission jsonl; return the number of lines written.

    Raises :class:`InputError` for a result without qid, a duplicate qid or a non-finite score.
    """
    records = [submission_record(r) for r in results]
    seen: set = set()
    for rec in records:
        if rec["qid"] in seen:
            raise InputError(f"duplicate qid {rec['qid']!r} in the results to write")
        seen.add(rec["qid"])
        check_submission_record(rec, f"qid {rec['qid']!r}")
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"output directory does not exist: {path.parent}")
    return write_jsonl(path, records)


def read_submission(path: str | os.PathLike) -> list[dict]:
    """Read and validate a submission jsonl (file order kept).

    Each line needs ``qid`` and at least one of ``pred_relevant_windows`` (``[start, end, score]``
    rows, finite, ``0 <= start <= end``) and ``pred_saliency_scores`` (finite numbers). Duplicate
    qids, NaN scores and malformed lines raise :class:`InputError` with the file and line.
    """
    out = []
    first_line: dict = {}
    for n, rec in iter_jsonl(path):
        where = f"{path}:{n}"
        if "qid" not in rec:
            raise InputError(f"{where}: missing field qid")
        if "pred_relevant_windows" not in rec and "pred_saliency_scores" not in rec:
            raise InputError(f"{where}: needs pred_relevant_windows and/or pred_saliency_scores")
        qid = rec["qid"]
        if not isinstance(qid, int | str) or isinstance(qid, bool):
            raise InputError(f"{where}: qid must be an integer or a string, got {qid!r}")
        if qid in first_line:
            raise InputError(f"{where}: duplicate qid {qid!r} (first on line {first_line[qid]})")
        first_line[qid] = n
        check_submission_record(rec, where)
        out.append(rec)
    if not out:
        raise InputError(f"{path}: the submission is empty")
    return out


def check_submission_record(rec: dict, where: str) -> None:
    windows = rec.get("pred_relevant_windows")
    if windows is not None:
        if not isinstance(windows, list):
            raise InputError(f"{where}: pred_relevant_windows must be a list of [start, end, score]")
        arr = numeric_array(windows)
        if arr is None or (len(windows) and (arr.ndim != 2 or arr.shape[1] != 3)):
            bad = next((i for i, w in enumerate(windows) if not _is_window_row(w)), 0)
            raise InputError(
                f"{where}: pred_relevant_windows[{bad}] = {windows[bad]!r} is not [start, end, score]"
            )
        if len(windows):
            bad_rows = ~np.isfinite(arr).all(axis=1)
            if bad_rows.any():
                i = int(np.argmax(bad_rows))
                raise InputError(
                    f"{where}: pred_relevant_windows[{i}] = {windows[i]!r} has a NaN or infinite value"
                )
            bad_rows = (arr[:, 0] < 0) | (arr[:, 1] < arr[:, 0])
            if bad_rows.any():
                i = int(np.argmax(bad_rows))
                raise InputError(
                    f"{where}: pred_relevant_windows[{i}] = {windows[i]!r} is not a window (need 0 <= start <= end)"
                )
    saliency = rec.get("pred_saliency_scores")
    if saliency is not None:
        arr = numeric_array(saliency) if isinstance(saliency, list) else None
        if arr is None or arr.ndim != 1:
            raise InputError(f"{where}: pred_saliency_scores must be a list of numbers")
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int(np.argmin(finite))
            raise InputError(f"{where}: pred_saliency_scores[{bad}] is {saliency[bad]!r} (NaN or infinite)")
    nm = rec.get("no_moment_score")
    if nm is not None and (not _is_number(nm) or not math.isfinite(nm)):
        raise InputError(f"{where}: no_moment_score must be a finite number, got {nm!r}")


def numeric_array(values: list) -> np.ndarray | None:
    """``values`` as a float array, or None when it holds anything but numbers (strings, None, ragged rows)."""
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged nesting
        return None
    if arr.size and arr.dtype.kind not in "iuf":
        return None
    return arr.astype(np.float64, copy=False)


def _is_window_row(w) -> bool:
    return isinstance(w, list) and len(w) == 3 and all(_is_number(x) for x in w)


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)
