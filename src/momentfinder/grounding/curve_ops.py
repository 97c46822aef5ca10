"""Small vectorised operations on per-clip relevance curves (the zero-shot grounder's steps).

Every function takes a curve ``(n_clips,)`` or a stack of curves ``(n_clips, k)`` (one column per
sub-query) and works in clip indices; spans are ``[start, end)`` clip index pairs ``(m, 2)``.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9
_SPREAD_FLOOR = 0.1  # the noise unit is at least this share of the curve's standard deviation
# MAD of a difference of two i.i.d. normals -> sigma of one: 1 / (0.6745 * sqrt(2))
_DIFF_MAD_TO_SIGMA = 1.0 / (0.67449 * np.sqrt(2.0))


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation per column (a constant column becomes zeros)."""
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + _EPS)


def noise_scale(x: np.ndarray) -> np.ndarray | float:
    """Robust per-clip noise level of each column, from the median absolute first difference.

    Steps between moments barely move the median of ``|x[i+1] - x[i]|``, so unlike the standard
    deviation this does not grow with how much of the video is relevant: a scale-free unit
    for evidence that a query happens at all.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return np.ones(x.shape[1:]) if x.ndim > 1 else 1.0
    sigma = np.median(np.abs(np.diff(x, axis=0)), axis=0) * _DIFF_MAD_TO_SIGMA
    # A piecewise-constant curve (subtitle lines, fused channels) has no clip-to-clip noise:
    # floor the unit at a share of the curve's spread so scores stay finite and comparable.
    return np.maximum(np.maximum(sigma, _SPREAD_FLOOR * np.std(x, axis=0)), _EPS)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the clip axis (edges repeat the end values); ``sigma`` in clips, 0 = off."""
    if sigma <= 0:
        return np.asarray(x, dtype=np.float64)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(x, dtype=np.float64), sigma, axis=0, mode="nearest")


def runs_above(curve: np.ndarray, level: float) -> np.ndarray:
    """Maximal runs of clips with ``curve > level``: ``(m, 2)`` int spans ``[start, end)``."""
    above = np.concatenate([[False], np.asarray(curve) > level, [False]])
    edges = np.flatnonzero(above[1:] != above[:-1])
    return edges.reshape(-1, 2)


def threshold_proposals(curve: np.ndarray, levels: np.ndarray, max_len: int | None = None) -> np.ndarray:
    """Distinct runs of ``curve`` above each of ``levels``: ``(m, 2)`` spans, sorted.

    Runs at a low level give whole events, runs at a high level their cores and split events
    that touch. Runs longer than ``max_len`` clips are dropped. Never empty: without any run, the
    single clip at the curve's maximum is the one proposal.
    """
    spans = [runs_above(curve, lv) for lv in levels]
    spans = np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int64)
    if max_len is not None and len(spans):
        spans = spans[(spans[:, 1] - spans[:, 0]) <= max_len]
    if not len(spans):
        top = int(np.argmax(curve))
        return np.array([[top, top + 1]], dtype=np.int64)
    return np.unique(spans, axis=0)


def segment_means(x: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Mean of ``x`` over each span: ``(m,)`` for a curve, ``(m, k)`` for ``k`` stacked curves."""
    x = np.asarray(x, dtype=np.float64)
    csum = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])
    length = (spans[:, 1] - spans[:, 0]).astype(np.float64)
    if x.ndim > 1:
        length = length[:, None]
    return (csum[spans[:, 1]] - csum[spans[:, 0]]) / length


def kth_largest(x: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each row of ``x`` ``(m, c)`` (the smallest when ``k > c``)."""
    k = min(k, x.shape[1])
    return np.partition(x, x.shape[1] - k, axis=1)[:, x.shape[1] - k]


def disjoint_excess(rows: np.ndarray, tau: float, spans: int, gap: int = 1) -> np.ndarray:
    """Per row of ``rows`` ``(r, n)``, the summed :func:`best_excess` over ``tau`` of its ``spans``
    best disjoint spans (greedy: the best span, then the best one at least ``gap`` clips away
    from it, ...): ``(r,)``. A region where a query happens twice (or one event split by a dip)
    gathers the evidence of both, where noise rarely has a second strong span."""
    x = np.asarray(rows, dtype=np.float64) - tau
    total = np.zeros(len(x))
    index = np.arange(x.shape[1] + 1)
    for _ in range(spans):
        csum = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x, axis=1)], axis=1)
        low = np.minimum.accumulate(csum, axis=1)
        gain = csum - low
        end = gain.argmax(axis=1)
        best = gain[np.arange(len(x)), end]
        if not (best > 0).any():
            break
        total += np.maximum(best, 0.0)
        # the span's start: the last place the running minimum was reached before its end
        at_low = np.where(csum == low, index[None, :], -1)
        start = np.take_along_axis(np.maximum.accumulate(at_low, axis=1), end[:, None], axis=1)[:, 0]
        clips = index[None, :-1]
        taken = (clips >= (start - gap)[:, None]) & (clips < (end + gap)[:, None]) & (best > 0)[:, None]
        x = np.where(taken, -1e6, x)  # finite: cumulative sums across it stay exact enough
    return total


def best_excess(x: np.ndarray, tau: float) -> np.ndarray | float:
    """``max`` over every span of ``sum(x - tau)``, per column (0 when no clip exceeds ``tau``).

    With ``x`` in noise units this is the log-likelihood ratio of "a moment at a level above
    ``tau``" against "noise": a long weak bump and a short strong one both count, a single
    noisy clip barely does. Maximum-subarray sum, computed with one cumulative sum.
    """
    x = np.asarray(x, dtype=np.float64)
    csum = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x - tau, axis=0)])
    best = (csum - np.minimum.accumulate(csum, axis=0)).max(axis=0)
    return best if x.ndim > 1 else float(best)
