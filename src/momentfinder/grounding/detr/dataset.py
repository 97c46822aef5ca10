"""Training examples: annotations + features → padded tensors for the detector.

Spans are normalised by the clip sequence length ``n_clips * clip_len`` seconds, so clip ``i``
covers ``[i / n, (i + 1) / n]``, matching the model's temporal endpoint features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ...errors import InputError
from ...types import ClipFeatures, GroundingSample, QueryFeatures


class FeatureSource(Protocol):
    """Where clip and query features come from (``momentfinder.store.FeatureDirectory``).

    Clip features carry their :class:`~momentfinder.types.Timeline` (the source knows the clip
    length); ``encoder`` / ``text_encoder`` name what made the features, ``clip_feat_dirs`` /
    ``text_feat_dir`` / ``normalize`` how they are laid out and read (recorded in checkpoints).
    """

    encoder: str
    text_encoder: str
    clip_feat_dirs: tuple[str, ...]
    text_feat_dir: str | None
    normalize: bool

    def clip_features(self, vid: str, duration: float | None = None) -> ClipFeatures: ...

    def query_features(self, qid, text: str = "") -> QueryFeatures: ...


UNKNOWN = -1.0  # per-clip saliency label: not labelled (point labels use such clips as background)
UNSURE = -2.0  # per-clip saliency label: left out of every saliency loss (uncertain pseudo-window edge)


@dataclass
class Example:
    """One query-video pair ready for training or evaluation.

    ``spans``: ``(k, 2)`` normalised centre/width; ``saliency``: ``(n_clips,)`` label per clip
    (``> 0`` relevant, higher = more; ``0`` not relevant; ``-1`` unknown; ``-2`` unsure: no saliency
    loss at all, not even as background); ``span_valid``: whether
    the spans supervise the detector (False for weak labels and before point pseudo-labels exist).
    """

    sample: GroundingSample
    clips: np.ndarray
    tokens: np.ndarray
    clip_len: float
    spans: np.ndarray
    saliency: np.ndarray
    span_valid: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def n_clips(self) -> int:
        return int(self.clips.shape[0])


def query_tokens(query: QueryFeatures) -> np.ndarray:
    """``(n_tokens, dim)`` float32 token features; the pooled vector alone when there are no tokens."""
    tokens = query.tokens if query.tokens is not None else query.pooled[None]
    return np.asarray(tokens, dtype=np.float32)


def windows_to_spans(
    windows: list[list[float]], n_clips: int, clip_len: float, max_windows: int
) -> np.ndarray:
    """Seconds ``[[start, end], ...]`` → ``(k, 2)`` normalised centre/width, at most ``max_windows``."""
    total = n_clips * clip_len
    xx = np.clip(np.asarray(windows[:max_windows], dtype=np.float64).reshape(-1, 2) / total, 0.0, 1.0)
    return np.stack([(xx[:, 0] + xx[:, 1]) / 2, xx[:, 1] - xx[:, 0]], axis=1).astype(np.float32)


def saliency_labels(sample: GroundingSample, n_clips: int, clip_len: float) -> np.ndarray:
    """Per-clip labels from QVHighlights highlight scores (1 + mean score) or, without them, windows."""
    labels = np.zeros(n_clips, dtype=np.float32)
    if sample.saliency_clip_ids:
        for cid, row in zip(sample.saliency_clip_ids, sample.saliency_scores, strict=False):
            if cid < n_clips:
                labels[cid] = 1.0 + float(np.mean(row))
        return labels
    starts = np.arange(n_clips) * clip_len
    for st, ed in sample.windows:
        labels[(starts + clip_len > st) & (starts < ed)] = 1.0
    return labels


def build_examples(
    samples: list[GroundingSample], features: FeatureSource, max_windows: int = 5
) -> list[Example]:
    """Load features for every sample (fully supervised labels; see :mod:`.supervision` for others)."""
    out = []
    for s in samples:
        clips = features.clip_features(s.vid, duration=s.duration)
        query = features.query_features(s.qid, text=s.query)
        feats = np.asarray(clips.features, dtype=np.float32)
        if feats.shape[0] == 0:
            raise InputError(f"video {s.vid}: no clip features")
        n = feats.shape[0]
        out.append(
            Example(
                sample=s,
                clips=feats,
                tokens=query_tokens(query),
                clip_len=clips.clip_len,
                spans=windows_to_spans(s.windows, n, clips.clip_len, max_windows),
                saliency=saliency_labels(s, n, clips.clip_len),
            )
        )
    return out


def pad(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(L_i, D)`` arrays into ``(B, max L, D)`` zeros-padded plus a ``(B, max L)`` True-for-real mask."""
    longest = max(a.shape[0] for a in arrays)
    batch = np.zeros((len(arrays), longest, arrays[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(arrays), longest), dtype=bool)
    for i, a in enumerate(arrays):
        batch[i, : len(a)] = a
        mask[i, : len(a)] = True
    return torch.from_numpy(batch), torch.from_numpy(mask)


def collate(examples: list[Example]) -> dict:
    """A training batch: inputs (``vid``, ``vid_mask``, ``txt``, ``txt_mask``) and targets."""
    vid, vid_mask = pad([e.clips for e in examples])
    txt, txt_mask = pad([e.tokens for e in examples])
    sal = np.full(vid_mask.shape, -1.0, dtype=np.float32)
    for i, e in enumerate(examples):
        sal[i, : e.n_clips] = e.saliency
    return {
        "vid": vid,
        "vid_mask": vid_mask,
        "txt": txt,
        "txt_mask": txt_mask,
        "vids": [e.sample.vid for e in examples],
        "targets": {
            "spans": [torch.from_numpy(e.spans) for e in examples],
            "span_valid": torch.tensor([e.span_valid for e in examples]),
            "saliency": torch.from_numpy(sal),
            "clip_mask": vid_mask,
        },
    }


def to_device(batch: dict, device: torch.device) -> dict:
    out = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    t = batch["targets"]
    out["targets"] = {
        "spans": [s.to(device) for s in t["spans"]],
        "span_valid": t["span_valid"].to(device),
        "saliency": t["saliency"].to(device),
        "clip_mask": t["clip_mask"].to(device),
    }
    return out
