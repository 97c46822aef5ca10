"""Pre-extracted features in the Moment-DETR / Lighthouse directory layout.

::

    DIR/clip_features/{vid}.npz          key "features"           float (n_clips, D)
    DIR/slowfast_features/{vid}.npz      key "features"           float (n_clips', D')   (optional, more dirs)
    DIR/clip_text_features/qid{N}.npz    keys "last_hidden_state"  (n_tokens, D_t)
                                              "pooler_output"      (D_t,)

Several visual directories are concatenated along the feature axis after truncating every one
to the shortest clip count, as Moment-DETR's data loader does. The reader does not
L2-normalise unless asked (``normalize=True`` normalises each directory's rows before the
concatenation, Moment-DETR's ``normalize_v``/``normalize_t``). ``temporal_endpoint=True`` appends
the two temporal endpoint feature columns ``[i / n, (i + 1) / n]`` (Moment-DETR's TEF).
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import ClipFeatures, GroundingSample, QueryFeatures
from .readers import iter_jsonl

log = logging.getLogger(__name__)


class FeatureDirectory:
    """Read clip and query features of one dataset from ``root``.

    ``clip_feat_dirs``: visual sub-directories (concatenated in this order);
    ``text_feat_dir``: the query feature sub-directory (None for video-only use);
    ``max_clips``: keep at most this many clips per video (Moment-DETR's ``max_v_l``).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        clip_feat_dirs: Sequence[str] = ("clip_features",),
        text_feat_dir: str | None = "clip_text_features",
        *,
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
        self._encoders: dict[str, str] | None = None  # vid -> encoder, from videos.jsonl (read once)

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
    def clip_features(self, vid: str, clip_len: float = 2.0, duration: float | None = None) -> ClipFeatures:
        """``ClipFeatures`` of video ``vid``: ``(n_clips, D_total)`` float32, clip ``i`` starts at ``i * clip_len`` s.

        ``duration`` (seconds) defaults to ``n_clips * clip_len``.
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
        return ClipFeatures(
            features=np.ascontiguousarray(feats),
            clip_len=float(clip_len),
            duration=float(duration) if duration is not None else n * float(clip_len),
            model=self.encoder_of(vid),
            video_id=vid,
        )

    def encoder_of(self, vid: str) -> str:
        """The encoder that made ``vid``'s clip features: the ``model`` that ``momentfinder extract``
        records in ``videos.jsonl``, else (released feature sets) the visual directory names."""
        folders = "+".join(self.clip_feat_dirs)
        if self.clip_feat_dirs != ("clip_features",):
            return folders
        if self._encoders is None:
            manifest = self.root / "videos.jsonl"
            rows = iter_jsonl(manifest) if manifest.is_file() else ()
            self._encoders = {
                str(r["vid"]): str(r["model"]) for _, r in rows if r.get("vid") and r.get("model")
            }
        return self._encoders.get(vid, folders)

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
            model=self.text_feat_dir or "",
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
