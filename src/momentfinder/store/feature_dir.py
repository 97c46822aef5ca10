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

The manifest is the truth about clip length: a directory with one is read at the clip length
its features were extracted at, and a different clip length asked for is an error. Released
feature sets have no manifest; their clip length is the dataset's (2 s for QVHighlights), given
by the caller.

Several visual directories are concatenated along the feature axis after truncating every one
to the shortest clip count, as Moment-DETR's data loader does. The reader does not
L2-normalise unless asked (``normalize=True`` normalises each directory's rows before the
concatenation, Moment-DETR's ``normalize_v``/``normalize_t``). ``temporal_endpoint=True`` appends
the two temporal endpoint feature columns ``[i / n, (i + 1) / n]`` (Moment-DETR's TEF).
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..data.readers import iter_jsonl
from ..errors import InputError
from ..types import ClipFeatures, GroundingSample, QueryFeatures, Timeline
from .atomic import write_atomic
from .record import FeatureRecord

MANIFEST = "videos.jsonl"
DEFAULT_CLIP_LEN = 2.0  # seconds; QVHighlights' released features


def read_manifest(root: str | os.PathLike) -> dict[str, FeatureRecord]:
    """``vid -> FeatureRecord`` from ``root/videos.jsonl`` (empty when there is none)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    return {row.get("vid", ""): FeatureRecord.from_dict(row, f"{path}:{n}") for n, row in iter_jsonl(path)}


def write_manifest(root: str | os.PathLike, entries: Iterable[FeatureRecord]) -> None:
    """Merge ``entries`` into ``root/videos.jsonl`` (a vid written again replaces its row), atomically."""
    by_vid = read_manifest(root)
    by_vid.update({e.vid: e for e in entries})
    text = "".join(json.dumps(e.to_dict()) + "\n" for e in by_vid.values())
    try:
        write_atomic(Path(root) / MANIFEST, text.encode("utf-8"))
    except OSError as err:
        raise InputError(f"cannot write {Path(root) / MANIFEST}: {err.strerror}") from None


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
        return self.root / (feat_dir or self.clip_feat_dirs[0]) / f"{vid}.npz"

    def query_path(self, qid: int | str) -> Path:
        if not self.text_feat_dir:
            raise InputError("this FeatureDirectory has no text feature directory")
        return self.root / self.text_feat_dir / f"qid{qid}.npz"

    def video_ids(self) -> list[str]:
        """Videos that have a file in every visual directory, sorted."""
        sets = [{p.stem for p in (self.root / d).glob("*.npz")} for d in self.clip_feat_dirs]
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
        """``QueryFeatures``: ``pooled`` = ``pooler_output`` ``(D_t,)``, ``tokens`` = ``last_hidden_state`` ``(n_tokens, D_t)``."""
        path = self.query_path(qid)
        data = _load_npz(path)
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
    """Write clip and query features in the Moment-DETR layout, and the manifest.

    Each file is written atomically; the manifest is merged and rewritten by :meth:`close` (or
    at the end of a ``with`` block), so a video re-extracted replaces its row.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.entries: list[FeatureRecord] = []
        try:
            (self.root / "clip_features").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create {self.root}: {err.strerror}") from None

    def __enter__(self) -> FeatureDirectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_video(
        self, clips: ClipFeatures, source_path: str, text_model: str = "", model_fingerprint: str = ""
    ) -> FeatureRecord:
        """Write ``clip_features/{vid}.npz`` and remember its manifest row."""
        _save_npz(self.root / "clip_features" / f"{clips.video_id}.npz", features=clips.features)
        entry = FeatureRecord.of(clips, source_path, text_model, model_fingerprint)
        self.entries.append(entry)
        return entry

    def add_query(self, qid: int | str, query: QueryFeatures) -> None:
        """Write ``clip_text_features/qid{qid}.npz`` (tokens, pooled, and the phrases when any)."""
        extra = (
            {} if query.parts is None else {"parts": query.parts, "part_texts": np.array(query.part_texts)}
        )
        tokens = query.tokens if query.tokens is not None else query.pooled[None]
        _save_npz(
            self.root / "clip_text_features" / f"qid{qid}.npz",
            last_hidden_state=tokens,
            pooler_output=query.pooled,
            **extra,
        )

    def close(self) -> None:
        if self.entries:
            write_manifest(self.root, self.entries)
            self.entries = []


def _save_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        write_atomic(path, buffer.getvalue(), suffix=".tmp.npz")
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror}") from None
