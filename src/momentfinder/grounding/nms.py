"""Temporal non-maximum suppression over 1-D windows."""

from __future__ import annotations

import numpy as np


def temporal_iou(window: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """IoU of one ``[start, end]`` window with each row of ``windows`` ``(n, 2)``; same units."""
    inter = np.clip(np.minimum(window[1], windows[:, 1]) - np.maximum(window[0], windows[:, 0]), 0, None)
    union = (window[1] - window[0]) + (windows[:, 1] - windows[:, 0]) - inter
    return inter / np.maximum(union, 1e-9)


def temporal_nms(
    windows: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int, max_containment: float = 1.0
) -> np.ndarray:
    """Indices of kept windows, best first.

    ``windows``: ``(n, 2)`` start/end; ``scores``: ``(n,)``. A window is dropped when its IoU
    with an already kept, higher-scoring window exceeds ``iou_threshold``, or when the two are
    nested: more than ``max_containment`` of the shorter one lies inside the other (1.0 = IoU
    only). Nesting counts both ways, so a ranked list repeats one moment neither as its
    sub-windows (12–16 s after 10–18 s) nor as a window around it (10–18 s after 12–16 s).
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    windows = windows[order]
    lengths = np.maximum(windows[:, 1] - windows[:, 0], 1e-9)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        if len(keep) >= top_k:
            break
        rest = windows[i + 1 :]
        suppressed[i + 1 :] |= temporal_iou(windows[i], rest) > iou_threshold
        if max_containment < 1.0:
            inter = np.clip(
                np.minimum(windows[i, 1], rest[:, 1]) - np.maximum(windows[i, 0], rest[:, 0]), 0, None
            )
            shorter = np.minimum(lengths[i], lengths[i + 1 :])
            suppressed[i + 1 :] |= inter / shorter > max_containment
    return np.asarray(keep, dtype=np.int64)
