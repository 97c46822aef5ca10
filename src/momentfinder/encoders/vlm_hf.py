"""A local Hugging Face image-text-to-text model directory (LLaVA, Qwen2-VL, SmolVLM, ...) as a
:class:`~momentfinder.encoders.vlm.VisionChat`: the processor's chat template with one image
entry per frame, greedy decoding of a short answer."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import ModelUnavailableError


class HFVisionChat:
    """``model``: a local directory or hub id (offline: a directory) holding the model, its
    processor and a chat template."""

    def __init__(self, model: str, device: str | None = None, max_new_tokens: int = 16):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name = model
        self.max_new_tokens = max_new_tokens
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.processor = AutoProcessor.from_pretrained(model)
            self.model = AutoModelForImageTextToText.from_pretrained(model).to(self.device).eval()
        except (OSError, ValueError, KeyError) as err:
            where = "directory" if os.path.isdir(model) else "model id (offline: give a directory)"
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise ModelUnavailableError(
                f"cannot load the vision-language {where} {model!r}: {first}"
            ) from None
        if getattr(self.processor, "chat_template", None) is None:
            raise ModelUnavailableError(f"{model!r} has no chat template: it cannot be asked about frames")

    def answer(self, images: Sequence[np.ndarray], prompt: str) -> str:
        import torch
        from PIL import Image

        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
        text = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True
        )
        pictures = [Image.fromarray(np.ascontiguousarray(i)) for i in images]
        inputs = self.processor(text=text, images=pictures, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
