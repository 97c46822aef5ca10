"""Temporal non-maximum suppression over 1-D windows."""

from __future__ import annotations

import numpy as np


def temporal_iou(window: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """IoU of one ``[start, end]`` window with each row of ``windows`` ``(n, 2)``; same units."""
    inter = np.clip(np.minimum(window[1], windows[:, 1]) - np.maximum(window[0], windows[:, 0]), 0, None)
    union = (window[1] - window[0]) + (windows[:, 1] - windows[:, 0]) - inter
    return inter / np.maximum(union, 1e-9)


def temporal_nms(windows: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    """Indices of kept windows, best first.

    ``windows``: ``(n, 2)`` start/end; ``scores``: ``(n,)``. A window is dropped when its IoU
    with an already kept, higher-scoring window exceeds ``iou_threshold``.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    windows = windows[order]
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        if len(keep) >= top_k:
            break
        suppressed[i + 1 :] |= temporal_iou(windows[i], windows[i + 1 :]) > iou_threshold
    return np.asarray(keep, dtype=np.int64)
