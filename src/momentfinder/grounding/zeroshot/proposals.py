"""Moments from level curves: threshold proposals, span scoring, temporal NMS, and coarse-to-fine
windows for long videos.

Units: clip indices; spans are ``[start, end)`` pairs ``(m, 2)``. ``pooled_levels`` ``(n_clips,)``
and ``subquery_levels`` ``(n_clips, k)`` or None are the level curves of :mod:`.curves`.
"""

from __future__ import annotations

import numpy as np

from ..curve_ops import (
    disjoint_excess,
    gaussian_smooth,
    kth_largest,
    segment_means,
    standardize,
    threshold_proposals,
)
from ..nms import temporal_nms
from .calibration import logistic_evidence
from .config import ZeroShotConfig
from .curves import RegionSiblings, and_level, evidence_statistics, region_contrast_levels


def relevance_for_proposals(
    pooled: np.ndarray,
    pooled_levels: np.ndarray,
    subquery_levels: np.ndarray | None,
    sigma: float,
    config: ZeroShotConfig,
) -> np.ndarray:
    """Smoothed (``sigma`` clips), standardised per-clip relevance ``(n_clips,)``: proposals and
    saliency. ``pooled`` is the raw pooled curve (used with ``relevance="pooled"``)."""
    if config.relevance == "pooled" or subquery_levels is None:
        return standardize(gaussian_smooth(standardize(pooled), sigma))
    parts = kth_largest(gaussian_smooth(subquery_levels, sigma), config.subquery_parts)
    return standardize(gaussian_smooth(pooled_levels, sigma) + config.subquery_weight * parts)


def span_levels(
    spans: np.ndarray, pooled_levels: np.ndarray, subquery_levels: np.ndarray | None, config: ZeroShotConfig
) -> np.ndarray:
    """Mean level of each span ``(m,)``: (pooled mean + w x the ``subquery_parts``-th best
    sub-query mean) / (1 + w). Empty spans have level 0."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    empty = spans[:, 1] <= spans[:, 0]
    safe = np.where(empty[:, None], np.array([[0, 1]]), spans)
    level = segment_means(pooled_levels, safe)
    if subquery_levels is not None:
        parts = kth_largest(segment_means(subquery_levels, safe), config.subquery_parts)
        level = (level + config.subquery_weight * parts) / (1.0 + config.subquery_weight)
    return np.where(empty, 0.0, level)


def flank_spans(spans: np.ndarray, n: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """The clips just outside each span: ``width`` x its length (at least one clip) on each side,
    cut at the video's ends: left and right spans ``(m, 2)`` (empty where a span touches an end)."""
    length = spans[:, 1] - spans[:, 0]
    side = np.maximum(1, np.rint(width * length)).astype(np.int64)
    left = np.stack([np.maximum(0, spans[:, 0] - side), spans[:, 0]], axis=1)
    right = np.stack([spans[:, 1], np.minimum(n, spans[:, 1] + side)], axis=1)
    return left, right


def span_scores(
    spans: np.ndarray, pooled_levels: np.ndarray, subquery_levels: np.ndarray | None, config: ZeroShotConfig
) -> np.ndarray:
    """(mean level - contrast_weight x flank level - level_offset) x length ** length_exponent of
    each span: ``(m,)``. The flank level (``contrast_weight > 0``) is the mean level of the clips
    just outside the span (:func:`flank_spans`, ``contrast_width``): a span that cuts an event in
    two, or spills into its neighbourhood, scores below the span that matches it (inside-vs-outside
    contrast as in training-free grounding, TAG/TFVTG, measured on the video's own curves)."""
    level = span_levels(spans, pooled_levels, subquery_levels, config)
    if config.contrast_weight > 0:
        left, right = flank_spans(spans, len(pooled_levels), config.contrast_width)
        n_left = (left[:, 1] - left[:, 0]).astype(np.float64)
        n_right = (right[:, 1] - right[:, 0]).astype(np.float64)
        total = n_left * span_levels(left, pooled_levels, subquery_levels, config)
        total += n_right * span_levels(right, pooled_levels, subquery_levels, config)
        outside = np.where(n_left + n_right > 0, total / np.maximum(n_left + n_right, 1.0), 0.0)
        level = level - config.contrast_weight * outside
    length = (spans[:, 1] - spans[:, 0]).astype(np.float64)
    return (level - config.level_offset) * length**config.length_exponent


def suppress(spans: np.ndarray, scores: np.ndarray, top_k: int, config: ZeroShotConfig) -> np.ndarray:
    """Indices of the kept spans, best first: temporal NMS at ``nms_iou``, and a span more than
    ``nms_max_containment`` inside a better one is dropped too."""
    return temporal_nms(spans.astype(np.float64), scores, config.nms_iou, top_k, config.nms_max_containment)


def window_starts(n: int, config: ZeroShotConfig) -> np.ndarray:
    """Start clips of the overlapping windows of ``window_clips`` clips that cover a long video."""
    size = config.window_clips
    starts = list(range(0, n - size + 1, max(1, int(size * config.window_stride))))
    if starts[-1] != n - size:
        starts.append(n - size)
    return np.asarray(starts)


def ranked_moments(
    relevance: np.ndarray,
    pooled_levels: np.ndarray,
    subquery_levels: np.ndarray | None,
    top_k: int,
    config: ZeroShotConfig,
    model: dict | None = None,
    contrast: np.ndarray | None = None,
    regions: RegionSiblings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Proposals, scored on the whole-video level curves and suppressed: ``(m, 2)`` clip spans
    and ``(m,)`` scores, best first. Videos longer than ``window_clips`` go coarse-to-fine
    (``model``: the calibration's logistic no-moment model, see :func:`coarse_to_fine`).
    ``contrast``: the look-alike contrast levels of the sub-queries (:func:`.curves.contrast_levels`);
    when given, spans are scored on them instead of ``subquery_levels``."""
    if len(relevance) > config.window_clips:
        return coarse_to_fine(
            relevance, pooled_levels, subquery_levels, top_k, config, model, contrast, regions
        )
    spans = threshold_proposals(relevance, np.asarray(config.levels), config.max_moment_clips)
    scores = span_scores(spans, pooled_levels, subquery_levels if contrast is None else contrast, config)
    keep = suppress(spans, scores, top_k, config)
    return spans[keep], scores[keep]


def coarse_to_fine(
    relevance: np.ndarray,
    pooled_levels: np.ndarray,
    subquery_levels: np.ndarray | None,
    top_k: int,
    config: ZeroShotConfig,
    model: dict | None = None,
    contrast: np.ndarray | None = None,
    regions: RegionSiblings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Long videos. Coarse: every window of ``window_clips`` clips (overlapping) gets the evidence
    of its ``coarse_spans`` best disjoint spans of the level curve (their excess over
    ``coarse_level`` noise units, maximum-subarray sums) plus ``coarse_peak_weight`` x its peak
    (the highest level smoothed by ``coarse_peak_sigma``: with the default weight the peak ranks the
    windows and the excess orders the overlapping ones that share it); the ``coarse_regions``
    best windows are kept. Fine: each kept window is grounded like a short video (proposals cut at
    ``window_levels`` std of its own standardised relevance, not at its mean: the window holds
    other content below the stretch around the moment; scored on the whole-video level curves).
    A moment's score is its window's evidence minus how far its fine score falls below the
    window's best, so the best moment of the best window comes first and
    each kept window's best moment comes before the runners-up of the windows above it.
    Windows are found on the plain sub-query levels, moments inside them scored on ``contrast``
    when given (a look-alike is told apart once its region is in view; turned curves stand out
    less from the background, which finding the region needs).

    With ``coarse_evidence="logistic"`` and a calibrated logistic ``model``, windows are ranked by
    the model's log-odds on each window's curves instead (the evidence the no-moment decision
    uses, so a region is ranked as a short video would be judged)."""
    size = config.window_clips
    level = and_level(pooled_levels, subquery_levels, config)
    starts = window_starts(len(relevance), config)
    # the best disjoint spans' excess of every window at once
    index = starts[:, None] + np.arange(size)[None, :]
    evidence = disjoint_excess(level[index], config.coarse_level, config.coarse_spans)
    if config.coarse_peak_weight > 0:
        # the window's highest smoothed AND level: where the query's parts peak together
        peak = gaussian_smooth(level, config.coarse_peak_sigma)[index].max(axis=1)
        evidence = evidence + config.coarse_peak_weight * peak
    if model is not None and config.coarse_evidence == "logistic":
        evidence = np.array(
            [
                logistic_evidence(
                    evidence_statistics(
                        pooled_levels[s0 : s0 + size],
                        None if subquery_levels is None else subquery_levels[s0 : s0 + size],
                        config,
                    ),
                    model,
                )
                for s0 in starts
            ]
        )
    order = np.argsort(-evidence, kind="stable")[: config.coarse_regions]
    # with sibling_scope="region", each kept window's own look-alike contrast (else the video's)
    window_turned = None
    if contrast is not None and regions is not None and config.sibling_scope == "region":
        window_turned = region_contrast_levels(regions, starts[order], size, config)
    levels = np.asarray(config.window_levels)
    parts = subquery_levels if contrast is None else contrast
    all_spans, all_scores, window_curves = [], [], []
    for rank, w in enumerate(order):
        s0 = int(starts[w])
        window_curves.append(standardize(relevance[s0 : s0 + size]))
        spans = threshold_proposals(window_curves[-1], levels, config.max_moment_clips) + s0
        scored = parts
        if window_turned is not None:
            scored = contrast.copy()
            scored[s0 : s0 + size] = window_turned[rank]
        fine = span_scores(spans, pooled_levels, scored, config)
        all_spans.append(spans)
        all_scores.append(evidence[w] + fine - fine.max())
    spans, scores = np.concatenate(all_spans), np.concatenate(all_scores)
    keep = suppress(spans, scores, top_k, config)
    if len(keep) < top_k:  # too few distinct moments: fill with the windows' cuts at their mean,
        # ranked after every moment above (a short video's proposals), so top-k is honoured
        extra = [
            threshold_proposals(curve, np.asarray(config.levels), config.max_moment_clips) + int(starts[w])
            for curve, w in zip(window_curves, order, strict=True)
        ]
        more = np.concatenate(extra)
        fill = span_scores(more, pooled_levels, parts, config)
        fill = fill - fill.max() + scores.min() - 1.0
        spans, scores = np.concatenate([spans, more]), np.concatenate([scores, fill])
        keep = suppress(spans, scores, top_k, config)
    return spans[keep], scores[keep]
