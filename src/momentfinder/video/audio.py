"""Audio of any container as mono float32 chunks at a fixed sample rate, in constant memory.

    for chunk in iter_audio_chunks("talk.mkv", chunk_s=30.0, sample_rate=16_000):
        model(chunk.samples)           # (n,) float32 in [-1, 1], chunk.start seconds into the file

PyAV decodes and resamples (``AudioResampler``: any codec, layout and rate → mono ``flt``); the
chunks are cut from a small rolling buffer, so hours of audio never sit in memory at once.
Samples are placed by the decoded frames' timestamps: a gap in the stream (a damaged packet
dropped, a stream that starts late) becomes silence, so times stay true to the video's clock.

Which stream (:func:`choose_audio_stream`): the N-th audio stream when asked (from 0, as ffmpeg's
``-map 0:a:N``), else the one flagged default, else the first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from ..errors import InputError, MediaError
from .decode import check_readable, decode_frames, open_media

SPEECH_SAMPLE_RATE = 16_000  # Whisper, pocketsphinx
_MAX_GAP_S = 3600.0  # a timestamp jump beyond this is a broken clock, not a gap to fill with silence


@dataclass(frozen=True)
class AudioStream:
    """One audio stream of a file: ``number`` counts the audio streams from 0 (``0:a:N``)."""

    number: int
    index: int  # the container's stream index
    codec: str
    channels: int
    sample_rate: int
    language: str | None = None
    default: bool = False

    def describe(self) -> str:
        lang = f", {self.language}" if self.language else ""
        return f"audio track {self.number} ({self.codec}, {self.channels} ch, {self.sample_rate} Hz{lang})"


@dataclass
class AudioChunk:
    """``samples``: mono float32 ``(n,)`` at the reader's rate, starting ``start`` seconds in."""

    start: float
    samples: np.ndarray

    def duration(self, sample_rate: int) -> float:
        return len(self.samples) / sample_rate


@dataclass
class AudioReport:
    """What reading the audio met: damaged packets dropped (seconds, where known)."""

    damaged: list[float | None] = field(default_factory=list)
    end: float = 0.0  # seconds of audio delivered


def audio_streams(path: str | os.PathLike) -> list[AudioStream]:
    """The audio streams of ``path``, in order."""
    path = check_readable(path)
    with open_media(path) as container:
        return [_describe(n, s) for n, s in enumerate(container.streams.audio)]


def _describe(number: int, stream: av.audio.stream.AudioStream) -> AudioStream:
    ctx = stream.codec_context
    lang = (stream.metadata or {}).get("language")
    return AudioStream(
        number=number,
        index=stream.index,
        codec=ctx.name if ctx is not None else "unknown",
        channels=int(getattr(ctx, "channels", 0) or 0),
        sample_rate=int(getattr(ctx, "sample_rate", 0) or 0),
        language=lang if lang and lang != "und" else None,
        default=bool(stream.disposition & av.stream.Disposition.default),
    )


def choose_audio_stream(streams: list[AudioStream], wanted: int | None, path: str = "") -> AudioStream:
    """The stream to read (module docstring); :class:`InputError` when there is none or no N-th."""
    if not streams:
        raise MediaError(f"{path}: has no audio stream")
    if wanted is not None:
        if wanted < 0 or wanted >= len(streams):
            have = "; ".join(s.describe() for s in streams)
            raise InputError(f"{path}: no audio track {wanted} (tracks count from 0; it has: {have})")
        return streams[wanted]
    return next((s for s in streams if s.default), streams[0])


def iter_audio_chunks(
    path: str | os.PathLike,
    chunk_s: float = 30.0,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    stream: int | None = None,
    report: AudioReport | None = None,
) -> Iterator[AudioChunk]:
    """Consecutive chunks of ``chunk_s`` seconds (the last one shorter) of one audio stream.

    ``stream``: the N-th audio stream (None: :func:`choose_audio_stream`'s default). Raises
    :class:`MediaError` for a file without audio or whose audio cannot be read at all; damaged
    packets inside are dropped (their time goes to ``report.damaged``) and become silence.
    """
    if chunk_s <= 0:
        raise ValueError(f"chunk length must be positive, got {chunk_s}")
    path = check_readable(path)
    report = report if report is not None else AudioReport()
    size = max(1, int(round(chunk_s * sample_rate)))
    with open_media(path) as container:
        streams = [_describe(n, s) for n, s in enumerate(container.streams.audio)]
        chosen = choose_audio_stream(streams, stream, path)
        av_stream = container.streams.audio[chosen.number]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        origin = _origin(container, av_stream)
        buffer: list[np.ndarray] = []
        buffered = 0  # samples in buffer
        emitted = 0  # samples handed out before the buffer
        placed = 0  # samples placed so far (emitted + buffered)
        decoded_any = False
        for frame, samples in _resampled(
            decode_frames(container, av_stream, report.damaged.append), resampler
        ):
            decoded_any = decoded_any or frame is not None
            if frame is not None and frame.pts is not None and frame.time_base is not None:
                at = int(round((float(frame.pts * frame.time_base) - origin) * sample_rate))
                gap = at - placed
                if sample_rate // 50 < gap < _MAX_GAP_S * sample_rate:
                    buffer.append(np.zeros(gap, dtype=np.float32))  # a hole: silence keeps the clock
                    buffered += gap
                    placed += gap
            buffer.append(samples)
            buffered += len(samples)
            placed += len(samples)
            while buffered >= size:
                joined = np.concatenate(buffer)
                yield AudioChunk(emitted / sample_rate, joined[:size].copy())
                emitted += size
                rest = joined[size:]
                buffer, buffered = ([rest] if len(rest) else []), len(rest)
        if not decoded_any:
            raise MediaError(f"{path}: its {chosen.describe()} cannot be decoded")
        if buffered:
            yield AudioChunk(emitted / sample_rate, np.concatenate(buffer))
            emitted += buffered
        report.end = emitted / sample_rate


def _resampled(
    frames: Iterator[av.frame.Frame], resampler: av.AudioResampler
) -> Iterator[tuple[av.frame.Frame | None, np.ndarray]]:
    """(decoded frame, its samples resampled to mono float32); the flush at the end has no frame."""
    for frame in frames:
        try:
            out = resampler.resample(frame)
        except (av.FFmpegError, ValueError):
            continue  # a frame the resampler refuses (a mid-stream layout change it cannot follow)
        yield frame, _samples(out)
    try:
        yield None, _samples(resampler.resample(None))
    except (av.FFmpegError, ValueError):
        return


def _samples(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32, copy=False)


def _origin(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Time 0 of the file: the container's start time (the video's clock), else the stream's."""
    if container.start_time is not None:
        return float(container.start_time) / av.time_base
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def read_audio(
    path: str | os.PathLike, sample_rate: int = SPEECH_SAMPLE_RATE, stream: int | None = None
) -> np.ndarray:
    """The whole stream as one array (short files, tests); long files go through :func:`iter_audio_chunks`."""
    chunks = [c.samples for c in iter_audio_chunks(path, 60.0, sample_rate, stream)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
