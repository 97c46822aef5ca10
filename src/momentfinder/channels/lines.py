"""Timed lines of text (subtitles, a transcript) scored against a query with a sentence encoder.

The subtitle and speech channels share this: a clip's relevance is the best cosine of the query
with a line overlapping it; the channel's weight grows with how well the best line matches, so
lines that never mention the query do not dilute the other channels; a moment found on lines
takes the lines' exact times (:meth:`LineChannel.refine`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..encoders.base import TextEncoder
from ..query import load_decoy_queries, unrelated_decoys
from ..types import SubtitleSegment, Timeline
from .base import ChannelCurve, Query


@dataclass
class SubtitleTrack:
    """The subtitle lines of one video and their embeddings ``(n_lines, dim)`` (L2-normalised)."""

    segments: list[SubtitleSegment]
    embeddings: np.ndarray
    source: str  # the file, or "embedded track N (lang)"
    notes: list[str] = field(default_factory=list)  # sources skipped on the way, for people


class LineChannel:
    """What a channel of timed lines does with its :class:`SubtitleTrack`: relevance and refine.

    ``encoder``: a callable that loads the text encoder on first use; ``weight``: the channel's
    weight in the fusion at full evidence (a line that paraphrases the query is explicit evidence).
    """

    name = "lines"

    def __init__(self, encoder: Callable[[], TextEncoder], weight: float = 2.0):
        self._encoder = encoder
        self.weight = weight
        self._decoys: np.ndarray | None = None  # decoy query embeddings (n_decoys, dim)

    def embed(
        self, segments: list[SubtitleSegment], source: str, notes: list[str] | None = None
    ) -> SubtitleTrack:
        """The lines with their sentence embeddings."""
        embeddings = self._encoder().encode([s.text for s in segments])
        return SubtitleTrack(segments, embeddings, source, list(notes or []))

    def relevance(self, features: SubtitleTrack, query: Query, timeline: Timeline) -> ChannelCurve:
        values = subtitle_relevance(features.segments, features.embeddings, self._embed(query), timeline)
        if self._decoys is None:
            self._decoys = self._encoder().encode(list(load_decoy_queries()))
        # a decoy's best evidence is its best line: the peak of its curve
        chance = (features.embeddings @ self._decoys.T).max(axis=0)[unrelated_decoys(query.text)]
        weight = self.weight * subtitle_evidence_weight(float(values.max()))
        return ChannelCurve(self.name, values, weight, chance, "peak", EVIDENCE_SCALE)

    def refine(self, features: SubtitleTrack, query: Query, start: float, end: float) -> tuple[float, float]:
        """The exact times of the lines that carry a moment ``[start, end]`` (seconds): every line
        overlapping it whose similarity is within 0.05 of the best such line's, instead of the
        clip grid."""
        sims = features.embeddings @ self._embed(query)
        inside = [
            (seg, float(sim))
            for seg, sim in zip(features.segments, sims, strict=True)
            if seg.start < end and seg.end > start
        ]
        if not inside:
            return start, end
        best = max(sim for _, sim in inside)
        lines = [seg for seg, sim in inside if sim >= best - 0.05]
        return min(seg.start for seg in lines), max(seg.end for seg in lines)

    def _embed(self, query: Query) -> np.ndarray:
        key = f"lines:{self._encoder().name}"  # shared by every channel of lines on this encoder
        if key not in query.encodings:
            query.encodings[key] = self._encoder().encode([query.text])[0]
        return query.encodings[key]


def subtitle_relevance(
    segments: Sequence[SubtitleSegment],
    segment_embeddings: np.ndarray,
    query_embedding: np.ndarray,
    timeline: Timeline,
) -> np.ndarray:
    """Per clip, the best cosine similarity of the query to a subtitle line overlapping that clip.

    ``segment_embeddings``: ``(n_segments, dim)`` L2-normalised; clips with no line get 0.
    """
    values = np.zeros(timeline.n_clips, dtype=np.float64)
    if not segments:
        return values
    sims = segment_embeddings @ query_embedding
    bounds = timeline.clip_bounds()
    for seg, sim in zip(segments, sims, strict=True):
        overlap = (bounds[:, 0] < seg.end) & (bounds[:, 1] > seg.start)
        values[overlap] = np.maximum(values[overlap], sim)
    return values


EVIDENCE_SCALE = (0.25, 0.5)  # MiniLM cosine of unrelated sentences, and of paraphrases


def subtitle_evidence_weight(
    best_similarity: float, low: float = EVIDENCE_SCALE[0], high: float = EVIDENCE_SCALE[1]
) -> float:
    """How much the subtitle channel counts: 0 when no line resembles the query (best cosine
    below ``low``, the level of unrelated sentences for MiniLM), 1 from ``high`` (paraphrases) up."""
    return float(np.clip((best_similarity - low) / (high - low), 0.0, 1.0))
