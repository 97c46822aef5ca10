"""Speech recognition with Whisper through Hugging Face ``transformers`` (any hub id or local dir).

Whisper hears 30 s at a time. :meth:`WhisperRecognizer.transcribe` takes one window (padded to
30 s by the feature extractor), generates with timestamp tokens and returns the segments with
times in the file's seconds; like OpenAI's long-form loop, when the last segment ends in the
second half of a full window, the window is done only up to there and the caller starts the next
window at that point, so a sentence cut by the window's edge is heard again whole.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from ..errors import ModelUnavailableError
from ..types import SubtitleSegment
from .base import DEFAULT_ASR_MODEL
from .fingerprint import model_fingerprint
from .hf import load_typed_model

log = logging.getLogger(__name__)

WHISPER_WINDOW_S = 30.0


class WhisperRecognizer:
    """A Whisper model (``model_type == "whisper"``). ``max_new_tokens`` bounds each window's text
    (a real model stops at its end token after ~100 tokens of speech; random weights never do);
    ``language``: an ISO code to force (None: the model detects it; English-only models ignore it)."""

    sample_rate = 16_000
    window_s = WHISPER_WINDOW_S

    def __init__(
        self,
        model: str = DEFAULT_ASR_MODEL,
        device: str | None = None,
        threads: int | None = None,
        max_new_tokens: int = 200,
        language: str | None = None,
    ):
        from transformers import AutoModelForSpeechSeq2Seq

        self.name, self.fingerprint, self.settings = self.identity(model, max_new_tokens, language)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if threads:
            torch.set_num_threads(threads)
        _, net, processor = load_typed_model(
            model,
            "whisper",
            AutoModelForSpeechSeq2Seq,
            "speech model",
            "--asr-model",
            "a Whisper model (or 'pocketsphinx')",
        )
        self._net = net.eval().to(self.device)
        self._features = processor.feature_extractor
        self._tokenizer = processor.tokenizer
        if self._features.sampling_rate != self.sample_rate:
            raise ModelUnavailableError(
                f"speech model {model!r} expects {self._features.sampling_rate} Hz audio, not 16 kHz"
            )
        gen = net.generation_config
        self._timestamps = getattr(gen, "no_timestamps_token_id", None) is not None
        self._multilingual = bool(getattr(gen, "is_multilingual", False))
        self.max_new_tokens = max_new_tokens
        self.language = language

    @classmethod
    def identity(cls, model: str, max_new_tokens: int, language: str | None) -> tuple[str, str, dict]:
        """``(name, fingerprint, settings)`` the recogniser will have, without loading it (the key
        of its transcripts in the feature cache: a cached transcript needs no model)."""
        name = os.path.abspath(model) if os.path.isdir(model) else model
        settings = {"max_new_tokens": max_new_tokens, "language": language, "window_s": cls.window_s}
        return name, model_fingerprint(model), settings

    def generate_kwargs(self) -> dict:
        kwargs: dict = {"max_new_tokens": self.max_new_tokens}
        if self._timestamps:
            kwargs["return_timestamps"] = True
        if self._multilingual:
            kwargs["task"] = "transcribe"
            if self.language:
                kwargs["language"] = self.language
        return kwargs

    def transcribe(self, samples: np.ndarray, offset: float) -> tuple[list[SubtitleSegment], float]:
        length = len(samples) / self.sample_rate
        if length <= 0:
            return [], 0.0
        inputs = self._features(
            np.asarray(samples, dtype=np.float32), sampling_rate=self.sample_rate, return_tensors="pt"
        )
        with torch.inference_mode():
            out = self._net.generate(inputs.input_features.to(self.device), **self.generate_kwargs())
        sequence = (out if isinstance(out, torch.Tensor) else out["sequences"])[0].cpu()
        return window_segments(self._decode(sequence), length, offset, full=length >= self.window_s - 0.01)

    def _decode(self, sequence: torch.Tensor) -> list[tuple[float, float, str]]:
        """(start, end, text) in seconds of the window; one untimed segment without timestamps."""
        if self._timestamps:
            decoded = self._tokenizer.decode(sequence.tolist(), output_offsets=True, skip_special_tokens=True)
            offsets = decoded.get("offsets") if isinstance(decoded, dict) else None
            if offsets:
                return [(float(o["timestamp"][0]), float(o["timestamp"][1]), o["text"]) for o in offsets]
        text = self._tokenizer.decode(sequence, skip_special_tokens=True)
        return [(0.0, float("inf"), text)]


def window_segments(
    spans: list[tuple[float, float, str]], length: float, offset: float, full: bool
) -> tuple[list[SubtitleSegment], float]:
    """Segments of one window (times clamped into it, empty texts dropped) in file seconds, and
    the seconds done: up to the last segment's end when it ends in the second half of a full
    window (the rest is heard again with the next window), else the whole window."""
    segments: list[SubtitleSegment] = []
    for start, end, text in spans:
        text = " ".join(str(text).split())
        start = min(max(0.0, start), length)
        end = min(max(start, end if np.isfinite(end) else length), length)
        if text:
            segments.append(SubtitleSegment(offset + start, offset + max(end, start + 0.01), text))
    done = length
    if full and segments:
        last_end = segments[-1].end - offset
        if length / 2 <= last_end < length - 0.5:
            done = last_end
    return segments, done
