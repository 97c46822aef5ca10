"""On-disk feature cache keyed by file content hash + model fingerprint + the whole sampling config.

A second query on the same video (even renamed or moved) reuses the features: no decoding
and no encoding.

The cache is best effort and checks itself. Writes are atomic (a uniquely named temporary file,
fsynced, then renamed), so an interrupted run or two processes caching the same video never
leave a half-written entry. Every entry stores a SHA-256 of its array and record; an entry that
is truncated, empty, bit-flipped, short (fewer rows than its record's clip count), of another
feature width than the encoder's, or not finite is dropped (deleted) with a warning and the
features are computed again. A cache directory that cannot be read or written (read-only,
missing, full disk) costs a warning, once, never the result.

Hashing a multi-GB recording takes seconds, so the hash of a file is remembered on disk too
(``ROOT/hashes/``), keyed by its absolute path and trusted while the file's size, modification
time (ns) and inode are unchanged, as git and rsync trust a file's stat data.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from ..atomic import write_atomic
from ..errors import InputError
from ..types import ClipFeatures, SubtitleSegment
from .record import FeatureRecord

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


def default_cache_dir() -> str:
    """``$MOMENTFINDER_CACHE``, else ``$XDG_CACHE_HOME/momentfinder``, else ``~/.cache/momentfinder``."""
    if os.environ.get("MOMENTFINDER_CACHE"):
        return os.environ["MOMENTFINDER_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "momentfinder")


def file_hash(path: str | os.PathLike) -> str:
    """BLAKE2b-160 of the whole file content, hex."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureKey:
    """Everything that changes the features of one video.

    ``model_fingerprint`` identifies the weights (:mod:`momentfinder.encoders.fingerprint`), not just
    the model's name; ``sampling`` is the whole sampling configuration as sorted ``(name, value)``
    pairs (clip length, frames per clip, decode mode, ...), so no setting can be served another's
    features. ``model`` (the name) only makes the file name readable.
    """

    content_hash: str
    model: str
    model_fingerprint: str
    sampling: tuple[tuple[str, object], ...]
    precision: str = "fp32"
    channel: str = "visual"

    @classmethod
    def make(
        cls,
        content_hash: str,
        model: str,
        model_fingerprint: str,
        sampling: dict,
        precision: str = "fp32",
        channel: str = "visual",
    ) -> FeatureKey:
        return cls(
            content_hash, model, model_fingerprint, tuple(sorted(sampling.items())), precision, channel
        )

    def filename(self) -> str:
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model.strip("/"))[-60:]
        settings = json.dumps(
            [self.model_fingerprint, [list(kv) for kv in self.sampling], self.precision], sort_keys=True
        )
        digest = hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()
        return f"{self.content_hash}-{self.channel}-{model}-{digest}.npz"


class CacheEntryError(ValueError):
    """A cache entry whose content is damaged (the reason is the message)."""


def entry_checksum(features: np.ndarray, record_json: str, sampling_json: str) -> str:
    """``sha256:HEX`` over a cache entry's array (dtype, shape, bytes), record and sampling strings."""
    arr = np.ascontiguousarray(features)
    digest = hashlib.sha256()
    for part in (arr.dtype.str, repr(arr.shape), record_json, sampling_json):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(arr.tobytes())
    return "sha256:" + digest.hexdigest()


class FeatureCache:
    """Directory of ``.npz`` feature files; ``root=None`` uses :func:`default_cache_dir`.

    ``writable`` turns False after the first write that fails (read-only or full directory):
    the failure is logged once and the cache goes on serving what it has.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = os.fspath(root) if root is not None else default_cache_dir()
        self._hashes: dict[tuple[str, int, int], str] = {}
        self.writable = True
        self._read_warned = False

    def content_hash(self, path: str | os.PathLike) -> str:
        """Content hash of ``path``, remembered per (path, size, mtime, inode) in memory and on disk."""
        st = os.stat(path)
        stat = {
            "path": os.path.abspath(path),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "inode": st.st_ino,
        }
        key = (stat["path"], st.st_size, st.st_mtime_ns)
        if key in self._hashes:
            return self._hashes[key]
        memo = os.path.join(
            self.root, "hashes", hashlib.blake2b(stat["path"].encode(), digest_size=10).hexdigest() + ".json"
        )
        try:
            with open(memo, encoding="utf-8") as f:
                known = json.load(f)
            if isinstance(known, dict) and {k: known.get(k) for k in stat} == stat and known.get("hash"):
                self._hashes[key] = str(known["hash"])
                return self._hashes[key]
        except (OSError, ValueError):
            pass  # no memo yet, or unreadable: hash the file
        self._hashes[key] = file_hash(path)
        if self.writable:
            try:
                write_atomic(memo, json.dumps({**stat, "hash": self._hashes[key]}).encode())
            except OSError as err:  # a read-only cache still works, it just hashes again next time
                log.debug("cannot remember the hash of %s (%s)", path, err)
        return self._hashes[key]

    def path_for(self, key: FeatureKey) -> str:
        return os.path.join(self.root, "features", key.content_hash[:2], key.filename())

    def load(self, key: FeatureKey, dim: int | None = None) -> ClipFeatures | None:
        """The cached features of ``key``, or None (a miss).

        The entry's checksum, its row count (the record's clip count), its width (``dim``, the
        encoder's, when given) and finiteness are checked; a damaged entry is deleted with a
        warning and counts as a miss. An unreadable cache directory is a miss too.
        """
        return self._read(key, lambda data, path: _parse_entry(data, path, dim))

    def load_lines(self, key: FeatureKey) -> tuple[list[SubtitleSegment], dict] | None:
        """Cached timed lines (a transcript) of ``key`` and their metadata, or None (a miss; a
        damaged entry is dropped with a warning, as for features)."""
        return self._read(key, lambda data, path: _parse_lines(data))

    def _read(self, key: FeatureKey, parse):
        """``parse(bytes, path)`` of the entry of ``key``; None for a miss, an unreadable cache, or
        a damaged entry (deleted with a warning)."""
        path = self.path_for(key)
        try:
            with open(path, "rb") as f:
                stat = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as err:
            if not self._read_warned:
                log.warning("cannot read the feature cache %s (%s); computing the features", self.root, err)
                self._read_warned = True
            return None
        try:
            return parse(data, path)
        except CacheEntryError as err:
            log.warning("dropping a damaged feature cache entry %s (%s); computing it again", path, err)
            self._drop(path, stat)
            return None

    def _drop(self, path: str, stat: os.stat_result) -> None:
        """Delete a damaged entry unless another process has replaced it since it was read."""
        try:
            now = os.stat(path)
            if (now.st_ino, now.st_size, now.st_mtime_ns) == (stat.st_ino, stat.st_size, stat.st_mtime_ns):
                os.unlink(path)
        except OSError:
            pass  # gone already, or a read-only cache: the next save replaces it

    def save_lines(self, key: FeatureKey, segments: list[SubtitleSegment], meta: dict) -> str | None:
        """Cache timed lines (seconds) and a JSON-able ``meta`` under ``key`` (best effort, as :meth:`save`)."""
        starts = np.asarray([s.start for s in segments], dtype="<f8")
        ends = np.asarray([s.end for s in segments], dtype="<f8")
        texts, meta_json = json.dumps([s.text for s in segments]), json.dumps(meta, sort_keys=True)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            starts=starts,
            ends=ends,
            texts=np.asarray(texts),
            meta=np.asarray(meta_json),
            checksum=np.asarray(_lines_checksum(starts, ends, texts, meta_json)),
        )
        path = self.path_for(key)
        return path if self._write(path, buffer.getvalue()) else None

    def _write(self, path: str, data: bytes) -> bool:
        if not self.writable:
            return False
        try:
            write_atomic(path, data)
        except OSError as err:
            self.writable = False
            log.warning(
                "cannot write to the feature cache %s (%s); going on without caching",
                self.root,
                err.strerror or err,
            )
            return False
        return True

    def save(self, key: FeatureKey, feats: ClipFeatures) -> str | None:
        """Cache ``feats`` under ``key``; the entry's path, or None when the cache cannot be written
        (logged once; the caller's features are unaffected)."""
        if not self.writable:
            return None
        path = self.path_for(key)
        features = np.ascontiguousarray(feats.features, dtype=np.float32)
        record = json.dumps(FeatureRecord.of(feats, model_fingerprint=key.model_fingerprint).to_dict())
        sampling = json.dumps(dict(key.sampling))
        buffer = io.BytesIO()
        np.savez(
            buffer,
            features=features,
            record=np.asarray(record),
            sampling=np.asarray(sampling),
            checksum=np.asarray(entry_checksum(features, record, sampling)),
        )
        return path if self._write(path, buffer.getvalue()) else None


def _lines_checksum(starts: np.ndarray, ends: np.ndarray, texts_json: str, meta_json: str) -> str:
    digest = hashlib.sha256()
    for arr in (starts, ends):
        digest.update(np.ascontiguousarray(arr, dtype="<f8").tobytes() + b"\0")
    for part in (texts_json, meta_json):
        digest.update(part.encode("utf-8") + b"\0")
    return "sha256:" + digest.hexdigest()


def _arrays(data: bytes, required: tuple[str, ...], hint: str) -> dict[str, np.ndarray]:
    """The arrays of an entry's ``.npz`` bytes, all of ``required`` there; :class:`CacheEntryError`
    when the file is empty, unreadable or lacks some (``hint`` added to that message)."""
    if not data:
        raise CacheEntryError("empty file")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as err:
        raise CacheEntryError(f"unreadable: {err}") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise CacheEntryError(f"no {', '.join(missing)}{hint}")
    return arrays


def _parse_lines(data: bytes) -> tuple[list[SubtitleSegment], dict]:
    """A lines entry's bytes as (segments, meta); :class:`CacheEntryError` when damaged."""
    arrays = _arrays(data, ("starts", "ends", "texts", "meta", "checksum"), "")
    starts, ends = arrays["starts"], arrays["ends"]
    texts_json, meta_json = str(arrays["texts"]), str(arrays["meta"])
    if str(arrays["checksum"]) != _lines_checksum(starts, ends, texts_json, meta_json):
        raise CacheEntryError("checksum mismatch")
    try:
        texts, meta = json.loads(texts_json), json.loads(meta_json)
        segments = [
            SubtitleSegment(float(a), float(b), str(t)) for a, b, t in zip(starts, ends, texts, strict=True)
        ]
    except (ValueError, TypeError) as err:
        raise CacheEntryError(f"bad entry: {err}") from None
    return segments, meta if isinstance(meta, dict) else {}


def _parse_entry(data: bytes, path: str, dim: int | None) -> ClipFeatures:
    """A cache entry's bytes as checked :class:`ClipFeatures`; :class:`CacheEntryError` when damaged."""
    arrays = _arrays(
        data, ("features", "record", "sampling", "checksum"), " (written by an older momentfinder?)"
    )
    features = arrays["features"]
    record_json, sampling_json = str(arrays["record"]), str(arrays["sampling"])
    if str(arrays["checksum"]) != entry_checksum(features, record_json, sampling_json):
        raise CacheEntryError("checksum mismatch")
    try:
        record = FeatureRecord.from_dict(json.loads(record_json), path)
    except (ValueError, TypeError, InputError) as err:
        raise CacheEntryError(f"bad record: {err}") from None
    if features.dtype != np.float32 or features.ndim != 2:
        raise CacheEntryError(f"features of dtype {features.dtype} and shape {features.shape}")
    if features.shape[0] != record.n_clips:
        raise CacheEntryError(f"{features.shape[0]} rows, but the record has {record.n_clips} clips")
    if dim is not None and features.shape[1] != dim:
        raise CacheEntryError(f"feature width {features.shape[1]}, the encoder's is {dim}")
    if not np.isfinite(features).all():
        raise CacheEntryError("NaN or infinite values")
    try:
        return record.clip_features(features)
    except ValueError as err:
        raise CacheEntryError(str(err)) from None
