"""Predict a whole annotation file with a checkpoint: the ``momentfinder predict --checkpoint`` path."""

from __future__ import annotations

import os

from ....data.features import FeatureDirectory
from ....data.readers import read_annotations
from ....data.submission import write_submission
from ....types import GroundingResult
from .grounder import DetrGrounder, load_grounder


def feature_directory_for(grounder: DetrGrounder, root: str | os.PathLike) -> FeatureDirectory:
    """A :class:`FeatureDirectory` laid out and normalised like the checkpoint's training features."""
    spec = grounder.spec
    return FeatureDirectory(
        root,
        clip_feat_dirs=spec.visual_dirs or ("clip_features",),
        text_feat_dir=spec.text_dir or "clip_text_features",
        normalize=spec.normalize,
    )


def predict_annotations(
    checkpoint: str | os.PathLike,
    features: str | os.PathLike,
    annotations: str | os.PathLike,
    out: str | os.PathLike | None = None,
    top_k: int = 10,
    device: str = "cpu",
    batch_size: int = 64,
    reject: bool = True,
) -> list[GroundingResult]:
    """Ground every query of ``annotations``; write a QVHighlights submission to ``out`` when given.

    ``reject``: apply the checkpoint's calibrated no-moment threshold (rejected queries get no windows).
    """
    grounder = load_grounder(checkpoint, device=device)
    fd = feature_directory_for(grounder, features)
    samples = read_annotations(annotations)
    results: list[GroundingResult] = []
    cache: dict = {}
    for i in range(0, len(samples), batch_size):
        chunk = samples[i : i + batch_size]
        pairs = []
        for s in chunk:
            if s.vid not in cache:
                cache = {s.vid: fd.clip_features(s.vid, grounder.spec.clip_len, duration=s.duration)} | (
                    cache if len(cache) < 256 else {}
                )
            clips, query = cache[s.vid], fd.query_features(s.qid, s.query)
            grounder.spec.check(clips, query)
            pairs.append((clips, query))
        for s, r in zip(chunk, grounder.ground_batch(pairs, top_k, reject=reject), strict=True):
            r.qid, r.video = s.qid, s.vid
            results.append(r)
    if out is not None:
        write_submission(out, results)
    return results
