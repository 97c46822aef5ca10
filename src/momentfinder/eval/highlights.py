"""Query-free highlight detection on TVSum and YouTube Highlights (the UMT protocol Lighthouse uses).

Each video has per-clip labels from several annotators (TVSum: 20 importance scores 1-5 per clip;
YouTube Highlights: one 0/1 label) and belongs to a domain. For every video and annotator the clips
are ranked by predicted saliency, and

* **TVSum** (``top_k=5``): a clip is positive when its score is above the annotator's median over
  the video (torch's median: the lower middle value); AP is taken over the top 5 ranked clips,
  counting only the positives among those 5;
* **YouTube Highlights** (``top_k=None``): labels are used as given and AP runs over the whole ranking.

AP is the trapezoidal area ``sum (r_j - r_{j-1}) * (p_{j-1} + p_j) / 2`` starting from ``(r, p) =
(0, 1)``; a video with no positive scores 0. ``mAP`` of a domain is the mean over its videos and
annotators; the reported ``mAP`` is the mean over domains (papers report one number per domain).
Clips with equal predicted scores keep clip order (torch's unstable sort may break such ties
differently). Values are percentages rounded to 2 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..types import GroundingSample
from .qvhighlights import _pct, align

PROTOCOL_TOP_K = {"tvsum": 5, "youtube": None}


def highlight_map(
    submission: Sequence[dict],
    ground_truth: Sequence[dict] | Sequence[GroundingSample],
    *,
    top_k: int | None = 5,
    median_threshold: bool | None = None,
    match_number: bool = True,
) -> dict:
    """``{"mAP": mean over domains, "by_domain": {domain: mAP}, "videos": n}`` (percentages).

    ``submission``: ``{"qid", "pred_saliency_scores": [one per clip]}`` dicts; ``ground_truth``:
    samples with per-clip label rows (``saliency_scores`` for every clip, as the Lighthouse
    TVSum / YouTube Highlights files are read) and ``extra["domain"]``. ``median_threshold``
    defaults to True when ``top_k`` is set (TVSum) and False otherwise (YouTube Highlights).
    """
    submission, gt_by_qid = align(submission, ground_truth, match_number=match_number)
    if median_threshold is None:
        median_threshold = top_k is not None
    by_domain: dict[str, list[float]] = {}
    for d in submission:
        if "pred_saliency_scores" not in d:
            raise InputError(f"submission qid {d['qid']!r}: highlight detection needs pred_saliency_scores")
        g = gt_by_qid[d["qid"]]
        if not g.saliency_scores or g.saliency_clip_ids != list(range(len(g.saliency_scores))):
            raise InputError(f"qid {g.qid!r}: highlight detection needs a label row for every clip")
        labels = np.asarray(g.saliency_scores, dtype=np.float64)  # (n_clips, n_annotators)
        pred = np.asarray(d["pred_saliency_scores"], dtype=np.float64)[: len(labels)]
        order = np.argsort(-pred, kind="stable")
        aps = by_domain.setdefault(str(g.extra.get("domain", "all")), [])
        for a in range(labels.shape[1]):
            col = labels[:, a]
            if median_threshold:
                col = (col > np.sort(col)[(len(col) - 1) // 2]).astype(np.float64)
            ranked = col[order]
            aps.append(_trapezoid_ap(ranked[:top_k] if top_k else ranked))
    domains = {k: _pct(np.mean(v)) for k, v in sorted(by_domain.items())}
    return {
        "mAP": _pct(np.mean([np.mean(v) for v in by_domain.values()])),
        "by_domain": domains,
        "videos": len(submission),
    }


def _trapezoid_ap(ranked_labels: np.ndarray) -> float:
    n_pos = ranked_labels.sum()
    if n_pos == 0:
        return 0.0
    hits = np.cumsum(ranked_labels)
    recall = np.concatenate([[0.0], hits / n_pos])
    precision = np.concatenate([[1.0], hits / np.arange(1, len(ranked_labels) + 1)])
    return float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) / 2))
