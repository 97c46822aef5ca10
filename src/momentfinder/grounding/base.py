"""The grounder interfaces every grounding method implements.

Two levels, so one method serves every caller:

* :class:`CurveGrounder` turns a per-clip relevance curve (any channel, or several fused)
  into ranked moments. Zero-shot methods work at this level, which lets the finder fuse
  visual, subtitle and later speech/sound channels before grounding.
* :class:`Grounder` works on clip and query features directly (trained models such as a
  DETR need the features, not a curve). :func:`cosine_curve` adapts a curve grounder.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..types import ClipFeatures, GroundingResult, QueryFeatures, Timeline


@runtime_checkable
class CurveGrounder(Protocol):
    """Ranked moments from a per-clip relevance curve."""

    def ground_curve(
        self, curve: np.ndarray, timeline: Timeline, query: str = "", top_k: int = 10
    ) -> GroundingResult:
        """``curve``: float ``(timeline.n_clips,)``, higher = more relevant."""
        ...


@runtime_checkable
class Grounder(Protocol):
    """Ranked moments from clip features and query features."""

    def ground(self, clips: ClipFeatures, query: QueryFeatures, top_k: int = 10) -> GroundingResult: ...


def cosine_curve(clips: ClipFeatures, query: QueryFeatures) -> np.ndarray:
    """Cosine similarity of every clip to the pooled query: float ``(n_clips,)``."""
    f = clips.features.astype(np.float32, copy=False)
    q = query.pooled.astype(np.float32, copy=False)
    fn = np.linalg.norm(f, axis=1)
    qn = float(np.linalg.norm(q))
    return (f @ q) / np.maximum(fn * qn, 1e-8)
