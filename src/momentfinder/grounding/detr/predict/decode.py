"""Saliency-guided decoding: the detector's windows plus windows grown from its saliency curve.

Early in training (and on small data) the per-clip saliency head localises better than the
moment queries' foreground scores rank them. ``hybrid`` decoding adds, around each of the
highest saliency peaks, the run of clips above several shares of the peak, and ranks every
candidate by its saliency contrast (mean probability inside minus outside the window).
"""

from __future__ import annotations

import numpy as np

from ..supervision import grow_window


def saliency_proposals(
    prob: np.ndarray,
    ratios: tuple[float, ...] = (0.3, 0.5, 0.7),
    max_peaks: int = 3,
    min_peak_share: float = 0.5,
) -> np.ndarray:
    """``(k, 2)`` clip-index windows ``[start, end)`` grown around up to ``max_peaks`` separate peaks.

    The highest peak always gives proposals (saliency is a ranking, its scale varies); a further
    peak needs at least ``min_peak_share`` of the highest.
    """
    covered = np.zeros(len(prob), dtype=bool)
    out: list[tuple[int, int]] = []
    top = float(prob.max()) if len(prob) else 0.0
    for _ in range(max_peaks):
        free = np.where(covered, -np.inf, prob)
        peak = int(np.argmax(free))
        if not np.isfinite(free[peak]) or (out and prob[peak] < min_peak_share * top):
            break
        for ratio in ratios:
            out.append(grow_window(prob, peak, ratio))
        st, ed = grow_window(prob, peak, min(ratios))
        covered[st:ed] = True
    return np.asarray(sorted(set(out)), dtype=np.int64).reshape(-1, 2)


def contrast_scores(prob: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Mean of ``prob`` inside each clip window ``[start, end)`` minus the mean outside it."""
    n = len(prob)
    csum = np.concatenate([[0.0], np.cumsum(prob, dtype=np.float64)])
    st = np.clip(windows[:, 0], 0, n - 1)
    ed = np.clip(np.maximum(windows[:, 1], st + 1), 1, n)
    inside = csum[ed] - csum[st]
    n_in = ed - st
    n_out = n - n_in
    outside = np.where(n_out > 0, (csum[-1] - inside) / np.maximum(n_out, 1), 0.0)
    return inside / n_in - outside


def clips_of_seconds(seconds: np.ndarray, clip_len: float) -> np.ndarray:
    """``(k, 2)`` windows in seconds as clip indices ``[start, end)`` (the clips they touch; not
    clamped to the video)."""
    return np.stack(
        [np.floor(seconds[:, 0] / clip_len), np.ceil(seconds[:, 1] / clip_len - 1e-6)], axis=1
    ).astype(np.int64)


def hybrid_candidates(
    spans_seconds: np.ndarray,
    fg_prob: np.ndarray,
    saliency: np.ndarray,
    clip_len: float,
    duration: float,
    grow_ratio: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Detector windows (seconds) + saliency proposals with their ranking scores.

    ``grow_ratio`` (calibrated on val): proposals are the runs around each peak above that share
    of the peak, ranked by peak height above every detector window (ranked by foreground
    probability times saliency contrast). Without it, proposals at several shares compete with the
    detector windows by saliency contrast alone.
    """
    prob = 1.0 / (1.0 + np.exp(-saliency))
    if grow_ratio is None:
        proposals = saliency_proposals(prob) * clip_len
        seconds = np.concatenate([spans_seconds, np.minimum(proposals, duration)])
        return seconds, contrast_scores(prob, clips_of_seconds(seconds, clip_len))
    proposals = saliency_proposals(prob, ratios=(grow_ratio,))
    peaks = np.array([prob[a:b].max() for a, b in proposals])
    detector = fg_prob * np.clip(contrast_scores(prob, clips_of_seconds(spans_seconds, clip_len)), 0, None)
    seconds = np.concatenate([spans_seconds, np.minimum(proposals * clip_len, duration)])
    return seconds, np.concatenate([detector, 1.0 + peaks])
