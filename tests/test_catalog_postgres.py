"""What only the PostgreSQL library has: a server to reach, a schema in someone's database, the
HNSW index with filters, and path globs run as server-side regular expressions."""

from __future__ import annotations

import fnmatch
import random

import numpy as np
import psycopg
import pytest

from momentfinder.errors import InputError
from momentfinder.store.catalog import LibraryInfo, VideoFilter, VideoRow, open_catalog
from momentfinder.store.catalog_postgres import HNSW_INDEX, PostgresCatalog, glob_to_regex, redact

from .pg_server import with_database
from .test_catalog_contract import INFO, add, cosine_top, one_line_error


def sql(url: str, statement: str, args=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchall() if cur.description else []


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{password}@{host}"


# -- reaching the server -------------------------------------------------------------------------
def test_an_unreachable_server_is_one_line_naming_the_url_without_its_password():
    for url in (
        "postgresql://alice:s3cret-pw@127.0.0.1:1/library",
        "postgresql://alice@127.0.0.1:1/library?password=s3cret-pw&connect_timeout=3",
    ):
        with pytest.raises(InputError) as excinfo:
            open_catalog(url)
        message = one_line_error(excinfo)
        assert "s3cret-pw" not in message
        assert "alice@127.0.0.1:1/library" in message
        assert "cannot use the PostgreSQL server" in message


def test_redact_keeps_everything_but_the_password():
    assert redact("postgresql://u:p@h:5432/db?sslmode=require") == "postgresql://u@h:5432/db?sslmode=require"
    assert redact("postgres://h/db") == "postgres://h/db"
    assert "secret" not in redact("postgresql://u@h/db?password=secret")


def test_a_missing_database_is_one_line(pg_database):
    url = with_database(pg_database, "no_such_db_here")
    with pytest.raises(InputError) as excinfo:
        open_catalog(url)
    assert "no_such_db_here" in one_line_error(excinfo)


def test_the_location_hides_the_password(pg_database):
    url = with_password(pg_database, "hunter2")  # the test server trusts local connections
    cat = open_catalog(url)
    try:
        assert isinstance(cat, PostgresCatalog)
        assert "hunter2" not in cat.location and cat.location.startswith("postgresql://postgres@")
    finally:
        cat.close()


def test_postgres_scheme_and_create_false(pg_database):
    url = pg_database.replace("postgresql://", "postgres://", 1)
    with pytest.raises(InputError) as excinfo:
        open_catalog(url, create=False)
    assert "no library at" in one_line_error(excinfo)
    open_catalog(url).close()
    open_catalog(url, create=False).close()


def test_a_lost_connection_is_one_line(pg_database):
    cat = open_catalog(pg_database)
    try:
        sql(
            pg_database,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'momentfinder' "
            "AND datname = current_database()",
        )
        with pytest.raises(InputError) as excinfo:
            cat.videos()
        assert "cannot use the PostgreSQL server" in one_line_error(excinfo)
    finally:
        cat.close()


# -- foreign and damaged libraries ---------------------------------------------------------------
def test_a_library_of_another_schema_version_is_refused(pg_database):
    open_catalog(pg_database).close()
    sql(pg_database, "UPDATE momentfinder.meta SET schema_version = 99")
    with pytest.raises(InputError) as excinfo:
        open_catalog(pg_database)
    assert "schema version 99" in one_line_error(excinfo)


@pytest.mark.parametrize(
    "damage",
    [
        "CREATE SCHEMA momentfinder; CREATE TABLE momentfinder.stuff (x int)",  # someone else's schema
        "DROP TABLE momentfinder.clips",  # a library missing a table
        "DELETE FROM momentfinder.meta",  # no marker
    ],
)
def test_a_foreign_or_damaged_schema_is_refused(pg_database, damage):
    if not damage.startswith("CREATE SCHEMA"):
        open_catalog(pg_database).close()
    sql(pg_database, damage)
    with pytest.raises(InputError) as excinfo:
        open_catalog(pg_database)
    assert "not a momentfinder library" in one_line_error(excinfo)


def test_set_info_is_refused_for_another_encoder_once_clips_exist(pg_database):
    cat = open_catalog(pg_database)
    try:
        cat.set_info(LibraryInfo("first", "x", 8, 2.0))
        cat.set_info(INFO)  # no clips yet: the library may still change its mind (and width)
        cat.set_info(INFO)  # the same again: nothing to do
        add(cat, "/v/a.mp4", 3, 1)
        with pytest.raises(InputError) as excinfo:
            cat.set_info(LibraryInfo("other-model", "y", 32, 2.0))
        assert "tiny-clip" in one_line_error(excinfo)
        assert cat.info() == INFO
    finally:
        cat.close()


def test_verify_reports_missing_clips_and_a_missing_index(pg_database):
    cat = open_catalog(pg_database)
    try:
        cat.set_info(INFO)
        add(cat, "/v/a.mp4", 5, 1)
        add(cat, "/v/b.mp4", 5, 2)
        sql(
            pg_database,
            "DELETE FROM momentfinder.clips WHERE clip_index = 2 AND video_id = "
            "(SELECT id FROM momentfinder.videos WHERE path = '/v/b.mp4')",
        )
        sql(pg_database, f"DROP INDEX momentfinder.{HNSW_INDEX}")
        problems = cat.verify()
        assert any("/v/b.mp4" in p and "5 clips recorded, 4 stored" in p for p in problems)
        assert any("HNSW index" in p for p in problems)
        assert not any("/v/a.mp4" in p for p in problems)
        with pytest.raises(InputError):
            cat.features(cat.video_by_path("/v/b.mp4").id)
    finally:
        cat.close()


# -- the HNSW index --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_library(pg_server):
    """40 videos of 100 clips (32-d): enough that the planner searches through the HNSW index."""
    url = pg_server.new_database()
    cat = open_catalog(url)
    info = LibraryInfo("m", "f", 32, 2.0)
    cat.set_info(info)
    stored = {}
    for v in range(40):
        feats = np.random.default_rng(v).standard_normal((100, 32)).astype(np.float32)
        row = VideoRow(f"/lib/{'even' if v % 2 == 0 else 'odd'}/{v:02d}.mp4", f"h{v}", 1, 1, 50.0 + v, 100)
        stored[cat.add_video(row, feats)] = feats
    yield cat, stored, url
    cat.close()


def test_the_index_is_used_and_its_recall_is_high(big_library):
    cat, stored, url = big_library
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = momentfinder, public")
        q = "[" + ",".join(["0.5"] * 32) + "]"
        rows = conn.execute(f"EXPLAIN SELECT video_id FROM clips ORDER BY embedding <=> '{q}' LIMIT 10")
        plan = "\n".join(r[0] for r in rows)
    assert HNSW_INDEX in plan
    queries = np.random.default_rng(1234).standard_normal((20, 32)).astype(np.float32)
    recall = []
    for q in queries:
        hits = cat.search_clips(q, 10)
        assert len(hits) == 10
        truth = {(v, i) for v, i, _ in cosine_top(stored, q, 10)}
        recall.append(len(truth & {(h.video_id, h.clip_index) for h in hits}) / 10)
    assert np.mean(recall) >= 0.9


@pytest.mark.parametrize("exact_limit", [0, 10**9])  # through the index (with a filter), or exact
def test_a_selective_filter_still_returns_k_clips(big_library, exact_limit, monkeypatch):
    cat, stored, _ = big_library
    monkeypatch.setattr(cat, "exact_limit", exact_limit)
    one = next(vid for vid in stored if cat.video(vid).path.endswith("/07.mp4"))
    q = np.random.default_rng(99).standard_normal(32).astype(np.float32)
    for where, allowed in (
        (VideoFilter(path_glob="*/07.mp4"), {one}),  # 100 of 4000 clips
        (VideoFilter(path_glob="/lib/odd/*"), {v for v in stored if "/odd/" in cat.video(v).path}),
        (VideoFilter(min_duration=88.5), {v for v in stored if cat.video(v).duration >= 88.5}),
    ):
        for k in (10, 60):
            hits = cat.search_clips(q, k, where)
            assert len(hits) == k and {h.video_id for h in hits} <= allowed
            truth = cosine_top({v: stored[v] for v in allowed}, q, k)
            overlap = {(v, i) for v, i, _ in truth} & {(h.video_id, h.clip_index) for h in hits}
            assert len(overlap) >= 0.9 * k


def test_more_than_the_index_can_return_is_searched_exactly(big_library):
    cat, stored, _ = big_library
    q = np.random.default_rng(5).standard_normal(32).astype(np.float32)
    hits = cat.search_clips(q, 1500)
    assert len(hits) == 1500
    truth = cosine_top(stored, q, 1500)
    assert [(h.video_id, h.clip_index) for h in hits[:50]] == [(v, i) for v, i, _ in truth[:50]]


def test_features_wider_than_the_index_allows_are_searched_exactly(pg_database):
    cat = open_catalog(pg_database)
    try:
        cat.set_info(LibraryInfo("wide", "w", 2304, 2.0))
        feats = np.random.default_rng(0).standard_normal((30, 2304)).astype(np.float32)
        video_id = cat.add_video(VideoRow("/v/wide.mp4", "h", 1, 1, 60.0, 30), feats)
        hits = cat.search_clips(feats[17], 3)
        assert (hits[0].video_id, hits[0].clip_index) == (video_id, 17)
        np.testing.assert_array_equal(cat.features(video_id), feats)
        assert cat.verify() == []
    finally:
        cat.close()


# -- globs as server-side regular expressions -----------------------------------------------------
EDGE_GLOBS = [
    "*", "?", "", "[", "]", "[]", "[!]", "[]]", "[!]]", "[]-a]", "[a-]", "[-a]", "[!-a]", "[z-a]", "[z-ab]",
    "[a--]", "[--a]", "[a-c-e]", "[\\]", "[^a]", "[a^]", "*.[mM][pP]4", "/v/*/[!.]*", "a\\b", "a.b", "a+b",
    "(a|b)", "{a,b}", "$x^", "[&~|]", "é*", "*[é-ü]", "*•*", "**/*", "[[]", "[*?]", "***:a",
]  # fmt: skip


def test_globs_match_exactly_what_fnmatch_matches(pg_database):
    rng = random.Random(7)
    alphabet = "ab/.*?[]!-^\\é•$()|{}+&~ "
    globs = list(EDGE_GLOBS) + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(400)
    ]
    paths = ["".join(rng.choice("ab/.-^\\é•[]!$() *?") for _ in range(rng.randint(0, 6))) for _ in range(150)]
    paths += [
        "/v/x/y.mp4",
        "/v/x/.hidden",
        "a.b",
        "a\\b",
        "axb",
        "]",
        "-",
        "[",
        "a+b",
        "a\nb",
        "é.mp4",
        "x•y",
    ]
    pairs = [(g, p) for g in globs for p in paths]
    regexes = [glob_to_regex(g) for g, _ in pairs]
    got = sql(
        pg_database,
        "SELECT coalesce(array_agg(p ~ r ORDER BY n), '{}') FROM unnest(%s::text[], %s::text[]) "
        "WITH ORDINALITY AS t(p, r, n)",
        ([p for _, p in pairs], regexes),
    )[0][0]
    wrong = [(g, p) for (g, p), ok in zip(pairs, got, strict=True) if ok != fnmatch.fnmatchcase(p, g)]
    assert wrong == []
