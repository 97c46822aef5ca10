"""Placeholder exact vector index (replaced by the measured ANN index of issue 13)."""

from __future__ import annotations

import io
import os

import numpy as np

from ..atomic import write_atomic
from ..errors import InputError


class VectorIndex:
    """Exact inner-product search over unit vectors, with int64 ids."""

    def __init__(self, dim: int):
        self.dim = int(dim)
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._vectors = np.concatenate([self._vectors, vectors])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        sims = queries @ self._vectors.T
        k_eff = min(k, len(self._ids))
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids[:, :k_eff] = self._ids[order]
        scores[:, :k_eff] = np.take_along_axis(sims, order, axis=1)
        return ids, scores

    def save(self, path: str | os.PathLike) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, ids=self._ids, vectors=self._vectors)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int) -> VectorIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                index = cls(dim)
                index._ids, index._vectors = data["ids"], data["vectors"].reshape(-1, dim)
                return index
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path}: unreadable vector index ({err})") from None
