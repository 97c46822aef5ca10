"""Building blocks of the detector; attention itself is ``torch.nn.MultiheadAttention``."""

from __future__ import annotations

import math

import torch
from torch import nn


def input_projection(in_dim: int, hidden_dim: int, n_layers: int, dropout: float) -> nn.Sequential:
    """Moment-DETR's input projection: ``n_layers`` of LayerNorm → Dropout → Linear (→ ReLU but the last)."""
    layers: list[nn.Module] = []
    for i in range(n_layers):
        dim = in_dim if i == 0 else hidden_dim
        layers += [nn.LayerNorm(dim), nn.Dropout(dropout), nn.Linear(dim, hidden_dim)]
        if i < n_layers - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """``n_layers`` linear layers with ReLU between them."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, n_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (n_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def relative_positions(mask: torch.Tensor) -> torch.Tensor:
    """Clip centres as a share of each video's length: ``mask (B, L)`` bool (True = clip) → ``(B, L)``."""
    n = mask.sum(1, keepdim=True).clamp(min=1).to(torch.float32)
    index = torch.arange(mask.shape[1], device=mask.device, dtype=torch.float32)[None]
    return (index + 0.5) / n


def sine_embedding(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's sine embedding of relative positions ``(B, L)`` in ``[0, 1]`` → ``(B, L, dim)``.

    Relative positions keep the model free of a maximum video length.
    """
    scaled = positions * 2 * math.pi
    freqs = temperature ** (2 * (torch.arange(dim // 2, device=positions.device, dtype=torch.float32)) / dim)
    angles = scaled[..., None] / freqs
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def temporal_endpoint_features(mask: torch.Tensor) -> torch.Tensor:
    """Moment-DETR's TEF: ``[i / n, (i + 1) / n]`` for clip ``i`` of an ``n``-clip video → ``(B, L, 2)``."""
    n = mask.sum(1, keepdim=True).clamp(min=1).to(torch.float32)
    index = torch.arange(mask.shape[1], device=mask.device, dtype=torch.float32)[None]
    tef = torch.stack([index / n, (index + 1) / n], dim=-1)
    return tef * mask[..., None]


class TextToVideoLayer(nn.Module):
    """QD-DETR's text-to-video layer: clips attend to the words (and dummy tokens), then a feed-forward.

    Returns the new clip states and the head-averaged attention ``(B, L_clips, L_words)``.
    """

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)
        self.feedforward = nn.Sequential(
            nn.Linear(dim, dim_feedforward), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim_feedforward, dim)
        )
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(
        self, clips: torch.Tensor, clip_pos: torch.Tensor, words: torch.Tensor, word_padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, weights = self.attention(clips + clip_pos, words, words, key_padding_mask=word_padding)
        clips = self.norm1(clips + self.dropout1(out))
        clips = self.norm2(clips + self.dropout2(self.feedforward(clips)))
        return clips, weights


class _DecoderLayer(nn.Module):
    """A DETR decoder layer: self-attention of the moment queries (their anchor embedding added to
    queries and keys), cross-attention to the clip memory (``build_cross`` and ``cross(x,
    query_pos, memory, memory_pos, memory_padding)``, which each subclass defines), feed-forward;
    each with dropout, a residual and a LayerNorm."""

    def __init__(self, dim: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attention = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)
        # the cross-attention's modules next, so that parameters are created (and drawn from the
        # seed) in the order they always were: checkpoints and optimiser states keep their layout
        self.build_cross(dim, nheads, dropout)
        self.feedforward = nn.Sequential(
            nn.Linear(dim, dim_feedforward), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim_feedforward, dim)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))
        self.dropouts = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))

    def forward(
        self,
        x: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        memory_padding: torch.Tensor,
    ) -> torch.Tensor:
        q = x + query_pos
        x = self.norms[0](x + self.dropouts[0](self.self_attention(q, q, x, need_weights=False)[0]))
        out = self.cross(x, query_pos, memory, memory_pos, memory_padding)
        x = self.norms[1](x + self.dropouts[1](out))
        return self.norms[2](x + self.dropouts[2](self.feedforward(x)))


class AnchorDecoderLayer(_DecoderLayer):
    """A DETR decoder layer whose queries carry a positional embedding of their anchor span (DAB-DETR).

    The anchor embedding is added to queries and keys of self-attention and to the queries of
    cross-attention (the clip memory's keys carry the clip positions), not to the content stream.
    """

    def build_cross(self, dim: int, nheads: int, dropout: float) -> None:
        self.cross_attention = nn.MultiheadAttention(dim, nheads, dropout=dropout, batch_first=True)

    def cross(self, x, query_pos, memory, memory_pos, memory_padding):
        return self.cross_attention(
            x + query_pos, memory + memory_pos, memory, key_padding_mask=memory_padding, need_weights=False
        )[0]


class ConditionalDecoderLayer(_DecoderLayer):
    """A decoder layer whose cross-attention keeps content and position apart (Conditional DETR,
    Meng et al., ICCV 2021).

    Each head's query is the concatenation of a content part (from the query's state) and a
    positional part (its anchor embedding, scaled per channel by a function of its state, the
    *conditional spatial query*); each key the concatenation of the clip memory's content and the
    clip's position. The attention logit is then content·content + position·position: where a
    moment query looks no longer has to be carried through the same vectors as what it looks for
    (in :class:`AnchorDecoderLayer` both are summed into one query and one key). Self-attention,
    feed-forward and norms are as there.
    """

    def build_cross(self, dim: int, nheads: int, dropout: float) -> None:
        self.nheads, self.dropout = nheads, dropout
        self.q_content, self.q_position = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.k_content, self.k_position = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.value, self.out = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.position_scale = MLP(dim, dim, dim, 2)  # the state -> per-channel scale of the anchor embedding

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.nheads, d // self.nheads).transpose(1, 2)  # (B, H, n, d / H)

    def cross(self, x, query_pos, memory, memory_pos, memory_padding):
        spatial = query_pos * self.position_scale(x)
        query = torch.cat([self._heads(self.q_content(x)), self._heads(self.q_position(spatial))], dim=-1)
        key = torch.cat(
            [self._heads(self.k_content(memory)), self._heads(self.k_position(memory_pos))], dim=-1
        )
        keep = ~memory_padding[:, None, None, :]  # (B, 1, 1, L): True = a clip to attend to
        out = nn.functional.scaled_dot_product_attention(
            query,
            key,
            self._heads(self.value(memory)),
            attn_mask=keep,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(out.transpose(1, 2).flatten(2))


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


def span_embedding(spans: torch.Tensor, dim: int) -> torch.Tensor:
    """Sine embedding of ``(…, 2)`` centre/width spans → ``(…, dim)`` (half for each coordinate)."""
    return torch.cat(
        [sine_embedding(spans[..., 0], dim // 2), sine_embedding(spans[..., 1], dim // 2)], dim=-1
    )


class SimilarityPrior(nn.Module):
    """Per-clip summary of clip-word similarities, as an extra clip embedding.

    Words are mapped into the clip feature space by a learned linear alignment that starts as the
    identity (onto the last ``txt_dim`` clip dimensions when the widths differ, where Moment-DETR
    layouts put CLIP), so the zero-shot cosine signal is there from the first step and the
    modality gap is learned away. Summary per clip: the two best word similarities and the mean.
    """

    def __init__(self, vid_dim: int, txt_dim: int, hidden_dim: int, scale: float = 10.0):
        super().__init__()
        self.align = nn.Linear(txt_dim, vid_dim, bias=False)
        with torch.no_grad():
            self.align.weight.zero_()
            n = min(vid_dim, txt_dim)
            self.align.weight[vid_dim - n :, :n] = torch.eye(n)
        self.embed = nn.Linear(3, hidden_dim)
        self.scale = scale

    def forward(self, vid: torch.Tensor, txt: torch.Tensor, txt_mask: torch.Tensor) -> torch.Tensor:
        clips = nn.functional.normalize(vid, dim=-1)
        words = nn.functional.normalize(self.align(txt), dim=-1)
        sim = torch.einsum("bld,btd->blt", clips, words)  # (B, L_v, L_t) cosine
        masked = sim.masked_fill(~txt_mask[:, None], -2.0)
        top = masked.topk(min(2, sim.shape[-1]), dim=-1).values
        if top.shape[-1] < 2:
            top = torch.cat([top, top], dim=-1)
        top = torch.where(top < -1.5, top[..., :1], top)  # one-word queries: repeat the best
        mean = (sim * txt_mask[:, None]).sum(-1) / txt_mask.sum(-1, keepdim=True).clamp(min=1)
        return self.embed(self.scale * torch.cat([top, mean[..., None]], dim=-1))
