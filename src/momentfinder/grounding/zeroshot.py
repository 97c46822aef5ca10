"""Zero-shot grounder: query similarity curves -> ranked moments, saliency, and a "no moment" decision.

Training-free, from one vision-language encoder. The steps, each switchable in
:class:`ZeroShotConfig` (``docs/zeroshot.md`` gives what each one is worth on the benchmark):

1. **Curves.** Cosine of every clip with the pooled query and with every sub-query. Scores use
   them above the null level (the cosine of the query with the calibration videos' mean clip)
   in units of each curve's clip-to-clip noise: a span's level then does not change with what
   else the video holds, so a 3-hour video and a 150 s one score a moment alike.
2. **Sub-queries.** A clip's level is the pooled level plus ``subquery_weight`` x the
   ``subquery_parts``-th largest sub-query level: a moment must match several parts of the query
   ("man" *and* "opens the door"), not just the strongest one. This separates the moment from
   look-alikes that share only the subject or only the action. The parts are the query's phrases
   encoded on their own (``QueryFeatures.parts``, :mod:`momentfinder.query`) when it has them,
   else its token features without the stop words (tokens that recur across the calibration
   queries, found without labels as IDF does; with ``pooled_query="content"`` the pooled query
   is then the mean of the tokens left). Query-bank normalisation: a part's similarity to a
   clip is taken relative to the clip's soft maximum similarity to the calibration queries'
   other parts, so a clip that better matches some other action or subject (a look-alike) no
   longer counts as this part.
3. **Proposals** (TAG / VTG-GPT style): runs of the smoothed, standardised level curve above
   several levels. Low levels give whole events and merge nearby runs, high levels give their
   cores and split events that touch.
4. **Scoring** (TFVTG style, one span against the rest): (mean level - ``level_offset``) x
   length ** ``length_exponent``; whole events beat their noisy cores, long barely-relevant
   stretches score low. Temporal NMS keeps several ranked moments when the query happens more
   than once. Saliency is the standardised level curve, smoothed.
5. **No moment.** Evidence = best excess of the pooled and of the weakest matched sub-query
   curve over ``evidence_level`` noise units (a maximum-subarray sum, scale-free). At or below
   the calibrated threshold the query is rejected: no moments, ``no_moment_score`` >= 0.5.
6. **Long videos** (coarse-to-fine): beyond ``window_clips`` clips, every overlapping window of
   that size gets the evidence of its best span (coarse); the ``coarse_regions`` best windows are
   grounded like short videos (fine), and their moments ranked by window evidence first.
   Linear time in the video length.

Units: spans are clip indices inside this module, :class:`~momentfinder.types.Moment` is seconds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

import numpy as np

from ..errors import InputError
from ..types import ClipFeatures, GroundingResult, Moment, QueryFeatures
from .calibration import (
    NoMomentCalibration,
    calibrate_threshold,
    find_common_tokens,
    no_moment_score,
    soft_max,
)
from .curve_ops import (
    best_excess,
    gaussian_smooth,
    kth_largest,
    noise_scale,
    segment_means,
    standardize,
    threshold_proposals,
)
from .nms import temporal_nms

log = logging.getLogger(__name__)


_RANGES = {  # name: (low, high or None, low excluded)
    "smooth_sigma": (0.0, None, False),
    "saliency_sigma": (0.0, None, False),
    "subquery_weight": (0.0, None, False),
    "subquery_parts": (1, None, False),
    "nms_iou": (0.0, 1.0, True),
    "max_moment_clips": (1, None, False),
    "window_clips": (2, None, False),
    "window_stride": (0.0, 1.0, True),
    "coarse_regions": (1, None, False),
    "null_quantile": (0.0, 1.0, False),
    "common_token_share": (0.0, 1.0, True),
    "bank_temperature": (0.0, None, False),
    "bank_size": (1, None, False),
    "bank_clips": (1, None, False),
    "bank_min_size": (0, None, False),
}

_CHOICES = {
    "relevance": ("level", "pooled"),
    "score_units": ("noise", "std"),
    "pooled_query": ("content", "encoder"),
}


@dataclass
class ZeroShotConfig:
    """Hyper-parameters of :class:`ZeroShotGrounder`; the defaults were selected on the synthetic val split."""

    smooth_sigma: float = 1.0  # clips; Gaussian smoothing before proposals (0 = off)
    levels: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)  # proposal thresholds, std of the curve
    length_exponent: float = 0.6  # score = (level - level_offset) * length ** this
    level_offset: float = 0.625  # noise units (std units with score_units="std")
    subquery_weight: float = 3.0  # weight of the sub-query (token) level; 0 = pooled query only
    subquery_parts: int = 2  # a moment must match this many query tokens
    nms_iou: float = 0.5
    max_moment_clips: int | None = None  # longest proposal; None = unbounded
    evidence_level: float = 1.0  # noise units a clip must exceed to count as evidence
    window_clips: int = 75  # longer videos are grounded coarse-to-fine in windows of this many clips
    window_stride: float = 0.5  # window step as a share of window_clips
    coarse_level: float = 1.0  # noise units; a window's evidence is its best span's excess over this
    coarse_regions: int = 10  # windows kept by the coarse pass and grounded by the fine one
    saliency_sigma: float = 2.0  # clips; smoothing of the saliency output
    relevance: str = "level"  # proposal/saliency curve: "pooled" query, or "level" (pooled + sub-queries)
    score_units: str = "noise"  # "std": levels standardised per video; "noise": above the null, noise units
    null_quantile: float = 0.25  # without a calibrated null level, this quantile of the curve stands in
    video_null: bool = True  # ... except in videos longer than window_clips: their own mean clip
    # stop words: a query token similar (cosine > common_token_similarity) to a token found in at
    # least common_token_share of the calibration queries is no sub-query (1.0 = keep every token)
    common_token_share: float = 0.05
    common_token_similarity: float = 0.7
    pooled_query: str = "content"  # "content": unit mean of the tokens left; "encoder": the pooled output
    # query-bank normalisation of the sub-query curves: minus the clip's soft maximum similarity
    # (this temperature, cosine units) to the calibration queries' sub-queries other than the
    # query's own parts; 0 = off
    bank_temperature: float = 0.03
    bank_size: int = 512  # most frequent groups of alike sub-queries kept in the bank
    bank_clips: int = 256  # calibration clips sampled for the bank's null level
    bank_min_size: int = 50  # a smaller bank (few calibration queries) adds more noise than it removes
    bank_own_similarity: float = 0.95  # bank entries this close to one of the query's parts are its own

    def __post_init__(self):
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"zero-shot option {name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        for name, (low, high, low_open) in _RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value < low or (low_open and value == low) or (high is not None and value > high):
                bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
                raise InputError(f"zero-shot option {name} must be {bound}, got {value!r}")

    @classmethod
    def from_dict(cls, data: dict) -> ZeroShotConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown zero-shot option(s): {', '.join(unknown)}")
        data = dict(data)
        defaults = cls()
        for name, value in data.items():
            default = getattr(defaults, name)
            if name == "levels":
                ok = isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value)
                value = tuple(float(v) for v in value) if ok else value
            elif isinstance(default, bool) or isinstance(default, str):
                ok = isinstance(value, type(default))
            elif isinstance(default, int | float) or default is None:  # None: an optional int
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                ok = ok or (default is None and value is None)
                if ok and isinstance(default, int) and value is not None:
                    ok, value = float(value).is_integer(), int(value) if float(value).is_integer() else value
            else:
                ok = True
            if not ok:
                raise InputError(f"zero-shot option {name}: bad value {value!r} (default {default!r})")
            data[name] = value
        return cls(**data)


@dataclass
class SimilarityCurves:
    """Raw cosine curves of one query in one video: pooled ``(n_clips,)``, tokens ``(n_clips, n_tokens)``
    or None, and the null level of each (the cosine the same query has with an unrelated clip)."""

    pooled: np.ndarray
    tokens: np.ndarray | None = None
    null_pooled: float | None = None  # None: unknown, the curve's own null_quantile stands in
    null_tokens: np.ndarray | None = None


class ZeroShotGrounder:
    """Training-free grounder (see module docstring); implements both grounder protocols.

    ``calibration``: thresholds for the no-moment decision; by default the one shipped with the
    package (calibrated on the synthetic benchmark's val split, see ``docs/zeroshot.md``).
    """

    def __init__(self, config: ZeroShotConfig | None = None, calibration: NoMomentCalibration | None = None):
        self.config = config or ZeroShotConfig()
        self.calibration = calibration if calibration is not None else default_calibration()

    @property
    def calibration(self) -> NoMomentCalibration:
        return self._calibration

    @calibration.setter
    def calibration(self, value: NoMomentCalibration) -> None:
        self._calibration = value
        self._arrays: dict = {}  # the calibration's lists as arrays, converted once per (name, dim)

    def _calibration_array(self, name: str, dim: int):
        """``self.calibration.<name>(dim)`` (its lists as numpy arrays), converted once."""
        key = (name, dim)
        if key not in self._arrays:
            self._arrays[key] = getattr(self.calibration, name)(dim)
        return self._arrays[key]

    # -- public protocols ------------------------------------------------------------------
    def ground_curve(
        self, curve: np.ndarray, clip_len: float, duration: float, query: str = "", top_k: int = 10
    ) -> GroundingResult:
        """Ground a per-clip relevance curve ``(n_clips,)`` (any channel or a fusion of channels)."""
        curve = _check_curve(curve)
        cal = self.calibration
        # the curve's scale and offset are unknown (the finder standardises and fuses channels):
        # moments are scored above the curve's own null quantile, and only the no-moment decision,
        # when calibrated on curves, uses the calibrated null level
        calibrated = SimilarityCurves(pooled=curve, null_pooled=cal.curve_null)
        return self._ground(
            SimilarityCurves(pooled=curve), clip_len, duration, query, top_k, cal.curve_threshold, calibrated
        )

    def ground(self, clips: ClipFeatures, query: QueryFeatures, top_k: int = 10) -> GroundingResult:
        """Ground query features in clip features; token features, when present, add sub-queries."""
        curves = self.curves(clips, query)
        # a calibration made for another feature width (another encoder) must not reject
        calibrated = self._calibration_array("null_feature", clips.features.shape[1]) is not None
        threshold = self.calibration.feature_threshold if calibrated else None
        result = self._ground(curves, clips.clip_len, clips.duration, query.text, top_k, threshold, curves)
        result.video = clips.video_id
        if self._uses_parts(query):
            result.subqueries = list(query.part_texts)
        return result

    def curves(self, clips: ClipFeatures, query: QueryFeatures) -> SimilarityCurves:
        """Cosine curves of the pooled query and (when used) of each token, with their null levels."""
        feats = clips.features.astype(np.float32, copy=False)
        if query.pooled.shape[-1] != feats.shape[1]:
            raise InputError(
                f"query feature dim {query.pooled.shape[-1]} does not match clip feature dim {feats.shape[1]}"
            )
        pooled, subs = self.query_vectors(query)
        use_subs = subs is not None
        q = pooled[None, :] if subs is None else np.concatenate([pooled[None, :], subs])
        # one product for every query vector, divided by the clip norms (cheaper than normalising clips)
        norms = np.sqrt(np.einsum("ij,ij->i", feats, feats))
        sims = (feats @ q.T) / np.maximum(norms, 1e-8)[:, None]
        mean = self._calibration_array("null_feature", feats.shape[1])
        if mean is None and self.config.video_null and len(feats) > self.config.window_clips:
            # no calibrated null level: a long video's own mean clip stands in (label-free; in a
            # short video the moment itself would weigh on it, so there the curve's quantile does)
            mean = (feats / np.maximum(norms, 1e-8)[:, None]).mean(axis=0)
        null = mean @ q.T if mean is not None else None
        bank = self._query_bank(feats.shape[1]) if use_subs else None
        kind = self.calibration.query_bank_kind
        if bank is not None and kind is not None and kind != self._subquery_kind(query):
            bank = None  # a bank of token features does not fit phrase sub-queries, nor the reverse
        if bank is not None:
            entries, clip_sims = bank
            others = (subs @ entries.T).max(axis=0) <= self.config.bank_own_similarity
            if others.any():  # the query's own parts are left out of its bank
                t = self.config.bank_temperature
                clip_bank = (feats @ entries[others].T) / np.maximum(norms, 1e-8)[:, None]
                sims[:, 1:] -= soft_max(clip_bank, t)[:, None].astype(sims.dtype)
                if null is not None:
                    null[1:] -= float(soft_max(clip_sims[:, others], t).mean())
        out = SimilarityCurves(pooled=sims[:, 0], null_pooled=float(null[0]) if null is not None else None)
        if use_subs:
            out.tokens = sims[:, 1:]
            out.null_tokens = null[1:] if null is not None else None
        return out

    def query_vectors(self, query: QueryFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        """The unit pooled query ``(dim,)`` and the sub-queries ``(k, dim)`` (None: pooled query only).

        Sub-queries are the query's phrases encoded on their own (``query.parts``) when it has
        them, else its token features without the stop words (and then, with
        ``pooled_query="content"``, the pooled query is the mean of the tokens left).
        """
        cfg = self.config
        pooled = _unit(query.pooled.astype(np.float32, copy=False))
        if cfg.subquery_weight <= 0:
            return pooled, None
        if self._uses_parts(query):
            return pooled, _unit(query.parts.astype(np.float32, copy=False))
        if query.tokens is None or query.tokens.ndim != 2 or len(query.tokens) < cfg.subquery_parts:
            return pooled, None
        tokens = _unit(query.tokens.astype(np.float32, copy=False))
        content = self.content_tokens(tokens)
        if not content.all():
            tokens = tokens[content]
            if cfg.pooled_query == "content":
                pooled = _unit(tokens.mean(axis=0))
        return pooled, tokens

    def _uses_parts(self, query: QueryFeatures) -> bool:
        """Whether the sub-queries are the query's phrases (``query.parts``) rather than its tokens."""
        parts = query.parts
        return (
            self.config.subquery_weight > 0
            and parts is not None
            and parts.ndim == 2
            and len(parts) >= self.config.subquery_parts
        )

    def _subquery_kind(self, query: QueryFeatures) -> str:
        """``phrases`` when the sub-queries are the query's phrases encoded on their own, else ``tokens``."""
        return "phrases" if self._uses_parts(query) else "tokens"

    def _query_bank(self, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.config.bank_temperature <= 0:
            return None
        return self._calibration_array("query_bank_matrices", dim)

    def content_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Boolean mask ``(n_tokens,)`` of the query tokens that are not stop words (common across the
        calibration queries); at least ``subquery_parts`` tokens are kept, the least common first."""
        cfg = self.config
        common = self._calibration_array("common_token_matrix", tokens.shape[1])
        if common is None or cfg.common_token_share >= 1.0:
            return np.ones(len(tokens), dtype=bool)
        reps, shares = common
        close = (tokens @ reps.T) > cfg.common_token_similarity
        commonness = np.where(close, shares[None, :], 0.0).max(axis=1)
        keep = commonness < cfg.common_token_share
        if keep.sum() < cfg.subquery_parts:
            keep = np.zeros(len(tokens), dtype=bool)
            keep[np.argsort(commonness, kind="stable")[: cfg.subquery_parts]] = True
        return keep

    def relevance_curve(self, clips: ClipFeatures, query: QueryFeatures) -> np.ndarray:
        """Per-clip relevance ``(n_clips,)`` for fusion with other channels: the AND of the pooled
        query and its sub-queries, above the null level in noise units (what moments are scored on)."""
        return self._and_level(*self._level_curves(self.curves(clips, query)))

    def evidence(self, curves: SimilarityCurves) -> float:
        """Scale-free evidence that the query happens at all (higher = more), see module docstring."""
        return self._evidence(*self._above_null(curves))

    def _evidence(self, pooled: np.ndarray, toks: np.ndarray | None) -> float:
        cfg = self.config
        value = best_excess(pooled, cfg.evidence_level)
        if toks is not None:
            per_token = best_excess(toks, cfg.evidence_level)
            value += float(kth_largest(per_token[None, :], cfg.subquery_parts)[0])
        return float(value)

    def _and_level(self, pooled_lv: np.ndarray, tokens_lv: np.ndarray | None) -> np.ndarray:
        """Per clip, (pooled + w x the subquery_parts-th best sub-query level) / (1 + w)."""
        if tokens_lv is None:
            return pooled_lv
        w = self.config.subquery_weight
        return (pooled_lv + w * kth_largest(tokens_lv, self.config.subquery_parts)) / (1.0 + w)

    def _above_null(self, curves: SimilarityCurves) -> tuple[np.ndarray, np.ndarray | None]:
        """Pooled and token curves above their null level, in units of their clip-to-clip noise."""
        q = self.config.null_quantile

        def scaled(x: np.ndarray, null) -> np.ndarray:
            x = x - (np.quantile(x, q, axis=0) if null is None else null)
            return x / noise_scale(x)

        pooled = scaled(curves.pooled, curves.null_pooled)
        return pooled, None if curves.tokens is None else scaled(curves.tokens, curves.null_tokens)

    def calibrate(
        self,
        positives: Sequence[tuple[ClipFeatures, QueryFeatures]],
        negatives: Sequence[tuple[ClipFeatures, QueryFeatures]] = (),
        target_rejection: float = 0.92,
        max_positive_loss: float = 0.05,
        source: str = "",
    ) -> NoMomentCalibration:
        """Calibrate the no-moment decision on validation (clips, query) pairs; returns, does not install it.

        ``positives`` are queries that happen in their video, ``negatives`` queries that do not
        (optional: without them the threshold keeps ``1 - max_positive_loss`` of the positives).
        The null levels come from the same videos (see :mod:`.calibration`).
        """
        if not positives:
            raise InputError("calibration needs at least one positive (video, query) pair")
        videos = {c.video_id or id(c.features): c.features for c, _ in [*positives, *negatives]}
        total = sum(_unit(f.astype(np.float64)).sum(axis=0) for f in videos.values())
        mean = total / sum(len(f) for f in videos.values())
        cfg = self.config
        queries = [q for _, q in [*positives, *negatives]]
        token_sets = [  # stop words come from the token features of queries that have no phrases
            q.tokens for q in queries if q.parts is None and q.tokens is not None and q.tokens.ndim == 2
        ]
        common, shares = None, None
        if cfg.subquery_weight > 0 and cfg.common_token_share < 1.0 and token_sets:
            reps, rep_shares = find_common_tokens(
                token_sets, cfg.common_token_similarity, cfg.common_token_share
            )
            if len(reps):
                common = [[round(float(v), 4) for v in r] for r in reps]
                shares = [round(float(v), 4) for v in rep_shares]
        probe = ZeroShotGrounder(
            cfg,
            NoMomentCalibration(
                feature_mean=[float(v) for v in mean], common_tokens=common, common_token_shares=shares
            ),
        )
        if cfg.subquery_weight > 0 and cfg.bank_temperature > 0:
            with_subs = [(q, probe.query_vectors(q)[1]) for q in queries]
            with_subs = [(q, subs) for q, subs in with_subs if subs is not None]
            if with_subs:
                probe.calibration = self._with_query_bank(
                    probe,
                    [subs for _, subs in with_subs],
                    list(videos.values()),
                    kinds={probe._subquery_kind(q) for q, _ in with_subs},
                )
        feature_evidence, pooled_curves = [], []
        for group in (positives, negatives):
            curves = [probe.curves(clips, query) for clips, query in group]
            feature_evidence.append(np.array([probe.evidence(c) for c in curves]))
            pooled_curves.append([c.pooled for c in curves])
        curve_null = float(np.mean(np.concatenate(pooled_curves[0] + pooled_curves[1])))
        curve_evidence = [
            np.array([probe.evidence(SimilarityCurves(pooled=c, null_pooled=curve_null)) for c in group])
            for group in pooled_curves
        ]
        f_thr, f_rates = calibrate_threshold(
            feature_evidence[0],
            feature_evidence[1] if negatives else None,
            target_rejection,
            max_positive_loss,
        )
        c_thr, c_rates = calibrate_threshold(
            curve_evidence[0], curve_evidence[1] if negatives else None, target_rejection, max_positive_loss
        )
        report = {
            "source": source,
            "target_rejection": target_rejection if negatives else None,
            "max_positive_loss": None if negatives else max_positive_loss,
            "features": f_rates,
            "curve": c_rates,
            "config": {
                "evidence_level": self.config.evidence_level,
                "subquery_parts": self.config.subquery_parts,
                "common_token_share": self.config.common_token_share,
                "common_token_similarity": self.config.common_token_similarity,
                "query_bank_size": len(probe.calibration.query_bank or []),
            },
        }
        return dataclasses.replace(
            probe.calibration,
            feature_threshold=f_thr,
            curve_threshold=c_thr,
            feature_mean=[round(float(v), 6) for v in mean],
            curve_null=round(curve_null, 6),
            report=report,
        )

    def _with_query_bank(
        self, probe: ZeroShotGrounder, subqueries: list[np.ndarray], videos: list[np.ndarray], kinds: set[str]
    ) -> NoMomentCalibration:
        """``probe``'s calibration plus the query bank: the sub-queries of the calibration queries
        (stop words left out), grouped like the stop words, and the cosines of a sample of the
        calibration clips with it (for the null level of each query's leave-out bank)."""
        cfg = self.config
        reps, _ = find_common_tokens(subqueries, cfg.common_token_similarity, 0.0, max_groups=cfg.bank_size)
        if len(reps) < max(cfg.bank_min_size, 1):
            log.info("query bank off: %d groups of sub-queries, fewer than %d", len(reps), cfg.bank_min_size)
            return probe.calibration
        bank = np.round(reps, 4).astype(np.float32)
        rows = np.concatenate([f.astype(np.float32, copy=False) for f in videos])
        if len(rows) > cfg.bank_clips:  # a fixed sample: the same calibration gives the same file
            rows = rows[np.sort(np.random.default_rng(0).choice(len(rows), cfg.bank_clips, replace=False))]
        clip_sims = _unit(rows) @ bank.T
        return dataclasses.replace(
            probe.calibration,
            query_bank=[[float(v) for v in r] for r in bank],
            bank_clip_sims=[[round(float(v), 4) for v in r] for r in clip_sims],
            query_bank_kind=kinds.pop() if len(kinds) == 1 else None,
        )

    # -- steps ----------------------------------------------------------------------------
    def _ground(
        self,
        curves: SimilarityCurves,
        clip_len: float,
        duration: float,
        query: str,
        top_k: int,
        threshold: float | None,
        calibrated: SimilarityCurves,
    ) -> GroundingResult:
        """Moments and saliency from ``curves``; the no-moment decision (when ``threshold`` is
        set) from the evidence of ``calibrated`` (the same curves with calibrated null levels)."""
        if top_k < 1:
            raise InputError(f"top-k must be at least 1, got {top_k}")
        if clip_len <= 0:
            raise InputError(f"clip length must be positive, got {clip_len}")
        n = len(curves.pooled)
        pooled_lv, tokens_lv = self._level_curves(curves)
        relevance = self._relevance(curves.pooled, pooled_lv, tokens_lv, self.config.smooth_sigma)
        spans, scores = self._moments(relevance, pooled_lv, tokens_lv, top_k)
        seconds = np.minimum(spans * clip_len, duration).astype(np.float64)
        valid = seconds[:, 1] > seconds[:, 0]
        moments = [
            Moment(float(s), float(e), float(sc))
            for (s, e), sc, ok in zip(seconds, scores, valid, strict=True)
            if ok
        ]
        reject_score = None
        if threshold is not None:
            reuse = calibrated is curves and self.config.score_units == "noise"
            evidence = self._evidence(pooled_lv, tokens_lv) if reuse else self.evidence(calibrated)
            reject_score = no_moment_score(evidence, threshold)
            if evidence <= threshold:  # the calibration's rule; no_moment_score >= 0.5 here
                moments = []
        if self.config.saliency_sigma != self.config.smooth_sigma:
            relevance = self._relevance(curves.pooled, pooled_lv, tokens_lv, self.config.saliency_sigma)
        lo, hi = relevance.min(), relevance.max()
        saliency = (relevance - lo) / (hi - lo) if hi > lo else np.zeros(n)
        return GroundingResult(
            query=query,
            duration=duration,
            clip_len=clip_len,
            moments=moments,
            saliency=saliency,
            no_moment_score=reject_score,
        )

    def _relevance(
        self, pooled: np.ndarray, pooled_lv: np.ndarray, tokens_lv: np.ndarray | None, sigma: float
    ) -> np.ndarray:
        """Smoothed (``sigma`` clips), standardised per-clip relevance: proposals and saliency."""
        cfg = self.config
        if cfg.relevance == "pooled" or tokens_lv is None:
            return standardize(gaussian_smooth(standardize(pooled), sigma))
        parts = kth_largest(gaussian_smooth(tokens_lv, sigma), cfg.subquery_parts)
        return standardize(gaussian_smooth(pooled_lv, sigma) + cfg.subquery_weight * parts)

    def _level_curves(self, curves: SimilarityCurves) -> tuple[np.ndarray, np.ndarray | None]:
        """The curves whose span means score proposals: standardised over the video, or in noise
        units above the null level (the same for a span whatever else the video holds)."""
        if self.config.score_units == "std":
            toks = standardize(curves.tokens) if curves.tokens is not None else None
            return standardize(curves.pooled), toks
        return self._above_null(curves)

    def _windows(self, n: int) -> np.ndarray:
        """Start clips of the overlapping windows that cover a long video."""
        size = self.config.window_clips
        starts = list(range(0, n - size + 1, max(1, int(size * self.config.window_stride))))
        if starts[-1] != n - size:
            starts.append(n - size)
        return np.asarray(starts)

    def _span_scores(
        self, spans: np.ndarray, pooled_lv: np.ndarray, tokens_lv: np.ndarray | None
    ) -> np.ndarray:
        """(mean level - level_offset) x length ** length_exponent of each span."""
        cfg = self.config
        level = segment_means(pooled_lv, spans)
        if tokens_lv is not None:
            parts = kth_largest(segment_means(tokens_lv, spans), cfg.subquery_parts)
            level = (level + cfg.subquery_weight * parts) / (1.0 + cfg.subquery_weight)
        length = (spans[:, 1] - spans[:, 0]).astype(np.float64)
        return (level - cfg.level_offset) * length**cfg.length_exponent

    def _moments(
        self, relevance: np.ndarray, pooled_lv: np.ndarray, tokens_lv: np.ndarray | None, top_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Proposals, scored on the whole-video level curves and suppressed: ``(m, 2)`` clip spans
        and ``(m,)`` scores, best first. Videos longer than ``window_clips`` go coarse-to-fine."""
        cfg = self.config
        n = len(relevance)
        if n > cfg.window_clips:
            return self._coarse_to_fine(relevance, pooled_lv, tokens_lv, top_k)
        spans = threshold_proposals(relevance, np.asarray(cfg.levels), cfg.max_moment_clips)
        scores = self._span_scores(spans, pooled_lv, tokens_lv)
        keep = temporal_nms(spans.astype(np.float64), scores, cfg.nms_iou, top_k)
        return spans[keep], scores[keep]

    def _coarse_to_fine(
        self, relevance: np.ndarray, pooled_lv: np.ndarray, tokens_lv: np.ndarray | None, top_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Long videos. Coarse: every window of ``window_clips`` clips (overlapping) gets the evidence
        of its best span of the level curve (the excess over ``coarse_level`` noise units, a
        maximum-subarray sum); the ``coarse_regions`` best windows are kept. Fine: each kept window
        is grounded like a short video (proposals on its own standardised relevance, scored on the
        whole-video level curves). A moment's score is its window's evidence minus how far its fine
        score falls below the window's best, so the best moment of the best window comes first and
        each kept window's best moment comes before the runners-up of the windows above it."""
        cfg = self.config
        size = cfg.window_clips
        level = self._and_level(pooled_lv, tokens_lv)
        starts = self._windows(len(relevance))
        # best span excess of every window at once: cumulative sums of (level - coarse_level)
        csum = np.concatenate([[0.0], np.cumsum(level - cfg.coarse_level)])
        index = starts[:, None] + np.arange(size + 1)[None, :]
        window_csum = csum[index]
        evidence = (window_csum - np.minimum.accumulate(window_csum, axis=1)).max(axis=1)
        order = np.argsort(-evidence, kind="stable")[: cfg.coarse_regions]
        levels = np.asarray(cfg.levels)
        all_spans, all_scores = [], []
        for w in order:
            s0 = int(starts[w])
            spans = threshold_proposals(standardize(relevance[s0 : s0 + size]), levels, cfg.max_moment_clips)
            spans = spans + s0
            fine = self._span_scores(spans, pooled_lv, tokens_lv)
            all_spans.append(spans)
            all_scores.append(evidence[w] + fine - fine.max())
        spans, scores = np.concatenate(all_spans), np.concatenate(all_scores)
        keep = temporal_nms(spans.astype(np.float64), scores, cfg.nms_iou, top_k)
        return spans[keep], scores[keep]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def _check_curve(curve: np.ndarray) -> np.ndarray:
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or len(curve) == 0:
        raise InputError(f"the relevance curve must be a non-empty 1-D array, got shape {curve.shape}")
    if not np.isfinite(curve).all():
        raise InputError("the relevance curve contains NaN or infinite values")
    return curve


@cache
def _default_calibration_dict() -> dict:
    import json

    text = resources.files("momentfinder").joinpath("configs/zeroshot_calibration.json").read_text("utf-8")
    return json.loads(text)


def default_calibration() -> NoMomentCalibration:
    """The calibration shipped with the package (synthetic benchmark, val split); see docs/zeroshot.md."""
    try:
        data = _default_calibration_dict()
    except FileNotFoundError:
        log.warning("no default zero-shot calibration shipped; the no-moment decision is off")
        return NoMomentCalibration()
    return NoMomentCalibration.from_dict(data, "default zero-shot calibration")
