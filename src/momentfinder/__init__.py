"""momentfinder: find the moments in a video where a sentence happens."""

from .types import (
    ClipFeatures,
    GroundingResult,
    GroundingSample,
    Moment,
    QueryFeatures,
    SubtitleSegment,
    VideoInfo,
)

__version__ = "0.1.0"

__all__ = [
    "ClipFeatures",
    "GroundingResult",
    "GroundingSample",
    "Moment",
    "QueryFeatures",
    "SubtitleSegment",
    "VideoInfo",
    "__version__",
]
