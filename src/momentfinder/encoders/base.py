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
