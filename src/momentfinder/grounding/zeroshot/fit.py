"""Fitting a :class:`NoMomentCalibration` on validation (clips, query) pairs.

From the calibration videos and queries alone (no labels but which queries happen): the null
level (the videos' mean clip), a sample of their clips (the corpus of corpus expansion), the stop
words (query tokens that recur across the queries), the query bank (the queries' sub-queries and a
sample of clip similarities with them), the encoder the features come from, and the evidence
thresholds of the no-moment decision for features and for curves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from ...errors import InputError
from ...types import ClipFeatures, QueryFeatures
from .calibration import (
    NoMomentCalibration,
    calibrate_threshold,
    corpus_record,
    find_common_tokens,
    fit_evidence_model,
    logistic_evidence,
)
from .config import EXPANSION_OPTIONS, ZeroShotConfig
from .curves import (
    EVIDENCE_STATISTICS,
    CalibrationArrays,
    SimilarityCurves,
    evidence,
    evidence_statistics,
    levels_above_null,
    query_vectors,
    similarity_curves,
    subquery_kind,
    unit,
)

log = logging.getLogger(__name__)

Pair = tuple[ClipFeatures, QueryFeatures]


def fit_calibration(
    config: ZeroShotConfig,
    positives: Sequence[Pair],
    negatives: Sequence[Pair] = (),
    target_rejection: float = 0.92,
    max_positive_loss: float = 0.05,
    source: str = "",
) -> NoMomentCalibration:
    """Calibrate the no-moment decision of a grounder with ``config`` on validation pairs.

    ``positives`` are queries that happen in their video, ``negatives`` queries that do not
    (optional: without them the threshold keeps ``1 - max_positive_loss`` of the positives).
    The null levels come from the same videos (see :mod:`.calibration`). Every clip feature must
    come from one encoder (``ClipFeatures.model``, one width): the calibration records it.
    """
    if not positives:
        raise InputError("calibration needs at least one positive (video, query) pair")
    encoder, encoder_dim = _encoder_of([c for c, _ in [*positives, *negatives]])
    videos = {c.video_id or id(c.features): c.features for c, _ in [*positives, *negatives]}
    total = sum(unit(f.astype(np.float64)).sum(axis=0) for f in videos.values())
    mean = total / sum(len(f) for f in videos.values())
    cfg = config
    queries = [q for _, q in [*positives, *negatives]]
    token_sets = [  # stop words come from the token features of queries that have no phrases
        q.tokens for q in queries if q.parts is None and q.tokens is not None and q.tokens.ndim == 2
    ]
    common, shares = None, None
    if cfg.subquery_weight > 0 and cfg.common_token_share < 1.0 and token_sets:
        reps, rep_shares = find_common_tokens(token_sets, cfg.common_token_similarity, cfg.common_token_share)
        if len(reps):
            common = [[round(float(v), 4) for v in r] for r in reps]
            shares = [round(float(v), 4) for v in rep_shares]
    probe = NoMomentCalibration(
        feature_mean=[float(v) for v in mean],
        common_tokens=common,
        common_token_shares=shares,
        corpus=corpus_of(videos, cfg.corpus_clips) if cfg.corpus_weight > 0 else None,
    )
    arrays = CalibrationArrays(probe)
    if cfg.subquery_weight > 0 and (cfg.bank_temperature > 0 or cfg.sibling_weight > 0):
        pairs = [*positives, *negatives]  # each query expanded without its own video's clips
        with_subs = [(q, query_vectors(q, cfg, arrays, c.video_id)[1]) for c, q in pairs]
        with_subs = [(q, subs) for q, subs in with_subs if subs is not None]
        if with_subs:
            probe = with_query_bank(
                probe,
                cfg,
                [subs for _, subs in with_subs],
                list(videos.values()),
                kinds={subquery_kind(q, cfg) for q, _ in with_subs},
            )
            arrays = CalibrationArrays(probe)

    def evidence_of(curves: SimilarityCurves) -> float:
        return evidence(*levels_above_null(curves, cfg), cfg)

    feature_stats, pooled_curves = [], []
    for group in (positives, negatives):
        curves = [similarity_curves(clips, query, cfg, arrays) for clips, query in group]
        stats = [evidence_statistics(*levels_above_null(c, cfg), cfg) for c in curves]
        feature_stats.append(np.array(stats).reshape(-1, len(EVIDENCE_STATISTICS)))
        pooled_curves.append([c.pooled for c in curves])
    model = None
    if cfg.no_moment == "logistic" and negatives:
        model = fit_evidence_model(feature_stats[0], feature_stats[1], EVIDENCE_STATISTICS)
        feature_evidence = [np.array([logistic_evidence(s, model) for s in group]) for group in feature_stats]
    else:  # the evidence alone (the first statistic)
        feature_evidence = [group[:, 0] for group in feature_stats]
    curve_null = float(np.mean(np.concatenate(pooled_curves[0] + pooled_curves[1])))
    curve_evidence = [
        np.array([evidence_of(SimilarityCurves(pooled=c, null_pooled=curve_null)) for c in group])
        for group in pooled_curves
    ]
    f_thr, f_rates = calibrate_threshold(
        feature_evidence[0],
        feature_evidence[1] if negatives else None,
        target_rejection,
        max_positive_loss,
        cfg.rejection_margin,
    )
    c_thr, c_rates = calibrate_threshold(
        curve_evidence[0],
        curve_evidence[1] if negatives else None,
        target_rejection,
        max_positive_loss,
        cfg.rejection_margin,
    )
    report = {
        "source": source,
        "target_rejection": target_rejection if negatives else None,
        "rejection_margin": cfg.rejection_margin if negatives else None,
        "max_positive_loss": None if negatives else max_positive_loss,
        "features": f_rates,
        "curve": c_rates,
        "config": {
            "evidence_level": cfg.evidence_level,
            "subquery_parts": cfg.subquery_parts,
            "common_token_share": cfg.common_token_share,
            "common_token_similarity": cfg.common_token_similarity,
            "query_bank_size": len(probe.query_bank or []),
            "no_moment": "logistic" if model is not None else "evidence",
            # the query bank and the no-moment model were made from queries expanded this way
            **{name: getattr(cfg, name) for name in EXPANSION_OPTIONS},
        },
    }
    return dataclasses.replace(
        probe,
        feature_threshold=f_thr,
        curve_threshold=c_thr,
        encoder=encoder,
        encoder_dim=encoder_dim,
        feature_mean=[round(float(v), 6) for v in mean],
        curve_null=round(curve_null, 6),
        evidence_model=model,
        report=report,
    )


def corpus_of(videos: dict, size: int) -> dict | None:
    """The ``corpus`` field: a fixed sample of ``size`` clips of the calibration ``videos`` (video
    id, or another key for a video without one, -> features), as unit features with their video."""
    if size <= 0 or not videos:
        return None
    names = [key if isinstance(key, str) else f"#unnamed-{i}" for i, key in enumerate(videos)]
    rows, owner = clip_sample(list(videos.values()), size)
    return corpus_record(unit(rows), owner, names)


def clip_sample(videos: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``size`` clips of the calibration ``videos`` (features of each) as float32 rows, and
    the index of the video each comes from: all of them, or a fixed sample (the same calibration
    gives the same file), in their order."""
    rows = np.concatenate([f.astype(np.float32, copy=False) for f in videos])
    owner = np.repeat(np.arange(len(videos)), [len(f) for f in videos])
    if len(rows) > size:
        keep = np.sort(np.random.default_rng(0).choice(len(rows), size, replace=False))
        rows, owner = rows[keep], owner[keep]
    return rows, owner


def with_query_bank(
    calibration: NoMomentCalibration,
    config: ZeroShotConfig,
    subqueries: list[np.ndarray],
    videos: list[np.ndarray],
    kinds: set[str],
) -> NoMomentCalibration:
    """``calibration`` plus the query bank: the sub-queries of the calibration queries (stop words
    left out), grouped like the stop words, and the cosines of a sample of the calibration clips
    with it (for the null level of each query's leave-out bank)."""
    cfg = config
    reps, _ = find_common_tokens(subqueries, cfg.common_token_similarity, 0.0, max_groups=cfg.bank_size)
    if len(reps) < max(cfg.bank_min_size, 1):
        log.info("query bank off: %d groups of sub-queries, fewer than %d", len(reps), cfg.bank_min_size)
        return calibration
    bank = np.round(reps, 4).astype(np.float32)
    rows, _ = clip_sample(videos, cfg.bank_clips)
    clip_sims = unit(rows) @ bank.T
    return dataclasses.replace(
        calibration,
        query_bank=[[float(v) for v in r] for r in bank],
        bank_clip_sims=[[round(float(v), 4) for v in r] for r in clip_sims],
        query_bank_kind=kinds.pop() if len(kinds) == 1 else None,
    )


def _encoder_of(clips: list[ClipFeatures]) -> tuple[str, int]:
    """The one ``(model, width)`` of the calibration clips; an :class:`InputError` when they differ."""
    models = sorted({c.model for c in clips})
    if len(models) > 1:
        names = ", ".join(repr(m) if m else "unnamed" for m in models)
        raise InputError(f"calibration pairs come from features of several encoders ({names}); use one")
    dims = sorted({c.dim for c in clips})
    if len(dims) > 1:
        raise InputError(
            f"calibration clip features have several widths ({', '.join(map(str, dims))}); use one"
        )
    return models[0], dims[0]
