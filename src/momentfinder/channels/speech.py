"""The speech channel: what is said, transcribed with timestamps, scored like subtitle lines.

The audio streams through the recogniser in windows (:func:`transcribe_chunks`, 30 s for Whisper),
in constant memory however long the file; windows that are silence are skipped (Whisper invents
text on silence). The transcript's lines are embedded with the text channel's sentence encoder and
scored exactly as subtitles are (:class:`~.lines.LineChannel`): best line per clip, weight by how
well the best line matches, the lines' own times for a moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..encoders.base import SpeechRecognizer, TextEncoder
from ..errors import MediaError
from ..types import SubtitleSegment
from ..video.audio import AudioChunk, AudioReport, audio_streams, choose_audio_stream, iter_audio_chunks
from .base import ChannelUnavailable, Media
from .lines import LineChannel, SubtitleTrack

log = logging.getLogger(__name__)

SILENCE_RMS = 1e-3  # about -60 dBFS: a window this quiet holds no speech


@dataclass
class Transcript:
    """What was said in one file: timed lines (seconds), by which model, from which audio stream."""

    segments: list[SubtitleSegment]
    model: str
    audio: str = ""  # the audio stream read, e.g. "audio track 0 (aac, 2 ch, 48000 Hz)"
    duration: float = 0.0  # seconds of audio heard
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "audio": self.audio,
            "duration": round(self.duration, 3),
            "segments": [
                {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text} for s in self.segments
            ],
            "notes": list(self.notes),
        }


def transcribe_chunks(
    recognizer: SpeechRecognizer, chunks: Iterable[AudioChunk], on_done: Callable[[float], None] | None = None
) -> Iterator[SubtitleSegment]:
    """The lines heard in consecutive audio chunks (any size), window by window.

    A rolling buffer of at most two windows: each window goes to the recogniser, which says how
    much of it is done; the rest starts the next window (a sentence cut by the edge is heard again
    whole). ``on_done(seconds)`` hears of progress."""
    rate = recognizer.sample_rate
    size = int(round(recognizer.window_s * rate))
    buffer = np.zeros(0, dtype=np.float32)
    start = 0.0
    for chunk in chunks:
        if not len(buffer):
            start = chunk.start
        buffer = np.concatenate([buffer, chunk.samples])
        while len(buffer) >= size:
            segments, used = _window(recognizer, buffer[:size], start)
            yield from segments
            buffer, start = buffer[used:], start + used / rate
            if on_done is not None:
                on_done(used / rate)
    while len(buffer):  # the tail: shorter than a window, done whole
        segments, used = _window(recognizer, buffer, start)
        yield from segments
        buffer, start = buffer[used:], start + used / rate
        if on_done is not None:
            on_done(used / rate)


def _window(recognizer: SpeechRecognizer, samples: np.ndarray, start: float) -> tuple[list, int]:
    """(lines, samples done, at least a second or all) of one window; silence is not transcribed."""
    rate = recognizer.sample_rate
    if float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < SILENCE_RMS:
        return [], len(samples)
    segments, done = recognizer.transcribe(samples, start)
    return list(segments), min(len(samples), max(int(round(done * rate)), rate))


def transcribe_file(
    recognizer: SpeechRecognizer,
    path: str,
    audio_stream: int | None = None,
    progress: bool = False,
    duration: float | None = None,
) -> Transcript:
    """The transcript of ``path``'s audio (:class:`MediaError` without audio); damaged audio is
    skipped with a note."""
    streams = audio_streams(path)
    chosen = choose_audio_stream(streams, audio_stream, path)
    report = AudioReport()
    chunks = iter_audio_chunks(path, recognizer.window_s, recognizer.sample_rate, chosen.number, report)
    with tqdm(
        total=round(duration, 1) if duration else None,
        unit="s",
        desc="transcribing",
        disable=not progress,
        leave=False,
    ) as bar:
        segments = list(transcribe_chunks(recognizer, chunks, lambda s: bar.update(round(s, 1))))
    notes = []
    if report.damaged:
        notes.append(f"speech: {len(report.damaged)} damaged audio packet(s) skipped (heard as silence)")
    return Transcript(segments, recognizer.name, chosen.describe(), report.end, notes)


class SpeechChannel(LineChannel):
    """Speech transcribed by ``recognizer`` (a callable that loads it on first use), lines embedded
    by ``encoder`` and scored as subtitles are (module docstring)."""

    name = "speech"

    def __init__(
        self,
        recognizer: Callable[[], SpeechRecognizer],
        encoder: Callable[[], TextEncoder],
        weight: float = 2.0,
        progress: bool = False,
    ):
        super().__init__(encoder, weight)
        self._recognizer = recognizer
        self.progress = progress

    def recognizer(self) -> SpeechRecognizer:
        return self._recognizer()

    def check(self, media: Media) -> None:
        """An ``--audio-stream`` the file lacks fails before any slow work."""
        if media.audio_stream is not None and media.info.has_audio:
            choose_audio_stream(audio_streams(media.path), media.audio_stream, media.path)

    def transcribe(self, media: Media) -> Transcript:
        if not media.info.has_audio:
            raise ChannelUnavailable("the file has no audio stream")
        try:
            return transcribe_file(
                self.recognizer(), media.path, media.audio_stream, self.progress, media.info.duration
            )
        except MediaError as err:
            raise ChannelUnavailable(str(err).removeprefix(f"{media.path}: ")) from None

    def extract(self, media: Media) -> SubtitleTrack | None:
        return self.from_transcript(self.transcribe(media))

    def from_transcript(self, transcript: Transcript) -> SubtitleTrack | None:
        """The transcript's lines embedded; None when nothing was said."""
        if not transcript.segments:
            return None
        return self.embed(transcript.segments, f"speech ({transcript.model})", transcript.notes)
