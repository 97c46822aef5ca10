"""Span arithmetic for the detector. Spans are normalised to ``[0, 1]`` of the clip sequence.

``cxw``: ``(..., 2)`` centre and width; ``xx``: ``(..., 2)`` start and end.
"""

from __future__ import annotations

import torch


def span_cxw_to_xx(spans: torch.Tensor) -> torch.Tensor:
    centre, width = spans[..., 0], spans[..., 1]
    return torch.stack([centre - 0.5 * width, centre + 0.5 * width], dim=-1)


def span_xx_to_cxw(spans: torch.Tensor) -> torch.Tensor:
    start, end = spans[..., 0], spans[..., 1]
    return torch.stack([0.5 * (start + end), end - start], dim=-1)


def temporal_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise IoU and union of ``xx`` spans ``a (n, 2)`` and ``b (m, 2)``: two ``(n, m)`` tensors."""
    len_a = (a[:, 1] - a[:, 0]).clamp(min=0)
    len_b = (b[:, 1] - b[:, 0]).clamp(min=0)
    left = torch.max(a[:, None, 0], b[None, :, 0])
    right = torch.min(a[:, None, 1], b[None, :, 1])
    inter = (right - left).clamp(min=0)
    union = len_a[:, None] + len_b[None, :] - inter
    return inter / union.clamp(min=1e-6), union


def generalized_temporal_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise generalised IoU (Rezatofighi et al.) of ``xx`` spans: ``(n, m)`` in ``[-1, 1]``."""
    iou, union = temporal_iou(a, b)
    left = torch.min(a[:, None, 0], b[None, :, 0])
    right = torch.max(a[:, None, 1], b[None, :, 1])
    hull = (right - left).clamp(min=1e-6)
    return iou - (hull - union) / hull
