"""The image tower as the exporter sees it: ``pixel_values -> pooled image features``.

A CLIP image tower pools by reading the class token after the last encoder layer, so that layer
only needs its output at the class token: keys and values still come from every token, but the
query, the attention output and the MLP run for one token instead of all (50 for ViT-B/32 at 224
pixels). :class:`ClassTokenLayer` computes exactly that, 7 % fewer FLOPs for ViT-B/32 (OpenVINO
bf16, one stream, batches of 8, both towers in one process: 45.5 instead of 48.7 CPU-ms per
frame; bench/ingest.py's encoder row went from 48.4 to 47.1). :func:`image_tower_module` uses
it only where it gives the same features as the model itself (checked on a random batch), so a
``transformers`` version that lays the layers out differently gets the whole tower instead.
SigLIP pools over every token (an attention head): its tower is exported whole.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

_CHECK_TOLERANCE = 1e-4  # of the features' largest magnitude (fp32: observed 3e-7)


class ClassTokenLayer(torch.nn.Module):
    """A CLIP encoder layer computed for the class token alone: ``(B, N, D) -> (B, 1, D)``."""

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        layer, attn = self.layer, self.layer.self_attn
        x = layer.layer_norm1(hidden_states)
        b, n, _ = x.shape
        heads, dim = attn.num_heads, attn.head_dim
        q = attn.q_proj(x[:, :1]).view(b, 1, heads, dim).transpose(1, 2)
        k = attn.k_proj(x).view(b, n, heads, dim).transpose(1, 2)
        v = attn.v_proj(x).view(b, n, heads, dim).transpose(1, 2)
        weights = torch.softmax((q @ k.transpose(-1, -2)) * attn.scale, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, 1, heads * dim)
        h = hidden_states[:, :1] + attn.out_proj(out)
        return h + layer.mlp(layer.layer_norm2(h))


class _Tower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model.get_image_features(pixel_values=pixel_values)
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def image_tower_module(net: torch.nn.Module, image_hw: tuple[int, int]) -> torch.nn.Module:
    """``pixel_values -> pooled image features`` of ``net`` (a ``transformers`` CLIP or SigLIP
    model, in eval mode) as a module: with :class:`ClassTokenLayer` as the last encoder layer of
    a CLIP tower when that gives the model's own features (``net`` is then modified), else the
    whole tower."""
    tower = _Tower(net).eval()
    layers = _clip_layers(net)
    if layers is None:
        return tower
    example = torch.randn(2, 3, *image_hw, generator=torch.Generator().manual_seed(0))
    last = layers[-1]
    with torch.no_grad():
        whole = tower(example)
        layers[-1] = ClassTokenLayer(last)
        try:
            pruned = tower(example)
            same = pruned.shape == whole.shape and bool(
                (pruned - whole).abs().max() <= _CHECK_TOLERANCE * whole.abs().max()
            )
        except (RuntimeError, TypeError, AttributeError, IndexError, ValueError) as err:
            log.debug("class-token last layer does not fit this model: %s", err)
            same = False
    if not same:
        layers[-1] = last
        log.info("exporting the whole image tower (the class-token last layer differs here)")
    return tower


def _clip_layers(net: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The encoder layers of a CLIP image tower, or None for a tower that pools otherwise."""
    if getattr(getattr(net, "config", None), "model_type", None) != "clip":
        return None
    encoder = getattr(getattr(net, "vision_model", None), "encoder", None)
    layers = getattr(encoder, "layers", None)
    return layers if isinstance(layers, torch.nn.ModuleList) and len(layers) else None
