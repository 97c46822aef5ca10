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


def save_random_vlm(path: str | os.PathLike, seed: int = 0) -> str:
    """Write a random tiny LLaVA (CLIP vision tower 2 layers 32 wide on 32-pixel images, Llama
    text model 2 layers 32 wide) with its processor and a plain chat template to ``path``, loadable
    as an image-text-to-text model directory; its answers are random text."""
    import torch
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = _tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    vision = GEOMETRIES["tiny"]["vision"] | {"model_type": "clip_vision_model"}
    text = {
        "model_type": "llama",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": len(tok),
        "max_position_embeddings": 4096,
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.cls_token_id,
        "eos_token_id": tok.sep_token_id,
    }
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    path = os.fspath(path)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    size = vision["image_size"]
    template = (
        "{% for message in messages %}{{ message['role'] }}: {% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}<image>{% else %}{{ part['text'] }}{% endif %}{% endfor %}\n"
        "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    )
    LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        ),
        tokenizer=tok,
        patch_size=vision["patch_size"],
        vision_feature_select_strategy="default",
        chat_template=template,
        num_additional_image_tokens=1,
    ).save_pretrained(path)
    return path
