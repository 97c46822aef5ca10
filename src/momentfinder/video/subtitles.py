"""Subtitles and transcripts: sidecar ``.srt``/``.vtt``/``.ass`` files and embedded subtitle streams.

Files come in whatever encoding the tool that wrote them used. :func:`decode_subtitle_bytes`
trusts a byte-order mark (UTF-8, UTF-16 and UTF-32, little or big endian), then strict UTF-8,
then asks ``charset-normalizer`` (cp1252/latin-1, cp1251, Shift-JIS, GB18030, EUC-KR… are told
apart by their statistics; among Latin code pages that fit about equally, cp1252 wins); an
``encoding`` given by the user overrides all of it. Every way a
file can fail (missing, a directory, too large, binary, empty, not a subtitle format, no lines)
is an :class:`~momentfinder.errors.InputError` with one line that names the file.

Which file or stream a video's subtitles come from when there are several is the subtitle
channel's choice (:mod:`momentfinder.channels.subtitles`); this module lists and reads them.
"""

from __future__ import annotations

import codecs
import glob
import logging
import os
import re
from dataclasses import dataclass

import av

from ..errors import InputError
from ..types import SubtitleSegment

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")
MAX_SUBTITLE_BYTES = 64 * 2**20  # a feature film's subtitles are well under 1 MB
_TAGS = re.compile(r"\{[^}]*\}|<[^>]+>")
# Byte-order marks, longest first (a UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# The encodings subtitle files come in, for charset-normalizer to choose from: UTF-16 without a
# mark, the Windows and ISO code pages, KOI8, and the East Asian multi-byte ones. Left out are the Mac, DOS and HP code
# pages, which nobody writes subtitles in but which fit short texts well enough to be picked
# (Greek read as mac_greek, Arabic as mac_cyrillic).
DETECTED_ENCODINGS = (
    "utf_8", "utf_16_le", "utf_16_be", "cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "iso8859_5", "koi8_r",
    "koi8_u", "cp1253", "iso8859_7", "cp1254", "iso8859_9", "cp1255", "iso8859_8", "cp1256", "iso8859_6",
    "cp1257", "iso8859_13", "cp1258", "cp874", "shift_jis", "cp932", "euc_jp", "gb18030",
    "gbk", "gb2312", "big5", "big5hkscs", "euc_kr", "cp949",
)  # fmt: skip
# On a short Western text, cp1252 and the other Latin code pages (cp1250, cp1257…) read nearly
# alike and charset-normalizer's pick among them is a coin toss ("plaît" came back as "plaīt"):
# within this much of the best "chaos" score, cp1252, by far the most common of them, wins.
_CP1252_MARGIN = 0.15


def clean_text(text: str) -> str:
    """Plain text of one subtitle event: styling tags removed, line breaks as spaces."""
    text = _TAGS.sub("", text.replace("\\N", " ").replace("\\n", " "))
    return " ".join(text.split())


# --- encodings ----------------------------------------------------------------------------
def check_encoding(encoding: str) -> str:
    """Python's name for ``encoding`` (``latin1`` → ``iso8859-1``), or an InputError for an unknown one."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise InputError(
            f"unknown subtitle encoding {encoding!r} (e.g. utf-8, cp1252, utf-16, shift_jis)"
        ) from None
    try:
        "".encode(info.name)  # a text codec, not base64 or zlib
    except (LookupError, TypeError):
        raise InputError(f"{encoding!r} is not a text encoding") from None
    return info.name


def decode_subtitle_bytes(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding used)`` of a subtitle file's bytes; a leading byte-order mark is dropped.

    ``encoding``: the user's override (no detection). Raises :class:`InputError` (without a file
    name: the caller adds it) when the bytes are not text in that encoding or in any detected one.
    """
    if encoding is not None:
        name = check_encoding(encoding)
        try:
            return _strip_bom(data.decode(name)), name
        except UnicodeDecodeError as err:
            raise InputError(
                f"not {encoding} text (byte 0x{data[err.start]:02x} at offset {err.start} does not decode)"
            ) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return _strip_bom(data[len(bom) :].decode(name)), name
            except UnicodeDecodeError:
                if name.startswith("utf-32"):
                    continue  # FF FE 00 00 may be a UTF-16-LE mark and a U+0000
                raise InputError(f"starts with a {name} byte-order mark but is not {name} text") from None
    if b"\x00" not in data:  # NULs are valid UTF-8, but UTF-16 without a mark is full of them
        try:
            return _strip_bom(data.decode("utf-8")), "utf-8"
        except UnicodeDecodeError:
            pass
    return _detect(data)


def _detect(data: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    try:
        matches = list(from_bytes(data, cp_isolation=list(DETECTED_ENCODINGS)))
    except (ValueError, LookupError, UnicodeError, IndexError) as err:  # never seen; the detector's own bug
        log.debug("charset-normalizer failed: %s", err)
        matches = []
    if not matches:
        raise InputError("not text in any encoding momentfinder can recognise (binary data?)")
    best = matches[0]
    western = next((m for m in matches if {"cp1252", "latin_1"} & set(m.could_be_from_charset)), None)
    if western is not None and western.chaos <= best.chaos + _CP1252_MARGIN:
        try:
            return _strip_bom(data.decode("cp1252")), "cp1252"
        except UnicodeDecodeError:  # a byte cp1252 leaves unassigned (0x81, 0x8d…): latin-1 has them all
            return _strip_bom(data.decode("latin_1")), "latin_1"
    return _strip_bom(str(best)), best.encoding


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


# --- files --------------------------------------------------------------------------------
def find_sidecars(video_path: str | os.PathLike) -> list[str]:
    """Every ``movie.srt``, ``movie.vtt``, ``movie.en.srt``… next to ``movie.mp4``: plain names
    first (in :data:`SIDECAR_EXTENSIONS` order), then tagged ones (sorted)."""
    stem = os.path.splitext(os.fspath(video_path))[0]
    found = [stem + ext for ext in SIDECAR_EXTENSIONS if os.path.isfile(stem + ext)]
    for ext in SIDECAR_EXTENSIONS:
        found += [p for p in sorted(glob.glob(glob.escape(stem) + ".*" + ext)) if os.path.isfile(p)]
    return list(dict.fromkeys(found))


def find_sidecar(video_path: str | os.PathLike) -> str | None:
    """The first of :func:`find_sidecars`, or None."""
    sidecars = find_sidecars(video_path)
    return sidecars[0] if sidecars else None


def sidecar_tags(video_path: str | os.PathLike, sidecar: str) -> list[str]:
    """The dotted tags between the video's stem and the extension: ``movie.en.forced.srt`` →
    ``["en", "forced"]`` (one of them is usually a language code)."""
    stem = os.path.basename(os.path.splitext(os.fspath(video_path))[0])
    middle = os.path.splitext(os.path.basename(sidecar))[0][len(stem) :]
    return [tag for tag in middle.split(".") if tag]


def read_subtitle_file(path: str | os.PathLike, encoding: str | None = None) -> list[SubtitleSegment]:
    """Segments of a SubRip/WebVTT/ASS/SSA file, sorted by start, empty lines dropped.

    The encoding is detected (module docstring) unless ``encoding`` is given. Raises
    :class:`InputError` with one line for a file that is missing, unreadable, too large, not
    text, empty, not a subtitle format, or without a single timed line.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such subtitle file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a subtitle file (a directory or device)")
    try:
        size = os.path.getsize(path)
        if size > MAX_SUBTITLE_BYTES:
            raise InputError(f"{path}: {size / 2**20:.0f} MB is too large for a subtitle file")
        with open(path, "rb") as f:
            data = f.read(MAX_SUBTITLE_BYTES + 1)
    except OSError as err:
        raise InputError(f"{path}: cannot read the subtitle file ({err.strerror or err})") from None
    try:
        return parse_subtitle_bytes(data, encoding)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def parse_subtitle_bytes(data: bytes, encoding: str | None = None) -> list[SubtitleSegment]:
    """Segments of a subtitle file's bytes (see :func:`read_subtitle_file`); errors name no file."""
    if not data.strip():
        raise InputError("empty subtitle file")
    text, used = decode_subtitle_bytes(data, encoding)
    log.debug("subtitles decoded as %s", used)
    if not text.strip():
        raise InputError("empty subtitle file")
    if "\x00" in text:
        raise InputError(f"not a subtitle file (binary data, read as {used})")
    return parse_subtitle_text(text)


def parse_subtitle_text(text: str) -> list[SubtitleSegment]:
    """Segments of a subtitle file's text (SubRip, WebVTT, ASS/SSA and pysubs2's other formats)."""
    import pysubs2

    try:
        subs = pysubs2.SSAFile.from_string(text)
    except pysubs2.FormatAutodetectionError:
        raise InputError("not a subtitle file (no SubRip, WebVTT or ASS/SSA content)") from None
    except Exception as err:  # a third-party parser on untrusted input: any failure is the file's
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise InputError(f"unreadable subtitle file ({reason})") from None
    segments = []
    for event in subs:
        if event.is_comment:
            continue
        text = clean_text(event.text)
        start, end = max(0, event.start) / 1000.0, event.end / 1000.0
        if text and end > start:
            segments.append(SubtitleSegment(start, end, text))
    if not segments:
        raise InputError(f"no subtitle lines (read as {subs.format or 'subtitles'}, no timed text in it)")
    return sorted(segments, key=lambda s: (s.start, s.end))


# --- embedded streams ---------------------------------------------------------------------
@dataclass(frozen=True)
class SubtitleStream:
    """One embedded subtitle stream. ``index`` counts subtitle streams only (ffmpeg's ``0:s:N``)."""

    index: int
    codec: str
    language: str | None  # the stream's language metadata as written (ISO 639-2 mostly), None if unset
    title: str | None = None
    bitmap: bool = False  # picture subtitles (PGS, VobSub, DVB): no text to read

    def describe(self) -> str:
        """``track 1 (fra)``, ``track 0`` without a language."""
        return f"track {self.index}" + (f" ({self.language})" if self.language else "")


def subtitle_streams(video_path: str | os.PathLike) -> list[SubtitleStream]:
    """The embedded subtitle streams of a media file (empty when it has none or cannot be opened)."""
    try:
        with av.open(os.fspath(video_path), metadata_errors="ignore") as container:
            streams = []
            for i, stream in enumerate(container.streams.subtitles):
                meta = stream.metadata or {}
                language = (meta.get("language") or "").strip()
                codec = stream.codec_context.codec
                streams.append(
                    SubtitleStream(
                        index=i,
                        codec=codec.name,
                        language=language if language and language.lower() != "und" else None,
                        title=(meta.get("title") or "").strip() or None,
                        bitmap=bool(getattr(codec, "bitmap_sub", False)),
                    )
                )
            return streams
    except (av.FFmpegError, OSError, ValueError) as err:
        log.warning("%s: cannot list the embedded subtitle streams (%s)", video_path, err)
        return []


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
    video_path: str | os.PathLike, subtitle_path: str | os.PathLike | None = None, encoding: str | None = None
) -> tuple[list[SubtitleSegment], str]:
    """Subtitles for a video and where they came from, in the simplest order.

    An explicit ``subtitle_path`` wins; then the first sidecar file; then the first embedded
    stream. Returns ``([], "")`` when there are none. The subtitle channel chooses more carefully
    (a language, a track, the query's language; a broken sidecar skipped with a warning).
    """
    if subtitle_path is not None:
        return read_subtitle_file(subtitle_path, encoding), os.fspath(subtitle_path)
    sidecar = find_sidecar(video_path)
    if sidecar:
        return read_subtitle_file(sidecar, encoding), sidecar
    try:
        embedded = read_embedded_subtitles(video_path)
    except av.FFmpegError as err:
        log.warning("%s: embedded subtitles unreadable (%s)", video_path, err)
        embedded = []
    return embedded, ("embedded" if embedded else "")


def format_srt(segments: list[SubtitleSegment]) -> str:
    """Timed lines as an SRT file's text (what :func:`read_subtitle_file` reads back)."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for seg in segments:
        subs.append(
            pysubs2.SSAEvent(
                start=int(round(seg.start * 1000)), end=int(round(seg.end * 1000)), text=seg.text
            )
        )
    return subs.to_string("srt")
