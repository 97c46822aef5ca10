"""The library catalog's contract, run against every backend (SQLite file, PostgreSQL + pgvector).

Each test uses a catalog the way the library does: through :func:`open_catalog` and the methods of
:class:`~momentfinder.store.catalog.Catalog`, never a backend's tables. The PostgreSQL server comes
from the ``pg_server`` fixture (conftest.py: pgserver, or ``$MOMENTFINDER_TEST_PG_URL``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from momentfinder.errors import InputError
from momentfinder.store.catalog import (
    SCHEMA_VERSION,
    Catalog,
    FoundMoment,
    LibraryInfo,
    VideoFilter,
    VideoRow,
    open_catalog,
)
from momentfinder.types import SubtitleSegment

SRC = str(Path(__file__).resolve().parents[1] / "src")
CHILD_ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
DIM = 16
INFO = LibraryInfo(
    model="tiny-clip",
    model_fingerprint="f00d",
    dim=DIM,
    clip_len=2.0,
    sampling={"clip_len": 2.0, "frames_per_clip": 1, "decode": "seek"},
    text_model="all-MiniLM-L6-v2",
)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def location(backend, request, tmp_path) -> str:
    """Where a new library lives: a file path (sqlite) or a fresh database's URL (postgres)."""
    if backend == "sqlite":
        pytest.importorskip("momentfinder.store.catalog_sqlite")
        return str(tmp_path / "library.db")
    return request.getfixturevalue("pg_database")


@pytest.fixture
def catalog(location):
    cat = open_catalog(location)
    yield cat
    cat.close()


def unit_rows(seed: int, n: int, dim: int = DIM) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add(cat: Catalog, path: str, n: int, seed: int, duration: float | None = None, lines=None, embs=None):
    """Add an indexed video of ``n`` clips with features from ``seed``; returns (id, features)."""
    feats = unit_rows(seed, n)
    row = VideoRow(
        path, f"hash-{seed}", 1000 + n, 10**18 + seed, n * 2.0 if duration is None else duration, n
    )
    return cat.add_video(row, feats, lines, embs), feats


def cosine_top(features: dict[int, np.ndarray], query: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """Brute force: the k best (video_id, clip_index, cosine) over every stored clip."""
    q = query / np.linalg.norm(query)
    scored = [
        (vid, i, float(f[i] @ q / np.linalg.norm(f[i]))) for vid, f in features.items() for i in range(len(f))
    ]
    return sorted(scored, key=lambda t: -t[2])[:k]


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# -- info ----------------------------------------------------------------------------------------
def test_a_new_library_is_empty_and_its_info_round_trips(location):
    cat = open_catalog(location)
    assert isinstance(cat, Catalog)
    assert cat.info() is None
    assert cat.videos() == []
    cat.set_info(INFO)
    assert cat.info() == INFO
    assert cat.search_clips(unit_rows(0, 1)[0], 5) == []
    assert cat.search_lines("anything", 5) == []
    cat.close()
    again = open_catalog(location, create=False)
    assert again.info() == INFO
    assert again.verify() == []
    again.close()


# -- videos --------------------------------------------------------------------------------------
def test_add_video_and_read_everything_back(catalog):
    catalog.set_info(INFO)
    lines = [
        SubtitleSegment(1.5, 3.0, "the weather is sunny today"),
        SubtitleSegment(4.0, 6.5, "ok — ça va?"),
    ]
    embs = unit_rows(99, 2, dim=8)
    row = VideoRow(
        "/videos/a.mp4", "hash-a", 12345, 1_700_000_000_123_456_789, 9.5, 5, unreadable=[[2.0, 3.5]]
    )
    feats = unit_rows(1, 5)
    video_id = catalog.add_video(row, feats, lines, embs)
    assert isinstance(video_id, int)

    got = catalog.video_by_path("/videos/a.mp4")
    assert got is not None and got.id == video_id
    assert (got.path, got.content_hash, got.size, got.mtime_ns) == (
        "/videos/a.mp4",
        "hash-a",
        12345,
        row.mtime_ns,
    )
    assert (got.duration, got.n_clips, got.status, got.error) == (9.5, 5, "ok", "")
    assert got.unreadable == [[2.0, 3.5]]
    assert catalog.video_by_path("/videos/other.mp4") is None
    assert [r.id for r in catalog.videos_by_hash("hash-a")] == [video_id]
    assert catalog.videos_by_hash("nope") == []
    assert [r.path for r in catalog.videos()] == ["/videos/a.mp4"]

    stored = catalog.features(video_id)
    assert stored.dtype == np.float32 and stored.shape == (5, DIM)
    np.testing.assert_array_equal(stored, feats)  # bit for bit
    got_lines, got_embs = catalog.lines(video_id)
    assert got_lines == lines
    np.testing.assert_array_equal(got_embs, embs)
    assert catalog.verify() == []


def test_lines_without_embeddings_and_videos_without_lines(catalog):
    catalog.set_info(INFO)
    a, _ = add(catalog, "/v/a.mp4", 3, 1, lines=[SubtitleSegment(0.0, 1.0, "hello there")])
    b, _ = add(catalog, "/v/b.mp4", 3, 2)
    lines, embs = catalog.lines(a)
    assert lines == [SubtitleSegment(0.0, 1.0, "hello there")] and embs is None
    assert catalog.lines(b) == ([], None)


def test_adding_a_path_again_replaces_the_video(catalog):
    catalog.set_info(INFO)
    old_id, old = add(catalog, "/v/a.mp4", 6, 1, lines=[SubtitleSegment(0, 1, "zebra crossing")])
    new_id, new = add(catalog, "/v/a.mp4", 3, 2, lines=[SubtitleSegment(0, 1, "giraffe neck")])
    rows = catalog.videos()
    assert [r.id for r in rows] == [new_id]
    assert rows[0].content_hash == "hash-2" and rows[0].n_clips == 3
    np.testing.assert_array_equal(catalog.features(new_id), new)
    assert catalog.videos_by_hash("hash-1") == []
    hits = catalog.search_clips(old[5], 50)
    assert {(h.video_id, h.clip_index) for h in hits} == {(new_id, i) for i in range(3)}
    assert catalog.search_lines("zebra", 5) == []
    assert [h.text for h in catalog.search_lines("giraffe", 5)] == ["giraffe neck"]
    assert catalog.verify() == []


def test_a_moved_video_keeps_its_features(catalog):
    catalog.set_info(INFO)
    video_id, feats = add(catalog, "/old/a.mp4", 4, 1, lines=[SubtitleSegment(0, 2, "moving day")])
    catalog.move_video(video_id, "/new/place/a.mp4", 777, 42)
    assert catalog.video_by_path("/old/a.mp4") is None
    moved = catalog.video_by_path("/new/place/a.mp4")
    assert (moved.id, moved.size, moved.mtime_ns, moved.content_hash) == (video_id, 777, 42, "hash-1")
    np.testing.assert_array_equal(catalog.features(video_id), feats)
    assert catalog.lines(video_id)[0] == [SubtitleSegment(0, 2, "moving day")]
    assert catalog.search_clips(feats[2], 1)[0].video_id == video_id
    assert catalog.verify() == []


def test_a_removed_video_never_comes_back_from_search(catalog):
    catalog.set_info(INFO)
    keep, keep_feats = add(catalog, "/v/keep.mp4", 5, 1, lines=[SubtitleSegment(0, 1, "kept words")])
    gone, gone_feats = add(catalog, "/v/gone.mp4", 5, 2, lines=[SubtitleSegment(0, 1, "removed words")])
    catalog.remove_video(gone)
    assert catalog.video_by_path("/v/gone.mp4") is None
    assert [r.id for r in catalog.videos()] == [keep]
    for q in gone_feats:
        hits = catalog.search_clips(q, 20)
        assert hits and all(h.video_id == keep for h in hits)
    assert [h.video_id for h in catalog.search_lines("words", 10)] == [keep]
    catalog.remove_video(gone)  # removing twice is harmless
    assert catalog.verify() == []


def test_a_failed_video_is_recorded_but_never_searched(catalog):
    catalog.set_info(INFO)
    ok, feats = add(catalog, "/v/ok.mp4", 4, 1)
    row = VideoRow("/v/broken.mp4", "hash-broken", 10, 11, status="failed", error="no video stream")
    failed = catalog.add_video(row, None)
    got = catalog.video_by_path("/v/broken.mp4")
    assert (got.id, got.status, got.error, got.n_clips) == (failed, "failed", "no video stream", 0)
    assert [r.path for r in catalog.videos(status="failed")] == ["/v/broken.mp4"]
    assert [r.path for r in catalog.videos(status="ok")] == ["/v/ok.mp4"]
    with pytest.raises(InputError):
        catalog.features(failed)
    assert all(h.video_id == ok for h in catalog.search_clips(feats[0], 50))
    assert catalog.verify() == []
    # indexed later (the file was fixed): the same path becomes an ok video
    fixed, fixed_feats = add(catalog, "/v/broken.mp4", 2, 7)
    assert catalog.video_by_path("/v/broken.mp4").status == "ok"
    assert catalog.search_clips(fixed_feats[1], 1)[0].video_id == fixed


# -- search --------------------------------------------------------------------------------------
def test_search_clips_finds_the_stored_clip_and_ranks_like_brute_force(catalog):
    catalog.set_info(INFO)
    stored = {}
    for v in range(6):
        video_id, feats = add(catalog, f"/v/{v}.mp4", 10, 100 + v)
        stored[video_id] = feats
    for video_id, feats in stored.items():
        for i in (0, 7):
            hits = catalog.search_clips(feats[i], 5)
            assert (hits[0].video_id, hits[0].clip_index) == (video_id, i)
            assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    query = unit_rows(7, 1)[0]
    hits = catalog.search_clips(query, 10)
    assert len(hits) == 10
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    truth = cosine_top(stored, query, 10)
    assert [(h.video_id, h.clip_index) for h in hits] == [(v, i) for v, i, _ in truth]
    np.testing.assert_allclose(scores, [s for _, _, s in truth], atol=1e-5)
    assert len(catalog.search_clips(query, 1000)) == 60  # k beyond the library: all of it
    assert catalog.search_clips(query, 0) == []


def test_filters_on_path_and_duration(catalog):
    catalog.set_info(INFO)
    a, fa = add(
        catalog, "/lib/news/a.mp4", 6, 1, duration=30.0, lines=[SubtitleSegment(0, 1, "budget talks")]
    )
    b, fb = add(
        catalog, "/lib/news/b.mkv", 6, 2, duration=600.0, lines=[SubtitleSegment(0, 1, "budget cuts")]
    )
    c, fc = add(
        catalog, "/lib/films/c.mp4", 6, 3, duration=7200.0, lines=[SubtitleSegment(0, 1, "budget film")]
    )
    paths = lambda where: [r.path for r in catalog.videos(where=where)]  # noqa: E731
    assert paths(VideoFilter(path_glob="*/news/*")) == ["/lib/news/a.mp4", "/lib/news/b.mkv"]
    assert paths(VideoFilter(path_glob="*.mp4")) == ["/lib/films/c.mp4", "/lib/news/a.mp4"]
    assert paths(VideoFilter(path_glob="/lib/news/?.mp4")) == ["/lib/news/a.mp4"]
    assert paths(VideoFilter(path_glob="/lib/[!n]*")) == ["/lib/films/c.mp4"]
    assert paths(VideoFilter(min_duration=100)) == ["/lib/films/c.mp4", "/lib/news/b.mkv"]
    assert paths(VideoFilter(max_duration=600)) == ["/lib/news/a.mp4", "/lib/news/b.mkv"]
    assert paths(VideoFilter(path_glob="*.mp4", max_duration=1000)) == ["/lib/news/a.mp4"]
    assert paths(VideoFilter(path_glob="*.avi")) == []
    assert paths(VideoFilter()) == paths(None)

    # a query equal to a clip of c, searched among the news only: k hits, all from the news
    hits = catalog.search_clips(fc[0], 8, VideoFilter(path_glob="*/news/*"))
    assert len(hits) == 8 and {h.video_id for h in hits} <= {a, b}
    truth = cosine_top({a: fa, b: fb}, fc[0], 8)
    assert [(h.video_id, h.clip_index) for h in hits] == [(v, i) for v, i, _ in truth]
    hits = catalog.search_clips(fc[0], 50, VideoFilter(min_duration=100, max_duration=1000))
    assert len(hits) == 6 and {h.video_id for h in hits} == {b}
    assert catalog.search_clips(fc[0], 5, VideoFilter(path_glob="*.avi")) == []

    assert {h.video_id for h in catalog.search_lines("budget", 10, VideoFilter(min_duration=100))} == {b, c}
    assert [h.video_id for h in catalog.search_lines("budget", 10, VideoFilter(path_glob="*.mkv"))] == [b]


def test_search_lines_finds_a_line_by_a_word(catalog):
    catalog.set_info(INFO)
    a, _ = add(
        catalog,
        "/v/a.mp4",
        4,
        1,
        lines=[
            SubtitleSegment(0.0, 2.0, "Good morning everyone."),
            SubtitleSegment(2.0, 5.0, "It started raining, so we went back inside."),
        ],
    )
    b, _ = add(
        catalog, "/v/b.mp4", 4, 2, lines=[SubtitleSegment(10.0, 12.5, "The weather was lovely; no rain.")]
    )
    hits = catalog.search_lines("raining", 5)
    assert [(h.video_id, h.start, h.end, h.text) for h in hits] == [
        (a, 2.0, 5.0, "It started raining, so we went back inside.")
    ]
    assert [h.video_id for h in catalog.search_lines("WEATHER", 5)] == [b]  # case does not matter
    both = catalog.search_lines("lovely weather", 5)
    assert both[0].text == "The weather was lovely; no rain."
    assert [h.rank for h in both] == sorted((h.rank for h in both), reverse=True)
    assert catalog.search_lines("hippopotamus", 5) == []
    assert catalog.search_lines("   ", 5) == []
    assert catalog.search_lines("?!", 5) == []
    assert len(catalog.search_lines("morning rain raining weather", 1)) == 1


def test_search_lines_takes_any_text(catalog):
    catalog.set_info(INFO)
    a, _ = add(
        catalog, "/v/a.mp4", 2, 1, lines=[SubtitleSegment(0, 1, "It's 5 o'clock at example.com — café")]
    )
    for text in [
        "it's",
        "C:\\path\\x",
        "a & b | !c <-> d",
        "'",
        "\\",
        '"quoted"',
        "NEAR(a b)",
        "x\x00y",
        "🎬 *",
        "-",
    ]:
        assert isinstance(catalog.search_lines(text, 3), list)
    assert [h.video_id for h in catalog.search_lines("café", 3)] == [a]


def test_paths_of_any_alphabet_round_trip(catalog):
    catalog.set_info(INFO)
    paths = ["/v/Über café/ça va?.mp4", "/v/日本語 [1] *.mkv", "/v/it's 100% \\ done.mp4"]
    ids = [add(catalog, p, 2, i)[0] for i, p in enumerate(paths)]
    for video_id, path in zip(ids, paths, strict=True):
        assert catalog.video_by_path(path).id == video_id
    assert [r.path for r in catalog.videos(where=VideoFilter(path_glob="*[[]1]*"))] == [paths[1]]
    assert [r.path for r in catalog.videos(where=VideoFilter(path_glob="*100% *"))] == [paths[2]]


# -- health and refusals -------------------------------------------------------------------------
def test_verify_is_empty_on_a_healthy_library(catalog):
    catalog.set_info(INFO)
    ids = [add(catalog, f"/v/{i}.mp4", 3 + i, i)[0] for i in range(5)]
    catalog.add_video(VideoRow("/v/bad.mp4", "h", 1, 1, status="failed", error="unreadable"), None)
    catalog.remove_video(ids[1])
    add(catalog, "/v/3.mp4", 2, 33)  # replaced
    catalog.move_video(ids[4], "/v/four.mp4", 1, 2)
    assert catalog.verify() == []


def test_a_foreign_database_is_refused(backend, location):
    if backend == "sqlite":
        with sqlite3.connect(location) as db:
            db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    else:
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("CREATE TABLE invoices (id integer PRIMARY KEY, amount real)")
    with pytest.raises(InputError) as excinfo:
        open_catalog(location)
    assert "not a momentfinder library" in one_line_error(excinfo)


def test_features_of_the_wrong_width_are_refused(catalog):
    catalog.set_info(INFO)
    with pytest.raises(InputError):
        catalog.add_video(VideoRow("/v/a.mp4", "h", 1, 1, 4.0, 2), unit_rows(1, 2, dim=DIM + 1))
    assert catalog.videos() == []


# -- several writers -----------------------------------------------------------------------------
_WRITER = """
import os, sys, time
import numpy as np
from momentfinder.store.catalog import VideoRow, open_catalog
location, prefix, first, count, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cat = open_catalog(location)
print("ready", flush=True)
deadline = time.time() + 60
while not os.path.exists(barrier) and time.time() < deadline:
    time.sleep(0.01)
for seed in range(first, first + count):
    x = np.random.default_rng(seed).standard_normal((20, {dim})).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cat.add_video(VideoRow(f"{{prefix}}/{{seed}}.mp4", f"hash-{{seed}}", 1, seed, 40.0, 20), x)
cat.close()
"""


def test_two_processes_adding_videos_at_once_both_land(catalog, location, tmp_path):
    catalog.set_info(INFO)
    barrier = tmp_path / "go"
    code = _WRITER.format(dim=DIM)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, location, prefix, str(first), "12", str(barrier)],
            env=CHILD_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for prefix, first in (("/one", 1000), ("/two", 2000))
    ]
    for proc in procs:  # both connected: start them together
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read().decode()
    barrier.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    rows = catalog.videos()
    assert len(rows) == 24
    for row in rows:
        seed = int(Path(row.path).stem)
        np.testing.assert_array_equal(catalog.features(row.id), unit_rows(seed, 20))
    assert catalog.verify() == []


def test_two_processes_replacing_one_path_leave_one_whole_video(catalog, location, tmp_path):
    catalog.set_info(INFO)
    barrier = tmp_path / "go"
    # both write "/same/<seed>.mp4" for the same seeds: every path is replaced by the other writer
    code = _WRITER.format(dim=DIM)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, location, "/same", "1", "8", str(barrier)],
            env=CHILD_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:  # both connected: start them together
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read().decode()
    barrier.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    rows = catalog.videos()
    assert sorted(r.path for r in rows) == sorted(f"/same/{s}.mp4" for s in range(1, 9))
    for row in rows:
        np.testing.assert_array_equal(catalog.features(row.id), unit_rows(int(Path(row.path).stem), 20))
    assert catalog.verify() == []


_KILLED = """
import sys
import numpy as np
from momentfinder.store.catalog import VideoRow, open_catalog
from momentfinder.types import SubtitleSegment
cat = open_catalog(sys.argv[1])
small = np.ones((3, {dim}), dtype=np.float32)
cat.add_video(VideoRow("/v/before.mp4", "hash-before", 1, 1, 6.0, 3), small)
n = {n}
big = np.random.default_rng(5).standard_normal((n, {dim})).astype(np.float32)
lines = [SubtitleSegment(i * 2.0, i * 2.0 + 1.0, f"line number {{i}} of the big video") for i in range(n)]
print("writing", flush=True)
cat.add_video(VideoRow("/v/big.mp4", "hash-big", 1, 1, n * 2.0, n), big, lines)
print("done", flush=True)
"""


def _wait_until_mid_transaction(backend: str, location: str, proc: subprocess.Popen) -> bool:
    """True once the writer's big transaction is known to have written rows (PostgreSQL: the
    server gave its transaction an id); SQLite shows no such sign, so a short pause stands in."""
    if backend != "postgres":
        time.sleep(0.3)
        return False
    import psycopg

    deadline = time.time() + 60
    with psycopg.connect(location, autocommit=True) as conn:
        while time.time() < deadline and proc.poll() is None:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mf-killed-writer' "
                "AND datname = current_database() AND backend_xid IS NOT NULL"
            ).fetchone()
            if row[0]:
                time.sleep(0.2)  # well inside: rows of clips are being written
                return True
            time.sleep(0.02)
    return False


def test_a_writer_killed_mid_transaction_leaves_no_partial_video(backend, location, catalog):
    catalog.set_info(INFO)
    n = 20000
    url = location + ("&" if "?" in location else "?") + "application_name=mf-killed-writer"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED.format(dim=DIM, n=n), url if backend == "postgres" else location],
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().strip() == b"writing", proc.stderr.read().decode()
        mid = _wait_until_mid_transaction(backend, location, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    if backend == "postgres":
        assert mid, "the writer finished before it could be killed mid-transaction"

    cat = open_catalog(location)
    try:
        assert cat.video_by_path("/v/before.mp4").n_clips == 3
        big = cat.video_by_path("/v/big.mp4")
        if mid:
            assert big is None
        if big is None:
            before = cat.video_by_path("/v/before.mp4").id
            assert cat.search_lines("number", 5) == []
            assert {h.video_id for h in cat.search_clips(np.ones(DIM, np.float32), 50)} == {before}
        else:  # SQLite may have committed before the kill: then the video is whole
            assert len(cat.features(big.id)) == n and len(cat.lines(big.id)[0]) == n
        assert cat.verify() == []
        assert len(cat.videos()) in (1, 2)
        # the path is free to be written again, once, whole
        video_id, feats = add(cat, "/v/big.mp4", 7, 8)
        np.testing.assert_array_equal(cat.features(video_id), feats)
        assert len(cat.videos()) == 2 and cat.verify() == []
    finally:
        cat.close()


# -- moments found by `watch` ----------------------------------------------------------------------
def found(query: str, start: float, score: float = 0.5, source: str = "rtsp://cam/1") -> FoundMoment:
    return FoundMoment(source, query, start, start + 4.0, score, 1_790_000_000.25 + start)


def test_found_moments_round_trip_and_are_searched_by_their_query_words(catalog):
    assert catalog.count_found_moments() == 0
    assert catalog.found_moments("door", 5) == []
    a = catalog.add_found_moment(found("a man opens the door", 10.0, 0.9))
    b = catalog.add_found_moment(found("a dog runs on the beach", 20.0, 0.7, "/videos/beach.mp4"))
    c = catalog.add_found_moment(found("the door closes behind the dog", 30.0, 0.6))
    assert len({a, b, c}) == 3
    assert catalog.count_found_moments() == 3
    (hit,) = catalog.found_moments("beach", 5)
    assert (hit.id, hit.source, hit.query) == (b, "/videos/beach.mp4", "a dog runs on the beach")
    assert (hit.start, hit.end, hit.score) == (20.0, 24.0, 0.7)
    assert hit.found_at == pytest.approx(1_790_000_020.25, abs=1e-3)
    # any word; the query holding more of them ranks first
    hits = catalog.found_moments("door dog", 5)
    assert {h.id for h in hits} == {a, b, c}
    assert hits[0].id == c and hits[0].rank > hits[-1].rank
    assert [h.id for h in catalog.found_moments("door dog", 1)] == [c]
    assert {h.id for h in catalog.found_moments("DOOR!", 5)} == {a, c}  # case and punctuation
    assert catalog.found_moments("helicopter", 5) == []
    assert catalog.found_moments("  ", 5) == [] and catalog.found_moments("door", 0) == []


def test_found_moments_stay_apart_from_videos_and_survive_reopening(catalog, location):
    catalog.set_info(INFO)
    vid, _ = add(catalog, "/v/a.mp4", 3, 1, lines=[SubtitleSegment(0.0, 1.0, "the door")])
    catalog.add_found_moment(found("the red door", 2.0))
    catalog.close()
    again = open_catalog(location, create=False)
    try:
        assert again.count_found_moments() == 1
        assert [h.query for h in again.found_moments("door", 3)] == ["the red door"]
        assert [h.video_id for h in again.search_lines("door", 3)] == [vid]  # the lines are untouched
        assert again.verify() == []
    finally:
        again.close()


def downgrade_to_version_1(backend: str, location: str) -> None:
    """Make a library what version 1 of the schema was: no found-moments tables, version 1."""
    if backend == "sqlite":
        with sqlite3.connect(location) as db:
            for name in ("found_ai", "found_ad"):
                db.execute(f"DROP TRIGGER {name}")
            db.execute("DROP TABLE found_fts")
            db.execute("DROP TABLE found_moments")
            db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    else:
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("DROP TABLE momentfinder.found_moments")
            conn.execute("UPDATE momentfinder.meta SET schema_version = 1")


def schema_version(backend: str, location: str) -> int:
    if backend == "sqlite":
        with sqlite3.connect(location) as db:
            return int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    import psycopg

    with psycopg.connect(location, autocommit=True) as conn:
        return conn.execute("SELECT schema_version FROM momentfinder.meta").fetchone()[0]


def test_a_version_1_library_gains_found_moments_and_keeps_its_videos(backend, location):
    cat = open_catalog(location)
    cat.set_info(INFO)
    vid, feats = add(cat, "/v/old.mp4", 4, 7, lines=[SubtitleSegment(0.0, 2.0, "hello there")])
    cat.close()
    downgrade_to_version_1(backend, location)
    assert schema_version(backend, location) == 1
    cat = open_catalog(location, create=False)
    try:
        assert schema_version(backend, location) == SCHEMA_VERSION == 2
        assert cat.info() == INFO
        assert [r.path for r in cat.videos()] == ["/v/old.mp4"]
        np.testing.assert_allclose(cat.features(vid), feats, atol=1e-6)
        assert [line.text for line in cat.lines(vid)[0]] == ["hello there"]
        assert cat.search_clips(feats[2], 1)[0].clip_index == 2
        assert cat.count_found_moments() == 0
        cat.add_found_moment(found("a man opens the door", 10.0))
        assert [h.query for h in cat.found_moments("door", 2)] == ["a man opens the door"]
        assert cat.verify() == []
    finally:
        cat.close()
    again = open_catalog(location, create=False)  # migrated once: opening again changes nothing
    try:
        assert again.count_found_moments() == 1 and len(again.videos()) == 1
    finally:
        again.close()


def test_a_library_of_a_newer_schema_is_refused(backend, location):
    open_catalog(location).close()
    if backend == "sqlite":
        with sqlite3.connect(location) as db:
            db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    else:
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("UPDATE momentfinder.meta SET schema_version = 3")
    with pytest.raises(InputError) as excinfo:
        open_catalog(location)
    assert "schema version 3" in one_line_error(excinfo)
