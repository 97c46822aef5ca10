"""Dataclasses that cross stage boundaries.

Units: every time is in **seconds** unless the name says ``clip`` (a clip index).
Arrays are numpy; shapes are given in the field comments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Moment:
    """One retrieved moment: ``[start, end)`` in seconds and a score (higher is better)."""

    start: float
    end: float
    score: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end < self.start:
            raise ValueError(f"invalid moment [{self.start}, {self.end}]")

    @property
    def length(self) -> float:
        return self.end - self.start

    def as_list(self, ndigits: int = 2) -> list[float]:
        """``[start, end, score]``, the QVHighlights ``pred_relevant_windows`` row."""
        return [round(self.start, ndigits), round(self.end, ndigits), round(float(self.score), 4)]


@dataclass(frozen=True)
class VideoInfo:
    """What a probe of a media file found. ``duration`` is always known (seconds) for a readable file."""

    path: str
    duration: float
    fps: float | None  # average frame rate of the video stream; None without video
    width: int | None
    height: int | None
    has_video: bool
    has_audio: bool
    subtitle_streams: int = 0
    variable_frame_rate: bool = False


@dataclass(frozen=True)
class SubtitleSegment:
    """One subtitle/transcript line, ``[start, end)`` seconds."""

    start: float
    end: float
    text: str


@dataclass
class ClipFeatures:
    """Per-clip embeddings of one video for one channel.

    ``features``: float32 ``(n_clips, dim)``, L2-normalised rows. Clip ``i`` covers
    ``[i * clip_len, min((i + 1) * clip_len, duration))`` seconds.
    """

    features: np.ndarray
    clip_len: float
    duration: float
    model: str = ""
    video_id: str = ""

    def __post_init__(self) -> None:
        if self.features.ndim != 2:
            raise ValueError(f"clip features must be 2-D (n_clips, dim), got shape {self.features.shape}")

    @property
    def n_clips(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def clip_bounds(self) -> np.ndarray:
        """``(n_clips, 2)`` array of ``[start, end]`` seconds for every clip."""
        return clip_bounds(self.n_clips, self.clip_len, self.duration)


@dataclass
class QueryFeatures:
    """Text embedding of one query. ``pooled``: ``(dim,)`` L2-normalised; ``tokens``: ``(n_tokens, dim)`` or None.

    ``parts``: ``(n_parts, dim)`` embeddings of the query's sub-query phrases, each encoded as a
    sentence of its own (:mod:`momentfinder.query`), with their texts in ``part_texts``; None when
    the query was not decomposed (released feature sets hold only ``tokens``).
    """

    text: str
    pooled: np.ndarray
    tokens: np.ndarray | None = None
    model: str = ""
    parts: np.ndarray | None = None
    part_texts: tuple[str, ...] = ()


@dataclass
class GroundingResult:
    """Ranked moments for one query in one video, plus a per-clip saliency curve.

    ``saliency``: float ``(n_clips,)``, higher = more relevant. ``no_moment_score`` is the
    grounder's confidence that the query does not happen (None when it does not decide);
    when the grounder rejects the query ``moments`` is empty.
    """

    query: str
    duration: float
    clip_len: float
    moments: list[Moment]
    saliency: np.ndarray
    no_moment_score: float | None = None
    channels: list[str] = field(default_factory=list)
    video: str = ""
    qid: int | str | None = None
    subqueries: list[str] = field(default_factory=list)  # the phrases matched together, when any

    def to_json(self) -> dict:
        """The Lighthouse / QVHighlights prediction convention."""
        out: dict = {}
        if self.qid is not None:
            out["qid"] = self.qid
        out.update(
            {
                "query": self.query,
                "duration": round(self.duration, 3),
                "pred_relevant_windows": [m.as_list() for m in self.moments],
                "pred_saliency_scores": [round(float(s), 4) for s in self.saliency],
            }
        )
        if self.video:
            out["video"] = self.video
        if self.no_moment_score is not None:
            out["no_moment_score"] = round(float(self.no_moment_score), 4)
        out["clip_len"] = self.clip_len
        out["channels"] = list(self.channels)
        if self.subqueries:
            out["subqueries"] = list(self.subqueries)
        return out


@dataclass
class GroundingSample:
    """One annotated query, read from any supported dataset format.

    ``windows``: ground-truth moments ``[[start, end], ...]`` seconds (empty for a negative query).
    ``saliency_clip_ids`` / ``saliency_scores``: QVHighlights-style highlight labels (clip indices,
    one row of per-annotator scores per clip), empty when the dataset has none.
    """

    qid: int | str
    query: str
    vid: str
    duration: float
    windows: list[list[float]]
    saliency_clip_ids: list[int] = field(default_factory=list)
    saliency_scores: list[list[float]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def clip_bounds(n_clips: int, clip_len: float, duration: float) -> np.ndarray:
    """``(n_clips, 2)`` seconds: clip ``i`` is ``[i*clip_len, min((i+1)*clip_len, duration)]``."""
    starts = np.arange(n_clips, dtype=np.float64) * clip_len
    ends = np.minimum(starts + clip_len, max(duration, starts[-1] + 1e-3 if n_clips else 0.0))
    return np.stack([starts, ends], axis=1)


def n_clips_for(duration: float, clip_len: float) -> int:
    """Number of clips covering ``duration`` seconds (the last one may be partial)."""
    if duration <= 0:
        return 0
    return max(1, math.ceil(duration / clip_len - 1e-6))
