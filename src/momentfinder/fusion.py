"""Per-channel relevance curves and their fusion into one curve for the grounder.

Each channel (visual frames, subtitles, later speech and sound) yields a per-clip relevance
curve on its own scale; :func:`fuse_curves` turns them into the one curve the grounder sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .types import SubtitleSegment, clip_bounds


@dataclass
class ChannelCurve:
    """Relevance of each clip to the query in one channel. ``values``: float ``(n_clips,)``.

    ``weight`` scales the channel in the fusion; 0 means it found no evidence.
    """

    name: str
    values: np.ndarray
    weight: float = 1.0


def subtitle_relevance(
    segments: Sequence[SubtitleSegment],
    segment_embeddings: np.ndarray,
    query_embedding: np.ndarray,
    n_clips: int,
    clip_len: float,
    duration: float,
) -> np.ndarray:
    """Per clip, the best cosine similarity of the query to a subtitle line overlapping that clip.

    ``segment_embeddings``: ``(n_segments, dim)`` L2-normalised; clips with no line get 0.
    """
    values = np.zeros(n_clips, dtype=np.float64)
    if not segments:
        return values
    sims = segment_embeddings @ query_embedding
    bounds = clip_bounds(n_clips, clip_len, duration)
    for seg, sim in zip(segments, sims, strict=True):
        overlap = (bounds[:, 0] < seg.end) & (bounds[:, 1] > seg.start)
        values[overlap] = np.maximum(values[overlap], sim)
    return values


def subtitle_evidence_weight(best_similarity: float, low: float = 0.25, high: float = 0.5) -> float:
    """How much the subtitle channel counts: 0 when no line resembles the query (best cosine
    below ``low``, the level of unrelated sentences for MiniLM), 1 from ``high`` (paraphrases) up."""
    return float(np.clip((best_similarity - low) / (high - low), 0.0, 1.0))


def standardize(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation over the video (a flat curve becomes all zeros)."""
    values = np.asarray(values, dtype=np.float64)
    std = values.std()
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def fuse_curves(curves: Sequence[ChannelCurve]) -> np.ndarray:
    """One relevance curve from equal-length channel curves.

    A single channel passes through unchanged, so a grounder sees the same curve it was
    calibrated on. Several channels are standardised and their positive parts averaged with
    the channel weights: each channel can vouch for a moment, and one channel finding nothing
    there (a visual model blind to speech, subtitles silent about a visual event) does not veto
    another's clear match.
    """
    if not curves:
        raise ValueError("no channel curve to fuse")
    lengths = {len(c.values) for c in curves}
    if len(lengths) != 1:
        raise ValueError(f"channel curves differ in length: {sorted(lengths)}")
    active = [c for c in curves if c.weight > 0]
    if len(active) == 1:
        return np.asarray(active[0].values, dtype=np.float64)
    if not active:
        return np.zeros(lengths.pop(), dtype=np.float64)
    total = sum(c.weight for c in active)
    return sum(c.weight * np.maximum(standardize(c.values), 0.0) for c in active) / total
