"""On-disk feature cache keyed by file content hash + model fingerprint + the whole sampling config.

A second query on the same video (even renamed or moved) reuses the features: no decoding
and no encoding. Writes are atomic (temp file + rename) so an interrupted run never leaves a
half-written entry.

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
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..types import ClipFeatures
from .atomic import write_atomic
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


class FeatureCache:
    """Directory of ``.npz`` feature files; ``root=None`` uses :func:`default_cache_dir`."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = os.fspath(root) if root is not None else default_cache_dir()
        self._hashes: dict[tuple[str, int, int], str] = {}

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
        try:
            write_atomic(memo, json.dumps({**stat, "hash": self._hashes[key]}).encode())
        except OSError as err:  # a read-only cache still works, it just hashes again next time
            log.debug("cannot remember the hash of %s (%s)", path, err)
        return self._hashes[key]

    def path_for(self, key: FeatureKey) -> str:
        return os.path.join(self.root, "features", key.content_hash[:2], key.filename())

    def load(self, key: FeatureKey) -> ClipFeatures | None:
        path = self.path_for(key)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                record = FeatureRecord.from_dict(json.loads(str(data["record"])), path)
                return record.clip_features(data["features"].astype(np.float32))
        except (OSError, ValueError, KeyError, TypeError, InputError) as err:
            log.warning("ignoring unreadable cache entry %s (%s)", path, err)
            return None

    def save(self, key: FeatureKey, feats: ClipFeatures) -> str:
        path = self.path_for(key)
        record = FeatureRecord.of(feats, model_fingerprint=key.model_fingerprint).to_dict()
        buffer = io.BytesIO()
        np.savez(
            buffer,
            features=feats.features.astype(np.float32),
            record=np.asarray(json.dumps(record)),
            sampling=np.asarray(json.dumps(dict(key.sampling))),
        )
        write_atomic(path, buffer.getvalue(), suffix=".tmp.npz")
        return path
