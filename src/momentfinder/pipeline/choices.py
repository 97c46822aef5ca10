"""The names and defaults faces offer users (``--grounder``, ``--precision``, ``--decode``, ...),
owned by the stages that implement them and gathered here so faces import the pipeline only."""

from ..encoders.base import DEFAULT_VISUAL_MODEL, PRECISIONS
from ..encoders.exported import RUNTIMES
from ..grounding.registry import DEFAULT_GROUNDER, GROUNDER_NAMES, GrounderSpec
from ..video.decode import DECODE_MODES

__all__ = [
    "DECODE_MODES",
    "DEFAULT_GROUNDER",
    "DEFAULT_VISUAL_MODEL",
    "GROUNDER_NAMES",
    "PRECISIONS",
    "RUNTIMES",
    "GrounderSpec",
]
