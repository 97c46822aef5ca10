"""The ``Channel`` protocol: what every source of evidence (frames, subtitles, later speech and
sound) gives the pipeline.

A channel turns one video into features once (:meth:`Channel.extract`) and, for each query, a
per-clip relevance curve on the video's :class:`~momentfinder.types.Timeline`
(:meth:`Channel.relevance`). The pipeline extracts every channel, fuses the curves
(:mod:`.fusion`) and grounds the result; adding a channel is one new module, not a branch in
the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..types import Timeline, VideoInfo


class ChannelUnavailable(Exception):
    """A channel cannot run on this video; ``str(err)`` says why, for people (a note, not a failure)."""


@dataclass
class Media:
    """One video as the channels see it: its probe, any user-given side files and per-video options."""

    info: VideoInfo
    timeline: Timeline  # the clips every channel's curve is laid on
    subtitle_file: str | None = None  # None: sidecar or embedded subtitles, when present
    subtitle_encoding: str | None = None  # the subtitle files' encoding; None: detected per file
    subtitle_lang: str | None = None  # ISO 639 code: the sidecar/embedded subtitles in this language
    subtitle_track: int | None = None  # the N-th embedded subtitle stream (from 0, as ffmpeg's 0:s:N)
    queries: tuple[str, ...] = ()  # the queries to come, when known (the subtitles in their language)
    audio_stream: int | None = None  # the N-th audio stream (from 0, as ffmpeg's 0:a:N); None: default

    @property
    def path(self) -> str:
        return self.info.path


@dataclass
class Query:
    """One query and its encodings, computed once per channel (``encodings[channel name]``)."""

    text: str
    encodings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChannelCurve:
    """Relevance of each clip to the query in one channel. ``values``: float ``(n_clips,)``.

    ``weight`` scales the channel in the fusion; 0 means it found no evidence. ``chance``: the
    best evidence each unrelated decoy query finds anywhere in this video ``(n_decoys,)``, on the
    same statistic (``"peak"``: the highest value in a span; ``"excess"``: the sum of the values
    above 1 over a span, for curves in noise units), from which :func:`span_confidence` says how
    much a span's evidence means. None: the channel cannot tell. ``scale``: where the channel's
    statistic has an absolute meaning, the ``(none, full)`` levels between which evidence goes
    from nothing to full strength (MiniLM cosines: 0.25 unrelated, 0.5 a paraphrase).
    """

    name: str
    values: np.ndarray
    weight: float = 1.0
    chance: np.ndarray | None = None
    statistic: str = "peak"
    scale: tuple[float, float] | None = None


def span_statistic(values: np.ndarray, statistic: str) -> float:
    """The evidence of a span's values: its peak, or its summed excess over 1 noise unit."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return -np.inf
    return float(values.max()) if statistic == "peak" else float(np.sum(values - 1.0))


def best_statistic(values: np.ndarray, statistic: str) -> float:
    """The best :func:`span_statistic` of any span of a curve (a maximum-subarray sum for ``excess``)."""
    values = np.asarray(values, dtype=np.float64)
    if statistic == "peak":
        return float(values.max()) if len(values) else -np.inf
    csum = np.concatenate([[0.0], np.cumsum(values - 1.0)])
    return float((csum - np.minimum.accumulate(csum)).max())


def span_confidence(curve: ChannelCurve, start: int, end: int) -> float | None:
    """Confidence in [0, 1) of the clips ``[start, end)`` on ``curve``: the share of decoy queries
    whose best evidence in the whole video this span beats, ``beaten / (n_decoys + 1)``; a span
    that beats them all goes on towards 1 with its margin over the best decoy in units of the
    decoys' spread, ``1 - exp(-margin) / (n_decoys + 1)`` (continuous at the top decoy, so two
    strong moments stay ordered); times the evidence's absolute strength on the channel's
    ``scale`` when it has one. None when the channel has no decoys."""
    if curve.chance is None or not len(curve.chance):
        return None
    chance = np.asarray(curve.chance, dtype=np.float64)
    stat = span_statistic(curve.values[start:end], curve.statistic)
    beaten, n = int(np.sum(chance < stat)), len(chance)
    if beaten < n:
        share = beaten / (n + 1)
    else:
        margin = (stat - float(chance.max())) / max(float(chance.std()), 1e-6)
        share = 1.0 - float(np.exp(-margin)) / (n + 1)
    if curve.scale is None:
        return share
    low, high = curve.scale
    return share * float(np.clip((stat - low) / (high - low), 0.0, 1.0))


@runtime_checkable
class Channel(Protocol):
    """One source of per-clip evidence."""

    name: str

    def extract(self, media: Media) -> Any | None:
        """This channel's features of ``media``; None when the video has nothing for it (no
        subtitles); raises :class:`ChannelUnavailable` when it could have but cannot run.

        Features may carry ``notes`` (a list of str): what the channel skipped on the way (a broken
        sidecar file), which the pipeline adds to the video's notes. A channel may also have a
        ``check(media)`` method, called for every channel before any extracts, that raises
        :class:`~momentfinder.errors.InputError` for options it cannot meet (fail before slow work).
        """
        ...

    def relevance(self, features: Any, query: Query, timeline: Timeline) -> ChannelCurve:
        """Per-clip relevance of ``query`` on ``timeline`` (``timeline.n_clips`` values)."""
        ...


def fit_to_timeline(values: np.ndarray, timeline: Timeline) -> np.ndarray:
    """Pad (edge) or trim a curve to ``timeline.n_clips`` (decoders may disagree by one clip)."""
    values = np.asarray(values, dtype=np.float64)
    n = timeline.n_clips
    if len(values) >= n:
        return values[:n]
    return np.pad(values, (0, n - len(values)), mode="edge")
