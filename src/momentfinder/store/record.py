"""The one on-disk record of stored features: what they are, whichever store holds them.

A feature directory's manifest (``videos.jsonl``) holds one :class:`FeatureRecord` per line;
a feature-cache entry holds one beside its array. Both read clip length and duration back
from it, so the stored features carry their :class:`~momentfinder.types.Timeline`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import InputError
from ..types import ClipFeatures, Timeline


@dataclass
class FeatureRecord:
    """One video's stored clip features (seconds).

    ``model``: the encoder that made them (hub id or absolute directory); ``model_fingerprint``:
    its weights (:mod:`momentfinder.encoders.fingerprint`); ``text_model``: the query encoder;
    ``path``: the source video when known; ``unreadable``: ``(start, end)`` seconds of the video
    that could not be decoded (:attr:`ClipFeatures.unreadable`).
    """

    vid: str
    duration: float
    clip_len: float
    n_clips: int
    model: str
    path: str = ""
    text_model: str = ""
    model_fingerprint: str = ""
    unreadable: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        self.duration, self.clip_len, self.n_clips = (
            float(self.duration),
            float(self.clip_len),
            int(self.n_clips),
        )
        self.unreadable = tuple((float(a), float(b)) for a, b in self.unreadable)
        if not self.clip_len > 0:
            raise ValueError(f"clip_len must be positive, got {self.clip_len}")

    @classmethod
    def of(
        cls, clips: ClipFeatures, path: str = "", text_model: str = "", model_fingerprint: str = ""
    ) -> FeatureRecord:
        return cls(
            vid=clips.video_id,
            duration=clips.duration,
            clip_len=clips.clip_len,
            n_clips=clips.n_clips,
            model=clips.model,
            path=os.path.abspath(path) if path else "",
            text_model=text_model,
            model_fingerprint=model_fingerprint,
            unreadable=clips.unreadable,
        )

    @classmethod
    def from_dict(cls, row: dict, where: str) -> FeatureRecord:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in row.items() if k in names})
        except (TypeError, ValueError) as err:
            raise InputError(f"{where}: malformed feature record ({err})") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def timeline(self, n_clips: int | None = None, duration: float | None = None) -> Timeline:
        """The record's timeline; ``n_clips`` / ``duration`` override (rows read, an annotation's duration)."""
        return Timeline.of(
            self.n_clips if n_clips is None else n_clips,
            self.clip_len,
            self.duration if duration is None else duration,
        )

    def clip_features(self, features: np.ndarray) -> ClipFeatures:
        """``features`` ``(n_clips, dim)`` as the :class:`ClipFeatures` this record describes."""
        return ClipFeatures(features, self.timeline(len(features)), self.model, self.vid, self.unreadable)
