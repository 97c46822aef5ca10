"""Vision-language chat models: frames and a question in, text out (the VLM re-ranker's model).

:class:`VisionChat` is the protocol; :class:`APIVisionChat` talks to any OpenAI-compatible vision
chat API (OpenAI, vLLM, llama.cpp server with a multimodal projector, Ollama's ``/v1``), frames
sent as JPEG data URLs; ``encoders/vlm_hf.py`` runs a local Hugging Face image-text-to-text model
directory. Answers are free text: reading them is the caller's business.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..chat_api import ChatEndpoint


@runtime_checkable
class VisionChat(Protocol):
    name: str

    def answer(self, images: Sequence[np.ndarray], prompt: str) -> str:
        """The model's answer to ``prompt`` about ``images`` (RGB ``(H, W, 3)`` uint8, in order).
        Raises :class:`~momentfinder.chat_api.ChatUnavailable` when there is none."""
        ...


class APIVisionChat:
    """A vision model behind an OpenAI-compatible chat API (``endpoint``)."""

    def __init__(self, endpoint: ChatEndpoint, max_tokens: int = 32, jpeg_quality: int = 85):
        self.endpoint = endpoint
        self.max_tokens = max_tokens
        self.jpeg_quality = jpeg_quality
        self.name = f"{endpoint.model} at {endpoint.endpoint}"

    def answer(self, images: Sequence[np.ndarray], prompt: str) -> str:
        content: list[dict] = [{"type": "text", "text": prompt}]
        content += [{"type": "image_url", "image_url": {"url": self._data_url(image)}} for image in images]
        return self.endpoint.complete([{"role": "user", "content": content}], max_tokens=self.max_tokens)

    def _data_url(self, image: np.ndarray) -> str:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=self.jpeg_quality)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
