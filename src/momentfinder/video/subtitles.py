"""Subtitles and transcripts: sidecar ``.srt``/``.vtt``/``.ass`` files and embedded subtitle streams."""

from __future__ import annotations

import glob
import logging
import os
import re

import av

from ..errors import InputError
from ..types import SubtitleSegment

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")
_TAGS = re.compile(r"\{[^}]*\}|<[^>]+>")


def clean_text(text: str) -> str:
    """Plain text of one subtitle event: styling tags removed, line breaks as spaces."""
    text = _TAGS.sub("", text.replace("\\N", " ").replace("\\n", " "))
    return " ".join(text.split())


def find_sidecar(video_path: str | os.PathLike) -> str | None:
    """``movie.srt``, ``movie.vtt``, ``movie.en.srt``… next to ``movie.mp4`` (first match wins)."""
    stem = os.path.splitext(os.fspath(video_path))[0]
    for ext in SIDECAR_EXTENSIONS:
        if os.path.isfile(stem + ext):
            return stem + ext
    for ext in SIDECAR_EXTENSIONS:
        matches = sorted(glob.glob(glob.escape(stem) + ".*" + ext))
        if matches:
            return matches[0]
    return None


def read_subtitle_file(path: str | os.PathLike) -> list[SubtitleSegment]:
    """Segments of a SubRip/WebVTT/ASS file, sorted by start, empty lines dropped."""
    import pysubs2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such subtitle file")
    try:
        subs = pysubs2.load(path, encoding="utf-8")
    except (pysubs2.Pysubs2Error, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a readable subtitle file ({err})") from None
    segments = []
    for event in subs:
        if event.is_comment:
            continue
        text = clean_text(event.text)
        if text and event.end > event.start:
            segments.append(SubtitleSegment(event.start / 1000.0, event.end / 1000.0, text))
    return sorted(segments, key=lambda s: (s.start, s.end))


def read_embedded_subtitles(video_path: str | os.PathLike, stream_index: int = 0) -> list[SubtitleSegment]:
    """Text segments of the ``stream_index``-th embedded subtitle stream (empty if there is none)."""
    segments = []
    with av.open(os.fspath(video_path), metadata_errors="ignore") as container:
        if len(container.streams.subtitles) <= stream_index:
            return []
        stream = container.streams.subtitles[stream_index]
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            try:
                decoded = packet.decode()
            except av.FFmpegError as err:
                log.warning("%s: skipping an undecodable subtitle packet (%s)", video_path, err)
                continue
            texts = [_subtitle_text(item) for item in decoded]
            text = clean_text(" ".join(t for t in texts if t))
            if text and end > start:
                segments.append(SubtitleSegment(start, end, text))
    return sorted(segments, key=lambda s: (s.start, s.end))


def _subtitle_text(item) -> str:
    """Text of one decoded subtitle: PyAV yields text/ASS subtitles, or (older releases) sets of them."""
    if hasattr(item, "rects") or not hasattr(item, "ass"):
        return " ".join(_subtitle_text(rect) for rect in item)
    raw = getattr(item, "dialogue", b"") or getattr(item, "text", b"") or getattr(item, "ass", b"")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return _ass_dialogue_text(raw)


def _ass_dialogue_text(raw: str) -> str:
    """The text field of an ASS dialogue line (FFmpeg hands subtitles over as ASS events)."""
    if raw.startswith("Dialogue:") or raw.count(",") >= 8:
        return raw.split(",", 8)[-1]
    return raw


def load_subtitles(
    video_path: str | os.PathLike, subtitle_path: str | os.PathLike | None = None
) -> tuple[list[SubtitleSegment], str]:
    """Subtitles for a video and where they came from.

    An explicit ``subtitle_path`` wins; then a sidecar file; then the first embedded stream.
    Returns ``([], "")`` when there are none.
    """
    if subtitle_path is not None:
        return read_subtitle_file(subtitle_path), os.fspath(subtitle_path)
    sidecar = find_sidecar(video_path)
    if sidecar:
        return read_subtitle_file(sidecar), sidecar
    try:
        embedded = read_embedded_subtitles(video_path)
    except av.FFmpegError as err:
        log.warning("%s: embedded subtitles unreadable (%s)", video_path, err)
        embedded = []
    return embedded, ("embedded" if embedded else "")
