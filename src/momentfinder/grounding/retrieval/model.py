"""The cross-video relevance model: query tokens x clip features -> per-clip relevance.

A bilinear head in the spirit of XML / ReLoCLNet's query-clip similarity: every query token is
mapped into the clip feature space (``A t``), scored against each L2-normalised clip (``<A t, v>``),
and the token scores of a clip are combined by a gate-weighted soft minimum, so a clip is relevant
only when all the words that matter are in it. The map starts as the identity when text and clip
features share a width (the zero-shot cosine of a joint text-image space) and learns from labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import RankerConfig


class CrossVideoRanker(nn.Module):
    def __init__(self, config: RankerConfig, clip_dim: int, text_dim: int):
        super().__init__()
        self.config = config
        self.clip_dim, self.text_dim = clip_dim, text_dim
        self.text_map = nn.Linear(text_dim, clip_dim)
        self.gate = nn.Linear(text_dim, 1)
        # whitening of both inputs, fitted on the training features (:meth:`fit_whitening`): the
        # bilinear map then learns in well-conditioned coordinates; identity until fitted
        self.register_buffer("clip_mean", torch.zeros(clip_dim))
        self.register_buffer("clip_whiten", torch.eye(clip_dim))
        self.register_buffer("token_mean", torch.zeros(text_dim))
        self.register_buffer("token_whiten", torch.eye(text_dim))
        with torch.no_grad():
            if clip_dim == text_dim:
                self.text_map.weight.copy_(torch.eye(clip_dim))
            self.text_map.bias.zero_()
            self.gate.weight.zero_()
            self.gate.bias.zero_()

    @torch.no_grad()
    def fit_whitening(self, clip_rows: torch.Tensor, token_rows: torch.Tensor) -> None:
        """ZCA whitening (shrunk toward the identity by ``config.whiten_shrink``) of L2-normalised
        clip rows and of query tokens, from training features."""
        for rows, mean, whiten in (
            (clip_rows, self.clip_mean, self.clip_whiten),
            (token_rows, self.token_mean, self.token_whiten),
        ):
            rows = F.normalize(rows.double(), dim=-1)
            mu = rows.mean(0)
            cov = (
                torch.cov((rows - mu).T) if len(rows) > 1 else torch.zeros(len(mu), len(mu), dtype=rows.dtype)
            )
            shrink = self.config.whiten_shrink
            scale = float(torch.trace(cov)) / len(mu) or 1.0
            cov = (1 - shrink) * cov + shrink * scale * torch.eye(len(mu), dtype=cov.dtype)
            values, vectors = torch.linalg.eigh(cov)
            inv_sqrt = vectors @ torch.diag(values.clamp_min(1e-12 * scale).rsqrt()) @ vectors.T
            mean.copy_(mu.float())
            whiten.copy_((inv_sqrt * scale**0.5).float())  # keeps the average variance

    def prepare_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """Clip features (..., clip_dim) as the model reads them: L2-normalised, then whitened."""
        return (F.normalize(clips, dim=-1) - self.clip_mean) @ self.clip_whiten

    def encode_query(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` (B, T, text_dim), ``mask`` (B, T) true on real tokens -> the tokens in clip space
        (B, T, clip_dim) and their log weights (B, T), -inf on padding."""
        tokens = (F.normalize(tokens, dim=-1) - self.token_mean) @ self.token_whiten
        logits = self.gate(tokens).squeeze(-1).masked_fill(~mask, float("-inf"))
        return self.text_map(tokens), torch.log_softmax(logits, dim=-1)

    def relevance(self, mapped: torch.Tensor, log_weights: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """Per-clip relevance (B, N, C) of B encoded queries in N videos of C clips each
        (``clips``: (N, C, clip_dim) from :meth:`prepare_clips`; padding is masked later)."""
        sims = torch.einsum("btd,ncd->bnct", mapped, clips)
        tau = self.config.token_temperature
        return -tau * torch.logsumexp(log_weights[:, None, None, :] - sims / tau, dim=-1)

    def video_scores(self, relevance: torch.Tensor, clip_mask: torch.Tensor) -> torch.Tensor:
        """(B, N) video scores from per-clip relevance (B, N, C); ``clip_mask`` (N, C) true on real clips."""
        masked = relevance.masked_fill(~clip_mask[None], float("-inf"))
        if self.config.pool == "max":
            return masked.amax(dim=-1)
        k = min(self.config.pool_k, masked.shape[-1])
        top = masked.topk(k, dim=-1).values
        counts = clip_mask.sum(-1).clamp(max=k)  # a video shorter than k averages what it has
        finite = torch.isfinite(top)
        return torch.where(finite, top, torch.zeros_like(top)).sum(-1) / counts[None].to(top.dtype)

    def forward(self, tokens, token_mask, clips, clip_mask):
        """Relevance and video scores of raw tokens in prepared clips."""
        mapped, log_weights = self.encode_query(tokens, token_mask)
        relevance = self.relevance(mapped, log_weights, clips)
        return relevance, self.video_scores(relevance, clip_mask)
