"""The library's vector index: cosine nearest neighbours over every clip of every video.

Small indexes (below ``exact_below`` vectors, 20,000 by default) are searched exactly: a float32
matrix product, no recall lost, a few ms. Past that the vectors move into an inverted-file index
with 8-bit scalar quantisation from `faiss <https://github.com/facebookresearch/faiss>`_ (IVF-SQ8:
k-means cells, each vector stored as 512 bytes, a query scans the ``nprobe`` nearest cells).
``bench/library_scale.py`` chose it by measurement against usearch, hnswlib (HNSW graphs), faiss
HNSW and IVF-PQ, sqlite-vec and exact search (README, "Vector index"): on 10^6 CLIP-like clip
vectors it reaches recall@10 >= 0.95 with the lowest latency and the least RAM of the indexes that
do; HNSW graphs need very wide beams on video clips (each clip's nearest neighbours are clips of
its own shot, so the graph barely links videos) and M=16 graphs did not reach 0.95 at all.

The cells are trained on the vectors present when the index leaves exact search, and retrained on
all of them (decoded from their codes) each time the index has grown by a quarter since, so the
number of cells follows ~2 sqrt(n) and new kinds of content get cells of their own: cells trained
on the first half of a library lose much recall on the second half (0.83 against 0.98 at 10^5
clips, same nprobe). Retraining costs about one build of the index (~40 s at 10^6 clips on 2
cores) and happens inside the ``add`` that crosses the mark; over a library's growth the
retrainings add up to a few builds. An index shrunk below half of ``exact_below`` returns to exact
search (over the decoded vectors).

Ids are int64 >= 0 (the catalog's ``(video_id << 24) | clip_index``). Vectors are normalised on
the way in and queries too, so scores are cosines, best first. ``search`` pads with id -1 and score
``-inf`` where fewer than ``k`` vectors are found; any ``k`` may be asked (a caller that filters
results over-fetches).

One file on disk: the payload (faiss's own serialisation, or for an exact index the raw ids and
float32 vectors), then a JSON trailer (dimension, parameters, count, payload size and CRC-32),
its length and a magic tag. ``save`` writes a temporary file in the same directory and renames it
over the target (a reader sees the old index or the new one); ``load`` checks the tag, the
dimension and the checksum before the payload reaches faiss, so a truncated, damaged or foreign
file is one :class:`~momentfinder.errors.InputError`, never a crash.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib

import numpy as np

from ..atomic import replacing
from ..errors import InputError

MAGIC = b"MFVIDX01"
FORMAT = 1
EXACT_BELOW = 20_000
GROWTH = 1.25  # retrain the cells when the index has grown this much since they were trained
_TAIL = struct.Struct("<Q8s")  # JSON length, magic
_READ = 16 << 20


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(
            f"the vector index needs the faiss-cpu package ({e}); pip install faiss-cpu"
        ) from None
    return faiss


def cells_for(n: int) -> int:
    """How many k-means cells for ``n`` vectors: the power of two nearest 2 sqrt(n), with at least 39
    training vectors per cell (faiss's minimum for a sound k-means)."""
    n = max(n, 1)
    return max(1, min(2 ** round(math.log2(2 * math.sqrt(n))), 2 ** int(math.log2(max(n / 39, 1)))))


class VectorIndex:
    """Cosine k-nearest-neighbour search over int64 ids.

    ``nprobe``: cells scanned per query; None = ``max(48, cells / 4)``. On the benchmark's CLIP-like
    clips with text-like queries, cells trained on the whole library needed 4.7-6.3 % of them for
    recall@10 >= 0.95 (10^4 to 10^6 clips); cells trained on 80 % of the library (the least an
    index that retrains at 1.25x growth has) needed 25 % (10^5 clips: 0.958, against 0.931 at
    12.5 %).
    ``threads``: faiss's OpenMP threads for training and adding (0 = its default, all cores).
    Training is seeded: the same vectors added in the same order give the same index.
    """

    def __init__(
        self,
        dim: int,
        *,
        nprobe: int | None = None,
        exact_below: int = EXACT_BELOW,
        threads: int = 0,
    ):
        if int(dim) <= 0:
            raise InputError(f"vector index dimension must be positive, not {dim}")
        self.dim = int(dim)
        self.nprobe = None if nprobe is None else int(nprobe)
        self.exact_below = int(exact_below)
        self.threads = int(threads)
        # exact mode: ids and unit float32 vectors; cell mode: a faiss IVF-SQ8 index and its sorted ids
        self._ids: np.ndarray = np.zeros(0, np.int64)
        self._vectors: np.ndarray | None = np.zeros((0, self.dim), np.float32)
        self._ivf = None
        self._trained_on = 0

    # ------------------------------------------------------------------ state

    @property
    def exact(self) -> bool:
        """Whether searches are exact (a small index)."""
        return self._ivf is None

    @property
    def cells(self) -> int:
        """k-means cells of the index (0 while exact)."""
        return 0 if self._ivf is None else int(self._ivf.nlist)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, vector_id: int) -> bool:
        return bool(self.contains(np.array([vector_id]))[0])

    def contains(self, ids) -> np.ndarray:
        """A bool per id."""
        ids = self._check_ids(ids)
        if self._ivf is not None:  # sorted
            at = np.searchsorted(self._ids, ids)
            return (at < len(self._ids)) & (self._ids[np.minimum(at, len(self._ids) - 1)] == ids)
        return np.isin(ids, self._ids)

    def ids(self) -> np.ndarray:
        """Every id in the index, sorted (for checks against the catalog)."""
        return self._ids.copy() if self._ivf is not None else np.sort(self._ids)

    # ------------------------------------------------------------------ writes

    def add(self, ids, vectors) -> None:
        """Add ``vectors (n, dim)`` under ``ids (n,)``; an id already present is replaced."""
        ids = self._check_ids(ids)
        vectors = self._unit(vectors, "vectors")
        if len(vectors) != len(ids):
            raise InputError(f"{len(ids)} ids for {len(vectors)} vectors")
        if len(np.unique(ids)) != len(ids):
            raise InputError("duplicate ids in one add")
        if not len(ids):
            return
        self.remove(ids, _shrink=False)
        if self._ivf is None:
            all_ids = np.concatenate([self._ids, ids])
            all_vectors = np.concatenate([self._vectors, vectors])
            if len(all_ids) < self.exact_below:
                self._ids, self._vectors = all_ids, all_vectors
            else:  # grown past exact search: train the cells on everything
                self._train(all_ids, all_vectors)
            return
        if len(self) + len(ids) >= GROWTH * self._trained_on:
            old_ids, old_vectors = self._decode()
            self._train(np.concatenate([old_ids, ids]), np.concatenate([old_vectors, vectors]))
            return
        self._with_threads(lambda: self._ivf.add_with_ids(vectors, ids))
        new = np.sort(ids)  # none of them is present any more: insert keeps the ids sorted, O(n)
        self._ids = np.insert(self._ids, np.searchsorted(self._ids, new), new)

    def remove(self, ids, _shrink: bool = True) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        ids = self._check_ids(ids)
        if not len(ids) or not len(self):
            return 0
        if self._ivf is None:
            keep = ~np.isin(self._ids, ids)
            removed = int((~keep).sum())
            if removed:
                self._ids, self._vectors = self._ids[keep], self._vectors[keep]
            return removed
        present = np.unique(ids[self.contains(ids)])
        if not len(present):
            return 0
        self._ivf.remove_ids(_faiss().IDSelectorBatch(present))
        self._ids = np.setdiff1d(self._ids, present, assume_unique=True)
        if _shrink and len(self) < self.exact_below // 2:  # small again: exact search
            self._ids, self._vectors = self._decode()
            self._ivf, self._trained_on = None, 0
        return len(present)

    def retrain(self) -> None:
        """Train the cells again on every vector now in the index (a no-op while exact). ``add`` does
        this by itself at each 25 % of growth; call it after a large import to search with cells
        that know the whole library."""
        if self._ivf is not None:
            self._train(*self._decode())

    # ------------------------------------------------------------------ search

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ids of each query ``(q, dim)`` or ``(dim,)``: ``(ids (q, k) int64,
        scores (q, k) float32)``, cosine, best first, padded with -1 / -inf."""
        k = int(k)
        if k <= 0:
            raise InputError(f"k must be positive, not {k}")
        q = self._unit(queries, "query")
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        if not len(self) or not len(q):
            return ids, scores
        if self._ivf is None:
            return self._search_exact(q, k, ids, scores)
        self._ivf.nprobe = min(self._ivf.nlist, self.nprobe or max(48, self._ivf.nlist // 4))
        found_s, found = self._ivf.search(q, k)
        ids[:] = found
        scores[:] = np.where(found >= 0, found_s, -np.inf)
        return ids, scores

    def _search_exact(self, q, k, ids, scores):
        sims = q @ self._vectors.T
        n = min(k, sims.shape[1])
        if n < sims.shape[1]:
            top = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        else:
            top = np.tile(np.arange(n), (len(q), 1))
        top_s = np.take_along_axis(sims, top, 1)
        order = np.lexsort((self._ids[top], -top_s), axis=1)  # best first; ties by id
        top = np.take_along_axis(top, order, 1)
        ids[:, :n] = self._ids[top]
        scores[:, :n] = np.take_along_axis(sims, top, 1)
        return ids, scores

    # ------------------------------------------------------------------ cells

    def _train(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        faiss = _faiss()
        nlist = cells_for(len(ids))
        # one 8-bit range for all dimensions of the residuals, with a 20 % margin: vectors added after
        # training (new kinds of content) stay inside it; per-dimension ranges clipped such vectors
        # (cosine errors up to 0.08 where this keeps them under 0.006)
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self.dim),
            self.dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit_uniform,
            faiss.METRIC_INNER_PRODUCT,
        )
        ivf.sq.rangestat = faiss.ScalarQuantizer.RS_minmax
        ivf.sq.rangestat_arg = 0.2
        ivf.cp.seed = 1234
        # at most 64 vectors per cell, an even sample over the library (faiss would take a random one)
        sample = vectors[:: max(1, len(vectors) // (64 * nlist))]

        def build():
            ivf.train(np.ascontiguousarray(sample))
            ivf.add_with_ids(vectors, ids)

        self._with_threads(build)
        self._ivf, self._trained_on = ivf, len(ids)
        self._ids, self._vectors = np.sort(ids), None

    def _decode(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(id, vector)`` of the cells, vectors decoded from their 8-bit codes (sorted by id)."""
        faiss, ivf = _faiss(), self._ivf
        inv = ivf.invlists
        all_ids, all_vectors = [np.zeros(0, np.int64)], [np.zeros((0, self.dim), np.float32)]
        for cell in range(ivf.nlist):
            n = inv.list_size(cell)
            if not n:
                continue
            all_ids.append(faiss.rev_swig_ptr(inv.get_ids(cell), n).astype(np.int64))
            codes = faiss.rev_swig_ptr(inv.get_codes(cell), n * ivf.code_size).reshape(n, ivf.code_size)
            decoded = ivf.sq.decode(np.ascontiguousarray(codes))
            if ivf.by_residual:
                decoded = decoded + ivf.quantizer.reconstruct(cell)
            all_vectors.append(decoded.astype(np.float32))
        ids, vectors = np.concatenate(all_ids), np.concatenate(all_vectors)
        order = np.argsort(ids)
        return ids[order], self._unit(vectors[order], "vectors")

    def _with_threads(self, fn):
        if not self.threads:
            return fn()
        faiss = _faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.threads)
        try:
            return fn()
        finally:
            faiss.omp_set_num_threads(before)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` atomically (a temporary file in its directory, then a rename)."""
        with replacing(path) as tmp:
            if self._ivf is not None:
                _faiss().write_index(self._ivf, tmp)
                mode = "cells"
            else:
                with open(tmp, "wb") as f:
                    f.write(np.ascontiguousarray(self._ids, "<i8").tobytes())
                    f.write(np.ascontiguousarray(self._vectors, "<f4").tobytes())
                mode = "exact"
            with open(tmp, "r+b") as f:
                size, crc = _crc(f, None)
                header = json.dumps(
                    {
                        "format": FORMAT,
                        "mode": mode,
                        "dim": self.dim,
                        "count": len(self),
                        "nprobe": self.nprobe,
                        "exact_below": self.exact_below,
                        "trained_on": self._trained_on,
                        "payload_bytes": size,
                        "crc32": crc,
                    }
                ).encode()
                f.seek(size)
                f.write(header + _TAIL.pack(len(header), MAGIC))
                f.flush()
                os.fsync(f.fileno())

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int, *, threads: int = 0) -> VectorIndex:
        """The index saved at ``path``, for vectors of width ``dim``."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise InputError(f"no vector index at {path}")
        try:
            with open(path, "rb") as f:
                header = _read_header(f, path)
                size, crc = header["payload_bytes"], header["crc32"]
                if _crc(f, size) != (size, crc):
                    raise InputError(f"{path}: the vector index is damaged (checksum mismatch); rebuild it")
        except OSError as e:
            raise InputError(f"cannot read the vector index {path}: {e.strerror or e}") from None
        if header["dim"] != int(dim):
            raise InputError(f"{path}: the vector index holds {header['dim']}-d vectors, not {int(dim)}-d")
        index = cls(
            header["dim"], nprobe=header["nprobe"], exact_below=header["exact_below"], threads=threads
        )
        n, d = header["count"], header["dim"]
        if header["mode"] == "exact":
            if size != n * 8 + n * d * 4:
                raise InputError(f"{path}: the vector index is damaged (size does not match its count)")
            with open(path, "rb") as f:
                index._ids = np.fromfile(f, dtype="<i8", count=n).astype(np.int64)
                index._vectors = np.fromfile(f, dtype="<f4", count=n * d).reshape(n, d).astype(np.float32)
            return index
        faiss = _faiss()
        try:
            ivf = faiss.read_index(path)
        except RuntimeError as e:
            raise InputError(f"{path}: not a readable vector index ({str(e).splitlines()[0]})") from None
        if not isinstance(ivf, faiss.IndexIVFScalarQuantizer) or ivf.d != d or ivf.ntotal != n:
            raise InputError(f"{path}: the vector index is damaged (its cells do not match its header)")
        index._ivf, index._trained_on = ivf, header["trained_on"]
        inv = ivf.invlists
        parts = [np.zeros(0, np.int64)]
        for cell in range(ivf.nlist):
            m = inv.list_size(cell)
            if m:
                parts.append(faiss.rev_swig_ptr(inv.get_ids(cell), m).astype(np.int64))
        index._ids, index._vectors = np.sort(np.concatenate(parts)), None
        return index

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _check_ids(ids) -> np.ndarray:
        ids = np.atleast_1d(np.asarray(ids))
        if ids.ndim != 1 or (len(ids) and not np.issubdtype(ids.dtype, np.integer)):
            raise InputError(f"vector ids must be a 1-d array of integers, not {ids.dtype} {ids.shape}")
        ids = ids.astype(np.int64)
        if len(ids) and ids.min() < 0:
            raise InputError(f"vector ids must be >= 0, not {int(ids.min())}")
        return ids

    def _unit(self, x, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            shape = "x".join(map(str, x.shape))
            raise InputError(f"{what} of shape {shape} for a vector index of dimension {self.dim}")
        if not np.isfinite(x).all():
            raise InputError(f"{what} with NaN or infinite values")
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if len(x) and norms.min() == 0:
            raise InputError(f"a zero {what} vector has no direction")
        return np.ascontiguousarray(x / norms, dtype=np.float32)


def _crc(f, size: int | None) -> tuple[int, int]:
    """``(bytes read, CRC-32)`` of the file from its start (``size`` bytes, or all of it)."""
    f.seek(0)
    crc, done = 0, 0
    while size is None or done < size:
        chunk = f.read(_READ if size is None else min(_READ, size - done))
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        done += len(chunk)
    return done, crc


def _read_header(f, path: str) -> dict:
    end = f.seek(0, os.SEEK_END)
    foreign = InputError(f"{path} is not a momentfinder vector index")
    if end < _TAIL.size:
        raise foreign
    f.seek(end - _TAIL.size)
    length, magic = _TAIL.unpack(f.read(_TAIL.size))
    if magic != MAGIC:
        raise foreign
    if length > end - _TAIL.size:
        raise InputError(f"{path}: the vector index is damaged (truncated header)")
    f.seek(end - _TAIL.size - length)
    try:
        header = json.loads(f.read(length))
        keys = (
            "format",
            "mode",
            "dim",
            "count",
            "nprobe",
            "exact_below",
            "trained_on",
            "payload_bytes",
            "crc32",
        )
        if not isinstance(header, dict) or any(k not in header for k in keys):
            raise ValueError("fields missing")
    except ValueError:
        raise InputError(f"{path}: the vector index is damaged (unreadable header)") from None
    if header["format"] != FORMAT:
        raise InputError(
            f"{path}: vector index format {header['format']} is not supported (this is {FORMAT})"
        )
    if header["payload_bytes"] != end - _TAIL.size - length:
        raise InputError(f"{path}: the vector index is damaged (truncated)")
    return header
