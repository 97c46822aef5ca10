"""Grounding: per-clip relevance (curves or features) → ranked moments.

``make_grounder(name)`` builds a zero-shot grounder by name; the CLI's ``--grounder`` and the
``MomentFinder(grounder=...)`` argument use it.
"""

from __future__ import annotations

from .base import CurveGrounder, Grounder, cosine_curve
from .nms import temporal_iou, temporal_nms
from .windows import WindowGrounder, WindowGrounderConfig
from .zeroshot import ZeroShotConfig, ZeroShotGrounder

# name -> factory; the first entry is the default.
GROUNDERS = {
    "zero-shot": ZeroShotGrounder,
    "windows": WindowGrounder,
}
DEFAULT_GROUNDER = "zero-shot"


def make_grounder(name: str = DEFAULT_GROUNDER):
    from ..errors import InputError

    try:
        return GROUNDERS[name]()
    except KeyError:
        raise InputError(f"unknown grounder {name!r}; choose one of: {', '.join(GROUNDERS)}") from None


__all__ = [
    "CurveGrounder",
    "Grounder",
    "GROUNDERS",
    "DEFAULT_GROUNDER",
    "WindowGrounder",
    "WindowGrounderConfig",
    "ZeroShotConfig",
    "ZeroShotGrounder",
    "cosine_curve",
    "make_grounder",
    "temporal_iou",
    "temporal_nms",
]
