"""Pre-extracted features in the Moment-DETR / Lighthouse directory layout: reader, writer, manifest.

::

    DIR/clip_features/{vid}.npz          key "features"           float (n_clips, D)
    DIR/slowfast_features/{vid}.npz      key "features"           float (n_clips', D')   (optional, more dirs)
    DIR/clip_text_features/qid{N}.npz    keys "last_hidden_state"  (n_tokens, D_t)
                                              "pooler_output"      (D_t,)
                                              "parts", "part_texts" (optional: sub-query phrases)
    DIR/videos.jsonl                     the manifest `momentfinder extract` writes: one row per video
                                         (vid, path, duration, clip_len, n_clips, model, text_model,
                                         model_fingerprint)
    DIR/queries.jsonl                    the queries `momentfinder extract` encoded: qid, text, model
                                         (each qid{N}.npz also holds its text under the key "text")

The manifest is the truth about clip length: a directory with one is read at the clip length
its features were extracted at, and a different clip length asked for is an error. Released
feature sets have no manifest; their clip length is the dataset's (2 s for QVHighlights), given
by the caller.

Video and query ids name files, so an id that could leave its directory (empty, ``.``-leading,
with ``/``, ``\\``, NUL or another control character) is refused with an :class:`InputError`.
Names starting with ``.`` are the store's own temporary and private files and are never read
as features.

The writer is safe with parallel writers and with ``kill -9`` at any point: features are
staged in a private directory, then a commit (under a lock on ``DIR/.lock``) writes a journal,
moves them into place and merges the manifests; a commit that was interrupted is finished by
the next writer. Old features stay until their replacements are complete. Two source videos
with the same file name get distinct ids (``clip``, ``clip-1a2b3c4d``: a hash of the path, so
stable across runs).

Several visual directories are concatenated along the feature axis after truncating every one
to the shortest clip count, as Moment-DETR's data loader does. The reader does not
L2-normalise unless asked (``normalize=True`` normalises each directory's rows before the
concatenation, Moment-DETR's ``normalize_v``/``normalize_t``). ``temporal_endpoint=True`` appends
the two temporal endpoint feature columns ``[i / n, (i + 1) / n]`` (Moment-DETR's TEF).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..atomic import fsync_dir, is_temporary, lock_fd, locked, write_atomic, write_durable
from ..data.readers import iter_jsonl
from ..errors import InputError
from ..types import ClipFeatures, GroundingSample, QueryFeatures, Timeline
from .record import FeatureRecord

MANIFEST = "videos.jsonl"
QUERY_MANIFEST = "queries.jsonl"
DEFAULT_CLIP_LEN = 2.0  # seconds; QVHighlights' released features
LOCK = ".lock"  # flock'ed around every commit
JOURNAL = ".commit.json"  # a commit in progress: finished by the next writer when its writer died
_STAGING_PREFIX = ".staging-"
_OWNER = ".owner"  # flock'ed by a staging directory's writer while it lives
_MAX_ID_BYTES = 200


def check_id(value: int | str, kind: str = "video id", where: str = "") -> str:
    """``value`` as a file-name-safe id, else :class:`InputError` (one line, naming ``where``).

    Ids name files (``clip_features/{vid}.npz``, ``clip_text_features/qid{qid}.npz``): an empty
    id, one starting with ``.`` (``..``, the store's private files) or holding ``/``, ``\\``,
    NUL or another control character could read or write outside its directory.
    """
    text = str(value)
    problem = None
    if not text:
        problem = "is empty"
    elif text.startswith("."):
        problem = "starts with '.'"
    elif "/" in text or "\\" in text:
        problem = "contains a path separator"
    elif any(ord(c) < 32 or ord(c) == 127 for c in text):
        problem = "contains NUL or a control character"
    elif len(text.encode("utf-8", "surrogatepass")) > _MAX_ID_BYTES:
        problem = f"is longer than {_MAX_ID_BYTES} bytes"
    if problem is not None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InputError(
            f"{where + ': ' if where else ''}{kind} {shown!r} {problem}; ids name feature files and must stay "
            "inside the feature directory"
        )
    return text


def check_sample_ids(samples: Iterable[GroundingSample], where: str = "") -> None:
    """Refuse annotation ``vid``/``qid`` values that could name a file outside the feature directory."""
    for s in samples:
        check_id(s.vid, "video id", where)
        check_id(s.qid, "query id", where)


def _check_subdir(name: str, root: Path) -> str:
    """A feature sub-directory name (may nest) that stays below ``root``."""
    norm = os.path.normpath(name)
    if not name or os.path.isabs(name) or norm == ".." or norm.startswith(".." + os.sep) or "\0" in name:
        raise InputError(f"feature sub-directory {name!r} is not inside {root}")
    return name


def read_manifest(root: str | os.PathLike) -> dict[str, FeatureRecord]:
    """``vid -> FeatureRecord`` from ``root/videos.jsonl`` (empty when there is none)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    return {row.get("vid", ""): FeatureRecord.from_dict(row, f"{path}:{n}") for n, row in iter_jsonl(path)}


def write_manifest(root: str | os.PathLike, entries: Iterable[FeatureRecord]) -> None:
    """Merge ``entries`` into ``root/videos.jsonl`` (a vid written again replaces its row),
    atomically and under the directory's lock (parallel writers lose no row)."""
    try:
        with locked(Path(root) / LOCK):
            _merge_manifest(Path(root), list(entries))
    except OSError as err:
        raise InputError(f"cannot write {Path(root) / MANIFEST}: {err.strerror or err}") from None


def _merge_manifest(root: Path, entries: list[FeatureRecord]) -> None:
    """The read-merge-write of ``videos.jsonl``; the caller holds the lock."""
    by_vid = read_manifest(root)
    by_vid.update({e.vid: e for e in entries})
    write_atomic(root / MANIFEST, "".join(json.dumps(e.to_dict()) + "\n" for e in by_vid.values()).encode())


def read_queries(root: str | os.PathLike) -> dict[str, dict]:
    """``str(qid) -> {"qid", "text", "model"}`` from ``root/queries.jsonl`` (empty when there is none)."""
    path = Path(root) / QUERY_MANIFEST
    if not path.is_file():
        return {}
    rows = {}
    for n, row in iter_jsonl(path):
        if "qid" not in row or not isinstance(row.get("text", ""), str):
            raise InputError(f"{path}:{n}: malformed query record (needs qid and text)")
        rows[str(row["qid"])] = row
    return rows


log = logging.getLogger(__name__)


class FeatureDirectory:
    """Read clip and query features of one dataset from ``root``.

    ``clip_feat_dirs``: visual sub-directories (concatenated in this order);
    ``text_feat_dir``: the query feature sub-directory (None for video-only use);
    ``max_clips``: keep at most this many clips per video (Moment-DETR's ``max_v_l``).
    ``clip_len``: seconds per feature row. With a manifest (``videos.jsonl``) the manifest's clip
    length is used and a different ``clip_len`` raises :class:`InputError`; without one it is
    ``clip_len`` or :data:`DEFAULT_CLIP_LEN`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        clip_feat_dirs: Sequence[str] = ("clip_features",),
        text_feat_dir: str | None = "clip_text_features",
        *,
        clip_len: float | None = None,
        normalize: bool = False,
        temporal_endpoint: bool = False,
        max_clips: int | None = None,
        video_key: str = "features",
        text_token_key: str = "last_hidden_state",
        text_pooled_key: str = "pooler_output",
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"feature directory not found: {self.root}")
        if isinstance(clip_feat_dirs, str):
            clip_feat_dirs = (clip_feat_dirs,)
        if not clip_feat_dirs:
            raise InputError("at least one visual feature directory is needed")
        for d in [*clip_feat_dirs, *([text_feat_dir] if text_feat_dir else [])]:
            _check_subdir(d, self.root)
            if not (self.root / d).is_dir():
                raise InputError(f"feature sub-directory not found: {self.root / d}")
        self.clip_feat_dirs = tuple(clip_feat_dirs)
        self.text_feat_dir = text_feat_dir
        self.normalize = normalize
        self.temporal_endpoint = temporal_endpoint
        self.max_clips = max_clips
        self.video_key = video_key
        self.text_token_key = text_token_key
        self.text_pooled_key = text_pooled_key
        self._dims: dict[str, int] = {}  # first dimension seen per directory, to catch mixed files
        if (self.root / JOURNAL).exists():
            log.warning(
                "%s: an interrupted `momentfinder extract` left a commit unfinished (features and %s may "
                "disagree); run extract into it again to finish it",
                self.root,
                MANIFEST,
            )
        self.manifest = read_manifest(self.root)
        recorded = sorted({e.clip_len for e in self.manifest.values()})
        if clip_len is not None and not clip_len > 0:
            raise InputError(f"clip length must be positive, got {clip_len}")
        if clip_len is not None and recorded and any(abs(c - clip_len) > 1e-6 for c in recorded):
            raise InputError(
                f"{self.root / MANIFEST} says the features were extracted at "
                f"{' and '.join(f'{c:g} s' for c in recorded)} clips; a clip length of {clip_len:g} s "
                "contradicts it (leave the clip length out: the manifest is used)"
            )
        self.clip_len = recorded[0] if len(recorded) == 1 else float(clip_len or DEFAULT_CLIP_LEN)

    # -- what the features are ----------------------------------------------------------------
    def clip_len_of(self, vid: str) -> float:
        """Seconds per feature row of ``vid``: the manifest's, else the directory's clip length."""
        entry = self.manifest.get(vid)
        return entry.clip_len if entry is not None else self.clip_len

    @property
    def encoder(self) -> str:
        """The encoder the visual features come from: the manifest's model when every video
        names the same one, else the feature folder names (a released feature set)."""
        models = {e.model for e in self.manifest.values() if e.model}
        if len(models) == 1 and self.clip_feat_dirs == ("clip_features",):
            return models.pop()
        return "+".join(self.clip_feat_dirs)

    @property
    def text_encoder(self) -> str:
        """The query encoder (the manifest's ``text_model``), else the text folder name."""
        models = {e.text_model for e in self.manifest.values() if e.text_model}
        return models.pop() if len(models) == 1 else (self.text_feat_dir or "")

    # -- paths ------------------------------------------------------------------------------
    def video_path(self, vid: str, feat_dir: str | None = None) -> Path:
        """``DIR/clip_features/{vid}.npz``; an id that could leave the directory is an :class:`InputError`."""
        return (
            self.root
            / (feat_dir or self.clip_feat_dirs[0])
            / f"{check_id(vid, 'video id', str(self.root))}.npz"
        )

    def query_path(self, qid: int | str) -> Path:
        """``DIR/clip_text_features/qid{qid}.npz`` (the id is checked like :meth:`video_path`'s)."""
        if not self.text_feat_dir:
            raise InputError("this FeatureDirectory has no text feature directory")
        return self.root / self.text_feat_dir / f"qid{check_id(qid, 'query id', str(self.root))}.npz"

    def video_ids(self) -> list[str]:
        """Videos that have a file in every visual directory, sorted (temporary files are not videos)."""
        sets = [
            {p.stem for p in (self.root / d).glob("*.npz") if not is_temporary(p.name)}
            for d in self.clip_feat_dirs
        ]
        return sorted(set.intersection(*sets))

    @property
    def dim(self) -> int | None:
        """Visual feature width (after concatenation and TEF), known once a video was read."""
        if not all(d in self._dims for d in self.clip_feat_dirs):
            return None
        return sum(self._dims[d] for d in self.clip_feat_dirs) + (2 if self.temporal_endpoint else 0)

    # -- reading ----------------------------------------------------------------------------
    def clip_features(self, vid: str, duration: float | None = None) -> ClipFeatures:
        """``ClipFeatures`` of video ``vid``: ``(n_clips, D_total)`` float32, clip ``i`` starts at
        ``i * clip_len_of(vid)`` s.

        ``duration`` (seconds): the annotation's; else the manifest's; else ``n_clips * clip_len``.
        """
        parts = []
        for d in self.clip_feat_dirs:
            path = self.video_path(vid, d)
            arr = _load_array(path, self.video_key, ndim=2)
            self._check_dim(d, arr.shape[1], path)
            parts.append(arr)
        n = min(p.shape[0] for p in parts)
        longest = max(p.shape[0] for p in parts)
        if (
            longest - n > 2
        ):  # a clip or two is rounding; more suggests files from different videos or clip lengths
            counts = ", ".join(f"{d}: {p.shape[0]}" for d, p in zip(self.clip_feat_dirs, parts, strict=True))
            log.warning("%s: clip counts differ (%s); truncating to %d", vid, counts, n)
        if self.max_clips is not None:
            n = min(n, self.max_clips)
        if n == 0:
            raise InputError(f"{self.video_path(vid)}: no clips (shape {parts[0].shape})")
        parts = [p[:n].astype(np.float32, copy=False) for p in parts]
        if self.normalize:
            parts = [_l2_rows(p) for p in parts]
        if self.temporal_endpoint:
            start = np.arange(n, dtype=np.float32) / n
            parts.append(np.stack([start, start + 1.0 / n], axis=1))
        feats = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        entry = self.manifest.get(vid)
        if duration is None and entry is not None:
            duration = entry.duration
        return ClipFeatures(
            features=np.ascontiguousarray(feats),
            timeline=Timeline.of(n, self.clip_len_of(vid), duration),
            model=self.encoder_of(vid),
            video_id=vid,
        )

    def encoder_of(self, vid: str) -> str:
        """The encoder that made ``vid``'s clip features: the ``model`` that ``momentfinder extract``
        records in ``videos.jsonl``, else (released feature sets) the visual directory names."""
        entry = self.manifest.get(vid)
        if self.clip_feat_dirs == ("clip_features",) and entry is not None and entry.model:
            return entry.model
        return "+".join(self.clip_feat_dirs)

    def query_features(self, qid: int | str, text: str = "") -> QueryFeatures:
        """``QueryFeatures``: ``pooled`` = ``pooler_output`` ``(D_t,)``, ``tokens`` = ``last_hidden_state`` ``(n_tokens, D_t)``.

        ``text``: the query; when empty, the text ``momentfinder extract`` recorded in the file."""
        path = self.query_path(qid)
        data = _load_npz(path)
        if not text and "text" in data and data["text"].ndim == 0 and data["text"].dtype.kind == "U":
            text = str(data["text"])
        missing = [k for k in (self.text_token_key, self.text_pooled_key) if k not in data]
        if missing:
            raise InputError(
                f"{path}: missing key(s) {', '.join(missing)} (has: {', '.join(sorted(data)) or 'none'})"
            )
        tokens = _as_float(data[self.text_token_key], path, self.text_token_key, ndim=2)
        pooled = _as_float(data[self.text_pooled_key], path, self.text_pooled_key, ndim=1)
        if tokens.shape[1] != pooled.shape[0]:
            raise InputError(
                f"{path}: {self.text_token_key} has dim {tokens.shape[1]} but {self.text_pooled_key} has dim {pooled.shape[0]}"
            )
        self._check_dim(self.text_feat_dir, pooled.shape[0], path)
        parts, part_texts = None, ()
        if "parts" in data:  # sub-query phrases, written by `momentfinder extract`
            parts = _as_float(data["parts"], path, "parts", ndim=2)
            if parts.shape[1] != pooled.shape[0]:
                raise InputError(
                    f"{path}: parts has dim {parts.shape[1]} but {self.text_pooled_key} has dim {pooled.shape[0]}"
                )
            if "part_texts" in data:
                part_texts = tuple(str(t) for t in data["part_texts"])
        if self.normalize:
            tokens, pooled = _l2_rows(tokens), _l2_rows(pooled[None])[0]
            parts = None if parts is None else _l2_rows(parts)
        return QueryFeatures(
            text=text,
            pooled=pooled,
            tokens=tokens,
            model=self.text_encoder,
            parts=parts,
            part_texts=part_texts,
        )

    def check(self, samples: Iterable[GroundingSample]) -> list[str]:
        """Read every video and query of ``samples``; return one line per problem (empty = all good)."""
        problems = []
        seen_vids: set[str] = set()
        for s in samples:
            if s.vid not in seen_vids:
                seen_vids.add(s.vid)
                try:
                    self.clip_features(s.vid)
                except InputError as err:
                    problems.append(str(err))
            if self.text_feat_dir:
                try:
                    self.query_features(s.qid, s.query)
                except InputError as err:
                    problems.append(str(err))
        return problems

    def _check_dim(self, feat_dir: str, dim: int, path: Path) -> None:
        first = self._dims.setdefault(feat_dir, dim)
        if dim != first:
            raise InputError(f"{path}: feature dim {dim}, but earlier files in {feat_dir}/ have dim {first}")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"feature file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: unreadable feature file ({err})") from None


def _load_array(path: Path, key: str, ndim: int) -> np.ndarray:
    data = _load_npz(path)
    if key not in data:
        raise InputError(f"{path}: missing key {key!r} (has: {', '.join(sorted(data)) or 'none'})")
    return _as_float(data[key], path, key, ndim)


def _as_float(arr: np.ndarray, path: Path, key: str, ndim: int) -> np.ndarray:
    if arr.ndim != ndim:
        want = "(n, dim)" if ndim == 2 else "(dim,)"
        raise InputError(f"{path}: {key} has shape {arr.shape}, expected {want}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: {key} has non-numeric dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: {key} contains NaN or infinite values")
    return arr


def _l2_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class FeatureDirectoryWriter:
    """Write clip and query features in the Moment-DETR layout, with the manifests.

    Features are staged in a private directory (``DIR/.staging-*``) and put in place by
    :meth:`commit`, which holds ``DIR/.lock``: it writes a journal, renames the staged files
    over the old ones and merges ``videos.jsonl`` / ``queries.jsonl``, so a reader never sees
    new features with an old manifest row once a commit is done, a parallel writer loses no
    row, and a writer killed mid-commit is finished by the next one (``kill -9`` before a
    commit leaves the old directory as it was). :meth:`close` (or the end of a ``with`` block)
    commits; ``commit_every`` seconds also commit what is staged, so a long run keeps its
    progress.

    A video id already used by another source file (same file name, other folder) is written
    as ``{id}-{hash of the path}`` (stable across runs), and ``warn`` is told.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        warn: Callable[[str], None] | None = None,
        commit_every: float | None = 60.0,
    ):
        self.root = Path(root)
        self.warn = warn or log.warning
        self.commit_every = commit_every
        self.entries: list[FeatureRecord] = []  # staged videos (their id may change at commit)
        self.committed: list[FeatureRecord] = []  # manifest rows written, with their final ids
        self._videos: list[tuple[str, FeatureRecord]] = []  # (staged file, record)
        self._queries: list[tuple[str, dict]] = []  # (staged file, queries.jsonl row)
        self._staging: Path | None = None
        self._owner: int | None = None  # fd holding the staging directory's owner lock
        self._count = 0
        self._last_commit = time.monotonic()
        try:
            (self.root / "clip_features").mkdir(parents=True, exist_ok=True)
            with self._lock():
                self._recover()
        except OSError as err:
            raise InputError(f"cannot write to {self.root}: {err.strerror or err}") from None

    def __enter__(self) -> FeatureDirectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- staging ------------------------------------------------------------------------------
    def add_video(
        self, clips: ClipFeatures, source_path: str, text_model: str = "", model_fingerprint: str = ""
    ) -> FeatureRecord:
        """Stage ``clip_features/{vid}.npz`` and its manifest row (``vid`` may change at commit when
        another source file has that id already)."""
        check_id(clips.video_id, "video id", str(self.root))
        staged = self._stage(f"v{self._count}.npz", features=clips.features)
        entry = FeatureRecord.of(clips, source_path, text_model, model_fingerprint)
        self._videos.append((staged, entry))
        self.entries.append(entry)
        self._maybe_commit()
        return entry

    def add_query(self, qid: int | str, query: QueryFeatures) -> None:
        """Stage ``clip_text_features/qid{qid}.npz`` (tokens, pooled, the text, the phrases when any)."""
        check_id(qid, "query id", str(self.root))
        extra = (
            {} if query.parts is None else {"parts": query.parts, "part_texts": np.array(query.part_texts)}
        )
        tokens = query.tokens if query.tokens is not None else query.pooled[None]
        staged = self._stage(
            f"q{self._count}.npz",
            last_hidden_state=tokens,
            pooler_output=query.pooled,
            text=np.asarray(str(query.text)),
            **extra,
        )
        self._queries.append((staged, {"qid": qid, "text": query.text, "model": query.model}))
        self._maybe_commit()

    def _stage(self, name: str, **arrays) -> str:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        try:
            staging = self._staging_dir()
            write_durable(staging / name, buffer.getvalue())
        except OSError as err:
            raise InputError(f"cannot write to {self.root}: {err.strerror or err}") from None
        self._count += 1
        return str((staging / name).relative_to(self.root))

    def _staging_dir(self) -> Path:
        """This writer's private directory, created (and owned) under the directory lock, so no
        other writer's clean-up can take it for a dead one's."""
        if self._staging is None:
            with self._lock():
                staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.root))
                owner = os.open(staging / _OWNER, os.O_RDWR | os.O_CREAT, 0o644)
                lock_fd(owner, blocking=False)  # new, so free
            self._staging, self._owner = staging, owner
        return self._staging

    # -- committing ---------------------------------------------------------------------------
    def _maybe_commit(self) -> None:
        if self.commit_every is not None and time.monotonic() - self._last_commit >= self.commit_every:
            self.commit()

    def commit(self) -> list[FeatureRecord]:
        """Put everything staged in place and merge the manifests; the video rows written."""
        if not self._videos and not self._queries:
            return []
        videos, queries = self._videos, self._queries
        self._videos, self._queries, self.entries = [], [], []
        self._last_commit = time.monotonic()
        try:
            with self._lock():
                self._recover()
                journal = self._plan(videos, queries)
                write_atomic(self.root / JOURNAL, json.dumps(journal).encode())
                _apply(self.root, journal)
        except OSError as err:
            raise InputError(f"cannot write to {self.root}: {err.strerror or err}") from None
        rows = [FeatureRecord.from_dict(r, str(self.root / MANIFEST)) for r in journal["videos"]]
        self.committed += rows
        return rows

    def _plan(self, videos: list[tuple[str, FeatureRecord]], queries: list[tuple[str, dict]]) -> dict:
        """The journal of a commit: final ids, the renames and the manifest rows (under the lock)."""
        manifest = read_manifest(self.root)
        known_queries = read_queries(self.root)
        taken: dict[str, str] = {}  # id -> source path, in this commit
        moves, video_rows, query_rows = [], [], []
        for staged, entry in videos:
            vid = self._unique_id(entry, manifest, taken)
            taken[vid] = entry.path
            row = {**entry.to_dict(), "vid": vid}
            moves.append([staged, f"clip_features/{vid}.npz"])
            video_rows.append(row)
        for staged, row in queries:
            old = known_queries.get(str(row["qid"]))
            if old is not None and old.get("text") and old.get("text") != row["text"]:
                self.warn(f"query id {row['qid']}: replacing the query {old['text']!r} with {row['text']!r}")
            moves.append([staged, f"clip_text_features/qid{row['qid']}.npz"])
            query_rows.append(row)
        staging = str(self._staging.relative_to(self.root)) if self._staging is not None else ""
        return {"staging": staging, "moves": moves, "videos": video_rows, "queries": query_rows}

    def _unique_id(
        self, entry: FeatureRecord, manifest: dict[str, FeatureRecord], taken: dict[str, str]
    ) -> str:
        """``entry.vid``, unless another source file has it already: then ``{vid}-{hash of the path}``
        (an id an earlier run gave this path is kept)."""
        want, path = entry.vid, entry.path

        def owner(vid: str) -> str | None:
            if vid in taken:
                return taken[vid]
            row = manifest.get(vid)
            return row.path if row is not None else None

        other = owner(want)
        if other is None or not path or not other or other == path:
            return want
        for vid, row in manifest.items():  # this path's id from an earlier run
            if row.path == path and vid.startswith(want + "-") and vid not in taken and _is_safe(vid):
                return vid
        base = f"{want}-{hashlib.blake2b(path.encode('utf-8', 'surrogatepass'), digest_size=4).hexdigest()}"
        vid, n = base, 2
        while owner(vid) not in (None, path):
            vid, n = f"{base}-{n}", n + 1
        self.warn(f"{path} and {other} are both named {want!r}: writing {path} as {vid!r}")
        return vid

    def close(self) -> None:
        """Commit what is staged and remove the staging directory (also when the commit fails)."""
        try:
            self.commit()
        finally:
            self._release()

    def _release(self) -> None:
        self._videos, self._queries, self.entries = [], [], []
        if self._staging is not None:
            # a journal left by this writer's failed commit needs the staged files (the next writer
            # finishes it); another writer's journal, met mid-commit, is none of this writer's business
            if not self._journal_needs_staging():
                shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def _journal_needs_staging(self) -> bool:
        """Whether the directory's journal (if any) moves files out of this writer's staging."""
        try:
            with self._lock():
                journal = json.loads((self.root / JOURNAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        own = str(self._staging.relative_to(self.root))
        return isinstance(journal, dict) and journal.get("staging") == own

    # -- recovery -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with locked(self.root / LOCK):
            yield

    def _recover(self) -> None:
        """Finish a commit whose writer died; remove staging directories of dead writers (the
        caller holds the lock)."""
        journal_path = self.root / JOURNAL
        if journal_path.exists():
            try:
                journal = json.loads(journal_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                journal = None  # written atomically, so only a foreign file can be unreadable
            if isinstance(journal, dict) and isinstance(journal.get("moves"), list):
                log.warning("%s: finishing a commit that an interrupted writer left", self.root)
                _apply(self.root, journal)
            else:
                journal_path.unlink()
        for staging in self.root.glob(_STAGING_PREFIX + "*"):
            if self._staging is not None and staging == self._staging:
                continue
            owner = staging / _OWNER
            try:
                with locked(owner, blocking=False) as free:
                    if not free:
                        continue  # a live writer's
                    shutil.rmtree(staging, ignore_errors=True)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # no owner file: died while creating it


def _is_safe(vid: str) -> bool:
    try:
        check_id(vid)
    except InputError:
        return False
    return True


def _check_move(root: Path, src: str, dst: str) -> None:
    """A journal's rename goes from a staging directory to a feature file, nowhere else."""
    source, target = Path(src).parts, Path(dst).parts
    ok = (
        len(source) == 2
        and source[0].startswith(_STAGING_PREFIX)
        and len(target) == 2
        and target[0] in ("clip_features", "clip_text_features")
        and target[1].endswith(".npz")
        and _is_safe(target[1][: -len(".npz")])
    )
    if not ok:
        raise InputError(f"{root / JOURNAL}: refusing to move {src!r} to {dst!r}")


def _apply(root: Path, journal: dict) -> None:
    """Carry out a commit journal (idempotent: a move already done is skipped), then drop it."""
    folders = set()
    for src, dst in journal["moves"]:
        _check_move(root, src, dst)
        source, target = root / src, root / dst
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            folders.add(target.parent)
    for folder in folders:
        fsync_dir(folder)
    if journal.get("videos"):
        _merge_manifest(root, [FeatureRecord.from_dict(r, str(root / JOURNAL)) for r in journal["videos"]])
    if journal.get("queries"):
        rows = read_queries(root)
        rows.update({str(r["qid"]): r for r in journal["queries"]})
        write_atomic(root / QUERY_MANIFEST, "".join(json.dumps(r) + "\n" for r in rows.values()).encode())
    (root / JOURNAL).unlink()
    fsync_dir(root)
