"""momentfinder: find the moments in a video where a sentence happens.

from momentfinder import MomentFinder
result = MomentFinder(visual_model="openai/clip-vit-base-patch32").ground("movie.mp4", "a man opens the door")
"""

from .types import (
    ClipFeatures,
    GroundingResult,
    GroundingSample,
    Moment,
    QueryFeatures,
    SubtitleSegment,
    Timeline,
    VideoInfo,
)

__version__ = "0.1.0"

# Imported on first use: they pull in torch and transformers, which commands such as `eval` never need.
_LAZY = {
    "MomentFinder": "pipeline.finder",
    "FinderConfig": "pipeline.finder",
    "VideoFeatures": "pipeline.finder",
    "SamplingConfig": "channels.visual",
    "Conversation": "pipeline.conversation",
    "parse_query": "pipeline.compose",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClipFeatures",
    "Conversation",
    "FinderConfig",
    "GroundingResult",
    "GroundingSample",
    "Moment",
    "MomentFinder",
    "QueryFeatures",
    "SamplingConfig",
    "SubtitleSegment",
    "Timeline",
    "VideoFeatures",
    "VideoInfo",
    "__version__",
    "parse_query",
]
