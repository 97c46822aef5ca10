"""Grounding v1: multi-scale sliding windows over a smoothed relevance curve.

Small and predictable: smooth the curve, score every candidate window at several lengths by
its mean inside minus its mean outside (so a window that covers the whole high region beats
a sub-window of it), suppress overlaps with temporal NMS, keep the top k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..types import ClipFeatures, GroundingResult, Moment, QueryFeatures, Timeline
from .base import cosine_curve
from .nms import temporal_nms


@dataclass
class WindowGrounderConfig:
    smooth_sigma: float = 0.5  # clips; Gaussian smoothing of the curve (0 = off)
    min_len: int = 1  # clips
    max_len_ratio: float = 0.5  # longest window as a share of the video (at least min_len)
    scale_step: float = 1.25  # window lengths grow geometrically by this factor
    stride_ratio: float = 0.25  # stride = max(1, length * stride_ratio)
    nms_iou: float = 0.3
    nms_max_containment: float = 0.75  # drop windows mostly inside a better one


def window_lengths(n_clips: int, cfg: WindowGrounderConfig) -> list[int]:
    """Candidate window lengths in clips: geometric from ``min_len`` to ``max_len_ratio * n_clips``."""
    longest = max(cfg.min_len, int(round(cfg.max_len_ratio * n_clips)))
    lengths, length = [], float(cfg.min_len)
    while int(round(length)) <= min(longest, n_clips):
        if not lengths or int(round(length)) != lengths[-1]:
            lengths.append(int(round(length)))
        length = max(length * cfg.scale_step, length + 1)
    return lengths


def inside_outside_scores(
    curve: np.ndarray, lengths: list[int], stride_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate window (clip indices ``[s, e)``) and its mean-inside minus mean-outside score."""
    n = len(curve)
    csum = np.concatenate([[0.0], np.cumsum(curve, dtype=np.float64)])
    total = csum[-1]
    spans, scores = [], []
    for length in lengths:
        stride = max(1, int(length * stride_ratio))
        starts = np.arange(0, n - length + 1, stride)
        if starts[-1] != n - length:
            starts = np.append(starts, n - length)
        ends = starts + length
        inside = csum[ends] - csum[starts]
        mean_in = inside / length
        n_out = n - length
        mean_out = (total - inside) / n_out if n_out > 0 else np.zeros_like(inside)
        spans.append(np.stack([starts, ends], axis=1))
        scores.append(mean_in - mean_out)
    return np.concatenate(spans), np.concatenate(scores)


class WindowGrounder:
    """Zero-shot grounder v1 (see module docstring). Implements both grounder protocols."""

    def __init__(self, config: WindowGrounderConfig | None = None):
        self.config = config or WindowGrounderConfig()

    def ground_curve(
        self, curve: np.ndarray, timeline: Timeline, query: str = "", top_k: int = 10
    ) -> GroundingResult:
        cfg = self.config
        curve = np.asarray(curve, dtype=np.float64)
        if curve.ndim != 1 or len(curve) == 0:
            raise ValueError("the relevance curve must be a non-empty 1-D array")
        if len(curve) != timeline.n_clips:
            raise ValueError(f"the curve has {len(curve)} values for {timeline.n_clips} clips")
        clip_len, duration = timeline.clip_len, timeline.duration
        smoothed = (
            gaussian_filter1d(curve, cfg.smooth_sigma, mode="nearest") if cfg.smooth_sigma > 0 else curve
        )
        spans, scores = inside_outside_scores(smoothed, window_lengths(len(curve), cfg), cfg.stride_ratio)
        seconds = np.minimum(spans * clip_len, duration).astype(np.float64)
        keep = temporal_nms(seconds, scores, cfg.nms_iou, top_k, cfg.nms_max_containment)
        moments = [Moment(float(seconds[i, 0]), float(seconds[i, 1]), float(scores[i])) for i in keep]
        lo, hi = smoothed.min(), smoothed.max()
        saliency = (smoothed - lo) / (hi - lo) if hi > lo else np.zeros_like(smoothed)
        return GroundingResult(query=query, timeline=timeline, moments=moments, saliency=saliency)

    def ground(self, clips: ClipFeatures, query: QueryFeatures, top_k: int = 10) -> GroundingResult:
        result = self.ground_curve(cosine_curve(clips, query), clips.timeline, query.text, top_k)
        result.video = clips.video_id
        return result
