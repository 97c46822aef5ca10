"""Training the library's cross-video ranker from labels: ``momentfinder train-ranker``.

Joins what training needs: the Moment-DETR-layout feature directory (``store``), the annotation
readers (``data``) and the ranker's training loop (``grounding.retrieval``, which reads no files).
A query's positive clips are those whose centre lies inside one of its moments; queries without
a moment (negatives) are left out. The checkpoint records the features it was trained on, and
a library refuses a ranker of another encoder or width.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.readers import read_annotations
from ..errors import InputError
from ..store import FeatureDirectory, check_sample_ids
from ..types import clip_bounds


@dataclass
class RankerTrainRequest:
    """``momentfinder train-ranker``: features + annotations in, one checkpoint out.

    ``config``: a YAML file of :class:`~momentfinder.grounding.retrieval.RankerConfig` fields;
    ``epochs`` overrides its epochs. ``val``: queries for model selection (the epoch with the best
    video R@1 among the val videos is kept); without it the last epoch is kept."""

    features: str
    train: str
    out: str
    val: str | None = None
    config: str | None = None
    epochs: int | None = None
    visual_dirs: tuple[str, ...] = ("clip_features",)
    text_dir: str = "clip_text_features"
    clip_len: float | None = None
    seed: int = 0
    progress: bool = True


def ranker_config(request: RankerTrainRequest):
    from ..grounding.retrieval import RankerConfig

    cfg = RankerConfig.load(request.config) if request.config else RankerConfig()
    if request.epochs is not None:
        if request.epochs < 1:
            raise InputError("--epochs must be at least 1")
        cfg.epochs = request.epochs
    return cfg


def ranker_examples(features: FeatureDirectory, samples) -> tuple[dict[str, np.ndarray], list]:
    """The clip features of the samples' videos and one :class:`RankerExample` per sample with a moment."""
    from ..grounding.retrieval import RankerExample

    videos: dict[str, np.ndarray] = {}
    examples = []
    for s in samples:
        if not s.windows:
            continue
        if s.vid not in videos:
            videos[s.vid] = features.clip_features(s.vid, duration=s.duration or None).features
        clips = videos[s.vid]
        bounds = clip_bounds(
            len(clips), features.clip_len_of(s.vid), s.duration or len(clips) * features.clip_len
        )
        centre = bounds.mean(1)
        positive = np.zeros(len(clips), dtype=bool)
        for start, end in s.windows:
            positive |= (centre >= start) & (centre < end)
        if not positive.any():  # a moment shorter than a clip: the clip it falls in
            for start, end in s.windows:
                positive[min(int((start + end) / 2 // features.clip_len_of(s.vid)), len(clips) - 1)] = True
        q = features.query_features(s.qid, s.query)
        tokens = q.tokens if q.tokens is not None else q.pooled[None]
        examples.append(RankerExample(s.vid, np.asarray(tokens, dtype=np.float32), positive))
    return videos, examples


def train_ranker_from_features(
    request: RankerTrainRequest, on_epoch: Callable[[dict], None] | None = None
) -> dict:
    """Train and save a ranker (see :class:`RankerTrainRequest`); returns the run summary."""
    from ..grounding.detr.checkpoint import FeatureSpec
    from ..grounding.retrieval import Ranker, save_ranker, train_ranker

    cfg = ranker_config(request)
    features = FeatureDirectory(
        request.features,
        clip_feat_dirs=[d for d in request.visual_dirs if d],
        text_feat_dir=request.text_dir,
        clip_len=request.clip_len,
    )
    train_samples = read_annotations(request.train)
    check_sample_ids(train_samples, request.train)
    videos, examples = ranker_examples(features, train_samples)
    if not examples:
        raise InputError(f"{request.train}: no query with a moment to train the ranker on")
    val_videos, val_examples = {}, []
    if request.val:
        val_samples = read_annotations(request.val)
        check_sample_ids(val_samples, request.val)
        val_videos, val_examples = ranker_examples(features, val_samples)
    model, history = train_ranker(
        cfg,
        videos,
        examples,
        val_videos,
        val_examples,
        seed=request.seed,
        progress=request.progress,
        on_epoch=on_epoch,
    )
    spec = FeatureSpec(
        visual_model=features.encoder,
        visual_dim=model.clip_dim,
        text_model=features.text_encoder,
        text_dim=model.text_dim,
        clip_len=features.clip_len,
        text_tokens=True,
        normalize=True,
        visual_dirs=list(features.clip_feat_dirs),
        text_dir=request.text_dir,
    )
    os.makedirs(os.path.dirname(os.path.abspath(request.out)), exist_ok=True)
    save_ranker(request.out, Ranker(model, spec, source=request.out), history)
    return {
        "checkpoint": os.path.abspath(request.out),
        "encoder": spec.visual_model,
        "clip_dim": spec.visual_dim,
        "text_dim": spec.text_dim,
        "train_queries": len(examples),
        "train_videos": len(videos),
        "val_queries": len(val_examples),
        **history.to_dict(),
    }
