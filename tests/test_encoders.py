"""Encoder stage: loading CLIP/SigLIP through the real --visual-model path, MiniLM, the feature cache."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from momentfinder.encoders.hf import HFVisionTextEncoder, ImagePreprocessing, center_crop
from momentfinder.encoders.text import SentenceEncoder, bundled_minilm_path
from momentfinder.errors import ModelUnavailableError
from momentfinder.store.cache import FeatureCache, FeatureKey, file_hash
from momentfinder.types import ClipFeatures, Timeline


def frames(n: int, h: int = 32, w: int = 43, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("which", ["tiny_clip", "tiny_siglip"])
def test_vision_text_encoder_loads_a_local_directory(request, which):
    enc = HFVisionTextEncoder(request.getfixturevalue(which), device="cpu", precision="fp32", batch_size=4)
    assert enc.model_type == ("clip" if which == "tiny_clip" else "siglip")
    size = (32, 32) if which == "tiny_siglip" else 32
    assert enc.frame_size == size
    imgs = frames(10, *((32, 32) if which == "tiny_siglip" else (32, 43)))
    emb = enc.encode_images(imgs)
    assert emb.shape == (10, enc.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # batching does not change results
    np.testing.assert_allclose(emb[4:8], enc.encode_images(imgs[4:8]), atol=1e-5)
    texts = enc.encode_texts(["a man opens the door", "a dog runs"])
    assert texts.shape == (2, enc.dim)
    pooled, tokens = enc.encode_query("a man opens the door")
    np.testing.assert_allclose(pooled, texts[0], atol=1e-5)
    assert tokens.ndim == 2 and tokens.shape[1] == enc.dim and tokens.shape[0] >= 5


def test_reduced_precisions_keep_the_embeddings(tiny_clip):
    imgs = frames(8)
    ref = HFVisionTextEncoder(tiny_clip, device="cpu", precision="fp32").encode_images(imgs)
    for precision in ("bf16", "int8"):
        emb = HFVisionTextEncoder(tiny_clip, device="cpu", precision=precision).encode_images(imgs)
        cos = np.sum(ref * emb, axis=1)
        assert cos.min() > 0.98, (precision, cos.min())


def test_unloadable_models_fail_fast_with_one_clear_line(tmp_path):
    start = time.perf_counter()
    with pytest.raises(
        ModelUnavailableError, match="cannot load visual model 'openai/clip-vit-base-patch32'"
    ):
        HFVisionTextEncoder("openai/clip-vit-base-patch32")
    assert time.perf_counter() - start < 10
    with pytest.raises(ModelUnavailableError, match="no-such-org/no-such-model"):
        HFVisionTextEncoder("no-such-org/no-such-model")
    with pytest.raises(ModelUnavailableError, match="'bert' model"):
        HFVisionTextEncoder(bundled_minilm_path())
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match="cannot load visual model"):
        HFVisionTextEncoder(str(empty))


def test_preprocessing_follows_the_image_processor():
    class Clip:
        size = {"shortest_edge": 224}
        crop_size = {"height": 224, "width": 224}
        do_center_crop = True
        image_mean = [0.48, 0.45, 0.4]
        image_std = [0.26, 0.26, 0.27]

    class Siglip:
        size = {"height": 384, "width": 384}
        do_center_crop = False
        image_mean = image_std = [0.5, 0.5, 0.5]

    clip = ImagePreprocessing.from_image_processor(Clip)
    assert clip.frame_size == 224 and clip.crop == (224, 224)
    siglip = ImagePreprocessing.from_image_processor(Siglip)
    assert siglip.frame_size == (384, 384) and siglip.crop is None
    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    np.testing.assert_array_equal(center_crop(img, (4, 4)), img[1:5, 2:6])


def test_minilm_text_channel_ranks_paraphrases_first():
    enc = SentenceEncoder()
    assert enc.dim == 384
    lines = ["the weather is sunny today", "please pass me the salt", "my car broke down on the highway"]
    emb = enc.encode(lines)
    q = enc.encode(["it is a bright and sunny day"])[0]
    assert int(np.argmax(emb @ q)) == 0
    assert enc.encode([]).shape == (0, 384)


def test_feature_cache_round_trip_and_content_key(tmp_path):
    video = tmp_path / "v.bin"
    video.write_bytes(b"abc" * 1000)
    cache = FeatureCache(tmp_path / "cache")
    h = cache.content_hash(video)
    assert h == file_hash(video)
    sampling = {"clip_len": 2.0, "frames_per_clip": 1, "decode": "auto"}

    def key_for(model="openai/clip-vit-base-patch32", fingerprint="hub:clip@abc", **changes):
        return FeatureKey.make(h, model, fingerprint, {**sampling, **changes})

    key = key_for()
    assert cache.load(key) is None
    feats = ClipFeatures(
        np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32), Timeline(2.0, 9.5, 5), "m", "v"
    )
    cache.save(key, feats)
    loaded = cache.load(key)
    np.testing.assert_array_equal(loaded.features, feats.features)
    assert (loaded.clip_len, loaded.duration, loaded.model) == (2.0, 9.5, "m")
    # any other sampling setting, model or weights is another entry; the same content under a new
    # name is the same entry
    assert cache.load(key_for(clip_len=1.0)) is None
    assert cache.load(key_for(decode="nonref")) is None
    assert cache.load(key_for(frames_per_clip=2)) is None
    assert cache.load(key_for("google/siglip-base-patch16-224")) is None
    assert cache.load(key_for(fingerprint="hub:clip@def")) is None  # same name, other weights
    assert (
        cache.load(FeatureKey.make(h, "openai/clip-vit-base-patch32", "hub:clip@abc", sampling, "bf16"))
        is None
    )
    assert cache.load(key_for()) is not None
    copy = tmp_path / "renamed.bin"
    copy.write_bytes(video.read_bytes())
    assert cache.content_hash(copy) == h
    # a damaged entry is ignored, not fatal
    with open(cache.path_for(key), "wb") as f:
        f.write(b"garbage")
    assert cache.load(key) is None


def test_file_hash_is_remembered_across_processes_until_the_file_changes(tmp_path, monkeypatch):
    import momentfinder.store.cache as cache_module

    video = tmp_path / "v.bin"
    video.write_bytes(b"abc" * 1000)
    calls = []
    real = cache_module.file_hash
    monkeypatch.setattr(cache_module, "file_hash", lambda p: calls.append(p) or real(p))
    first = FeatureCache(tmp_path / "cache").content_hash(video)
    again = FeatureCache(tmp_path / "cache").content_hash(video)  # a new process: read from disk
    assert first == again == real(video) and len(calls) == 1
    video.write_bytes(b"abd" * 1000)  # same size, new content and mtime: hashed again
    os.utime(video, ns=(1, 10**18))
    changed = FeatureCache(tmp_path / "cache").content_hash(video)
    assert changed == real(video) != first and len(calls) == 2
    # a damaged memo is ignored; a read-only cache still hashes
    for memo in (tmp_path / "cache" / "hashes").iterdir():
        memo.write_text("{not json")
    assert FeatureCache(tmp_path / "cache").content_hash(video) == changed and len(calls) == 3
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "hashes").write_text("a file where the memo directory would go")  # unwritable, even as root
    assert FeatureCache(blocked).content_hash(video) == changed and len(calls) == 4
