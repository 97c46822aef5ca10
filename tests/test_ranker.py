"""The cross-video ranker (grounding/retrieval): its scoring, its training, its checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from momentfinder.errors import InputError, ModelUnavailableError
from momentfinder.grounding.detr.checkpoint import FeatureSpec
from momentfinder.grounding.retrieval import (
    CrossVideoRanker,
    Ranker,
    RankerConfig,
    RankerExample,
    load_ranker,
    save_ranker,
    train_ranker,
)
from momentfinder.grounding.retrieval.train import pad_tokens, pad_videos, score_all, video_recall
from momentfinder.types import QueryFeatures


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_a_clip_is_relevant_only_when_every_weighted_word_is_in_it():
    model = CrossVideoRanker(RankerConfig(pool="max"), 4, 4)  # identity map, equal token weights
    e = np.eye(4, dtype=np.float32)
    tokens, mask = pad_tokens([e[:2]])  # "subject" e0 and "action" e1
    both, subject_only, action_only = unit(e[0] + e[1]), e[0], e[1]
    clips, clip_mask = pad_videos([np.stack([both, subject_only, action_only])])
    relevance, video = model(tokens, mask, model.prepare_clips(clips), clip_mask)
    rel = relevance[0, 0].detach().numpy()
    assert rel[0] > 0.6 and rel[1] < 0.1 and rel[2] < 0.1  # a mean of the two words would give 0.5
    assert video[0, 0].item() == pytest.approx(rel[0])


def test_video_pooling_max_and_top_k_respect_the_clip_mask():
    relevance = torch.tensor([[[0.9, 0.1, 0.5, 5.0], [0.2, 0.4, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    top = CrossVideoRanker(RankerConfig(pool="max"), 2, 2).video_scores(relevance, mask)
    assert top.tolist()[0] == pytest.approx([0.9, 0.4])  # the padded 5.0 never counts
    mean2 = CrossVideoRanker(RankerConfig(pool="topk", pool_k=2), 2, 2).video_scores(relevance, mask)
    assert mean2.tolist()[0] == pytest.approx([0.7, 0.3])


def test_config_is_data_and_bad_settings_are_one_clear_error(tmp_path):
    path = tmp_path / "ranker.yaml"
    path.write_text("epochs: 3\npool: topk\n")
    cfg = RankerConfig.load(path)
    assert (cfg.epochs, cfg.pool) == (3, "topk") and RankerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="pool"):
        RankerConfig(pool="mean")
    with pytest.raises(InputError, match="unknown ranker setting"):
        RankerConfig.from_dict({"epoch": 3})
    with pytest.raises(InputError, match="positive"):
        RankerConfig(token_temperature=0)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="mapping"):
        RankerConfig.load(path)


def world(seed: int, n_videos: int, dim: int = 24, n_clips: int = 12):
    """A small latent world like the benchmark's: events are (subject, action); the query's video
    also holds the same subject doing another action and the same action by another subject;
    text and clips are seen through different projections (the modality gap). Also returns each
    video's events and each query's, so that a video showing the query's event unlabelled can be
    left out of its ranking."""
    fixed = np.random.default_rng(7)
    subjects, actions = unit(fixed.standard_normal((6, dim))), unit(fixed.standard_normal((6, dim)))
    fillers = unit(fixed.standard_normal((3, dim)))
    p_video = np.eye(dim) + 1.2 * fixed.standard_normal((dim, dim)) / np.sqrt(dim)
    p_text = np.eye(dim) + 1.2 * fixed.standard_normal((dim, dim)) / np.sqrt(dim)
    rng = np.random.default_rng(seed)
    videos, examples, events, queries = {}, [], [], []
    for v in range(n_videos):
        s, a = rng.integers(6), rng.integers(6)
        other_a, other_s = (a + 1 + rng.integers(5)) % 6, (s + 1 + rng.integers(5)) % 6
        x = 0.8 * rng.standard_normal((n_clips, dim)) / np.sqrt(dim)
        starts = rng.permutation(4)[:3] * 3
        placed = [(s, a), (s, other_a), (other_s, a)]
        events.append(set(placed))
        queries.append((s, a))
        for start, (es, ea) in zip(starts, placed, strict=True):
            x[start : start + 2] += subjects[es] + actions[ea]
        positive = np.zeros(n_clips, bool)
        positive[starts[0] : starts[0] + 2] = True
        words = np.stack([subjects[s], actions[a], fillers[rng.integers(3)]])
        videos[f"v{seed}_{v}"] = unit(x @ p_video.T).astype(np.float32)
        tokens = unit(words @ p_text.T).astype(np.float32)
        examples.append(RankerExample(f"v{seed}_{v}", tokens, positive))
    return videos, examples, events, queries


def test_training_learns_the_gap_and_the_conjunction_on_held_out_videos():
    videos, examples, _, _ = world(0, 160)
    test_videos, test_examples, events, queries = world(1, 40)
    cfg = RankerConfig(
        epochs=25, batch_size=16, negatives=32, hard_negatives=2, patience=0, lr=5e-3, pool_k=2
    )

    def recall(model):
        clips, clip_mask = pad_videos([test_videos[ex.video] for ex in test_examples])
        tokens, mask = pad_tokens([ex.tokens for ex in test_examples])
        scores = score_all(model, tokens, mask, model.prepare_clips(clips), clip_mask)
        for i, event in enumerate(queries):  # other videos that show the same event do not count
            scores[i, [j for j in range(len(events)) if j != i and event in events[j]]] = float("-inf")
        return video_recall(scores, torch.arange(len(test_examples)))["R@1"]

    untrained = recall(CrossVideoRanker(cfg, 24, 24))
    model, history = train_ranker(cfg, videos, examples, seed=0, progress=False)
    trained = recall(model)
    assert len(history.epochs) == 25 and history.train_seconds > 0
    assert history.epochs[-1]["loss_video"] < history.epochs[0]["loss_video"]
    assert trained >= 60.0 and trained >= untrained + 40.0, (untrained, trained)


def test_training_refuses_inputs_it_cannot_use():
    videos, examples, _, _ = world(0, 4)
    with pytest.raises(InputError, match="no training queries"):
        train_ranker(RankerConfig(epochs=1), videos, [], progress=False)
    bad = [RankerExample("missing", examples[0].tokens, examples[0].positive_clips)]
    with pytest.raises(InputError, match="features are missing"):
        train_ranker(RankerConfig(epochs=1), videos, bad, progress=False)
    short = [RankerExample(examples[0].video, examples[0].tokens, examples[0].positive_clips[:3])]
    with pytest.raises(InputError, match="clip labels"):
        train_ranker(RankerConfig(epochs=1), videos, short, progress=False)


def _spec(dim: int, model: str = "enc") -> FeatureSpec:
    return FeatureSpec(visual_model=model, visual_dim=dim, text_model="txt", text_dim=dim, clip_len=2.0)


def test_checkpoint_round_trip_and_damage(tmp_path):
    videos, examples, _, _ = world(0, 20)
    model, history = train_ranker(RankerConfig(epochs=2, batch_size=8), videos, examples, progress=False)
    path = tmp_path / "r.ckpt"
    save_ranker(path, Ranker(model, _spec(24)), history)
    loaded = load_ranker(path)
    q = QueryFeatures("q", unit(examples[0].tokens.mean(0)), tokens=examples[0].tokens)
    clips = [videos[ex.video] for ex in examples[:5]]
    before = Ranker(model, _spec(24)).video_scores(Ranker(model, _spec(24)).query(q), clips)
    after = loaded.video_scores(loaded.query(q), clips)
    np.testing.assert_allclose(before, after, rtol=1e-6)
    assert loaded.history["best_epoch"] == 1
    # the nearest-clip vector ranks clips as the pooled token scores do
    prepared = loaded.query(q)
    w = loaded.coarse_vector(prepared)
    pooled = (prepared.log_weights.exp()[..., None] * prepared.mapped).sum(1)[0]
    exact = (loaded.model.prepare_clips(torch.as_tensor(clips[0])) @ pooled).numpy()
    assert np.array_equal(np.argsort(clips[0] @ w), np.argsort(exact))

    data = bytearray(path.read_bytes())
    weights = torch.load(path, weights_only=True)["model"]["text_map.weight"].numpy().tobytes()
    data[data.find(weights[:64]) + 5] ^= 0xFF  # a changed byte inside the weights
    (tmp_path / "flipped.ckpt").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError):
        load_ranker(tmp_path / "flipped.ckpt")
    (tmp_path / "short.ckpt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelUnavailableError, match="not a readable checkpoint"):
        load_ranker(tmp_path / "short.ckpt")
    torch.save({"format": "momentfinder-detr/1"}, tmp_path / "detr.ckpt")
    with pytest.raises(ModelUnavailableError, match="not a momentfinder ranker checkpoint"):
        load_ranker(tmp_path / "detr.ckpt")
    with pytest.raises(InputError, match="not found"):
        load_ranker(tmp_path / "missing.ckpt")


def test_features_of_another_width_or_encoder_are_refused():
    ranker = Ranker(CrossVideoRanker(RankerConfig(), 24, 24), _spec(24, "enc-a"), source="r.ckpt")
    with pytest.raises(InputError, match="dim 24.*dim 16"):
        ranker.check(16)
    with pytest.raises(InputError, match="query features of dim 24"):
        ranker.query(QueryFeatures("q", unit(np.ones(8, np.float32)), tokens=np.ones((2, 8), np.float32)))
    with pytest.raises(InputError, match="enc-a.*enc-b"):
        ranker.check(24, 24, "enc-b")
    ranker.check(24, 24, "enc-a")
