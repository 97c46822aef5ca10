"""The pipeline layer: one truth for clip length, cache keys that cannot serve stale features,
``top_k`` reaching every grounder, channels as plug-ins. Each test here failed before the
pipeline issue (#10)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from momentfinder.channels import ChannelCurve, Media, Query
from momentfinder.cli import main
from momentfinder.data.submission import read_submission
from momentfinder.encoders.random_models import save_random_model
from momentfinder.errors import InputError
from momentfinder.pipeline import MomentFinder
from momentfinder.pipeline.batch import PredictRequest, predict_file
from momentfinder.store import MANIFEST, FeatureDirectory, FeatureDirectoryWriter
from momentfinder.types import ClipFeatures, QueryFeatures, Timeline

from .conftest import build_tiny_clip, generate_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("synth"), seed=5, n_videos=40, dim=32)


def test_predict_zero_shot_top_k_reaches_the_grounder(synth, tmp_path, capsys):
    out = tmp_path / "pred.jsonl"
    args = ["predict", "--features", str(synth), "--annotations", str(synth / "val.jsonl"), "--out", str(out)]
    assert main([*args, "--top-k", "2", "--no-reject"]) == 0
    rows = read_submission(out)
    assert rows and max(len(r["pred_relevant_windows"]) for r in rows) == 2
    assert main([*args, "--top-k", "1", "--grounder", "windows"]) == 0
    assert max(len(r["pred_relevant_windows"]) for r in read_submission(out)) == 1


def _manifest_copy(synth, root, clip_len: float):
    """``synth``'s features as if `momentfinder extract --clip-len CLIP_LEN` had written them."""
    shutil.copytree(synth / "clip_features", root / "clip_features")
    shutil.copytree(synth / "clip_text_features", root / "clip_text_features")
    with FeatureDirectoryWriter(root) as writer:
        for path in sorted((root / "clip_features").glob("*.npz")):
            feats = np.load(path)["features"]
            clips = ClipFeatures(feats, Timeline.of(len(feats), clip_len), "enc-a", path.stem)
            writer.add_video(clips, str(path), "enc-a")
    return root


def test_predict_reads_clip_length_from_the_manifest(synth, tmp_path, capsys):
    root = _manifest_copy(synth, tmp_path / "feats", clip_len=1.0)
    ann = tmp_path / "val.jsonl"
    # the annotation durations are the 2 s layout's: give them the 1 s layout's (half)
    rows = [json.loads(line) for line in (synth / "val.jsonl").read_text().splitlines() if line.strip()]
    ann.write_text(
        "".join(
            json.dumps(
                {
                    **r,
                    "duration": r["duration"] / 2,
                    "relevant_windows": [[a / 2, b / 2] for a, b in r["relevant_windows"]],
                }
            )
            + "\n"
            for r in rows
        )
    )
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--features", str(root), "--annotations", str(ann), "--out", str(out)]) == 0
    for r, pred in zip(rows, read_submission(out), strict=True):
        assert all(w[1] <= r["duration"] / 2 + 1e-6 for w in pred["pred_relevant_windows"])
    # a clip length that contradicts the manifest is an error, not times twice too large
    code = main(
        ["predict", "--features", str(root), "--annotations", str(ann), "--out", str(out), "--clip-len", "2"]
    )
    assert code == 2 and "contradicts" in capsys.readouterr().err
    assert FeatureDirectory(root).clip_features(rows[0]["vid"]).clip_len == 1.0
    assert FeatureDirectory(root, clip_len=1.0).clip_len == 1.0


def test_manifest_round_trip_and_rewrite(tmp_path):
    root = tmp_path / "feats"
    feats = np.eye(3, dtype=np.float32)
    with FeatureDirectoryWriter(root) as w:
        w.add_video(ClipFeatures(feats, Timeline.of(3, 2.0, 5.5), "m", "a"), "a.mp4", "m", "dir:123")
        w.add_query(0, QueryFeatures("q", feats[0], feats[:2]))
    with FeatureDirectoryWriter(root) as w:  # a re-extracted video replaces its row
        w.add_video(ClipFeatures(feats, Timeline.of(3, 2.0, 6.0), "m", "a"), "a.mp4", "m", "dir:456")
    lines = (root / MANIFEST).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["model_fingerprint"] == "dir:456"
    fd = FeatureDirectory(root)
    clips = fd.clip_features("a")
    assert (clips.duration, clips.clip_len, clips.model) == (6.0, 2.0, "m")
    assert fd.encoder == "m" and fd.query_features(0).tokens.shape == (2, 3)
    (root / MANIFEST).write_text('{"vid": "a", "clip_len": "x"}\n')
    with pytest.raises(InputError, match="malformed feature record"):
        FeatureDirectory(root)


def test_predict_request_errors(synth):
    with pytest.raises(InputError, match="top-k"):
        PredictRequest(str(synth), str(synth / "val.jsonl"), top_k=0)
    from momentfinder.pipeline.choices import GrounderSpec

    with pytest.raises(InputError, match="zero-shot"):
        PredictRequest(
            str(synth), str(synth / "val.jsonl"), grounder=GrounderSpec("windows"), calibrate_on=["x"]
        )
    with pytest.raises(InputError, match="unknown grounder"):
        GrounderSpec("nope")
    report = predict_file(PredictRequest(str(synth), str(synth / "val.jsonl"), top_k=3))
    assert report.results and all(len(r.moments) <= 3 for r in report.results)
    assert report.rejected == 0  # nothing rejects without a calibration made for these features


@pytest.fixture()
def model_dir(tmp_path):
    return build_tiny_clip(str(tmp_path / "model"))


def test_cache_key_follows_the_weights_and_the_sampling(colour_video, model_dir, tmp_path, monkeypatch):
    import momentfinder.pipeline.finder as finder_module

    extractions = []
    real = finder_module.VisualChannel.extract
    monkeypatch.setattr(
        finder_module.VisualChannel, "extract", lambda self, media: extractions.append(1) or real(self, media)
    )
    cache = str(tmp_path / "cache")

    def features(decode="auto"):
        finder = MomentFinder(model_dir, cache_dir=cache, progress=False, use_subtitles=False, decode=decode)
        return finder.extract(colour_video).visual.features

    first = features()
    assert len(extractions) == 1 and np.array_equal(features(), first) and len(extractions) == 1
    features("all")  # another decode mode: another entry, not the auto features served again
    assert len(extractions) == 2
    # other weights saved into the same folder: the cache must not serve the old features
    other = save_random_model(str(tmp_path / "other"), "clip", "tiny", seed=1)
    for name in os.listdir(other):
        shutil.copy(os.path.join(other, name), os.path.join(model_dir, name))
    replaced = features()
    assert len(extractions) == 3 and not np.allclose(replaced, first)


class _ConstantChannel:
    """A channel plugged in from outside: the pipeline must fuse it with no code of its own."""

    name = "constant"

    def extract(self, media: Media):
        return media.timeline.n_clips

    def relevance(self, features, query: Query, timeline: Timeline) -> ChannelCurve:
        values = np.zeros(timeline.n_clips)
        values[features // 2 :] = 1.0
        return ChannelCurve(self.name, values, 1.0)


def test_a_new_channel_is_one_object(colour_video, tmp_path):
    finder = MomentFinder(None, cache_dir=str(tmp_path / "c"), progress=False, use_subtitles=False)
    finder.channels.append(_ConstantChannel())
    feats = finder.extract(colour_video)
    assert feats.channels == ["constant"]
    result = finder.ground_features(feats, "anything", top_k=1)
    assert result.channels == ["constant"] and result.moments[0].start >= 14.0


def test_timeline_is_the_one_owner_of_clip_length():
    t = Timeline.covering(9.0, 2.0)
    assert (t.n_clips, t.clip_len, t.duration) == (5, 2.0, 9.0)
    np.testing.assert_array_equal(t.clip_bounds()[-1], [8.0, 9.0])
    with pytest.raises(ValueError, match="timeline has 4 clips"):
        ClipFeatures(np.zeros((5, 2), np.float32), Timeline(2.0, 9.0, 4))
    with pytest.raises(ValueError, match="positive"):
        Timeline(0.0, 9.0, 5)


def test_a_full_disk_loses_nothing_already_stored(tmp_path, monkeypatch):
    """A write that fails half-way (disk full) raises one clear error and leaves the earlier
    manifest and features as they were, with no temporary file behind."""
    import errno

    import momentfinder.atomic as atomic

    root = tmp_path / "feats"
    feats = np.eye(3, dtype=np.float32)
    with FeatureDirectoryWriter(root) as w:
        w.add_video(ClipFeatures(feats, Timeline.of(3, 2.0), "m", "a"), "a.mp4", "m")
    before = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(InputError, match="No space left on device"):
        with FeatureDirectoryWriter(root) as w:
            w.add_video(ClipFeatures(2 * feats, Timeline.of(3, 2.0), "m", "a"), "a.mp4", "m")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert FeatureDirectory(root, text_feat_dir=None).clip_features("a").features.tolist() == feats.tolist()


def test_visual_channel_confidence_reads_the_decoys_it_was_given():
    """Decoys given as features (research feature sets: other queries') are told from the query by
    their own texts, not the bundled sentences': a list of another length used to index the
    chance with the bundled sentences' mask (IndexError), and one of the same length, with the
    wrong flags. A decoy that shares a content word with the query does not count."""
    from momentfinder.channels.visual import SamplingConfig, VisualChannel

    from .test_vector_index import unit

    rng = np.random.default_rng(0)
    dim = 16
    clips = ClipFeatures(unit(rng.standard_normal((20, dim))), Timeline.of(20, 2.0), video_id="v")
    texts = ["a dog runs", "a cat sleeps", "a man opens the door"]
    decoys = [QueryFeatures(t, unit(rng.standard_normal(dim))) for t in texts]
    channel = VisualChannel(lambda: None, SamplingConfig(), progress=False, decoys=decoys)
    assert channel.unrelated_decoys("the man closes a door") == [True, True, False]
    query = Query("the man closes a door")
    query.encodings["visual"] = QueryFeatures(query.text, unit(rng.standard_normal(dim)))
    curve = channel.relevance(clips, query, clips.timeline)
    assert len(curve.chance) == 2  # the two unrelated decoys' best evidence in this video
    np.testing.assert_allclose(curve.chance, channel.chance(clips)[:2])
