"""Temporal IoU in the two forms the official evaluation scripts use (seconds in, ratio out)."""

from __future__ import annotations

import numpy as np


def iou_cross(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of every pair: ``spans1`` ``(..., N, 2)``, ``spans2`` ``(..., M, 2)`` -> ``(..., N, M)``.

    Union is ``len1 + len2 - inter`` (the official ``compute_temporal_iou_batch_cross``, same
    operation order so results agree to the bit); a zero union (two zero-length windows) gives 0.
    """
    len1 = spans1[..., 1] - spans1[..., 0]
    len2 = spans2[..., 1] - spans2[..., 0]
    left = np.maximum(spans1[..., :, None, 0], spans2[..., None, :, 0])
    right = np.minimum(spans1[..., :, None, 1], spans2[..., None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = len1[..., :, None] + len2[..., None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def iou_paired(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``(..., 2)`` windows, with the union taken as the hull ``max(end) - min(start)``.

    This is how the Moment-DETR and TVR scripts compute R@1 (equal to the true union whenever the
    windows overlap, and the IoU is 0 otherwise); keeping it makes threshold ties resolve the same.
    """
    inter = np.maximum(0, np.minimum(pred[..., 1], gt[..., 1]) - np.maximum(pred[..., 0], gt[..., 0]))
    union = np.maximum(pred[..., 1], gt[..., 1]) - np.minimum(pred[..., 0], gt[..., 0])
    return np.divide(
        inter, union, out=np.zeros_like(inter, dtype=np.result_type(inter, float)), where=union != 0
    )
