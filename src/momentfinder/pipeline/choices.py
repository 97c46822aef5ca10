"""The names and defaults faces offer users (``--grounder``, ``--precision``, ``--decode``, ...),
owned by the stages that implement them and gathered here so faces import the pipeline only."""

from ..encoders.base import (
    DEFAULT_ASR_MODEL,
    DEFAULT_SOUND_MODEL,
    DEFAULT_VISUAL_MODEL,
    OFFLINE_ASR_MODEL,
    PRECISIONS,
)
from ..encoders.exported import RUNTIMES
from ..grounding.registry import DEFAULT_GROUNDER, GROUNDER_NAMES, GrounderSpec
from ..video.decode import DECODE_MODES
from .finder import CHANNEL_NAMES

__all__ = [
    "CHANNEL_NAMES",
    "DEFAULT_ASR_MODEL",
    "DEFAULT_SOUND_MODEL",
    "OFFLINE_ASR_MODEL",
    "DECODE_MODES",
    "DEFAULT_GROUNDER",
    "DEFAULT_VISUAL_MODEL",
    "GROUNDER_NAMES",
    "PRECISIONS",
    "RUNTIMES",
    "GrounderSpec",
]
