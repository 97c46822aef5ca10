"""Training losses: set prediction (matched L1 + gIoU + foreground CE), saliency, negative pairs.

Targets (one dict per batch, built by :mod:`.dataset`):

* ``spans``: list of ``(n_b, 2)`` normalised cxw spans per sample;
* ``span_valid``: ``(B,)`` bool, whether the sample supervises spans at all (False for weak labels);
* ``saliency``: ``(B, L)`` float per-clip label: ``> 0`` relevant (higher = more), ``0`` not
  relevant, ``-1`` unknown or padding, ``-2`` unsure (a pseudo window's uncertain edge: no loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LossConfig
from .dataset import UNKNOWN
from .matcher import HungarianMatcher
from .span_utils import generalized_temporal_iou, span_cxw_to_xx


class SetCriterion:
    def __init__(self, cfg: LossConfig):
        self.cfg = cfg
        self.matcher = HungarianMatcher(cfg.cost_span, cfg.cost_giou, cfg.cost_class)

    def span_losses(self, out: dict, spans: list[torch.Tensor], span_valid: torch.Tensor) -> dict:
        """L1, gIoU and foreground/background CE of one decoder layer on the samples with span labels."""
        logits, pred = out["pred_logits"], out["pred_spans"]
        keep = span_valid.nonzero().flatten().tolist()
        zero = logits.sum() * 0.0
        if not keep:
            return {"span": zero, "giou": zero, "label": zero}
        logits, pred = logits[keep], pred[keep]
        spans = [spans[i] for i in keep]
        indices = self.matcher(pred, logits, spans)
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])
        matched_tgt = torch.cat([spans[i][tgt] for i, (_, tgt) in enumerate(indices)]).to(pred)
        classes = torch.ones(logits.shape[:2], dtype=torch.int64, device=logits.device)  # 1 = background
        classes[batch_idx, src_idx] = 0
        weight = torch.tensor([1.0, self.cfg.eos_coef], device=logits.device)
        label = F.cross_entropy(logits.transpose(1, 2), classes, weight=weight)
        if len(src_idx) == 0:
            return {"span": zero, "giou": zero, "label": label}
        matched = pred[batch_idx, src_idx]
        span = F.l1_loss(matched, matched_tgt)
        giou = 1 - torch.diag(generalized_temporal_iou(span_cxw_to_xx(matched), span_cxw_to_xx(matched_tgt)))
        return {"span": span, "giou": giou.mean(), "label": label}

    def saliency_losses(
        self, out: dict, labels: torch.Tensor, clip_mask: torch.Tensor, negative: dict | None
    ) -> dict:
        cfg = self.cfg
        sal = out["saliency"]
        known = labels >= 0
        unlabelled = ~known.any(1)
        free_all = clip_mask & (labels == UNKNOWN)  # unsure clips (UNSURE) are not free background
        partial = free_all.any(1) & known.any(1)
        losses_mil = sal.sum() * 0.0
        if unlabelled.any():
            # weak labels: multiple-instance learning, the top clips of a matched pair are relevant
            losses_mil = losses_mil + multiple_instance_loss(sal[unlabelled], clip_mask[unlabelled])
        if partial.any():
            # point labels: the least salient unlabelled half of a matched video is not relevant
            losses_mil = losses_mil + background_loss(sal[partial], free_all[partial])
        # pairwise hinge: a clip with a higher label scores at least `margin` above one with a lower label
        pairs = (labels[:, :, None] > labels[:, None, :]) & known[:, :, None] & known[:, None, :]
        hinge = (cfg.saliency_margin - (sal[:, :, None] - sal[:, None, :])).clamp(min=0)
        losses = {"saliency": (hinge * pairs).sum() / pairs.sum().clamp(min=1)}
        relevant = (labels > 0).to(sal.dtype)
        bce = F.binary_cross_entropy_with_logits(sal, relevant, reduction="none")
        losses["clip"] = (bce * known).sum() / known.sum().clamp(min=1) + losses_mil
        losses["match"] = F.binary_cross_entropy_with_logits(
            out["match_logit"], torch.ones_like(out["match_logit"])
        )
        if out["word_share"] is not None:
            share = out["word_share"].clamp(1e-4, 1 - 1e-4)
            attn = F.binary_cross_entropy(share, relevant, reduction="none")
            losses["attention"] = (attn * known).sum() / known.sum().clamp(min=1)
        if negative is not None:
            neg, mask, valid = negative["out"], negative["vid_mask"], negative["valid"]
            clip_mask = mask & valid[:, None]
            neg_bce = F.binary_cross_entropy_with_logits(
                neg["saliency"], torch.zeros_like(neg["saliency"]), reduction="none"
            )
            losses["negative"] = (neg_bce * clip_mask).sum() / clip_mask.sum().clamp(min=1)
            m = F.binary_cross_entropy_with_logits(
                neg["match_logit"], torch.zeros_like(neg["match_logit"]), reduction="none"
            )
            losses["match"] = losses["match"] + (m * valid).sum() / valid.sum().clamp(min=1)
            if neg["word_share"] is not None:
                attn = -torch.log((1 - neg["word_share"]).clamp(min=1e-4))
                losses["attention"] = losses["attention"] + (attn * clip_mask).sum() / clip_mask.sum().clamp(
                    min=1
                )
        return losses

    def __call__(self, out: dict, targets: dict, negative: dict | None = None) -> tuple[torch.Tensor, dict]:
        """Total weighted loss and the unweighted parts (floats) for logging.

        ``negative``: ``{"out": model output on mismatched pairs, "vid_mask", "valid" (B,) bool}``.
        """
        cfg = self.cfg
        parts = self.span_losses(out, targets["spans"], targets["span_valid"])
        if cfg.aux_loss:
            for aux in out["aux"]:
                for k, v in self.span_losses(aux, targets["spans"], targets["span_valid"]).items():
                    parts[k] = parts[k] + v
        if negative is not None and negative["valid"].any():
            # a mismatched pair holds no moment: every moment query should say "background"
            valid = negative["valid"]
            empty = [torch.zeros(0, 2)] * len(valid)
            neg_label = self.span_losses(negative["out"], empty, valid)["label"]
            parts["label"] = parts["label"] + neg_label
        else:
            negative = None
        parts.update(self.saliency_losses(out, targets["saliency"], targets["clip_mask"], negative))
        weights = {
            "span": cfg.span_coef,
            "giou": cfg.giou_coef,
            "label": cfg.label_coef,
            "saliency": cfg.saliency_coef,
            "clip": cfg.saliency_coef,
            "negative": cfg.negative_coef,
            "match": cfg.match_coef,
            "attention": cfg.attention_coef,
        }
        total = sum(weights[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}


def multiple_instance_loss(
    saliency: torch.Tensor, clip_mask: torch.Tensor, top_share: float = 0.15
) -> torch.Tensor:
    """BCE pushing the mean of each video's top ``top_share`` clip logits towards "relevant"."""
    n = clip_mask.sum(1)
    k = (n.to(torch.float32) * top_share).ceil().clamp(min=1)
    ranked = saliency.masked_fill(~clip_mask, float("-inf")).sort(dim=1, descending=True).values
    in_top = torch.arange(saliency.shape[1], device=saliency.device)[None] < k[:, None]
    pooled = (ranked.masked_fill(~in_top, 0.0)).sum(1) / k
    return F.binary_cross_entropy_with_logits(pooled, torch.ones_like(pooled))


def background_loss(saliency: torch.Tensor, free: torch.Tensor, bottom_share: float = 0.5) -> torch.Tensor:
    """BCE pushing each video's least salient ``bottom_share`` of the ``free`` clips towards "not relevant".

    Moments rarely fill more than half a video, so without window labels this gives the in-video
    negatives that mismatched pairs cannot.
    """
    k = (free.sum(1).to(torch.float32) * bottom_share).floor()
    ranked = saliency.masked_fill(~free, float("inf")).sort(dim=1).values
    in_bottom = torch.arange(saliency.shape[1], device=saliency.device)[None] < k[:, None]
    values = ranked.masked_fill(~in_bottom, 0.0)
    bce = F.binary_cross_entropy_with_logits(values, torch.zeros_like(values), reduction="none")
    return (bce * in_bottom).sum() / in_bottom.sum().clamp(min=1)
