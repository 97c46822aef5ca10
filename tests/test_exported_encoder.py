"""The image tower exported to ONNX and run by OpenVINO / ONNX Runtime (encoders/exported.py):
the same features as torch, exported once per model, a damaged export made again, and torch
whenever exporting or loading fails."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from momentfinder.encoders import exported
from momentfinder.encoders.fingerprint import model_fingerprint
from momentfinder.encoders.hf import HFVisionTextEncoder


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (32, 43, 3), dtype=np.uint8) for _ in range(5)]


def encoder(model: str, export_dir, runtime="auto", precision="fp32") -> HFVisionTextEncoder:
    return HFVisionTextEncoder(
        model, device="cpu", precision=precision, runtime=runtime, export_dir=str(export_dir), batch_size=2
    )


@pytest.fixture(scope="module")
def exports(tiny_clip, tmp_path_factory) -> str:
    """One export dir for the tests that only read it (an export is a child process: seconds)."""
    export_dir = tmp_path_factory.mktemp("cache") / "exported"  # where a finder keeps them
    encoder(tiny_clip, export_dir, precision="bf16")  # the ONNX file and the fp16 OpenVINO IR
    return str(export_dir)


def export_folder(export_dir) -> str:
    (name,) = [n for n in os.listdir(export_dir) if not n.startswith(".")]
    return os.path.join(export_dir, name)


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_exported_tower_gives_the_torch_features(
    family, runtime, tiny_clip, tiny_siglip, images, exports, tmp_path_factory
):
    model = tiny_clip if family == "clip" else tiny_siglip
    export_dir = exports if family == "clip" else tmp_path_factory.getbasetemp() / "siglip-exports"
    if family == "siglip":  # resized to exactly its 32x32 by the video stage
        images = [img[:, :32] for img in images]
    ref = HFVisionTextEncoder(model, device="cpu", precision="fp32", runtime="torch")
    enc = encoder(model, export_dir, runtime)
    assert enc.runtime == runtime and ref.runtime == "torch"
    cos = np.sum(enc.encode_images(images) * ref.encode_images(images), axis=1)
    assert cos.min() > 0.9999
    # the text tower stays in torch (the image weights are freed)
    np.testing.assert_allclose(enc.encode_texts(["a red car"]), ref.encode_texts(["a red car"]), atol=1e-6)
    assert enc._net.vision_model is None


def test_openvino_bf16_is_close_to_fp32(tiny_clip, images, exports):
    ref = HFVisionTextEncoder(tiny_clip, device="cpu", precision="fp32", runtime="torch")
    enc = encoder(tiny_clip, exports, "auto", precision="bf16")
    assert (enc.runtime, enc.precision) == ("openvino", "bf16")
    key = exported.export_key(model_fingerprint(tiny_clip), (32, 32))
    files = json.load(open(os.path.join(exports, key, "manifest.json")))["files"]
    assert set(files) == {"image_tower.onnx", "image_tower_fp16.xml", "image_tower_fp16.bin"}
    assert np.sum(enc.encode_images(images) * ref.encode_images(images), axis=1).min() > 0.999


def test_exported_once_then_loaded_from_the_cache(tiny_clip, images, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="momentfinder.encoders.exported"):
        first = encoder(tiny_clip, tmp_path).encode_images(images)
    assert "exporting the image tower" in caplog.text
    folder = export_folder(tmp_path)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert set(manifest["files"]) == {"image_tower.onnx"}
    stamp = os.stat(os.path.join(folder, "image_tower.onnx")).st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="momentfinder.encoders.exported"):
        again = encoder(tiny_clip, tmp_path).encode_images(images)
    assert "exporting" not in caplog.text
    assert os.stat(os.path.join(folder, "image_tower.onnx")).st_mtime_ns == stamp
    np.testing.assert_array_equal(first, again)


def test_other_weights_get_their_own_export(tiny_clip, exports, tmp_path):
    import shutil

    other = shutil.copytree(tiny_clip, tmp_path / "other")
    os.utime(other / "config.json", ns=(1, 1))  # another fingerprint
    before = set(os.listdir(exports))
    encoder(str(other), exports)
    assert len(set(os.listdir(exports)) - before) >= 1


@pytest.mark.parametrize("damage", ["flipped", "bad_manifest"])
def test_damaged_export_is_made_again(damage, tiny_clip, images, exports, tmp_path, caplog):
    import shutil

    ref = encoder(tiny_clip, exports).encode_images(images)
    from momentfinder.encoders.fingerprint import model_fingerprint

    key = exported.export_key(model_fingerprint(tiny_clip), (32, 32))
    folder = shutil.copytree(os.path.join(exports, key), tmp_path / key)
    onnx = os.path.join(folder, "image_tower.onnx")
    data = bytearray(open(onnx, "rb").read())
    if damage == "flipped":
        data[len(data) // 2] ^= 0xFF
        open(onnx, "wb").write(bytes(data))
    else:
        open(os.path.join(folder, "manifest.json"), "w").write("{not json")
    with caplog.at_level(logging.WARNING):
        enc = encoder(tiny_clip, tmp_path)
    assert "damaged or incomplete: exporting it again" in caplog.text
    assert enc.runtime == "openvino"
    np.testing.assert_allclose(enc.encode_images(images), ref, atol=1e-6)


def test_export_failure_falls_back_to_torch(tiny_clip, images, tmp_path, monkeypatch, caplog):
    def broken(model, image_hw, folder, openvino_ir):
        raise exported.ExportFailed("ONNX export failed: exporter cannot trace this model")

    monkeypatch.setattr(exported, "_export_in_child", broken)
    with caplog.at_level(logging.WARNING):
        enc = encoder(tiny_clip, tmp_path)
    assert enc.runtime == "torch"
    assert "image tower runs in torch: ONNX export failed: exporter cannot trace this model" in caplog.text
    ref = HFVisionTextEncoder(tiny_clip, device="cpu", precision="fp32", runtime="torch")
    np.testing.assert_allclose(enc.encode_images(images), ref.encode_images(images), atol=1e-6)
    assert enc.encode_texts(["a dog"]).shape == (1, 16)  # the torch image tower was kept


def test_a_failing_export_process_is_an_export_failure(tmp_path):
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(exported.ExportFailed, match="ONNX export failed"):
        exported.exported_tower(str(tmp_path / "not-a-model"), "dir:x", (32, 32), str(tmp_path / "exports"))
    folder = export_folder(tmp_path / "exports")
    assert not os.listdir(folder)  # nothing half-written left behind


def test_unwritable_export_dir_and_broken_runtime_fall_back(tiny_clip, images, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING):
        assert encoder(tiny_clip, blocker / "exports").runtime == "torch"
    assert "cannot write the exported model" in caplog.text

    def cannot_load(*args):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(exported, "_openvino", cannot_load)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        enc = encoder(tiny_clip, tmp_path / "ok")
    assert enc.runtime == "torch" and "openvino cannot load" in caplog.text
    assert enc.encode_images(images).shape == (5, 16)


def test_runtime_choice(monkeypatch):
    assert exported.available_runtime("torch", "fp32") == "torch"
    assert exported.available_runtime("auto", "bf16") == "openvino"
    with pytest.raises(exported.ExportFailed, match="onnxruntime runs bf16"):
        exported.available_runtime("onnxruntime", "bf16")
    with pytest.raises(ValueError, match="runtime must be one of"):
        exported.available_runtime("tensorrt", "fp32")
    monkeypatch.setattr(exported, "_importable", lambda name: name == "onnxruntime")
    assert exported.available_runtime("auto", "fp32") == "onnxruntime"
    assert exported.available_runtime("auto", "bf16") == "torch"
    with pytest.raises(exported.ExportFailed, match="openvino is not installed"):
        exported.available_runtime("openvino", "fp32")


def test_int8_and_no_export_dir_stay_in_torch(tiny_clip):
    assert HFVisionTextEncoder(tiny_clip, device="cpu", precision="int8").runtime == "torch"
    assert HFVisionTextEncoder(tiny_clip, device="cpu", precision="fp32").runtime == "torch"


def test_finder_uses_the_cache_dir_and_keys_features_by_runtime(tiny_clip, colour_video, exports):
    from momentfinder.pipeline.finder import FinderConfig, MomentFinder

    tmp_path = os.path.dirname(exports)
    cfg = FinderConfig(visual_model=tiny_clip, precision="fp32", cache_dir=str(tmp_path), progress=False)
    finder = MomentFinder(config=cfg)
    feats = finder.extract(colour_video)
    assert finder.visual_encoder().runtime == "openvino"
    assert os.path.isdir(os.path.join(tmp_path, "exported"))
    key = finder.features.visual_key(colour_video, finder.visual_encoder())
    assert key.precision == "fp32+openvino"
    torch_cfg = FinderConfig(
        visual_model=tiny_clip, precision="fp32", cache_dir=str(tmp_path), runtime="torch", progress=False
    )
    torch_feats = MomentFinder(config=torch_cfg).extract(colour_video)
    a, b = feats.channel_features["visual"].features, torch_feats.channel_features["visual"].features
    assert np.sum(a * b, axis=1).min() > 0.9999


def test_openvino_streams_encode_at_once_with_the_same_features(tiny_clip, images, exports):
    """With two threads OpenVINO runs two single-threaded streams: one caller splits a batch over
    both, and ``image_encoders()`` gives one function per stream that threads may call at once."""
    import threading

    one = HFVisionTextEncoder(
        tiny_clip, device="cpu", precision="fp32", runtime="openvino", export_dir=exports, threads=1
    )
    two = HFVisionTextEncoder(
        tiny_clip, device="cpu", precision="fp32", runtime="openvino", export_dir=exports, threads=2
    )
    assert len(one.image_encoders()) == 1 and len(two.image_encoders()) == 2
    ref = one.encode_images(images)
    np.testing.assert_allclose(two.encode_images(images), ref, atol=1e-5)  # split over the streams
    results: dict[int, np.ndarray] = {}

    def encode(k: int, fn) -> None:
        for _ in range(5):
            results[k] = fn(images[k:] + images[:k])

    threads = [threading.Thread(target=encode, args=(k, fn)) for k, fn in enumerate(two.image_encoders())]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        np.testing.assert_allclose(results[k], np.roll(ref, -k, axis=0), atol=1e-5)


def test_extraction_with_several_encoding_threads_keeps_clip_order(tiny_clip, colour_video, exports):
    from momentfinder.channels.visual import SamplingConfig, extract_visual_features
    from momentfinder.video.decode import probe

    duration = probe(colour_video).duration
    sampling = SamplingConfig(clip_len=0.5)
    one = HFVisionTextEncoder(
        tiny_clip, device="cpu", precision="fp32", runtime="openvino", export_dir=exports, threads=1
    )
    two = HFVisionTextEncoder(
        tiny_clip, device="cpu", precision="fp32", runtime="openvino", export_dir=exports, threads=2
    )
    ref = extract_visual_features(colour_video, one, duration, sampling, progress=False)
    got = extract_visual_features(colour_video, two, duration, sampling, progress=False)
    assert ref.n_clips > 8  # several batches of 8, so both threads encode
    np.testing.assert_allclose(got.features, ref.features, atol=1e-5)


def test_a_failing_encoding_thread_fails_the_extraction(tiny_clip, colour_video, exports, monkeypatch):
    from momentfinder.channels.visual import SamplingConfig, extract_visual_features
    from momentfinder.video.decode import probe

    two = HFVisionTextEncoder(
        tiny_clip, device="cpu", precision="fp32", runtime="openvino", export_dir=exports, threads=2
    )
    good, _ = two.image_encoders()

    def broken(images):
        raise RuntimeError("stream failed")

    monkeypatch.setattr(two, "image_encoders", lambda: [good, broken])
    with pytest.raises(RuntimeError, match="stream failed"):
        extract_visual_features(
            colour_video, two, probe(colour_video).duration, SamplingConfig(clip_len=0.5), progress=False
        )
