"""Channels: each source of per-clip evidence (frames, subtitles, speech, sound) behind
one :class:`Channel` protocol, and the fusion of their relevance curves."""

from .base import (
    Channel,
    ChannelCurve,
    ChannelUnavailable,
    Media,
    Query,
    best_statistic,
    fit_to_timeline,
    span_confidence,
    span_statistic,
)
from .fusion import apply_weight_factors, channel_shares, fuse_curves, standardize
from .lines import LineChannel
from .sound import SoundChannel
from .speech import SpeechChannel, Transcript, transcribe_chunks, transcribe_file
from .subtitles import SubtitleChannel, SubtitleTrack, subtitle_evidence_weight, subtitle_relevance
from .visual import SamplingConfig, VisualChannel, extract_visual_features

__all__ = [
    "LineChannel",
    "SoundChannel",
    "SpeechChannel",
    "Transcript",
    "apply_weight_factors",
    "channel_shares",
    "transcribe_chunks",
    "transcribe_file",
    "Channel",
    "ChannelCurve",
    "ChannelUnavailable",
    "Media",
    "Query",
    "SamplingConfig",
    "SubtitleChannel",
    "SubtitleTrack",
    "best_statistic",
    "span_confidence",
    "span_statistic",
    "VisualChannel",
    "extract_visual_features",
    "fit_to_timeline",
    "fuse_curves",
    "standardize",
    "subtitle_evidence_weight",
    "subtitle_relevance",
]
