"""The library's vector index: exact when small, faiss IVF-SQ8 past that, one checked file on disk."""

from __future__ import annotations

import os

import numpy as np
import pytest

from momentfinder.errors import InputError
from momentfinder.store.catalog import clip_vector_id
from momentfinder.store.vector_index import VectorIndex

DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clip-like vectors: videos of 50-300 clips around a topic, drifting along time; catalog ids."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((40, dim)))
    common = unit(rng.standard_normal(dim))
    vectors, ids, video = [], [], 0
    while sum(map(len, vectors)) < n:
        m = int(rng.integers(50, 300))
        base = topics[rng.integers(len(topics))] + 0.7 * unit(rng.standard_normal(dim))
        drift = np.cumsum(rng.standard_normal((m, dim)) * 0.15, axis=0)
        vectors.append(unit(common + base + drift + 0.3 * rng.standard_normal((m, dim))))
        ids.extend(clip_vector_id(video, i) for i in range(m))
        video += 1
    return np.array(ids[:n], np.int64), np.concatenate(vectors)[:n]


def brute(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = unit(q) @ vectors.T
    return ids[np.argsort(-s, axis=1, kind="stable")[:, :k]]


def test_tiny_index_is_exact_and_padded():
    ids, x = clustered(300)
    index = VectorIndex(DIM)
    index.add(ids, x)
    assert len(index) == 300 and index.exact
    q = np.random.default_rng(1).standard_normal((20, DIM)).astype(np.float32)
    got, scores = index.search(q, 10)
    assert got.dtype == np.int64 and scores.dtype == np.float32 and got.shape == scores.shape == (20, 10)
    np.testing.assert_array_equal(got, brute(x, ids, q, 10))
    np.testing.assert_allclose(scores, np.sort(unit(q) @ x.T, axis=1)[:, ::-1][:, :10], atol=1e-5)
    one, one_scores = index.search(q[0], 500)  # one query (dim,), more than there are
    assert one.shape == (1, 500)
    assert (one[0, 300:] == -1).all() and np.isneginf(one_scores[0, 300:]).all()
    assert set(one[0, :300].tolist()) == set(ids.tolist())
    assert (np.diff(one_scores[0, :300]) <= 0).all()


def test_empty_index_searches_to_padding():
    got, scores = VectorIndex(DIM).search(np.ones(DIM, np.float32), 3)
    assert (got == -1).all() and np.isneginf(scores).all()


def test_recall_on_clustered_vectors_and_overfetch(tmp_path):
    ids, x = clustered(20_000)
    index = VectorIndex(DIM, threads=1)
    for s in range(0, len(ids), 5000):
        index.add(ids[s : s + 5000], x[s : s + 5000])
    assert len(index) == 20_000 and not index.exact
    rng = np.random.default_rng(
        2
    )  # sentence-like queries: a shared offset (the modality gap) + a clip's gist
    gist = unit(x[rng.choice(len(x), 200, replace=False)] + unit(rng.standard_normal((200, DIM))))
    q = unit(0.75 * unit(rng.standard_normal(DIM)) + 0.6 * gist)
    truth = brute(x, ids, q, 10)
    got, scores = index.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.95, recall
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    wide, _ = index.search(q[:5], 1000)  # over-fetch for a filter: as many as asked, all distinct
    assert (wide >= 0).all() and all(len(set(r)) == 1000 for r in wide.tolist())
    # saved and loaded: the same answers
    index.save(tmp_path / "lib.vidx")
    again = VectorIndex.load(tmp_path / "lib.vidx", DIM)
    assert len(again) == 20_000 and not again.exact
    np.testing.assert_array_equal(again.search(q, 10)[0], got)
    np.testing.assert_array_equal(again.ids(), np.sort(ids))


def test_add_remove_save_load_round_trip(tmp_path):
    ids, x = clustered(2000)
    index = VectorIndex(DIM, exact_below=1000, threads=1)  # small threshold: the cells path, fast
    index.add(ids[:600], x[:600])
    assert index.exact
    index.add(ids[600:], x[600:])
    assert not index.exact and len(index) == 2000
    gone = ids[::3]
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0  # absent ids are ignored
    assert len(index) == 2000 - len(gone)
    assert not index.contains(gone).any() and ids[1] in index
    found, _ = index.search(x[:200], 50)  # the removed vectors themselves as queries
    assert not np.isin(found, gone).any()
    # replacing an id keeps one entry, with the new vector
    index.add(ids[1:2], x[5:6])
    assert len(index) == 2000 - len(gone)
    assert index.search(x[5], 2)[0][0].tolist() in ([ids[5], ids[1]], [ids[1], ids[5]])

    path = tmp_path / "sub" / "clips.vidx"
    index.save(path)
    assert [p for p in os.listdir(path.parent)] == ["clips.vidx"]  # no temporary file left
    loaded = VectorIndex.load(path, DIM)
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    found, _ = loaded.search(x[:200], 50)
    assert not np.isin(found, gone).any()
    loaded.add(gone[:5], x[::3][:5])  # a loaded index takes more
    assert loaded.contains(gone[:5]).all()

    small = VectorIndex(DIM)
    small.add(ids[:100], x[:100])
    small.remove(ids[:10])
    small.save(path)  # overwrites atomically
    back = VectorIndex.load(path, DIM)
    assert back.exact and len(back) == 90
    np.testing.assert_array_equal(back.search(x[:20], 5)[0], small.search(x[:20], 5)[0])
    assert not np.isin(back.search(x[:20], 90)[0], ids[:10]).any()


def test_shrunk_index_searches_exactly_again():
    ids, x = clustered(3000)
    index = VectorIndex(DIM, exact_below=2000, threads=1)
    index.add(ids, x)
    assert not index.exact and index.cells >= 16
    index.remove(ids[:1500])
    assert not index.exact  # above half of exact_below: still cells
    index.remove(ids[1500:2100])
    assert index.exact and len(index) == 900
    np.testing.assert_array_equal(index.ids(), ids[2100:])
    q = x[:30]  # exact over the decoded 8-bit vectors: the true top 10 up to ties within their error
    got = index.search(q, 10)[0]
    true = unit(q) @ x.T
    got_scores = np.take_along_axis(true, np.searchsorted(ids, got), 1)
    np.testing.assert_allclose(got_scores, np.sort(true[:, 2100:], axis=1)[:, ::-1][:, :10], atol=5e-3)


def test_cells_follow_the_growth():
    ids, x = clustered(9000)
    index = VectorIndex(DIM, exact_below=1000, threads=1)
    index.add(ids[:1000], x[:1000])
    first = index.cells
    for s in range(1000, 9000, 500):
        index.add(ids[s : s + 500], x[s : s + 500])
    assert index.cells > first and len(index) == 9000
    np.testing.assert_array_equal(index.ids(), ids)
    got = index.search(x[::300], 1)[0][:, 0]  # each vector finds itself, or a near-duplicate clip
    true = np.sum(x[::300] * x[np.searchsorted(ids, got)], axis=1)
    assert (true > 0.99).all() and np.mean(got == ids[::300]) >= 0.9
    cells = index.cells
    index.retrain()
    assert index.cells >= cells and len(index) == 9000
    np.testing.assert_array_equal(index.ids(), ids)


def test_bad_files_are_one_input_error(tmp_path):
    ids, x = clustered(1200)
    with pytest.raises(InputError, match="no vector index"):
        VectorIndex.load(tmp_path / "missing.vidx", DIM)
    foreign = tmp_path / "foreign.vidx"
    foreign.write_bytes(b"SQLite format 3\x00" + bytes(1000))
    with pytest.raises(InputError, match="not a momentfinder vector index"):
        VectorIndex.load(foreign, DIM)
    empty = tmp_path / "empty.vidx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="not a momentfinder vector index"):
        VectorIndex.load(empty, DIM)
    for exact_below in (10_000, 1000):  # an exact file and a cells file
        index = VectorIndex(DIM, exact_below=exact_below, threads=1)
        index.add(ids, x)
        good = tmp_path / f"good{exact_below}.vidx"
        index.save(good)
        data = good.read_bytes()
        flipped = bytearray(data)
        flipped[len(data) // 3] ^= 0xFF
        bad = tmp_path / "bad.vidx"
        bad.write_bytes(bytes(flipped))
        with pytest.raises(InputError, match="damaged"):
            VectorIndex.load(bad, DIM)
        bad.write_bytes(data[:1000] + data[-200:])  # the middle lost, the trailer kept
        with pytest.raises(InputError, match="damaged"):
            VectorIndex.load(bad, DIM)
        bad.write_bytes(data[: len(data) // 2])  # truncated
        with pytest.raises(InputError):
            VectorIndex.load(bad, DIM)
        with pytest.raises(InputError, match=f"{DIM}-d vectors, not 32-d"):
            VectorIndex.load(good, 32)
        for err in (pytest.raises(InputError),):
            with err as e:
                VectorIndex.load(bad, DIM)
            assert "\n" not in str(e.value)


def test_bad_input_is_refused():
    index = VectorIndex(DIM)
    with pytest.raises(InputError, match=f"dimension {DIM}"):
        index.add([1, 2], np.ones((2, 32), np.float32))
    with pytest.raises(InputError, match=f"dimension {DIM}"):
        index.search(np.ones(32, np.float32), 5)
    with pytest.raises(InputError, match="2 ids for 3 vectors"):
        index.add([1, 2], np.ones((3, DIM), np.float32))
    with pytest.raises(InputError, match=">= 0"):
        index.add([-1], np.ones((1, DIM), np.float32))
    with pytest.raises(InputError, match="duplicate"):
        index.add([4, 4], np.ones((2, DIM), np.float32))
    with pytest.raises(InputError, match="zero"):
        index.add([1], np.zeros((1, DIM), np.float32))
    with pytest.raises(InputError, match="NaN"):
        index.search(np.full(DIM, np.nan, np.float32), 5)
    with pytest.raises(InputError, match="positive"):
        index.search(np.ones(DIM, np.float32), 0)
    with pytest.raises(InputError, match="integers"):
        index.remove([1.5])
    with pytest.raises(InputError, match="positive"):
        VectorIndex(0)
    assert len(index) == 0
