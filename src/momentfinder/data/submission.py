"""QVHighlights submission files: one JSON object per query.

``{"qid", "query", "vid", "pred_relevant_windows": [[start_s, end_s, score], ...],
"pred_saliency_scores": [one score per 2 s clip], "no_moment_score"?}``. Every grounder in the
project writes its predictions with :func:`write_submission`; the evaluators read them with
:func:`read_submission`, which rejects what the official script would silently mis-score.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError
from ..types import GroundingResult
from .readers import iter_jsonl


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
        _check_record(rec, f"qid {rec['qid']!r}")
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"output directory does not exist: {path.parent}")
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    return len(records)


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
        _check_record(rec, where)
        out.append(rec)
    if not out:
        raise InputError(f"{path}: the submission is empty")
    return out


def _check_record(rec: dict, where: str) -> None:
    windows = rec.get("pred_relevant_windows")
    if windows is not None:
        if not isinstance(windows, list):
            raise InputError(f"{where}: pred_relevant_windows must be a list of [start, end, score]")
        for i, w in enumerate(windows):
            if not isinstance(w, list) or len(w) != 3 or not all(_is_number(x) for x in w):
                raise InputError(f"{where}: pred_relevant_windows[{i}] = {w!r} is not [start, end, score]")
            if not all(math.isfinite(x) for x in w):
                raise InputError(f"{where}: pred_relevant_windows[{i}] = {w!r} has a NaN or infinite value")
            if w[0] < 0 or w[1] < w[0]:
                raise InputError(
                    f"{where}: pred_relevant_windows[{i}] = {w!r} is not a window (need 0 <= start <= end)"
                )
    saliency = rec.get("pred_saliency_scores")
    if saliency is not None:
        if not isinstance(saliency, list) or not all(_is_number(x) for x in saliency):
            raise InputError(f"{where}: pred_saliency_scores must be a list of numbers")
        bad = next((i for i, x in enumerate(saliency) if not math.isfinite(x)), None)
        if bad is not None:
            raise InputError(f"{where}: pred_saliency_scores[{bad}] is {saliency[bad]!r} (NaN or infinite)")
    nm = rec.get("no_moment_score")
    if nm is not None and (not _is_number(nm) or not math.isfinite(nm)):
        raise InputError(f"{where}: no_moment_score must be a finite number, got {nm!r}")


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)
