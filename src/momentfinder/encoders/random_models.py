"""Random-weight CLIP and SigLIP models saved like hub checkpoints, for tests and speed benchmarks.

They load through the same ``--visual-model DIR`` path as a downloaded model. ``vit-b32`` has
the geometry (so the FLOPs) of ``openai/clip-vit-base-patch32``; ``tiny`` is 2 layers, 32 wide,
32-pixel images. The tokenizer is the bundled all-MiniLM-L6-v2 one (no download); weights are
drawn from ``seed``, so a geometry and a seed always give the same model.
"""

from __future__ import annotations

import os

GEOMETRIES = {
    "tiny": {
        "vision": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        "text": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
        ),
        "projection_dim": 16,
    },
    "vit-b32": {
        "vision": dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=224,
            patch_size=32,
        ),
        "text": dict(
            hidden_size=512,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=8,
            max_position_embeddings=77,
        ),
        "projection_dim": 512,
    },
}


def _tokenizer():
    from transformers import AutoTokenizer

    from .text import bundled_minilm_path

    return AutoTokenizer.from_pretrained(bundled_minilm_path())


def save_random_model(
    path: str | os.PathLike, family: str = "clip", geometry: str = "tiny", seed: int = 0
) -> str:
    """Write a random ``family`` (``clip`` | ``siglip``) model of ``geometry`` to ``path``; returns it."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )

    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {sorted(GEOMETRIES)}, got {geometry!r}")
    geo = GEOMETRIES[geometry]
    tok = _tokenizer()
    text = geo["text"] | {"vocab_size": tok.vocab_size, "pad_token_id": tok.pad_token_id}
    size = geo["vision"]["image_size"]
    torch.manual_seed(seed)
    path = os.fspath(path)
    if family == "clip":
        text |= {"eos_token_id": tok.sep_token_id, "bos_token_id": tok.cls_token_id}
        config = CLIPConfig(
            vision_config=geo["vision"], text_config=text, projection_dim=geo["projection_dim"]
        )
        CLIPModel(config).save_pretrained(path)
        processor = CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        )
    elif family == "siglip":
        SiglipModel(SiglipConfig(vision_config=geo["vision"], text_config=text)).save_pretrained(path)
        processor = SiglipImageProcessor(size={"height": size, "width": size})
    else:
        raise ValueError(f"family must be 'clip' or 'siglip', got {family!r}")
    tok.save_pretrained(path)
    processor.save_pretrained(path)
    return path
