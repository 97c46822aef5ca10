"""On-disk feature cache keyed by file content hash + model + sampling settings.

A second query on the same video (even renamed or moved) reuses the features: no decoding
and no encoding. Writes are atomic (temp file + rename) so an interrupted run never leaves a
half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from ..types import ClipFeatures

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
    """Everything that changes the features of one video."""

    content_hash: str
    model: str
    clip_len: float
    frames_per_clip: int = 1
    precision: str = "fp32"
    channel: str = "visual"

    def filename(self) -> str:
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model.strip("/"))[-80:]
        model_digest = hashlib.blake2b(self.model.encode(), digest_size=4).hexdigest()
        return (
            f"{self.content_hash}-{self.channel}-{model}-{model_digest}-clip{self.clip_len:g}"
            f"-f{self.frames_per_clip}-{self.precision}.npz"
        )


class FeatureCache:
    """Directory of ``.npz`` feature files; ``root=None`` uses :func:`default_cache_dir`."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = os.fspath(root) if root is not None else default_cache_dir()
        self._hashes: dict[tuple[str, int, int], str] = {}

    def content_hash(self, path: str | os.PathLike) -> str:
        """Content hash of ``path``, remembered per (path, size, mtime) for this cache's lifetime."""
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = file_hash(path)
        return self._hashes[key]

    def path_for(self, key: FeatureKey) -> str:
        return os.path.join(self.root, "features", key.content_hash[:2], key.filename())

    def load(self, key: FeatureKey) -> ClipFeatures | None:
        path = self.path_for(key)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return ClipFeatures(
                    features=data["features"].astype(np.float32),
                    clip_len=float(meta["clip_len"]),
                    duration=float(meta["duration"]),
                    model=meta["model"],
                    video_id=meta.get("video_id", ""),
                )
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable cache entry %s (%s)", path, err)
            return None

    def save(self, key: FeatureKey, feats: ClipFeatures) -> str:
        path = self.path_for(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        meta = {
            "clip_len": feats.clip_len,
            "duration": feats.duration,
            "model": feats.model,
            "video_id": feats.video_id,
        }
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, features=feats.features.astype(np.float32), meta=np.asarray(json.dumps(meta)))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path
