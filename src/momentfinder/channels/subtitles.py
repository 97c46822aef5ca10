"""The subtitle/transcript channel: timed lines → sentence embeddings → query relevance.

Lines come from a sidecar ``.srt``/``.vtt``/``.ass`` file or an embedded subtitle stream
(:mod:`momentfinder.video.subtitles`) and are embedded with a text-only sentence encoder
(all-MiniLM-L6-v2 by default, offline). A clip's relevance is the best cosine of the query with a
line overlapping it; the channel's weight grows with how well the best line matches, so
subtitles that never mention the query do not dilute the other channels.

Which subtitles (:meth:`SubtitleChannel.choose`), from the options in :class:`~.base.Media`:

- a file the user named (``subtitle_file``) or a track (``subtitle_track``, counted from 0 among
  the subtitle streams as ffmpeg's ``-map 0:s:N``) is used or the run fails with one line;
- ``subtitle_lang`` keeps the sidecars tagged with that language (``movie.fr.srt``) and the
  streams whose language metadata says so; none is an error;
- otherwise every sidecar (``movie.srt``, ``movie.en.srt``…) and then every text stream is a
  candidate. When they are in two or more languages and the queries are known, the query's
  language (:func:`~momentfinder.query.detect_language`) goes first, then candidates without a
  language, then the others; else sidecars go first, in file order, then streams in order.

A candidate that turns out broken, empty or unreadable is skipped with a note (a warning for
people), and the next one is tried; the source used is :attr:`SubtitleTrack.source`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import av

from ..encoders.base import TextEncoder
from ..errors import InputError
from ..query.language import detect_language, is_language_code, normalize_language, same_language
from ..types import SubtitleSegment
from ..video.subtitles import (
    SubtitleStream,
    check_encoding,
    find_sidecars,
    read_embedded_subtitles,
    read_subtitle_file,
    sidecar_tags,
    subtitle_streams,
)
from .base import ChannelUnavailable, Media
from .lines import (
    EVIDENCE_SCALE,
    LineChannel,
    SubtitleTrack,
    subtitle_evidence_weight,
    subtitle_relevance,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubtitleSource:
    """One place a video's subtitles may come from: a file, or an embedded text stream."""

    path: str  # the subtitle file, or the video for an embedded stream
    language: str | None = None  # ISO 639 code as tagged (file name or stream metadata)
    stream: SubtitleStream | None = None  # None: a file
    named: bool = False  # the user named this very source (a file or a track): failing is an error

    @property
    def label(self) -> str:
        return f"embedded {self.stream.describe()}" if self.stream is not None else self.path


@dataclass
class ChosenSubtitles:
    """What :meth:`SubtitleChannel.choose` read: the lines, where from, and what was skipped."""

    segments: list[SubtitleSegment]
    source: str = ""
    notes: list[str] = field(default_factory=list)


class SubtitleChannel(LineChannel):
    """Subtitle lines matched to the query with a sentence encoder (see module docstring).

    ``encoder``: a callable that loads the text encoder on first use; ``weight``: the channel's
    weight in the fusion at full evidence (a line that paraphrases the query is explicit evidence).
    """

    name = "subtitles"

    def __init__(self, encoder: Callable[[], TextEncoder], weight: float = 2.0):
        super().__init__(encoder, weight)

    def check(self, media: Media) -> None:
        """Refuse the user's subtitle options quickly (before any channel's slow extraction): an
        unknown encoding, a named file that is broken, a track or language the video lacks."""
        if media.subtitle_encoding is not None:
            check_encoding(media.subtitle_encoding)
        if (media.subtitle_file, media.subtitle_lang, media.subtitle_track) == (None, None, None):
            return  # the automatic choice fails softly, in extract
        for source in self.candidates(media):
            if source.named and source.stream is None:
                read_subtitle_file(source.path, media.subtitle_encoding)

    def extract(self, media: Media) -> SubtitleTrack | None:
        chosen = self.choose(media)
        if not chosen.segments:
            if chosen.notes:
                raise ChannelUnavailable("; ".join(chosen.notes))
            return None
        return self.embed(chosen.segments, chosen.source, chosen.notes)

    def choose(self, media: Media) -> ChosenSubtitles:
        """The lines of the first candidate that reads (module docstring); a named source that
        fails raises :class:`InputError`, any other is skipped with a note."""
        notes: list[str] = []
        for source in self.candidates(media):
            try:
                segments = self._read(source, media)
            except InputError as err:
                if source.named:
                    raise
                notes.append(f"{err}; skipped")
                continue
            if notes:
                notes = ["; ".join(notes) + f"; using {source.label}"]
            log.info("subtitles from %s", source.label)
            return ChosenSubtitles(segments, source.label, notes)
        return ChosenSubtitles([], "", notes)

    def _read(self, source: SubtitleSource, media: Media) -> list[SubtitleSegment]:
        stream = source.stream
        if stream is None:
            segments = read_subtitle_file(source.path, media.subtitle_encoding)
        elif stream.bitmap:
            raise InputError(
                f"{source.path}: subtitle {stream.describe()} is pictures ({stream.codec}), not text"
            )
        else:
            try:
                segments = read_embedded_subtitles(source.path, stream.index)
            except av.FFmpegError as err:
                raise InputError(f"{source.path}: subtitle {stream.describe()} unreadable ({err})") from None
            if not segments:
                raise InputError(f"{source.path}: subtitle {stream.describe()} has no text lines")
        inside = [s for s in segments if s.start < media.info.duration]
        if not inside:
            raise InputError(
                f"{source.label}: no line starts before the end of the video ({media.info.duration:.1f} s)"
            )
        return inside

    def candidates(self, media: Media) -> list[SubtitleSource]:
        """Where this video's subtitles may come from, best first (module docstring); raises
        :class:`InputError` for options that cannot be met."""
        if media.subtitle_encoding is not None:
            check_encoding(media.subtitle_encoding)
        lang, track = media.subtitle_lang, media.subtitle_track
        if media.subtitle_file is not None:
            if lang is not None or track is not None:
                raise InputError(
                    "a subtitle language or track chooses among the video's own subtitles; "
                    "it cannot go with a subtitle file"
                )
            return [SubtitleSource(os.fspath(media.subtitle_file), named=True)]
        if lang is not None and normalize_language(lang) is None:
            raise InputError(f"{lang!r} is not an ISO 639 language code (e.g. en, eng, fr, fra, de, ger)")
        streams = subtitle_streams(media.path) if media.info.subtitle_streams else []
        if track is not None:
            return [_named_track(media.path, streams, track, lang)]
        sidecars = [SubtitleSource(p, _sidecar_language(media.path, p)) for p in find_sidecars(media.path)]
        embedded = [SubtitleSource(media.path, s.language, s) for s in streams]
        found = sidecars + embedded
        if lang is not None:
            found = [c for c in found if same_language(c.language, lang)]
            if not found:
                raise InputError(
                    f"{media.path}: no subtitles in language {lang!r}; {_inventory(media, streams)}"
                )
            return found
        return _by_query_language(found, media.queries)


def _named_track(path: str, streams: list[SubtitleStream], track: int, lang: str | None) -> SubtitleSource:
    if track < 0:
        raise InputError(f"subtitle track {track}: tracks count from 0")
    if track >= len(streams):
        have = ", ".join(s.describe() for s in streams) or "none"
        raise InputError(f"{path}: no subtitle track {track} (tracks count from 0; it has: {have})")
    stream = streams[track]
    if lang is not None and not same_language(stream.language, lang):
        raise InputError(f"{path}: subtitle {stream.describe()} is not in language {lang!r}")
    if stream.bitmap:
        raise InputError(f"{path}: subtitle {stream.describe()} is pictures ({stream.codec}), not text")
    return SubtitleSource(path, stream.language, stream, named=True)


def _sidecar_language(video: str, sidecar: str) -> str | None:
    return next((tag for tag in sidecar_tags(video, sidecar) if is_language_code(tag)), None)


def _inventory(media: Media, streams: list[SubtitleStream]) -> str:
    """What subtitles the video has, for an error message."""
    parts = [
        os.path.basename(p) + (f" ({lang})" if (lang := _sidecar_language(media.path, p)) else "")
        for p in find_sidecars(media.path)
    ]
    parts += [f"embedded {s.describe()}" + (" (pictures)" if s.bitmap else "") for s in streams]
    return f"it has: {', '.join(parts)}" if parts else "it has no subtitles"


def _by_query_language(found: list[SubtitleSource], queries: Sequence[str]) -> list[SubtitleSource]:
    """Sidecars then streams; with two or more languages among them, the queries' language first."""
    languages = {normalize_language(c.language) for c in found if c.language}
    wanted = (
        detect_language(queries, [c.language for c in found if c.language]) if len(languages) > 1 else None
    )
    if wanted is not None:
        log.info("subtitles: the queries read as %s", wanted)

    def rank(source: SubtitleSource) -> tuple[bool, int, bool]:
        if wanted is None:
            match = 0
        elif source.language is None:
            match = 1
        else:
            match = 0 if same_language(source.language, wanted) else 2
        pictures = source.stream is not None and source.stream.bitmap  # last: they only explain
        return pictures, match, source.stream is not None

    return sorted(found, key=rank)  # stable: file and stream order within a rank


__all__ = [
    "EVIDENCE_SCALE",
    "SubtitleChannel",
    "SubtitleTrack",
    "subtitle_evidence_weight",
    "subtitle_relevance",
]
