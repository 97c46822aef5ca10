"""What identifies a model's weights, for cache keys and calibration records.

A name is not enough: the same ``--visual-model DIR`` may hold other weights tomorrow, and a
relative directory name means another model in another folder. A fingerprint is

* for a local directory: a hash of every file's relative name, size and modification time
  (the config and weight files ``save_pretrained`` writes), as build tools trust stat data;
* for a hub id: the id and the commit of the snapshot in the Hugging Face cache it loads from.
"""

from __future__ import annotations

import hashlib
import os

_MAX_FILES = 10_000  # a model folder has a handful; stop walking a wrongly given home directory


def directory_fingerprint(path: str | os.PathLike) -> str:
    """``dir:`` + BLAKE2b of (relative name, size, mtime ns) of the files under ``path``."""
    root = os.path.abspath(os.fspath(path))
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            entries.append(f"{os.path.relpath(full, root)}\0{st.st_size}\0{st.st_mtime_ns}")
            if len(entries) >= _MAX_FILES:
                break
    digest = hashlib.blake2b("\n".join(entries).encode(), digest_size=10).hexdigest()
    return f"dir:{digest}"


def hub_fingerprint(model_id: str, revision: str | None = None) -> str:
    """``hub:ID@COMMIT`` of the cached snapshot (``hub:ID@REVISION`` when it is not cached)."""
    commit = None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_id, "config.json", revision=revision)
        if isinstance(found, str):  # .../snapshots/<commit>/config.json
            commit = os.path.basename(os.path.dirname(found))
    except (ImportError, ValueError):
        pass
    return f"hub:{model_id}@{commit or revision or 'main'}"


def model_fingerprint(model: str, revision: str | None = None) -> str:
    """The fingerprint of a hub id or a local directory (see module docstring)."""
    if os.path.isdir(model):
        return directory_fingerprint(model)
    return hub_fingerprint(model, revision)
