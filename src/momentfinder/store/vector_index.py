"""The library's vector index: cosine nearest neighbours over every clip of every video.

Small indexes (below ``exact_below`` vectors, 10,000 by default) are searched exactly: a float32
matrix product, no recall lost, ~1 ms for 10^4 clips. Past that, the vectors move into an HNSW
graph from `usearch <https://github.com/unum-cloud/usearch>`_ stored as float16 (half the RAM of
float32 at the same recall). ``bench/library_scale.py`` chose it by measurement against faiss,
hnswlib and sqlite-vec (README, "Vector index"): on 10^6 clip vectors it meets recall@10 >= 0.95
with the lowest RAM among the indexes that do, a small p95 latency and a single self-contained
dependency, and it supports removal and reading its file memory-mapped.

Ids are int64 >= 0 (the catalog's ``(video_id << 24) | clip_index``). Vectors are normalised on
the way in and queries too, so scores are cosines, best first. ``search`` pads with id -1 and score
``-inf`` where fewer than ``k`` vectors exist; any ``k`` may be asked (a caller that filters results
over-fetches: the graph search widens its beam to at least ``k``).

One file on disk: the payload (usearch's own serialisation, or for an exact index the raw ids and
float32 vectors), then a JSON trailer (dimension, parameters, count, payload size and CRC-32),
its length and a magic tag. ``save`` writes a temporary file in the same directory and renames it
over the target (a reader sees the old index or the new one); ``load`` checks the tag, the
dimension and the checksum before the payload reaches usearch, so a truncated, damaged or foreign
file is one :class:`~momentfinder.errors.InputError`, never a crash.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib

import numpy as np

from ..atomic import TEMP_SUFFIX, fsync_dir
from ..errors import InputError

MAGIC = b"MFVIDX01"
FORMAT = 1
EXACT_BELOW = 10_000
_TAIL = struct.Struct("<Q8s")  # JSON length, magic
_READ = 16 << 20


def _usearch():
    try:
        from usearch.index import Index
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(f"the vector index needs the usearch package ({e}); pip install usearch") from None
    return Index


class VectorIndex:
    """Cosine k-nearest-neighbour search over int64 ids.

    ``dtype``: how the graph stores vectors (``f16`` default; ``f32``; ``i8`` quarters the RAM but
    lost recall on CLIP-like vectors in the benchmark). ``connectivity`` (HNSW M),
    ``expansion_add`` (beam when inserting) and ``expansion_search`` (beam when searching) are the
    graph's parameters; the defaults reach recall@10 >= 0.95 on 10^6 CLIP-like clips with text-like
    queries. ``threads``: for adding to the graph (0 = all cores; 1 builds the same graph every
    time, for tests).
    """

    def __init__(
        self,
        dim: int,
        *,
        dtype: str = "f16",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 256,
        exact_below: int = EXACT_BELOW,
        threads: int = 0,
    ):
        if int(dim) <= 0:
            raise InputError(f"vector index dimension must be positive, not {dim}")
        if dtype not in ("f32", "f16", "i8"):
            raise InputError(f"vector index dtype must be f32, f16 or i8, not {dtype!r}")
        self.dim = int(dim)
        self.dtype = dtype
        self.connectivity = int(connectivity)
        self.expansion_add = int(expansion_add)
        self.expansion_search = int(expansion_search)
        self.exact_below = int(exact_below)
        self.threads = int(threads)
        # exact mode: ids and unit float32 vectors; graph mode: a usearch index (and these are None)
        self._ids: np.ndarray | None = np.zeros(0, np.int64)
        self._vectors: np.ndarray | None = np.zeros((0, self.dim), np.float32)
        self._graph = None

    # ------------------------------------------------------------------ state

    @property
    def exact(self) -> bool:
        """Whether searches are exact (a small index, or one whose graph shrank below ``exact_below``)."""
        return self._graph is None or len(self._graph) < self.exact_below

    def __len__(self) -> int:
        return len(self._graph) if self._graph is not None else len(self._ids)

    def __contains__(self, vector_id: int) -> bool:
        return bool(self.contains(np.array([vector_id]))[0])

    def contains(self, ids) -> np.ndarray:
        """A bool per id."""
        ids = self._check_ids(ids)
        if self._graph is not None:
            return np.atleast_1d(np.asarray(self._graph.contains(ids.astype(np.uint64)), dtype=bool))
        return np.isin(ids, self._ids)

    def ids(self) -> np.ndarray:
        """Every id in the index, sorted (for checks against the catalog)."""
        if self._graph is not None:
            return np.sort(np.asarray(self._graph.keys, dtype=np.uint64).astype(np.int64))
        return np.sort(self._ids)

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
        self.remove(ids)
        if self._graph is None and len(self._ids) + len(ids) < self.exact_below:
            self._ids = np.concatenate([self._ids, ids])
            self._vectors = np.concatenate([self._vectors, vectors])
            return
        if self._graph is None:  # grown past exact search: move everything into the graph
            self._graph = self._new_graph()
            if len(self._ids):
                self._graph.add(self._ids.astype(np.uint64), self._vectors, threads=self.threads)
            self._ids = self._vectors = None
        self._graph.add(ids.astype(np.uint64), vectors, threads=self.threads)

    def remove(self, ids) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        ids = self._check_ids(ids)
        if not len(ids):
            return 0
        if self._graph is not None:
            present = ids[self.contains(ids)]
            if len(present):
                self._graph.remove(present.astype(np.uint64))
            return len(present)
        keep = ~np.isin(self._ids, ids)
        removed = int((~keep).sum())
        if removed:
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        return removed

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
        if self._graph is None:
            return self._search_exact(q, k, ids, scores)
        self._graph.expansion_search = max(self.expansion_search, k)
        m = self._graph.search(q, k, exact=self.exact, threads=self.threads)
        keys = np.asarray(m.keys).reshape(len(q), -1)
        dist = np.asarray(m.distances, dtype=np.float32).reshape(len(q), -1)
        counts = np.atleast_1d(np.asarray(getattr(m, "counts", keys.shape[1])))
        if counts.shape != (len(q),):
            counts = np.full(len(q), keys.shape[1])
        valid = np.arange(keys.shape[1])[None] < counts[:, None]
        n = keys.shape[1]
        ids[:, :n] = np.where(valid, keys.astype(np.int64), -1)
        scores[:, :n] = np.where(valid, 1.0 - dist, -np.inf)
        return ids, scores

    def _search_exact(self, q, k, ids, scores):
        sims = q @ self._vectors.T
        n = min(k, sims.shape[1])
        top = (
            np.argpartition(-sims, n - 1, axis=1)[:, :n]
            if n < sims.shape[1]
            else np.tile(np.arange(n), (len(q), 1))
        )
        top_s = np.take_along_axis(sims, top, 1)
        order = np.lexsort((self._ids[top], -top_s), axis=1)  # best first; ties by id
        top = np.take_along_axis(top, order, 1)
        ids[:, :n] = self._ids[top]
        scores[:, :n] = np.take_along_axis(sims, top, 1)
        return ids, scores

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` atomically (a temporary file in its directory, then a rename)."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=TEMP_SUFFIX)
        os.close(fd)
        try:
            if self._graph is not None:
                self._graph.save(tmp)
                mode = "graph"
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
                        "dtype": self.dtype,
                        "connectivity": self.connectivity,
                        "expansion_add": self.expansion_add,
                        "expansion_search": self.expansion_search,
                        "exact_below": self.exact_below,
                        "payload_bytes": size,
                        "crc32": crc,
                    }
                ).encode()
                f.seek(size)
                f.write(header + _TAIL.pack(len(header), MAGIC))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(folder)

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int, *, threads: int = 0, view: bool = False) -> VectorIndex:
        """The index saved at ``path``, for vectors of width ``dim``. ``view``: map a graph's file
        read-only instead of reading it into RAM (for indexes larger than memory; no ``add``)."""
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
            header["dim"],
            dtype=header["dtype"],
            connectivity=header["connectivity"],
            expansion_add=header["expansion_add"],
            expansion_search=header["expansion_search"],
            exact_below=header["exact_below"],
            threads=threads,
        )
        n, d = header["count"], header["dim"]
        if header["mode"] == "exact":
            if size != n * 8 + n * d * 4:
                raise InputError(f"{path}: the vector index is damaged (size does not match its count)")
            with open(path, "rb") as f:
                index._ids = np.fromfile(f, dtype="<i8", count=n).astype(np.int64)
                index._vectors = np.fromfile(f, dtype="<f4", count=n * d).reshape(n, d).astype(np.float32)
            return index
        try:
            graph = _usearch().restore(path, view=view)
        except (ValueError, RuntimeError) as e:
            raise InputError(f"{path}: not a readable vector index ({e})") from None
        if graph is None or graph.ndim != d or len(graph) != n:
            raise InputError(f"{path}: the vector index is damaged (its graph does not match its header)")
        graph.expansion_search = index.expansion_search
        index._graph, index._ids, index._vectors = graph, None, None
        return index

    # ------------------------------------------------------------------ helpers

    def _new_graph(self):
        return _usearch()(
            ndim=self.dim,
            metric="cos" if self.dtype == "i8" else "ip",
            dtype=self.dtype,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self.expansion_search,
        )

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
        keys = ("format", "mode", "dim", "count", "dtype", "payload_bytes", "crc32", "connectivity")
        keys += ("expansion_add", "expansion_search", "exact_below")
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
