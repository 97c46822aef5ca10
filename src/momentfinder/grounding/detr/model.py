"""The moment detector: one implementation of Moment-DETR, QD-DETR and CG-DETR-style variants.

Input: clip features ``(B, L_v, D_v)`` and query-token features ``(B, L_t, D_t)`` with boolean
masks (True = real token). Output spans are normalised ``(centre, width)`` in ``[0, 1]`` of the
clip sequence, so no maximum video length is built in.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig
from .layers import (
    MLP,
    AnchorDecoderLayer,
    ConditionalDecoderLayer,
    SimilarityPrior,
    TextToVideoLayer,
    input_projection,
    inverse_sigmoid,
    relative_positions,
    sine_embedding,
    span_embedding,
    temporal_endpoint_features,
)


class MomentDetr(nn.Module):
    """DETR-style moment detector with saliency and "query happens" heads.

    Pipeline: project clips (+TEF) and words to ``hidden_dim``; prepend a learnable global token
    to the clips; optionally (``t2v_layers > 0``) let clips attend to words and dummy tokens
    (query-dependent video); encode (clips alone, or clips + words when ``t2v_layers == 0``);
    decode ``num_queries`` learnable moment queries against the clip memory; each query carries an
    anchor span that every decoder layer refines (DAB-DETR, as in QD-DETR). With
    ``decoder: conditional`` the cross-attention keeps the anchor's position apart from the
    query's content (Conditional DETR, :class:`.layers.ConditionalDecoderLayer`).
    """

    def __init__(self, cfg: ModelConfig, vid_dim: int, txt_dim: int):
        super().__init__()
        self.cfg, self.vid_dim, self.txt_dim = cfg, vid_dim, txt_dim
        d = cfg.hidden_dim
        self.vid_proj = input_projection(vid_dim + 2 * cfg.use_tef, d, cfg.n_input_proj, cfg.input_dropout)
        self.txt_proj = input_projection(txt_dim, d, cfg.n_input_proj, cfg.input_dropout)
        self.similarity = SimilarityPrior(vid_dim, txt_dim, d) if cfg.similarity_prior else None
        self.global_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.dummies = nn.Parameter(torch.randn(1, cfg.num_dummies, d) * 0.02) if cfg.t2v_layers else None
        self.t2v = nn.ModuleList(
            TextToVideoLayer(d, cfg.nheads, cfg.dim_feedforward, cfg.dropout) for _ in range(cfg.t2v_layers)
        )
        enc = nn.TransformerEncoderLayer(d, cfg.nheads, cfg.dim_feedforward, cfg.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, cfg.enc_layers, enable_nested_tensor=False)
        layer = ConditionalDecoderLayer if cfg.decoder == "conditional" else AnchorDecoderLayer
        self.decoder = nn.ModuleList(
            layer(d, cfg.nheads, cfg.dim_feedforward, cfg.dropout) for _ in range(cfg.dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(d)
        # learnable anchor spans (centre, width), spread over the video; each layer refines them
        centres = (torch.arange(cfg.num_queries) + 0.5) / cfg.num_queries
        widths = torch.linspace(0.05, 0.4, cfg.num_queries)[torch.randperm(cfg.num_queries)]
        self.anchors = nn.Parameter(inverse_sigmoid(torch.stack([centres, widths], dim=1)))
        self.query_content = nn.Parameter(torch.zeros(1, cfg.num_queries, d))
        self.query_pos = MLP(d, d, d, 2)
        self.class_head = nn.Linear(d, 2)  # [foreground, background]
        self.span_head = MLP(d, d, 2, 3)  # refinement of the anchor, in logit space
        nn.init.zeros_(self.span_head.layers[-1].weight)
        nn.init.zeros_(self.span_head.layers[-1].bias)
        self.saliency_clip = nn.Linear(d, d)
        self.saliency_global = nn.Linear(d, d)
        self.match_head = nn.Linear(d, 1)

    def forward(
        self, vid: torch.Tensor, vid_mask: torch.Tensor, txt: torch.Tensor, txt_mask: torch.Tensor
    ) -> dict:
        """Returns ``pred_logits (B, Q, 2)``, ``pred_spans (B, Q, 2)`` cxw, ``aux`` (earlier decoder
        layers), ``saliency (B, L_v)``, ``match_logit (B,)`` and ``word_share (B, L_v)`` (attention
        mass on words rather than dummies; None without dummies)."""
        cfg = self.cfg
        B, Lv = vid_mask.shape
        raw = vid
        if cfg.use_tef:
            vid = torch.cat([vid, temporal_endpoint_features(vid_mask)], dim=-1)
        clips = self.vid_proj(vid)
        if self.similarity is not None:
            clips = clips + self.similarity(raw, txt, txt_mask)
        words = self.txt_proj(txt)
        pos = sine_embedding(relative_positions(vid_mask), cfg.hidden_dim)
        pos = torch.cat([pos.new_zeros(B, 1, cfg.hidden_dim), pos], dim=1)
        seq = torch.cat([self.global_token.expand(B, -1, -1), clips], dim=1)
        seq_mask = torch.cat([vid_mask.new_ones(B, 1), vid_mask], dim=1)
        word_share = None
        if cfg.t2v_layers:
            keys, key_mask = words, txt_mask
            if cfg.num_dummies:
                keys = torch.cat([self.dummies.expand(B, -1, -1), words], dim=1)
                key_mask = torch.cat([txt_mask.new_ones(B, cfg.num_dummies), txt_mask], dim=1)
            for layer in self.t2v:
                seq, weights = layer(seq, pos, keys, ~key_mask)
            if cfg.num_dummies:
                word_share = weights[:, 1:, cfg.num_dummies :].sum(-1)
            memory = self.encoder(seq + pos, src_key_padding_mask=~seq_mask)
        else:
            full = torch.cat([seq + pos, words], dim=1)
            full_mask = torch.cat([seq_mask, txt_mask], dim=1)
            memory = self.encoder(full, src_key_padding_mask=~full_mask)[:, : Lv + 1]
        glob, clip_memory = memory[:, 0], memory[:, 1:]
        saliency = (self.saliency_clip(clip_memory) * self.saliency_global(glob)[:, None]).sum(-1)
        saliency = saliency / math.sqrt(cfg.hidden_dim)

        x = self.query_content.expand(B, -1, -1)
        reference = self.anchors.sigmoid()[None].expand(B, -1, -1)
        layers_out = []
        for layer in self.decoder:
            query_pos = self.query_pos(span_embedding(reference, cfg.hidden_dim))
            x = layer(x, query_pos, clip_memory, pos[:, 1:], ~vid_mask)
            h = self.decoder_norm(x)
            spans = (inverse_sigmoid(reference) + self.span_head(h)).sigmoid()
            layers_out.append({"pred_logits": self.class_head(h), "pred_spans": spans})
            reference = spans.detach()
        out = dict(layers_out[-1])
        out.update(
            aux=layers_out[:-1],
            saliency=saliency.masked_fill(~vid_mask, 0.0),
            match_logit=self.match_head(glob).squeeze(-1),
            word_share=word_share,
        )
        return out
