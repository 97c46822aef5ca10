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
    """One retrieved moment: ``[start, end)`` in seconds and a score (higher is better).

    ``score`` is the grounder's raw ranking score (its scale depends on the grounder and the
    channels); ``confidence`` in [0, 1] means the same for every channel and video: the share of
    unrelated decoy queries whose best evidence in the video this moment beats (None when no
    channel can tell); ``evidence`` names the channel it rests on (the one its confidence comes
    from); ``contributions``: each channel's share of the fused evidence in the moment, as
    ``(channel, share)`` pairs summing to 1, when several channels were fused.
    """

    start: float
    end: float
    score: float
    confidence: float | None = None
    evidence: str = ""
    contributions: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end < self.start:
            raise ValueError(f"invalid moment [{self.start}, {self.end}]")

    @property
    def length(self) -> float:
        return self.end - self.start

    def as_list(self, ndigits: int = 2) -> list[float]:
        """``[start, end, score]``, the QVHighlights ``pred_relevant_windows`` row."""
        return [round(self.start, ndigits), round(self.end, ndigits), round(float(self.score), 4)]

    def to_json(self) -> dict:
        out: dict = {
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "score": round(float(self.score), 4),
        }
        if self.confidence is not None:
            out["confidence"] = round(float(self.confidence), 3)
        if self.evidence:
            out["evidence"] = self.evidence
        if self.contributions:
            out["contributions"] = {name: round(float(share), 3) for name, share in self.contributions}
        return out


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


@dataclass(frozen=True)
class Timeline:
    """How a video is cut into clips: the one owner of clip length.

    ``clip_len`` seconds per clip, ``duration`` seconds of the video, ``n_clips`` clips; clip ``i``
    covers ``[i * clip_len, min((i + 1) * clip_len, duration))``. Features carry their timeline,
    so every later stage reads clip length from the features, never from a second setting.
    """

    clip_len: float
    duration: float
    n_clips: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip_len) and self.clip_len > 0):
            raise ValueError(f"clip length must be a positive number of seconds, got {self.clip_len}")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ValueError(f"duration must be a non-negative number of seconds, got {self.duration}")
        if self.n_clips < 0:
            raise ValueError(f"clip count must be non-negative, got {self.n_clips}")

    @classmethod
    def of(cls, n_clips: int, clip_len: float, duration: float | None = None) -> Timeline:
        """``n_clips`` clips of ``clip_len`` s; ``duration`` defaults to ``n_clips * clip_len``."""
        return cls(float(clip_len), float(n_clips * clip_len if duration is None else duration), int(n_clips))

    @classmethod
    def covering(cls, duration: float, clip_len: float) -> Timeline:
        """The clips that cover ``duration`` seconds (the last one may be partial)."""
        return cls(float(clip_len), float(duration), n_clips_for(duration, clip_len))

    def clip_bounds(self) -> np.ndarray:
        """``(n_clips, 2)`` array of ``[start, end]`` seconds for every clip."""
        return clip_bounds(self.n_clips, self.clip_len, self.duration)

    def with_clips(self, n_clips: int) -> Timeline:
        """The same clip length and duration with another clip count (decoders may differ by one)."""
        return Timeline(self.clip_len, self.duration, int(n_clips))


@dataclass
class ClipFeatures:
    """Per-clip embeddings of one video for one channel.

    ``features``: float32 ``(n_clips, dim)``, L2-normalised rows; ``timeline`` says which seconds
    each row covers. ``model`` names the encoder that made them (an encoder id, or the feature
    folder names of a released feature set). ``unreadable``: ``(start, end)`` seconds of the video
    that could not be decoded (damaged data skipped; those clips show the nearest readable frame).
    """

    features: np.ndarray
    timeline: Timeline
    model: str = ""
    video_id: str = ""
    unreadable: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.features.ndim != 2:
            raise ValueError(f"clip features must be 2-D (n_clips, dim), got shape {self.features.shape}")
        if not isinstance(self.timeline, Timeline):
            raise TypeError(f"timeline must be a Timeline, got {type(self.timeline).__name__}")
        if self.timeline.n_clips != self.features.shape[0]:
            raise ValueError(
                f"{self.features.shape[0]} feature rows but the timeline has {self.timeline.n_clips} clips"
            )

    @property
    def n_clips(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def clip_len(self) -> float:
        return self.timeline.clip_len

    @property
    def duration(self) -> float:
        return self.timeline.duration

    def clip_bounds(self) -> np.ndarray:
        """``(n_clips, 2)`` array of ``[start, end]`` seconds for every clip."""
        return self.timeline.clip_bounds()


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

    ``saliency``: float ``(timeline.n_clips,)``, higher = more relevant. ``no_moment_score`` is the
    grounder's confidence that the query does not happen (None when it does not decide);
    when the grounder rejects the query ``moments`` is empty.
    """

    query: str
    timeline: Timeline
    moments: list[Moment]
    saliency: np.ndarray
    no_moment_score: float | None = None
    channels: list[str] = field(default_factory=list)
    video: str = ""
    qid: int | str | None = None
    subqueries: list[str] = field(default_factory=list)  # the phrases matched together, when any
    subtitle_source: str = ""  # the subtitle file or "embedded track N (lang)" read, when any
    structure: dict | None = None  # a compositional question's parsed form (query/structure.py JSON)
    count: int | None = None  # "how many times": the number of occurrences

    @property
    def duration(self) -> float:
        return self.timeline.duration

    @property
    def clip_len(self) -> float:
        return self.timeline.clip_len

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
        if any(m.confidence is not None or m.evidence for m in self.moments):
            out["moments"] = [m.to_json() for m in self.moments]
        if self.video:
            out["video"] = self.video
        if self.no_moment_score is not None:
            out["no_moment_score"] = round(float(self.no_moment_score), 4)
        out["clip_len"] = self.clip_len
        out["channels"] = list(self.channels)
        if self.subqueries:
            out["subqueries"] = list(self.subqueries)
        if self.subtitle_source:
            out["subtitle_source"] = self.subtitle_source
        if self.structure is not None:
            out["structure"] = self.structure
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True)
class SearchHit:
    """A moment found by a library search: which video, ``[start, end)`` seconds, the grounder's
    raw ``score``, its ``confidence`` (comparable across videos, see :class:`Moment`) and the
    channel it rests on. Hits are ranked by confidence, then score."""

    video: str
    start: float
    end: float
    score: float
    confidence: float | None = None
    evidence: str = ""
    video_id: int | None = None
    watch_query: str = ""  # a moment `watch` found (evidence "watch"): the standing query it matched
    found_at: float | None = None  # ... and when it was found (Unix seconds)
    relevance: float | None = None  # a search with a trained ranker: its relevance of the moment

    def to_json(self) -> dict:
        out: dict = {"video": self.video, "start": round(self.start, 2), "end": round(self.end, 2)}
        out["score"] = round(float(self.score), 4)
        if self.confidence is not None:
            out["confidence"] = round(float(self.confidence), 3)
        if self.evidence:
            out["evidence"] = self.evidence
        if self.watch_query:
            out["watch_query"] = self.watch_query
        if self.found_at is not None:
            out["found_at"] = round(float(self.found_at), 3)
        if self.relevance is not None:
            out["relevance"] = round(float(self.relevance), 4)
        return out


MOMENT_EVENTS = ("start", "update", "end")


@dataclass(frozen=True)
class MomentEvent:
    """What the online grounder announces about a standing query while a stream plays.

    ``event``: ``start`` (a moment has begun: ``t`` is its start), ``update`` (an open moment was
    revised: ``t`` is where its evidence reaches now, ``score`` its new score) or ``end`` (it has
    ended: ``t`` is its end, ``score`` final). Times are seconds of stream time (from the first
    clip); ``at`` is the stream time the event was decided at (``at - t`` is its delay),
    ``moment`` numbers the query's moments from 1, ``start``/``end`` the moment's extent as known.
    """

    query: str
    event: str
    t: float
    score: float
    moment: int = 1
    start: float | None = None
    end: float | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        if self.event not in MOMENT_EVENTS:
            raise ValueError(f"event must be one of {', '.join(MOMENT_EVENTS)}, got {self.event!r}")

    def to_json(self) -> dict:
        out: dict = {"query": self.query, "event": self.event, "t": self.t, "score": self.score}
        out["moment"] = self.moment
        for name in ("start", "end", "at"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
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
