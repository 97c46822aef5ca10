"""The zero-shot grounder: query features or a relevance curve -> ranked moments, saliency, and the
no-moment decision (the steps are in :mod:`.curves`, :mod:`.proposals` and :mod:`.calibration`).

Units: spans are clip indices in the steps, :class:`~momentfinder.types.Moment` is seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ...errors import InputError
from ...types import ClipFeatures, GroundingResult, Moment, QueryFeatures, Timeline
from .calibration import NoMomentCalibration, no_moment_score
from .config import EXPANSION_OPTIONS, ZeroShotConfig
from .curves import (
    EVIDENCE_STATISTICS,
    CalibrationArrays,
    SimilarityCurves,
    and_level,
    content_tokens,
    contrast_levels,
    decision_evidence,
    level_curves,
    level_curves_many,
    levels_above_null,
    query_vectors,
    similarity_curves,
    similarity_curves_many,
    uses_parts,
)
from .fit import fit_calibration
from .proposals import ranked_moments, relevance_for_proposals, span_scores

log = logging.getLogger(__name__)

# corpus expansion of the calibrations that did not record it (made before corpus_rounds existed)
BEFORE_RECORDED_EXPANSION = {"corpus_top": 30, "corpus_rounds": 1}


class ZeroShotGrounder:
    """Training-free grounder (see :mod:`momentfinder.grounding.zeroshot`); implements both
    grounder protocols.

    ``calibration``: null levels, stop words, query bank and thresholds of the no-moment decision,
    made for one encoder (:meth:`calibrate`, ``momentfinder predict --calibrate-on``). Without one
    nothing is rejected and the null levels come from each curve (see ``docs/zeroshot.md``).
    """

    def __init__(self, config: ZeroShotConfig | None = None, calibration: NoMomentCalibration | None = None):
        self.config = config or ZeroShotConfig()
        self.calibration = calibration if calibration is not None else NoMomentCalibration()

    @property
    def calibration(self) -> NoMomentCalibration:
        return self._calibration

    @calibration.setter
    def calibration(self, value: NoMomentCalibration) -> None:
        self._calibration = value
        self._arrays = CalibrationArrays(value)
        made = (value.report or {}).get("config", {}) if value.corpus else {}  # no corpus: no expansion
        if made and "corpus_rounds" not in made:  # made before they were recorded
            made = {**BEFORE_RECORDED_EXPANSION, **made}
        differ = [
            f"{name}={made[name]} (now {getattr(self.config, name)})"
            for name in EXPANSION_OPTIONS
            if name in made and made[name] != getattr(self.config, name)
        ]
        if differ:  # its query bank and no-moment model were made from queries expanded otherwise
            where = f"calibration {value.path}" if value.path else "the calibration"
            log.warning(
                "%s was made with %s; calibrate again with these options (predict --calibrate-on) "
                "for the query bank and no-moment threshold to match",
                where,
                ", ".join(differ),
            )

    # -- public protocols ------------------------------------------------------------------
    def ground_curve(
        self, curve: np.ndarray, timeline: Timeline, query: str = "", top_k: int = 10
    ) -> GroundingResult:
        """Ground a per-clip relevance curve ``(timeline.n_clips,)`` (any channel or a fusion of channels)."""
        curve = _check_curve(curve)
        if len(curve) != timeline.n_clips:
            raise InputError(f"the relevance curve has {len(curve)} values for {timeline.n_clips} clips")
        cal = self.calibration
        # the curve's scale and offset are unknown (the finder standardises and fuses channels):
        # moments are scored above the curve's own null quantile, and only the no-moment decision,
        # when calibrated on curves, uses the calibrated null level
        calibrated = SimilarityCurves(pooled=curve, null_pooled=cal.curve_null)
        return self._ground(
            SimilarityCurves(pooled=curve),
            timeline,
            query,
            top_k,
            cal.curve_threshold,
            calibrated,
            features=False,
        )

    def ground(self, clips: ClipFeatures, query: QueryFeatures, top_k: int = 10) -> GroundingResult:
        """Ground query features in clip features; phrases or token features, when present, add
        sub-queries. A calibration that can reject must have been made for these features' encoder."""
        self.calibration.check_encoder(clips.model, clips.dim)
        curves = self.curves(clips, query)
        # a calibration without a null level of this width (none recorded) must not reject
        calibrated = self._arrays.get("null_feature", clips.features.shape[1]) is not None
        threshold = self.calibration.feature_threshold if calibrated else None
        result = self._ground(curves, clips.timeline, query.text, top_k, threshold, curves)
        result.video = clips.video_id
        if uses_parts(query, self.config):
            result.subqueries = list(query.part_texts)
        return result

    def curves(self, clips: ClipFeatures, query: QueryFeatures) -> SimilarityCurves:
        """Cosine curves of the pooled query and (when used) of each sub-query, with their null levels."""
        return similarity_curves(clips, query, self.config, self._arrays)

    def span_scores(
        self, clips: ClipFeatures, query: QueryFeatures, spans: np.ndarray, contrast_only: bool = False
    ) -> np.ndarray | None:
        """Scores ``(m,)`` of given clip spans ``[start, end)`` ``(m, 2)`` (another grounder's
        moments), as this grounder scores its own proposals in a short video: on the sub-queries
        turned away from their look-alike when the calibration's query bank allows it, with the
        inside-vs-outside contrast and length weighting of :func:`.proposals.span_scores`.
        ``contrast_only``: None when there is no look-alike contrast (no query bank, or one of
        another kind of sub-query than this query's)."""
        curves = self.curves(clips, query)
        turned = contrast_levels(curves, self.config)
        if turned is None and contrast_only:
            return None
        pooled_levels, subquery_levels = level_curves(curves, self.config)
        parts = subquery_levels if turned is None else turned
        return span_scores(
            np.asarray(spans, dtype=np.int64).reshape(-1, 2), pooled_levels, parts, self.config
        )

    def query_vectors(self, query: QueryFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        """The unit pooled query ``(dim,)`` and the sub-queries ``(k, dim)`` (None: pooled query only)."""
        return query_vectors(query, self.config, self._arrays)

    def content_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Boolean mask ``(n_tokens,)`` of the query tokens that are not stop words."""
        return content_tokens(tokens, self.config, self._arrays)

    def relevance_curve(self, clips: ClipFeatures, query: QueryFeatures) -> np.ndarray:
        """Per-clip relevance ``(n_clips,)`` for fusion with other channels: the AND of the pooled
        query and its sub-queries, above the null level in noise units (what moments are scored on)."""
        return self.relevance_curves(clips, [query])[0]

    def relevance_curves(self, clips: ClipFeatures, queries: Sequence[QueryFeatures]) -> list[np.ndarray]:
        """:meth:`relevance_curve` of several queries in one video, sharing the work on its clips."""
        many = similarity_curves_many(clips, list(queries), self.config, self._arrays, contrast=False)
        return [and_level(*levels, self.config) for levels in level_curves_many(many, self.config)]

    def evidence(self, curves: SimilarityCurves) -> float:
        """Scale-free evidence that the query happens at all (higher = more): what the feature
        threshold applies to, the log-odds of the calibration's logistic model over several curve
        statistics when it has one, else :func:`.curves.evidence`."""
        return decision_evidence(*levels_above_null(curves, self.config), self.config, self._evidence_model())

    def _evidence_model(self) -> dict | None:
        """The calibration's logistic model of the feature threshold (None: the evidence alone)."""
        model = self.calibration.evidence_model
        if model is None:
            return None
        if list(model["statistics"]) != list(EVIDENCE_STATISTICS):
            raise InputError(
                f"the calibration's no-moment model weighs {', '.join(model['statistics'])}, not "
                f"{', '.join(EVIDENCE_STATISTICS)}; calibrate again with this version"
            )
        return model

    def calibrate(
        self,
        positives: Sequence[tuple[ClipFeatures, QueryFeatures]],
        negatives: Sequence[tuple[ClipFeatures, QueryFeatures]] = (),
        target_rejection: float = 0.92,
        max_positive_loss: float = 0.05,
        source: str = "",
    ) -> NoMomentCalibration:
        """A calibration for this grounder's config on validation pairs (:func:`.fit.fit_calibration`);
        returns it, does not install it."""
        return fit_calibration(self.config, positives, negatives, target_rejection, max_positive_loss, source)

    # -- steps ----------------------------------------------------------------------------
    def _ground(
        self,
        curves: SimilarityCurves,
        timeline: Timeline,
        query: str,
        top_k: int,
        threshold: float | None,
        calibrated: SimilarityCurves,
        features: bool = True,
    ) -> GroundingResult:
        """Moments and saliency from ``curves``; the no-moment decision (when ``threshold`` is
        set) from the evidence of ``calibrated`` (the same curves with calibrated null levels):
        the calibration's logistic model for ``features``, the evidence alone for a curve."""
        if top_k < 1:
            raise InputError(f"top-k must be at least 1, got {top_k}")
        clip_len, duration = timeline.clip_len, timeline.duration
        cfg = self.config
        n = len(curves.pooled)
        pooled_levels, subquery_levels = level_curves(curves, cfg)
        relevance = relevance_for_proposals(
            curves.pooled, pooled_levels, subquery_levels, cfg.smooth_sigma, cfg
        )
        model = self._evidence_model() if features else None
        turned = contrast_levels(curves, cfg)
        spans, scores = ranked_moments(
            relevance, pooled_levels, subquery_levels, top_k, cfg, model, turned, curves.regions
        )
        seconds = np.minimum(spans * clip_len, duration).astype(np.float64)
        valid = seconds[:, 1] > seconds[:, 0]
        moments = [
            Moment(float(s), float(e), float(sc))
            for (s, e), sc, ok in zip(seconds, scores, valid, strict=True)
            if ok
        ]
        reject_score = None
        if threshold is not None:
            reuse = calibrated is curves and cfg.score_units == "noise"
            if reuse:
                value = decision_evidence(pooled_levels, subquery_levels, cfg, model)
            else:
                value = decision_evidence(*levels_above_null(calibrated, cfg), cfg, model)
            reject_score = no_moment_score(value, threshold)
            if value <= threshold:  # the calibration's rule; no_moment_score >= 0.5 here
                moments = []
        if cfg.saliency_sigma != cfg.smooth_sigma:
            relevance = relevance_for_proposals(
                curves.pooled, pooled_levels, subquery_levels, cfg.saliency_sigma, cfg
            )
        lo, hi = relevance.min(), relevance.max()
        saliency = (relevance - lo) / (hi - lo) if hi > lo else np.zeros(n)
        return GroundingResult(
            query=query,
            timeline=timeline,
            moments=moments,
            saliency=saliency,
            no_moment_score=reject_score,
        )


def _check_curve(curve: np.ndarray) -> np.ndarray:
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or len(curve) == 0:
        raise InputError(f"the relevance curve must be a non-empty 1-D array, got shape {curve.shape}")
    if not np.isfinite(curve).all():
        raise InputError("the relevance curve contains NaN or infinite values")
    return curve
