"""A trained cross-video ranker, as the library uses it: numpy in, numpy out.

ranker.check(clip_dim, text_dim, model)          # refuse features it was not trained on
prepared = ranker.query(query_features)          # once per query
ranker.video_scores(prepared, [clips, ...])      # one score per video
ranker.clip_relevance(prepared, clips)           # per-clip relevance in one video
ranker.coarse_vector(prepared)                   # a vector for the nearest-clip index
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import InputError
from ...types import QueryFeatures
from ..detr.checkpoint import FeatureSpec
from .model import CrossVideoRanker
from .train import pad_videos


@dataclass
class PreparedQuery:
    """A query in the ranker's clip space: its mapped tokens and their log weights."""

    mapped: torch.Tensor  # (1, T, clip_dim)
    log_weights: torch.Tensor  # (1, T)


@dataclass
class Ranker:
    model: CrossVideoRanker
    spec: FeatureSpec
    history: dict = field(default_factory=dict)
    source: str = ""

    def check(self, clip_dim: int, text_dim: int | None = None, visual_model: str | None = None) -> None:
        """:class:`InputError` (one line) unless features of this width (and encoder) fit the ranker."""
        where = f"the ranker {self.source}".strip() if self.source else "the ranker"
        if clip_dim != self.spec.visual_dim:
            raise InputError(
                f"{where} was trained on {self.spec.visual_model} clip features of dim {self.spec.visual_dim}; "
                f"these are {visual_model or 'features'} of dim {clip_dim} (train a ranker for this encoder)"
            )
        if text_dim is not None and text_dim != self.spec.text_dim:
            raise InputError(
                f"{where} was trained on query features of dim {self.spec.text_dim}; this query encoder "
                f"gives dim {text_dim} (train a ranker for this encoder)"
            )
        if visual_model and self.spec.encoder_known and visual_model != self.spec.visual_model:
            raise InputError(
                f"{where} was trained on features of {self.spec.visual_model}; these come from {visual_model} "
                "(train a ranker for this encoder)"
            )

    @torch.no_grad()
    def query(self, query: QueryFeatures) -> PreparedQuery:
        tokens = query.tokens if query.tokens is not None and self.spec.text_tokens else query.pooled[None]
        tokens = np.asarray(tokens, dtype=np.float32)
        self.check(self.spec.visual_dim, tokens.shape[1])
        t = torch.as_tensor(tokens)[None]
        mapped, log_w = self.model.encode_query(t, torch.ones(t.shape[:2], dtype=torch.bool))
        return PreparedQuery(mapped, log_w)

    @torch.no_grad()
    def video_scores(self, query: PreparedQuery, videos: Sequence[np.ndarray], chunk: int = 64) -> np.ndarray:
        """One score per video (its max, or top-k mean, clip relevance), comparable across videos."""
        out = []
        for start in range(0, len(videos), chunk):
            part = list(videos[start : start + chunk])
            for v in part:
                self.check(v.shape[1])
            clips, mask = pad_videos(part)
            rel = self.model.relevance(query.mapped, query.log_weights, self.model.prepare_clips(clips))
            out.append(self.model.video_scores(rel, mask)[0].numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    @torch.no_grad()
    def clip_relevance(self, query: PreparedQuery, clips: np.ndarray) -> np.ndarray:
        """Per-clip relevance ``(n_clips,)`` of the query in one video."""
        self.check(clips.shape[1])
        c = self.model.prepare_clips(torch.as_tensor(np.asarray(clips, dtype=np.float32)))
        return self.model.relevance(query.mapped, query.log_weights, c[None])[0, 0].numpy()

    @torch.no_grad()
    def coarse_vector(self, query: PreparedQuery) -> np.ndarray:
        """A unit vector ``w`` in the raw clip space whose cosine with an L2-normalised clip ranks
        clips as the gate-weighted mean of the token scores does (the whitening folded in), for
        the approximate nearest-neighbour index."""
        pooled = (query.log_weights.exp()[..., None] * query.mapped).sum(1)[0]
        w = self.model.clip_whiten @ pooled
        return (w / w.norm().clamp_min(1e-12)).numpy()
