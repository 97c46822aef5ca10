"""Encoder interfaces: what the finder needs from a vision-language model and a text model."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

DEFAULT_VISUAL_MODEL = "openai/clip-vit-base-patch32"
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


@runtime_checkable
class VisionTextEncoder(Protocol):
    """Images and sentences into one embedding space (CLIP, SigLIP, ...).

    ``frame_size`` tells the video stage how to resize decoded frames before they reach
    :meth:`encode_images`: an int is the short side, a tuple an exact ``(width, height)``.
    ``precision`` is the numeric precision the encoder runs at (it changes the features).
    """

    name: str
    dim: int
    frame_size: int | tuple[int, int]
    precision: str
    fingerprint: str  # identifies the weights (encoders.fingerprint); keys the feature cache

    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        """``images``: RGB uint8 ``(H, W, 3)`` arrays → float32 ``(n, dim)``, L2-normalised."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Sentences → float32 ``(n, dim)``, L2-normalised."""
        ...

    def encode_query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One sentence → ``(pooled (dim,), tokens (n_tokens, dim))``, both in the joint space."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    """Sentences into a text-only embedding space (subtitles, transcripts, text-to-text matching)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Sentences → float32 ``(n, dim)``, L2-normalised."""
        ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


DEFAULT_ASR_MODEL = "openai/whisper-base"
OFFLINE_ASR_MODEL = "pocketsphinx"  # the English model the pocketsphinx package ships
DEFAULT_SOUND_MODEL = "laion/clap-htsat-unfused"


@runtime_checkable
class SpeechRecognizer(Protocol):
    """Speech → timed text, one window of audio at a time (Whisper, pocketsphinx).

    ``window_s``: the longest audio :meth:`transcribe` takes at once (seconds); ``settings``: what
    besides the weights changes the transcript (keys the cache).
    """

    name: str
    fingerprint: str
    sample_rate: int
    window_s: float
    settings: dict

    def transcribe(self, samples: np.ndarray, offset: float) -> tuple[list, float]:
        """``samples``: mono float32 ``(n,)`` at ``sample_rate``, ``offset`` seconds into the file
        → (the :class:`~momentfinder.types.SubtitleSegment` lines heard, in file seconds; how many
        seconds of ``samples`` are done). Less than all is done when the last words may run on past
        the window's end: the caller hands those seconds in again at the front of the next window."""
        ...


@runtime_checkable
class AudioTextEncoder(Protocol):
    """Sounds and sentences into one embedding space (CLAP)."""

    name: str
    dim: int
    fingerprint: str
    sample_rate: int

    def encode_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        """Mono float32 clips at ``sample_rate`` → float32 ``(n, dim)``, L2-normalised."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Sentences → float32 ``(n, dim)``, L2-normalised."""
        ...
