"""Fusion of per-channel relevance curves into the one curve the grounder sees.

Each channel (visual frames, subtitles, later speech and sound) yields a per-clip relevance
curve on its own scale (:class:`~.base.ChannelCurve`); :func:`fuse_curves` combines them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import ChannelCurve


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
