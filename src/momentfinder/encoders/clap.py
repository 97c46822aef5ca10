"""Sounds and sentences in one space: CLAP through Hugging Face ``transformers`` (``ClapModel``).

Any hub id or local directory saved with ``save_pretrained`` (model and ``ClapProcessor``). A clip
longer than the model's input (``max_length_s``, 10 s for LAION's CLAP) is cut to its start;
"fusion" models (``enable_fusion``) see the whole clip through their own global/local crops.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .base import DEFAULT_SOUND_MODEL, l2_normalize
from .fingerprint import model_fingerprint
from .hf import _pooled, load_typed_model


class ClapAudioTextEncoder:
    """A CLAP model (``model_type == "clap"``); audio at the processor's rate (48 kHz for LAION's)."""

    def __init__(
        self,
        model: str = DEFAULT_SOUND_MODEL,
        device: str | None = None,
        threads: int | None = None,
        batch_size: int = 16,
    ):
        from transformers import ClapModel

        self.name = os.path.abspath(model) if os.path.isdir(model) else model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if threads:
            torch.set_num_threads(threads)
        config, net, processor = load_typed_model(
            model, "clap", ClapModel, "sound model", "--sound-model", "a CLAP model"
        )
        self._net = net.eval().to(self.device)
        self._features = processor.feature_extractor
        self._tokenizer = processor.tokenizer
        self.sample_rate = int(self._features.sampling_rate)
        # an unfused model takes one crop; the processor's default "fusion" makes four
        self._truncation = "fusion" if getattr(config.audio_config, "enable_fusion", False) else "rand_trunc"
        self.dim = int(config.projection_dim)
        self._max_text_len = int(config.text_config.max_position_embeddings) - 2  # RoBERTa's offset
        self.batch_size = batch_size
        self.fingerprint = model_fingerprint(model)

    def encode_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = int(self._features.nb_max_samples)
        outs = []
        with torch.inference_mode():
            for i in range(0, len(clips), self.batch_size):
                # cut to the model's input here: "rand_trunc" would crop a random part
                batch = [np.asarray(c, dtype=np.float32)[:limit] for c in clips[i : i + self.batch_size]]
                x = self._features(
                    batch, sampling_rate=self.sample_rate, truncation=self._truncation, return_tensors="pt"
                )
                inputs = {k: v.to(self.device) for k, v in x.items() if k in ("input_features", "is_longer")}
                outs.append(_pooled(self._net.get_audio_features(**inputs)).float().cpu().numpy())
        return l2_normalize(np.concatenate(outs))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_text_len, return_tensors="pt"
        )
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with torch.inference_mode():
            out = self._net.get_text_features(**enc)
        return l2_normalize(_pooled(out).float().cpu().numpy())
