"""Fusion of per-channel relevance curves into the one curve the grounder sees.

Each channel (visual frames, subtitles, speech, sound) yields a per-clip relevance curve on its
own scale (:class:`~.base.ChannelCurve`); :func:`fuse_curves` combines them with the channels'
weights (scaled per query by :func:`apply_weight_factors`, e.g. a sound query weighs the sound
channel up), and :func:`channel_shares` says which channels a moment rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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


def channel_shares(curves: Sequence[ChannelCurve], start: int, end: int) -> dict[str, float]:
    """How much each channel contributes to the clips ``[start, end)`` of the fused curve: each
    active channel's weighted positive standardised part summed over the span, as shares of the
    total (summing to 1; a single channel has all of it). Empty when no channel is above its mean
    there."""
    active = [c for c in curves if c.weight > 0]
    if len(active) == 1:
        return {active[0].name: 1.0}
    parts = {
        c.name: c.weight * float(np.maximum(standardize(c.values), 0.0)[start:end].sum()) for c in active
    }
    total = sum(parts.values())
    if total <= 0:
        return {}
    return {name: part / total for name, part in parts.items() if part > 0}


def apply_weight_factors(curves: Sequence[ChannelCurve], factors: dict[str, float]) -> list[ChannelCurve]:
    """The curves with their weights multiplied by ``factors[name]`` (1 for a channel not named)."""
    return [replace(c, weight=c.weight * factors.get(c.name, 1.0)) for c in curves]
