"""Grounding: per-clip relevance (curves or features) → ranked moments.

:func:`build_grounder` (:mod:`.registry`) builds every kind from a :class:`GrounderSpec`: the
zero-shot grounder (default), the sliding-window baseline, or a trained DETR checkpoint.
"""

from __future__ import annotations

from .base import CurveGrounder, Grounder, cosine_curve
from .nms import temporal_iou, temporal_nms
from .registry import DEFAULT_GROUNDER, GROUNDER_NAMES, GrounderSpec, build_grounder, make_grounder
from .windows import WindowGrounder, WindowGrounderConfig
from .zeroshot import ZeroShotConfig, ZeroShotGrounder

__all__ = [
    "CurveGrounder",
    "DEFAULT_GROUNDER",
    "GROUNDER_NAMES",
    "Grounder",
    "GrounderSpec",
    "WindowGrounder",
    "WindowGrounderConfig",
    "ZeroShotConfig",
    "ZeroShotGrounder",
    "build_grounder",
    "cosine_curve",
    "make_grounder",
    "temporal_iou",
    "temporal_nms",
]
