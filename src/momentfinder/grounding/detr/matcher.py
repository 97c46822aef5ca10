"""Hungarian matching of predicted spans to ground-truth spans (DETR's bipartite assignment)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .span_utils import generalized_temporal_iou, span_cxw_to_xx


class HungarianMatcher:
    """Assign each target span one prediction, minimising L1 + (-gIoU) + (-foreground probability).

    Costs are weighted by ``cost_span``, ``cost_giou`` and ``cost_class``; the assignment is
    computed per sample with ``scipy.optimize.linear_sum_assignment``.
    """

    def __init__(self, cost_span: float = 10.0, cost_giou: float = 1.0, cost_class: float = 4.0):
        self.cost_span, self.cost_giou, self.cost_class = cost_span, cost_giou, cost_class

    @torch.no_grad()
    def __call__(
        self, pred_spans: torch.Tensor, pred_logits: torch.Tensor, target_spans: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``pred_spans (B, Q, 2)`` cxw, ``pred_logits (B, Q, 2)``, ``target_spans[b] (n_b, 2)`` cxw.

        Returns per sample ``(prediction indices, target indices)``, both ``(min(Q, n_b),)`` int64.
        """
        fg_prob = pred_logits.softmax(-1)[..., 0]
        out = []
        for b, tgt in enumerate(target_spans):
            if len(tgt) == 0:
                empty = torch.zeros(0, dtype=torch.int64)
                out.append((empty, empty))
                continue
            spans = pred_spans[b]
            cost = (
                self.cost_span * torch.cdist(spans, tgt, p=1)
                - self.cost_giou * generalized_temporal_iou(span_cxw_to_xx(spans), span_cxw_to_xx(tgt))
                - self.cost_class * fg_prob[b][:, None]
            )
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            out.append(
                (
                    torch.as_tensor(rows, dtype=torch.int64),
                    torch.as_tensor(np.asarray(cols), dtype=torch.int64),
                )
            )
        return out
