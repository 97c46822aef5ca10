"""Per-clip similarity curves of one query in one video, and their levels in noise units.

A query is its pooled vector plus sub-queries: its phrases encoded on their own
(``QueryFeatures.parts``) when it has them, else its token features without the stop words.
:func:`similarity_curves` gives the cosine of every clip with each, with query-bank
normalisation of the sub-queries and the null levels (the cosine an unrelated clip has);
:func:`levels_above_null` turns them into levels above the null in units of each curve's
clip-to-clip noise, from which moments are scored (:mod:`.proposals`) and the evidence for the
no-moment decision is measured (:func:`evidence`).

Units: clip indices; curves are ``(n_clips,)`` (pooled) and ``(n_clips, n_subqueries)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError
from ...types import ClipFeatures, QueryFeatures
from ..curve_ops import best_excess, gaussian_smooth, kth_largest, noise_scale, standardize
from .calibration import NoMomentCalibration, logistic_evidence, soft_max
from .config import ZeroShotConfig


@dataclass
class SimilarityCurves:
    """Raw cosine curves of one query in one video: pooled ``(n_clips,)``, sub-queries
    ``(n_clips, n_subqueries)`` or None, and the null level of each (the cosine the same query has
    with an unrelated clip)."""

    pooled: np.ndarray
    subqueries: np.ndarray | None = None
    null_pooled: float | None = None  # None: unknown, the curve's own null_quantile stands in
    null_subqueries: np.ndarray | None = None
    # with sibling_weight > 0: the sub-query curves turned away from their look-alikes
    # (:func:`sibling_contrast`), ``(n_clips, n_subqueries)``, and their null levels
    contrast: np.ndarray | None = None
    null_contrast: np.ndarray | None = None
    # long videos with sibling_scope="region": what turns each window's sub-queries away from the
    # look-alike that window shows most (:func:`region_contrast_levels`)
    regions: RegionSiblings | None = None


@dataclass
class RegionSiblings:
    """The parts of the look-alike contrast of a long video, for picking the sibling per window.

    A turned sub-query is ``sub - sibling_weight x sibling``, so its clip cosine is the sub-query's
    raw cosine minus ``sibling_weight`` x the sibling's: every (sub-query, sibling) pair's curve
    comes from ``raw`` and ``sims`` without another product with the clips."""

    raw: np.ndarray  # (n_clips, k) cosines of the sub-queries (before query-bank normalisation)
    null_raw: np.ndarray | None  # (k,) their null levels; None: each column's null_quantile
    sims: np.ndarray  # (n_clips, m) cosines of the candidate siblings
    null_sims: np.ndarray | None  # (m,)
    of: np.ndarray  # (k, m) bool: candidate j is a sibling of sub-query i


class CalibrationArrays:
    """A calibration's lists as numpy arrays, converted once per (method, feature width).

    Made again whenever the grounder's calibration is replaced (a calibration changed in place
    after its first use keeps its old arrays)."""

    MEMO_SIZE = 4096  # results kept by :meth:`memo`

    def __init__(self, calibration: NoMomentCalibration):
        self.calibration = calibration
        self._arrays: dict = {}
        self._memo: dict = {}

    def memo(self, key, make):
        """``make()``, remembered under ``key``: a library search expands the same query for every
        candidate video. At most ``MEMO_SIZE`` results are kept, the oldest dropped first."""
        if key not in self._memo:
            if len(self._memo) >= self.MEMO_SIZE:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = make()
        return self._memo[key]

    def get(self, name: str, dim: int):
        """``calibration.<name>(dim)``, converted once."""
        key = (name, dim)
        if key not in self._arrays:
            self._arrays[key] = getattr(self.calibration, name)(dim)
        return self._arrays[key]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def uses_parts(query: QueryFeatures, config: ZeroShotConfig) -> bool:
    """Whether the sub-queries are the query's phrases (``query.parts``) rather than its tokens."""
    parts = query.parts
    return (
        config.subquery_weight > 0
        and parts is not None
        and parts.ndim == 2
        and len(parts) >= config.subquery_parts
    )


def subquery_kind(query: QueryFeatures, config: ZeroShotConfig) -> str:
    """``phrases`` when the sub-queries are the query's phrases encoded on their own, else ``tokens``."""
    return "phrases" if uses_parts(query, config) else "tokens"


def content_tokens(tokens: np.ndarray, config: ZeroShotConfig, arrays: CalibrationArrays) -> np.ndarray:
    """Boolean mask ``(n_tokens,)`` of the query tokens that are not stop words (common across the
    calibration queries); at least ``subquery_parts`` tokens are kept, the least common first."""
    common = arrays.get("common_token_matrix", tokens.shape[1])
    if common is None or config.common_token_share >= 1.0:
        return np.ones(len(tokens), dtype=bool)
    reps, shares = common
    close = (tokens @ reps.T) > config.common_token_similarity
    commonness = np.where(close, shares[None, :], 0.0).max(axis=1)
    keep = commonness < config.common_token_share
    if keep.sum() < config.subquery_parts:
        keep = np.zeros(len(tokens), dtype=bool)
        keep[np.argsort(commonness, kind="stable")[: config.subquery_parts]] = True
    return keep


def query_vectors(
    query: QueryFeatures, config: ZeroShotConfig, arrays: CalibrationArrays, video: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The unit pooled query ``(dim,)`` and the sub-queries ``(k, dim)`` (None: pooled query only).

    Sub-queries are the query's phrases encoded on their own (``query.parts``) when it has
    them, else its token features without the stop words (and then, with
    ``pooled_query="content"``, the pooled query is the mean of the tokens left). With a
    calibration corpus and ``corpus_weight > 0`` every vector is expanded (:func:`expand_vectors`)
    without the clips of ``video`` (the video being grounded, when the corpus holds it).
    """
    pooled = unit(query.pooled.astype(np.float32, copy=False))
    corpus = arrays.get("corpus_arrays", pooled.shape[-1]) if config.corpus_weight > 0 else None

    def expand(vectors: np.ndarray) -> np.ndarray:
        if corpus is None:
            return vectors
        own = video if video in corpus[3] else None  # other videos all expand alike
        key = (
            "expand",
            vectors.tobytes(),
            vectors.shape,
            config.corpus_weight,
            config.corpus_top,
            config.corpus_rounds,
            own,
        )
        return arrays.memo(key, lambda: expand_vectors(vectors, corpus, config, own))

    if config.subquery_weight <= 0:
        return expand(pooled[None])[0], None
    if uses_parts(query, config):
        return expand(pooled[None])[0], expand(unit(query.parts.astype(np.float32, copy=False)))
    if query.tokens is None or query.tokens.ndim != 2 or len(query.tokens) < config.subquery_parts:
        return expand(pooled[None])[0], None
    tokens = unit(query.tokens.astype(np.float32, copy=False))
    content = content_tokens(tokens, config, arrays)  # stop words: judged on the text's own tokens
    tokens = expand(tokens[content])
    if not content.all() and config.pooled_query == "content":
        return unit(tokens.mean(axis=0)), tokens
    return expand(pooled[None])[0], tokens


def expand_vectors(
    vectors: np.ndarray,
    corpus: tuple[np.ndarray, np.ndarray, np.ndarray, list[str]],
    config: ZeroShotConfig,
    video: str | None = None,
) -> np.ndarray:
    """Unit query vectors ``(k, dim)`` mixed with their corpus pictures: each becomes
    ``unit((1 - w) x v + w x p)``, ``w = corpus_weight``, where ``p`` is the unit mean of the
    ``corpus_top`` corpus clips most similar to ``v`` minus the corpus mean (what the clips that
    look most like the text have in common beyond any clip). ``corpus``: the calibration's
    :meth:`~.calibration.NoMomentCalibration.corpus_arrays`; the clips of ``video`` are left out.
    With ``corpus_rounds`` > 1 the clips are looked up again with the mix of the round before
    (pseudo-relevance feedback iterated): the mix stands out of the clips of its concept more than
    the text vector does, so the second lookup finds more of them (synthetic val, 4,000-video seeds
    0-2: 150 s R1@0.5 84.9 with two rounds of 50 clips, 83.6 with one round of 30; 3-hour fair
    chains 80.3 against 77.7).

    A text vector and the clips showing its concept differ by the gap between the text and video
    encoders; the corpus picture comes from the video encoder itself, so it lines up with those
    clips better (on the synthetic benchmark a sub-query's moment stands out of its video's
    curve by 2.5 noise units with the half-and-half mix, 2.7 with the picture alone, 1.6 with the
    text vector; medians over 300 queries, all val clips as the corpus)."""
    clips, mean, owner, videos = corpus
    left_out = owner == videos.index(video) if video is not None and video in videos else None
    top = min(config.corpus_top, len(clips) - (0 if left_out is None else int(left_out.sum())))
    if top < 1 or not len(vectors):
        return vectors
    w = config.corpus_weight
    mixed = vectors
    for _ in range(config.corpus_rounds):  # each round looks up the clips with the last round's mix
        sims = mixed @ clips.T  # (k, n)
        if left_out is not None:
            sims[:, left_out] = -np.inf
        best = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        picture = unit(clips[best].mean(axis=1) - mean)
        mixed = unit((1.0 - w) * vectors + w * picture).astype(vectors.dtype, copy=False)
    return mixed


def similarity_curves(
    clips: ClipFeatures, query: QueryFeatures, config: ZeroShotConfig, arrays: CalibrationArrays
) -> SimilarityCurves:
    """Cosine curves of the pooled query and (when used) of each sub-query, with their null levels."""
    return similarity_curves_many(clips, [query], config, arrays)[0]


def similarity_curves_many(
    clips: ClipFeatures,
    queries: list[QueryFeatures],
    config: ZeroShotConfig,
    arrays: CalibrationArrays,
    contrast: bool = True,
) -> list[SimilarityCurves]:
    """:func:`similarity_curves` of several queries in one video: one product of the clips with
    every query vector, and the query bank's clip similarities computed once (a library search
    measures 64 decoy queries in each candidate video). ``contrast=False`` skips the look-alike
    contrast curves (``SimilarityCurves.contrast``), which only moment scoring uses."""
    feats = clips.features.astype(np.float32, copy=False)
    vectors, contrasts = [], []
    peaks: dict = {}  # the bank entries' peak similarity in this video, computed once
    for query in queries:
        if query.pooled.shape[-1] != feats.shape[1]:
            raise InputError(
                f"query feature dim {query.pooled.shape[-1]} does not match clip feature dim {feats.shape[1]}"
            )
        pooled, subs = query_vectors(query, config, arrays, clips.video_id)
        turned = None
        if contrast and subs is not None and config.sibling_weight > 0:
            siblings = _bank_for(query, feats.shape[1], config, arrays)
            if siblings is not None:
                if config.sibling_pick == "present" and "peaks" not in peaks:
                    peaks["peaks"] = sibling_peaks(feats, siblings[0], config)
                turned = sibling_contrast(subs, siblings[0], config, peaks.get("peaks"))
        vectors.append((pooled, subs))
        contrasts.append(turned)
    sizes = [1 + (0 if subs is None else len(subs)) for _, subs in vectors]
    q = np.concatenate([p[None, :] if s is None else np.concatenate([p[None, :], s]) for p, s in vectors])
    # one product for every query vector, divided by the clip norms (cheaper than normalising clips)
    norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", feats, feats)), 1e-8)
    sims = (feats @ q.T) / norms[:, None]
    mean = arrays.get("null_feature", feats.shape[1])
    if mean is None and config.video_null and len(feats) > config.window_clips:
        # no calibrated null level: a long video's own mean clip stands in (label-free; in a
        # short video the moment itself would weigh on it, so there the curve's quantile does)
        mean = (feats / norms[:, None]).mean(axis=0)
    null = mean @ q.T if mean is not None else None
    bank = _query_bank(feats.shape[1], config, arrays) if any(s is not None for _, s in vectors) else None
    clip_bank = None
    out = []
    for (_, subs), turned, query, first, size in zip(
        vectors, contrasts, queries, np.cumsum([0, *sizes]), sizes, strict=False
    ):
        columns = slice(int(first), int(first) + size)
        own_sims, own_null = sims[:, columns], None if null is None else null[columns]
        curves = SimilarityCurves(
            pooled=own_sims[:, 0], null_pooled=float(own_null[0]) if own_null is not None else None
        )
        if subs is not None:
            regional = config.sibling_pick == "present" and config.sibling_scope == "region"
            if turned is not None and regional and len(feats) > config.window_clips:
                siblings = _bank_for(query, feats.shape[1], config, arrays)[0]
                if clip_bank is None:
                    clip_bank = (feats @ siblings.T) / norms[:, None]
                curves.regions = region_siblings(
                    own_sims[:, 1:], own_null, subs, siblings, clip_bank, mean, config
                )
            if bank is not None and _bank_fits(query, config, arrays):
                entries, bank_null = bank
                others = (subs @ entries.T).max(axis=0) <= config.bank_own_similarity
                if others.any():  # the query's own parts are left out of its bank
                    if clip_bank is None:
                        clip_bank = (feats @ entries.T) / norms[:, None]
                    t = config.bank_temperature
                    own_sims[:, 1:] -= soft_max(clip_bank[:, others], t)[:, None].astype(sims.dtype)
                    if own_null is not None:
                        own_null[1:] -= float(soft_max(bank_null[:, others], t).mean())
            curves.subqueries = own_sims[:, 1:]
            curves.null_subqueries = own_null[1:] if own_null is not None else None
        if turned is not None:
            curves.contrast = (feats @ turned.T) / norms[:, None]
            curves.null_contrast = None if mean is None else mean @ turned.T
        out.append(curves)
    return out


def _query_bank(dim: int, config: ZeroShotConfig, arrays: CalibrationArrays):
    if config.bank_temperature <= 0:
        return None
    return arrays.get("query_bank_matrices", dim)


def _bank_fits(query: QueryFeatures, config: ZeroShotConfig, arrays: CalibrationArrays) -> bool:
    """Whether the calibration's query bank holds sub-queries of this query's kind (a bank of token
    features does not fit phrase sub-queries, nor the reverse)."""
    kind = arrays.calibration.query_bank_kind
    return kind is None or kind == subquery_kind(query, config)


def _bank_for(query: QueryFeatures, dim: int, config: ZeroShotConfig, arrays: CalibrationArrays):
    """The calibration's query bank matrices when they fit this query (else None)."""
    bank = arrays.get("query_bank_matrices", dim)
    return bank if bank is not None and _bank_fits(query, config, arrays) else None


def sibling_peaks(feats: np.ndarray, entries: np.ndarray, config: ZeroShotConfig) -> np.ndarray:
    """How strongly a video shows each bank entry: the peak of its clip similarity curve smoothed
    by ``smooth_sigma`` clips, ``(b,)``, from clip features ``(n_clips, dim)``."""
    return gaussian_smooth(unit(feats) @ entries.T, config.smooth_sigma).max(axis=0)


def sibling_mask(subs: np.ndarray, entries: np.ndarray, config: ZeroShotConfig) -> np.ndarray:
    """``(k, b)`` bool: bank entry j is a sibling of sub-query i (cosine at least
    ``sibling_similarity`` but at most ``bank_own_similarity``)."""
    cos = subs @ entries.T
    return (cos >= config.sibling_similarity) & (cos <= config.bank_own_similarity)


def sibling_contrast(
    subs: np.ndarray, entries: np.ndarray, config: ZeroShotConfig, peaks: np.ndarray | None = None
) -> np.ndarray:
    """Sub-queries ``(k, dim)`` turned away from their look-alikes: each minus ``sibling_weight`` x
    the mean of its *siblings*, the bank entries whose cosine with it is at least
    ``sibling_similarity`` but at most ``bank_own_similarity`` (another action of the same kind:
    "opens the door" for "closes the door"). A clip showing a sibling then matches the sub-query
    less than one showing the sub-query itself by about twice as much as before, and the moment
    is no longer taken for the look-alike. A sub-query without siblings is unchanged.

    With ``sibling_pick="present"`` and the video's ``peaks`` (:func:`sibling_peaks`), only the
    sibling the video shows most counts (the look-alike it holds, if any): against that one the
    contrast is sharpest."""
    sibling = sibling_mask(subs, entries, config)
    if config.sibling_pick == "present" and peaks is not None and sibling.any():
        best = np.where(sibling, peaks[None, :], -np.inf).argmax(axis=1)
        pick = np.zeros_like(sibling)
        pick[np.arange(len(subs)), best] = True
        sibling = pick & sibling
    count = sibling.sum(axis=1, keepdims=True)
    mean = (sibling.astype(subs.dtype) @ entries) / np.maximum(count, 1)
    return (subs - config.sibling_weight * mean).astype(subs.dtype, copy=False)


def region_siblings(
    raw: np.ndarray,
    null: np.ndarray | None,
    subs: np.ndarray,
    entries: np.ndarray,
    clip_bank: np.ndarray,
    mean: np.ndarray | None,
    config: ZeroShotConfig,
) -> RegionSiblings:
    """:class:`RegionSiblings` of one query: ``raw`` ``(n_clips, k)`` its sub-query cosines and
    ``null`` (pooled first, ``(1 + k,)``, or None), ``subs`` ``(k, dim)``, the query bank
    ``entries`` ``(b, dim)`` and their clip cosines ``clip_bank`` ``(n_clips, b)``, the null
    feature ``mean`` (or None)."""
    sibling = sibling_mask(subs, entries, config)
    used = np.flatnonzero(sibling.any(axis=0))
    return RegionSiblings(
        raw=raw.astype(np.float64),
        null_raw=None if null is None else np.array(null[1:], dtype=np.float64),
        sims=clip_bank[:, used].astype(np.float64),
        null_sims=None if mean is None else (entries[used] @ mean).astype(np.float64),
        of=sibling[:, used],
    )


def region_contrast_levels(
    regions: RegionSiblings, starts: np.ndarray, size: int, config: ZeroShotConfig
) -> np.ndarray:
    """Look-alike contrast levels of every window ``(n_windows, size, k)``: in the window of
    ``size`` clips from each of ``starts``, each sub-query turned away from the sibling whose
    smoothed clip cosine peaks highest *in that window* (a 3-hour video holds many look-alikes;
    the one next to a candidate moment is the one to tell it from). Levels are in noise units
    above the null, measured over the whole video as :func:`contrast_levels` does; a sub-query
    without siblings keeps its raw curve."""
    n, k = regions.raw.shape
    m = regions.sims.shape[1]
    index = starts[:, None] + np.arange(size)[None, :]  # (w, size)
    pick = np.full((len(starts), k), m)  # m: "no sibling", the raw curve
    if m:
        peaks = gaussian_smooth(regions.sims, config.smooth_sigma)[index].max(axis=1)  # (w, m)
        score = np.where(regions.of[None, :, :], peaks[:, None, :], -np.inf)  # (w, k, m)
        pick = np.where(regions.of.any(axis=1)[None, :], score.argmax(axis=2), m)
    # the curves of the (sub-query, sibling) pairs some window picked, each computed once
    pairs = np.stack([np.broadcast_to(np.arange(k), pick.shape), pick], axis=-1).reshape(-1, 2)
    pairs, column = np.unique(pairs, axis=0, return_inverse=True)
    sims = np.concatenate([regions.sims, np.zeros((n, 1))], axis=1)
    x = regions.raw[:, pairs[:, 0]] - config.sibling_weight * sims[:, pairs[:, 1]]  # (n, pairs)
    if regions.null_raw is not None and regions.null_sims is not None:
        null_sims = np.append(regions.null_sims, 0.0)
        null = regions.null_raw[pairs[:, 0]] - config.sibling_weight * null_sims[pairs[:, 1]]
    else:
        null = np.full(x.shape[1], np.nan)
    levels = _column_levels(x, null, config, "noise")
    return levels[index[:, :, None], column.reshape(pick.shape)[:, None, :]]


def levels_above_null(
    curves: SimilarityCurves, config: ZeroShotConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pooled and sub-query curves above their null level, in units of their clip-to-clip noise."""
    return _levels_many([curves], config, "noise")[0]


def _turned(curves: SimilarityCurves) -> SimilarityCurves:
    """``curves`` with the look-alike contrast curves in place of the sub-query curves."""
    return SimilarityCurves(
        pooled=curves.pooled,
        subqueries=curves.contrast,
        null_pooled=curves.null_pooled,
        null_subqueries=curves.null_contrast,
    )


def contrast_levels(curves: SimilarityCurves, config: ZeroShotConfig) -> np.ndarray | None:
    """The look-alike contrast curves (``SimilarityCurves.contrast``) as levels, in the units of
    :func:`level_curves`: ``(n_clips, n_subqueries)``, or None without them."""
    if curves.contrast is None:
        return None
    return level_curves(_turned(curves), config)[1]


def level_curves(curves: SimilarityCurves, config: ZeroShotConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """The curves whose span means score proposals: standardised over the video, or in noise
    units above the null level (the same for a span whatever else the video holds)."""
    return level_curves_many([curves], config)[0]


def level_curves_many(
    many: list[SimilarityCurves], config: ZeroShotConfig
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """:func:`level_curves` of several queries' curves in one video, every column at once."""
    return _levels_many(many, config, config.score_units)


def _levels_many(
    many: list[SimilarityCurves], config: ZeroShotConfig, units: str
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each curve column standardised (``units="std"``), or above its null level (the column's
    ``null_quantile`` where it has none) in units of its clip-to-clip noise."""
    blocks, nulls = [], []
    for curves in many:
        blocks.append(curves.pooled[:, None])
        nulls.append([np.nan if curves.null_pooled is None else curves.null_pooled])
        if curves.subqueries is not None:
            blocks.append(curves.subqueries)
            subs = curves.null_subqueries
            nulls.append(np.full(curves.subqueries.shape[1], np.nan) if subs is None else subs)
    x = np.concatenate(blocks, axis=1)
    levels = _column_levels(
        x, np.concatenate([np.asarray(n, dtype=np.float64) for n in nulls]), config, units
    )
    out, first = [], 0
    for curves in many:
        width = 0 if curves.subqueries is None else curves.subqueries.shape[1]
        pooled, subs = levels[:, first], levels[:, first + 1 : first + 1 + width] if width else None
        out.append((pooled, subs))
        first += 1 + width
    return out


def and_level(
    pooled_levels: np.ndarray, subquery_levels: np.ndarray | None, config: ZeroShotConfig
) -> np.ndarray:
    """Per clip, (pooled + w x the subquery_parts-th best sub-query level) / (1 + w)."""
    if subquery_levels is None:
        return pooled_levels
    w = config.subquery_weight
    return (pooled_levels + w * kth_largest(subquery_levels, config.subquery_parts)) / (1.0 + w)


def evidence(pooled_levels: np.ndarray, subquery_levels: np.ndarray | None, config: ZeroShotConfig) -> float:
    """Scale-free evidence that the query happens at all, from levels in noise units: the best
    excess of the pooled curve plus that of the ``subquery_parts``-th best sub-query curve over
    ``evidence_level`` (maximum-subarray sums)."""
    value = best_excess(pooled_levels, config.evidence_level)
    if subquery_levels is not None:
        per_subquery = best_excess(subquery_levels, config.evidence_level)
        value += float(kth_largest(per_subquery[None, :], config.subquery_parts)[0])
    return float(value)


# the statistics of the level curves a no-moment model weighs (``no_moment="logistic"``), in this order
EVIDENCE_STATISTICS = ("evidence", "and_excess", "parts_excess", "and_peak", "parts_peak")


def evidence_statistics(
    pooled_levels: np.ndarray, subquery_levels: np.ndarray | None, config: ZeroShotConfig
) -> np.ndarray:
    """Several statistics of the level curves (noise units), ``(len(EVIDENCE_STATISTICS),)``:
    ``evidence`` (:func:`evidence`: pooled and sub-query curves each at its own best place);
    ``and_excess`` / ``parts_excess``: the best excess over ``evidence_level`` of the AND level
    (:func:`and_level`) and of the ``subquery_parts``-th best sub-query level *at the same clip*
    (the parts must match together, not in two places); ``and_peak`` / ``parts_peak``: the
    maxima of those two curves smoothed by ``smooth_sigma``. Without sub-queries the pooled
    curve stands in for the parts."""
    parts = pooled_levels if subquery_levels is None else kth_largest(subquery_levels, config.subquery_parts)
    both = and_level(pooled_levels, subquery_levels, config)
    tau = config.evidence_level
    return np.array(
        [
            evidence(pooled_levels, subquery_levels, config),
            best_excess(both, tau),
            best_excess(parts, tau),
            float(gaussian_smooth(both, config.smooth_sigma).max()),
            float(gaussian_smooth(parts, config.smooth_sigma).max()),
        ]
    )


def decision_evidence(
    pooled_levels: np.ndarray,
    subquery_levels: np.ndarray | None,
    config: ZeroShotConfig,
    model: dict | None,
) -> float:
    """The number the no-moment threshold applies to: the log-odds of the calibration's logistic
    model over :func:`evidence_statistics` when it has one (``model``), else :func:`evidence`."""
    if model is None:
        return evidence(pooled_levels, subquery_levels, config)
    return logistic_evidence(evidence_statistics(pooled_levels, subquery_levels, config), model)


def _column_levels(x: np.ndarray, null: np.ndarray, config: ZeroShotConfig, units: str) -> np.ndarray:
    """Each column of ``x`` standardised (``units="std"``), or above its ``null`` level (NaN: the
    column's ``null_quantile``) in units of its clip-to-clip noise."""
    if units == "std":
        return standardize(x)
    null = np.array(null, dtype=np.float64)
    unknown = np.isnan(null)
    if unknown.any():
        null[unknown] = np.quantile(x[:, unknown], config.null_quantile, axis=0)
    x = x - null.astype(x.dtype)
    return x / noise_scale(x)
