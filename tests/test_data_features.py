"""FeatureDirectory on the Moment-DETR layout written by ../shared/bench/synth_qvh.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from momentfinder.data.readers import read_annotations
from momentfinder.errors import InputError
from momentfinder.store import FeatureDirectory

from .conftest import generate_synthetic


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synth"), seed=3, n_videos=40, dim=64)


def _first_sample(synth_dir: Path):
    return read_annotations(synth_dir / "val.jsonl")[0]


def test_reads_clip_and_query_features_unchanged(synth_dir):
    s = _first_sample(synth_dir)
    fd = FeatureDirectory(synth_dir)
    clips = fd.clip_features(s.vid, duration=s.duration)
    raw = np.load(synth_dir / "clip_features" / f"{s.vid}.npz")["features"]
    assert clips.features.shape == raw.shape and clips.features.dtype == np.float32
    np.testing.assert_array_equal(clips.features, raw)
    assert clips.duration == s.duration and clips.clip_len == 2.0 and clips.video_id == s.vid
    assert clips.n_clips * 2.0 == s.duration
    q = fd.query_features(s.qid, s.query)
    raw_q = np.load(synth_dir / "clip_text_features" / f"qid{s.qid}.npz")
    np.testing.assert_array_equal(q.pooled, raw_q["pooler_output"])
    np.testing.assert_array_equal(q.tokens, raw_q["last_hidden_state"])
    assert q.text == s.query
    assert fd.dim == 64


def test_duration_defaults_to_clip_count(synth_dir):
    s = _first_sample(synth_dir)
    clips = FeatureDirectory(synth_dir).clip_features(s.vid)
    assert clips.duration == clips.n_clips * 2.0


def test_concatenates_dirs_after_truncating_and_adds_tef(synth_dir, tmp_path):
    root = tmp_path / "feats"
    shutil.copytree(synth_dir / "clip_features", root / "clip_features")
    (root / "slowfast_features").mkdir()
    s = _first_sample(synth_dir)
    clip = np.load(root / "clip_features" / f"{s.vid}.npz")["features"]
    slow = np.arange((clip.shape[0] - 1) * 3, dtype=np.float32).reshape(-1, 3) + 1.0
    np.savez(root / "slowfast_features" / f"{s.vid}.npz", features=slow)
    fd = FeatureDirectory(
        root,
        ("slowfast_features", "clip_features"),
        text_feat_dir=None,
        temporal_endpoint=True,
        normalize=True,
    )
    got = fd.clip_features(s.vid).features
    n = clip.shape[0] - 1
    assert got.shape == (n, 3 + clip.shape[1] + 2)
    np.testing.assert_allclose(np.linalg.norm(got[:, :3], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        got[:, 3:-2], clip[:n] / np.linalg.norm(clip[:n], axis=1, keepdims=True), rtol=1e-5
    )
    np.testing.assert_allclose(got[:, -2], np.arange(n) / n, rtol=1e-6)
    np.testing.assert_allclose(got[:, -1], np.arange(n) / n + 1.0 / n, rtol=1e-6)
    assert fd.video_ids() == [s.vid]


def test_very_different_clip_counts_are_logged(tmp_path, caplog):
    root = tmp_path / "f"
    for d, n in (("clip_features", 75), ("slowfast_features", 30)):
        (root / d).mkdir(parents=True)
        np.savez(root / d / "v.npz", features=np.ones((n, 4), np.float32))
    clips = FeatureDirectory(root, ("clip_features", "slowfast_features"), None).clip_features("v")
    assert clips.n_clips == 30
    assert "clip counts differ (clip_features: 75, slowfast_features: 30); truncating to 30" in caplog.text


def test_missing_files_and_keys_are_named(synth_dir, tmp_path):
    fd = FeatureDirectory(synth_dir)
    with pytest.raises(InputError, match=r"feature file not found: .*clip_features/nope\.npz"):
        fd.clip_features("nope")
    with pytest.raises(InputError, match=r"qid999999\.npz"):
        fd.query_features(999999)
    with pytest.raises(InputError, match="feature sub-directory not found"):
        FeatureDirectory(synth_dir, ("slowfast_features",))
    bad = tmp_path / "bad"
    (bad / "clip_features").mkdir(parents=True)
    (bad / "clip_text_features").mkdir()
    np.savez(bad / "clip_features" / "v.npz", feats=np.zeros((3, 4)))
    with pytest.raises(InputError, match=r"v\.npz: missing key 'features' \(has: feats\)"):
        FeatureDirectory(bad).clip_features("v")
    np.savez(bad / "clip_text_features" / "qid1.npz", last_hidden_state=np.zeros((3, 4)))
    with pytest.raises(InputError, match=r"qid1\.npz: missing key\(s\) pooler_output"):
        FeatureDirectory(bad).query_features(1)


def test_mismatched_shapes_are_reported(tmp_path):
    root = tmp_path / "f"
    (root / "clip_features").mkdir(parents=True)
    (root / "clip_text_features").mkdir()
    np.savez(root / "clip_features" / "a.npz", features=np.ones((5, 8), np.float32))
    np.savez(root / "clip_features" / "b.npz", features=np.ones((5, 6), np.float32))
    np.savez(root / "clip_features" / "c.npz", features=np.ones(5, np.float32))
    np.savez(root / "clip_features" / "d.npz", features=np.full((2, 8), np.nan, np.float32))
    np.savez(
        root / "clip_text_features" / "qid1.npz", last_hidden_state=np.ones((3, 8)), pooler_output=np.ones(6)
    )
    (root / "clip_features" / "e.npz").write_bytes(b"not a zip")
    fd = FeatureDirectory(root)
    fd.clip_features("a")
    with pytest.raises(
        InputError, match=r"b\.npz: feature dim 6, but earlier files in clip_features/ have dim 8"
    ):
        fd.clip_features("b")
    with pytest.raises(InputError, match=r"c\.npz: features has shape \(5,\), expected \(n, dim\)"):
        fd.clip_features("c")
    with pytest.raises(InputError, match=r"d\.npz: features contains NaN"):
        fd.clip_features("d")
    with pytest.raises(InputError, match=r"e\.npz: unreadable feature file"):
        fd.clip_features("e")
    with pytest.raises(InputError, match=r"last_hidden_state has dim 8 but pooler_output has dim 6"):
        fd.query_features(1)


def test_check_lists_every_problem(synth_dir, tmp_path):
    samples = read_annotations(synth_dir / "val.jsonl") + read_annotations(synth_dir / "val_negative.jsonl")
    assert FeatureDirectory(synth_dir).check(samples) == []
    samples[0].vid = "gone"
    samples[1].qid = 123456
    problems = FeatureDirectory(synth_dir).check(samples)
    assert len(problems) == 2
    assert "gone.npz" in problems[0] and "qid123456.npz" in problems[1]


def test_clip_features_name_the_encoder_that_extract_recorded(tmp_path):
    """``momentfinder extract`` writes each video's encoder in videos.jsonl; released feature sets
    have none, and their clips are named by the feature folder."""
    (tmp_path / "clip_features").mkdir()
    for vid in ("a", "b"):
        np.savez(tmp_path / "clip_features" / f"{vid}.npz", features=np.ones((3, 4), np.float32))
    fd = FeatureDirectory(tmp_path, text_feat_dir=None)
    assert fd.clip_features("a").model == "clip_features"
    row = {"vid": "a", "path": "a.mp4", "duration": 6.0, "clip_len": 2.0, "n_clips": 3}
    (tmp_path / "videos.jsonl").write_text(
        json.dumps({**row, "model": "openai/clip-vit-base-patch32"}) + "\n"
    )
    fd = FeatureDirectory(tmp_path, text_feat_dir=None)
    assert fd.clip_features("a").model == "openai/clip-vit-base-patch32"
    assert fd.clip_features("b").model == "clip_features"  # not in the manifest
