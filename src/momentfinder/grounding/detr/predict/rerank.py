"""Re-ranking a trained detector's moments with the zero-shot grounder's span scores.

A detector trained on point or weak labels confuses the target with its look-alike (the same
subject doing an action of the same family) far more often than one trained on full windows
(issue #18). The zero-shot grounder tells the two apart in a way the detector does not learn from
such labels: each sub-query is turned away from the look-alike action the video shows most, found
in a query bank of the validation queries. With ``inference.zeroshot_rerank`` = w > 0 each of the
detector's moments gets ``score + w * z``, where ``z`` is the zero-shot score of its span divided by
the largest absolute zero-shot score among the query's moments and shifted so that the best is 0
(``z`` in [-2, 0]); the moments are then ranked by that score.

The zero-shot calibration (null level, stop words, query bank) is fitted on the validation split
when training starts (:func:`fit_rerank_calibration`) and kept in every checkpoint
(:func:`calibration_payload`), so ``predict`` and ``ground --model`` need nothing more.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from ....errors import InputError
from ....types import ClipFeatures, Moment, QueryFeatures
from ...zeroshot import NoMomentCalibration, ZeroShotConfig, ZeroShotGrounder
from .decode import clips_of_seconds

log = logging.getLogger(__name__)

Pair = tuple[ClipFeatures, QueryFeatures]
# NoMomentCalibration fields kept as float32 tensors in a checkpoint (the rest as plain values)
ARRAY_FIELDS = ("feature_mean", "common_tokens", "query_bank", "bank_clip_sims")


def fit_rerank_calibration(positives: list[Pair], negatives: list[Pair]) -> NoMomentCalibration | None:
    """The zero-shot grounder's calibration on validation pairs, without its rejection thresholds
    (re-ranking never rejects); None, with a warning, when it cannot be fitted (clip and query
    features of different widths, as with SlowFast + CLIP clips and CLIP text, or too few queries)."""
    if not positives:
        return None
    clips, query = positives[0]
    if clips.dim != query.pooled.shape[-1]:
        log.info(
            "zero-shot re-ranking unavailable: clip features (dim %d) and query features (dim %d) "
            "are not one embedding space",
            clips.dim,
            query.pooled.shape[-1],
        )
        return None
    try:  # without corpus expansion: re-ranking was measured without it, and checkpoints stay small
        cal = ZeroShotGrounder(ZeroShotConfig(corpus_weight=0.0)).calibrate(list(positives), list(negatives))
    except InputError as err:
        log.warning("zero-shot re-ranking unavailable: its calibration failed (%s)", err)
        return None
    cal.feature_threshold = cal.curve_threshold = None
    return cal


def calibration_payload(cal: NoMomentCalibration) -> dict:
    """``cal`` as checkpoint entries: its matrices as float32 tensors, everything else as is."""
    data = cal.to_dict()
    arrays = {}
    for name in ARRAY_FIELDS:
        value = data.pop(name)
        if value is not None:
            arrays[name] = torch.tensor(np.asarray(value, dtype=np.float32))
    return {"fields": data, "arrays": arrays}


def calibration_from_payload(payload: dict, where: str) -> NoMomentCalibration:
    """The inverse of :func:`calibration_payload`; a malformed entry is one :class:`InputError`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("fields"), dict):
        raise InputError(f"{where}: the zero-shot calibration entry is malformed")
    data = dict(payload["fields"])
    for name, tensor in (payload.get("arrays") or {}).items():
        if name not in ARRAY_FIELDS or not isinstance(tensor, torch.Tensor):
            raise InputError(f"{where}: the zero-shot calibration entry is malformed ({name!r})")
        data[name] = tensor.tolist()
    return NoMomentCalibration.from_dict(data, f"{where} (zero-shot calibration)")


def rerank(
    moments: list[Moment],
    clips: ClipFeatures,
    query: QueryFeatures,
    zeroshot: ZeroShotGrounder,
    weight: float,
) -> list[Moment]:
    """``moments`` with ``weight`` x their normalised zero-shot span scores added, best first (see
    the module docstring). Unchanged when there is nothing to compare, the query's width is not
    the clips', or the zero-shot grounder has no look-alike contrast for this query (its query
    bank holds another kind of sub-query: token features from training, phrases on a video)."""
    if len(moments) < 2 or weight <= 0 or query.pooled.shape[-1] != clips.dim:
        return moments
    n, clip_len = clips.n_clips, clips.clip_len
    seconds = np.array([[m.start, m.end] for m in moments], dtype=np.float64)
    spans = np.clip(clips_of_seconds(seconds, clip_len), 0, n)
    spans[:, 1] = np.clip(np.maximum(spans[:, 1], spans[:, 0] + 1), 1, n)
    spans[:, 0] = np.minimum(spans[:, 0], spans[:, 1] - 1)
    z = zeroshot.span_scores(clips, query, spans, contrast_only=True)
    if z is None:  # no look-alike contrast for this query: plain zero-shot levels do not help
        return moments
    scale = float(np.abs(z).max())
    if not np.isfinite(z).all() or scale <= 0:
        return moments
    scores = np.array([m.score for m in moments]) + weight * (z - z.max()) / scale
    order = np.argsort(-scores, kind="stable")
    return [dataclasses.replace(moments[i], score=float(scores[i])) for i in order]
