"""Offline English speech recognition with pocketsphinx (CMU Sphinx), no download needed.

The ``pocketsphinx`` package ships a US-English acoustic model, language model and dictionary;
it is far weaker than Whisper (about one word in two right on clear synthetic speech, worse on
noisy or accented audio) but needs nothing but the package, and its word times are accurate.
Words are grouped into lines at pauses, the unit the transcript channel embeds.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ModelUnavailableError
from ..types import SubtitleSegment
from .base import OFFLINE_ASR_MODEL

FRAME_RATE = 100  # pocketsphinx frames per second (its default -frate)
LINE_PAUSE_S = 0.6  # a pause this long starts a new line
LINE_MAX_WORDS = 14
_FILLERS = {"<s>", "</s>", "<sil>"}


class SphinxRecognizer:
    """pocketsphinx's default English model; windows of ``window_s`` seconds."""

    sample_rate = 16_000
    name = OFFLINE_ASR_MODEL

    def __init__(self, window_s: float = 30.0):
        try:
            import pocketsphinx
            from pocketsphinx import Decoder
        except ImportError:
            raise ModelUnavailableError(
                "the offline speech model is missing: pip install pocketsphinx"
            ) from None
        try:
            self._decoder = Decoder(loglevel="FATAL")
        except (RuntimeError, ValueError, OSError) as err:
            raise ModelUnavailableError(f"cannot load pocketsphinx: {err}") from None
        self.window_s = window_s
        self.settings = {"window_s": window_s}
        model_dir = pocketsphinx.get_model_path()
        version = getattr(pocketsphinx, "__version__", "") or _dist_version()
        self.fingerprint = f"pocketsphinx:{version}:{os.path.basename(str(self._decoder.config['hmm']))}"
        self.model_dir = model_dir

    def transcribe(self, samples: np.ndarray, offset: float) -> tuple[list[SubtitleSegment], float]:
        length = len(samples) / self.sample_rate
        if length <= 0:
            return [], 0.0
        pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), False, True)
        self._decoder.end_utt()
        words = [
            (seg.start_frame / FRAME_RATE, (seg.end_frame + 1) / FRAME_RATE, _word(seg.word))
            for seg in self._decoder.seg()
        ]
        words = [(s, e, w) for s, e, w in words if w]
        lines = group_words(words)
        done = length
        if (
            length >= self.window_s - 0.01
            and lines
            and lines[-1][1] > length - 0.5
            and lines[-1][0] >= length / 2
        ):
            done = lines[-1][0]  # the last line may run on past the window: hear it again
            lines = lines[:-1]
        segments = [SubtitleSegment(offset + s, offset + min(e, length), t) for s, e, t in lines]
        return segments, done


def _word(token: str) -> str:
    """``word(2)`` (an alternative pronunciation) → ``word``; fillers and noise → ''."""
    if token in _FILLERS or token.startswith("[") or token.startswith("<"):
        return ""
    return token.split("(", 1)[0]


def group_words(words: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Timed words → timed lines, split at pauses of :data:`LINE_PAUSE_S` or :data:`LINE_MAX_WORDS`."""
    lines: list[tuple[float, float, str]] = []
    current: list[tuple[float, float, str]] = []
    for word in words:
        if current and (word[0] - current[-1][1] >= LINE_PAUSE_S or len(current) >= LINE_MAX_WORDS):
            lines.append((current[0][0], current[-1][1], " ".join(w for _, _, w in current)))
            current = []
        current.append(word)
    if current:
        lines.append((current[0][0], current[-1][1], " ".join(w for _, _, w in current)))
    return lines


def _dist_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pocketsphinx")
    except PackageNotFoundError:
        return "unknown"
