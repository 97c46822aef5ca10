"""The library catalog: what a library holds, behind one interface for every database.

A library is one encoder's clip features of many videos, their subtitle lines and a vector
index over every clip. Backends: :mod:`.catalog_sqlite` (the embedded default: one SQLite file in
WAL mode plus an approximate-nearest-neighbour index file beside it) and
:mod:`.catalog_postgres` (PostgreSQL with pgvector, for teams). :func:`open_catalog` picks one
from a location (a path, or a ``postgresql://`` URL).

Every write of a video (its row, features and lines) is one transaction: a killed indexer leaves
the video in flight absent, never half written. A library also keeps the moments ``watch`` found
in live sources (:class:`FoundMoment`, one transaction each), searchable by their query's words. Units: seconds; clip ``i`` of a video covers
``[i * clip_len, (i + 1) * clip_len)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InputError
from ..types import SubtitleSegment

SCHEMA_VERSION = 2  # 2: found_moments (a version 1 library is migrated when opened: the table is added)
CLIP_BITS = 24  # a clip's vector id is (video_id << CLIP_BITS) | clip_index: 16.7 M clips per video


def clip_vector_id(video_id: int, clip_index: int) -> int:
    return (int(video_id) << CLIP_BITS) | int(clip_index)


def split_vector_id(vector_id: int) -> tuple[int, int]:
    """``(video_id, clip_index)`` of a vector id."""
    return int(vector_id) >> CLIP_BITS, int(vector_id) & ((1 << CLIP_BITS) - 1)


@dataclass(frozen=True)
class LibraryInfo:
    """What every video of a library shares: the encoder and the sampling of its features.

    A library is made with one encoder; searching it with another is refused.
    """

    model: str  # encoder name (hub id, or absolute directory)
    model_fingerprint: str  # the weights (momentfinder.encoders.fingerprint)
    dim: int  # feature width
    clip_len: float  # seconds
    sampling: dict = field(default_factory=dict)  # SamplingConfig.as_key()
    text_model: str = ""  # the subtitle channel's sentence encoder
    schema_version: int = SCHEMA_VERSION


@dataclass
class VideoRow:
    """One file of the library. ``status``: ``ok`` (indexed) or ``failed`` (``error`` says why)."""

    path: str  # absolute
    content_hash: str
    size: int
    mtime_ns: int
    duration: float = 0.0
    n_clips: int = 0
    status: str = "ok"
    error: str = ""
    id: int | None = None  # assigned by the catalog
    unreadable: list[list[float]] = field(default_factory=list)  # damaged spans skipped, seconds


@dataclass(frozen=True)
class ClipHit:
    """A clip found by vector search: its video, index and similarity (cosine, higher = closer)."""

    video_id: int
    clip_index: int
    score: float


@dataclass(frozen=True)
class LineHit:
    """A subtitle line found by text search (``rank``: higher = better)."""

    video_id: int
    start: float
    end: float
    text: str
    rank: float


@dataclass(frozen=True)
class FoundMoment:
    """A moment ``watch`` found in a live source: ``[start, end)`` seconds of stream time, the
    standing ``query``, its final ``score``, and ``found_at`` (Unix time its end was decided).
    ``source``: the stream URL (without password) or the file's absolute path. ``rank`` (higher =
    better) is set by :meth:`Catalog.found_moments`; ``id`` by the catalog."""

    source: str
    query: str
    start: float
    end: float
    score: float
    found_at: float
    id: int | None = None
    rank: float = 0.0


@dataclass
class VideoFilter:
    """Which videos a search or listing considers (all fields optional)."""

    path_glob: str | None = None  # fnmatch pattern on the absolute path
    min_duration: float | None = None  # seconds
    max_duration: float | None = None


@runtime_checkable
class Catalog(Protocol):
    """A library's storage. Methods raise :class:`~momentfinder.errors.InputError` with one line
    for a corrupt or foreign database."""

    location: str

    def info(self) -> LibraryInfo | None:
        """The library's encoder and sampling; None for a new, empty library."""
        ...

    def set_info(self, info: LibraryInfo) -> None:
        """Record them (once, when the first video is added)."""
        ...

    def video(self, video_id: int) -> VideoRow | None: ...

    def video_by_path(self, path: str) -> VideoRow | None: ...

    def videos_by_hash(self, content_hash: str) -> list[VideoRow]: ...

    def videos(self, status: str | None = None, where: VideoFilter | None = None) -> list[VideoRow]: ...

    def add_video(
        self,
        row: VideoRow,
        features: np.ndarray | None,
        lines: list[SubtitleSegment] | None = None,
        line_embeddings: np.ndarray | None = None,
    ) -> int:
        """Insert (or replace, by path) one video with its features ``(n_clips, dim)`` float32, its
        subtitle lines and their embeddings, in one transaction; returns its id. A failed video has
        no features."""
        ...

    def move_video(self, video_id: int, path: str, size: int, mtime_ns: int) -> None:
        """A known file seen under a new path (renamed or moved): keep its features."""
        ...

    def remove_video(self, video_id: int) -> None: ...

    def features(self, video_id: int) -> np.ndarray:
        """``(n_clips, dim)`` float32 of one video."""
        ...

    def lines(self, video_id: int) -> tuple[list[SubtitleSegment], np.ndarray | None]:
        """Subtitle lines of one video and their embeddings ``(n_lines, dim)`` (None without)."""
        ...

    def search_clips(self, query: np.ndarray, k: int, where: VideoFilter | None = None) -> list[ClipHit]:
        """The ``k`` clips nearest to the unit ``query`` ``(dim,)`` (approximate), best first."""
        ...

    def search_lines(self, text: str, k: int, where: VideoFilter | None = None) -> list[LineHit]:
        """Full-text search over subtitle lines, best first."""
        ...

    def add_found_moment(self, moment: FoundMoment) -> int:
        """Record one moment found by ``watch`` (one transaction); returns its id."""
        ...

    def found_moments(self, text: str, k: int) -> list[FoundMoment]:
        """The ``k`` found moments whose query holds the most of the words of ``text`` (full-text
        search, no stemming), best first, with their ``rank``."""
        ...

    def count_found_moments(self) -> int: ...

    def verify(self) -> list[str]:
        """One line per inconsistency (missing features, index out of date, ...); empty = healthy."""
        ...

    def close(self) -> None: ...


def open_catalog(location: str | os.PathLike, create: bool = True) -> Catalog:
    """The catalog at ``location``: ``postgresql://...`` → PostgreSQL + pgvector; anything else is a
    SQLite file path (created when missing and ``create``)."""
    location = os.fspath(location)
    if location.startswith(("postgresql://", "postgres://")):
        from .catalog_postgres import PostgresCatalog

        return PostgresCatalog(location, create=create)
    from .catalog_sqlite import SqliteCatalog

    if not create and not os.path.exists(location):
        raise InputError(
            f"no library at {location} (create one with `momentfinder index add ... --db {location}`)"
        )
    return SqliteCatalog(location)
