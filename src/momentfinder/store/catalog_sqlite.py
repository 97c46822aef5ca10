"""The embedded library: one SQLite file (WAL) plus a vector index file beside it.

::

    LIB                  SQLite: meta, videos, features (one float32 blob per video, checksummed),
                         lines (+ an FTS5 index over their text, kept in sync by triggers)
                         found_moments (what `watch` found in live sources, + an FTS5 index over
                         their query text)
    LIB.index            the vector index over every clip (derived data: rebuilt from the
    LIB.index.json       features when missing or out of date; the JSON says which videos it holds)

Every video is written in one ``BEGIN IMMEDIATE`` transaction, so a killed indexer loses at most
the video in flight and several processes may write one library (SQLite serialises them). The
vector index is brought up to date with the database before every search (videos added or
removed by another process are added to or removed from it), and saved atomically.

Schema versions (``meta.schema_version``): 2 added ``found_moments``; a version 1 file is
migrated when opened (the tables are added in one transaction, nothing else is touched).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sqlite3
import time

import numpy as np

from ..atomic import write_atomic
from ..errors import InputError
from ..types import SubtitleSegment
from .catalog import (
    SCHEMA_VERSION,
    ClipHit,
    FoundMoment,
    LibraryInfo,
    LineHit,
    VideoFilter,
    VideoRow,
    clip_vector_id,
    split_vector_id,
)
from .vector_index import VectorIndex

APP = "momentfinder-library"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    duration REAL NOT NULL,
    n_clips INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    unreadable TEXT NOT NULL DEFAULT '[]',
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_hash ON videos(content_hash);
CREATE TABLE IF NOT EXISTS features (
    video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
    n_clips INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    data BLOB NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS lines_video ON lines(video_id);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5(text, content='lines', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS lines_ai AFTER INSERT ON lines BEGIN
    INSERT INTO lines_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS lines_ad AFTER DELETE ON lines BEGIN
    INSERT INTO lines_fts(lines_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
# version 2: the moments `watch` found (one statement an item: run inside the migration's transaction)
_FOUND_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS found_moments (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    query TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    score REAL NOT NULL,
    found_at REAL NOT NULL
)""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS found_fts USING fts5(query, content='found_moments', content_rowid='id')",
    """CREATE TRIGGER IF NOT EXISTS found_ai AFTER INSERT ON found_moments BEGIN
    INSERT INTO found_fts(rowid, query) VALUES (new.id, new.query);
END""",
    """CREATE TRIGGER IF NOT EXISTS found_ad AFTER DELETE ON found_moments BEGIN
    INSERT INTO found_fts(found_fts, rowid, query) VALUES ('delete', old.id, old.query);
END""",
]


def _checksum(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class SqliteCatalog:
    """The :class:`~momentfinder.store.catalog.Catalog` in one SQLite file (see module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.location = os.path.abspath(os.fspath(path))
        folder = os.path.dirname(self.location)
        if os.path.isdir(self.location):
            raise InputError(
                f"{self.location}: is a directory; give the library a file name (e.g. library.db)"
            )
        try:
            os.makedirs(folder, exist_ok=True)
            self._db = sqlite3.connect(self.location, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_or_create()
        except sqlite3.DatabaseError as err:
            raise InputError(f"{self.location}: not a momentfinder library ({err})") from None
        except OSError as err:
            raise InputError(f"{self.location}: cannot open the library ({err.strerror})") from None
        self._index: VectorIndex | None = None
        self._index_clips: dict[int, int] = {}  # video id -> clip count of what the index holds
        self._index_generation = -1

    # -- schema --------------------------------------------------------------------------------
    def _check_or_create(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise InputError(f"{self.location}: a SQLite database, but not a momentfinder library")
        if "meta" in tables:
            app = self._meta("app")
            if app != APP:
                raise InputError(f"{self.location}: a SQLite database, but not a momentfinder library")
            version = int(self._meta("schema_version") or 0)
            if version == 1:
                version = self._migrate_to_2()
            if version != SCHEMA_VERSION:
                raise InputError(
                    f"{self.location}: library schema version {version}; this momentfinder reads version "
                    f"{SCHEMA_VERSION}"
                )
            return
        self._db.executescript(
            _SCHEMA + ";\n".join(_FOUND_SCHEMA) + ";"
        )  # idempotent (IF NOT EXISTS): safe when two processes create it
        with self._write():
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('app', ?)", (APP,))
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")

    def _migrate_to_2(self) -> int:
        """Add the found-moments tables to a version 1 library (one transaction; another process
        may have done it meanwhile); returns the version now."""
        try:
            with self._write():
                if int(self._meta("schema_version") or 0) == 1:
                    for statement in _FOUND_SCHEMA:
                        self._db.execute(statement)
                    self._set_meta("schema_version", "2")
        except sqlite3.OperationalError as err:
            raise InputError(
                f"{self.location}: a library of schema version 1 that must be upgraded to version 2 "
                f"(it adds the found-moments table) but cannot be written ({err})"
            ) from None
        return int(self._meta("schema_version") or 0)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _bump(self) -> None:
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _write(self):
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        db = self._db

        class _Tx:
            def __enter__(self_inner):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, exc, tb):
                db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                return False

        return _Tx()

    # -- library -------------------------------------------------------------------------------
    def info(self) -> LibraryInfo | None:
        text = self._meta("library")
        if text is None:
            return None
        try:
            return LibraryInfo(**json.loads(text))
        except (TypeError, ValueError) as err:
            raise InputError(f"{self.location}: unreadable library description ({err})") from None

    def set_info(self, info: LibraryInfo) -> None:
        old = self.info()
        if old is not None and (old.model, old.dim) != (info.model, info.dim) and self.videos("ok"):
            raise InputError(
                f"{self.location} holds features of {old.model} (dim {old.dim}); it cannot become a "
                f"library of {info.model} (dim {info.dim})"
            )
        with self._write():
            self._set_meta("library", json.dumps(info.__dict__))

    # -- videos --------------------------------------------------------------------------------
    _COLUMNS = "id, path, content_hash, size, mtime_ns, duration, n_clips, status, error, unreadable"

    @staticmethod
    def _row(r) -> VideoRow:
        return VideoRow(
            id=r[0],
            path=r[1],
            content_hash=r[2],
            size=r[3],
            mtime_ns=r[4],
            duration=r[5],
            n_clips=r[6],
            status=r[7],
            error=r[8],
            unreadable=json.loads(r[9] or "[]"),
        )

    def video_by_path(self, path: str) -> VideoRow | None:
        r = self._db.execute(f"SELECT {self._COLUMNS} FROM videos WHERE path = ?", (path,)).fetchone()
        return self._row(r) if r else None

    def video(self, video_id: int) -> VideoRow | None:
        r = self._db.execute(f"SELECT {self._COLUMNS} FROM videos WHERE id = ?", (video_id,)).fetchone()
        return self._row(r) if r else None

    def videos_by_hash(self, content_hash: str) -> list[VideoRow]:
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM videos WHERE content_hash = ?", (content_hash,))
        return [self._row(r) for r in rows]

    def videos(self, status: str | None = None, where: VideoFilter | None = None) -> list[VideoRow]:
        sql, args = f"SELECT {self._COLUMNS} FROM videos", []
        if status is not None:
            sql, args = sql + " WHERE status = ?", [status]
        rows = [self._row(r) for r in self._db.execute(sql + " ORDER BY path", args)]
        return [r for r in rows if _matches(r, where)]

    def add_video(
        self,
        row: VideoRow,
        features: np.ndarray | None,
        lines: list[SubtitleSegment] | None = None,
        line_embeddings: np.ndarray | None = None,
    ) -> int:
        lines = lines or []
        if row.status == "ok":
            if features is None or features.ndim != 2 or len(features) != row.n_clips:
                raise InputError(f"{row.path}: features must be (n_clips, dim), one row per clip")
            info = self.info()
            if info is not None and features.shape[1] != info.dim:
                raise InputError(
                    f"{row.path}: features of width {features.shape[1]}; the library's are {info.dim}"
                )
        if line_embeddings is not None and len(line_embeddings) != len(lines):
            raise InputError(f"{row.path}: {len(lines)} subtitle lines but {len(line_embeddings)} embeddings")
        with self._write():
            self._db.execute("DELETE FROM videos WHERE path = ?", (row.path,))
            cur = self._db.execute(
                "INSERT INTO videos(path, content_hash, size, mtime_ns, duration, n_clips, status, error, "
                "unreadable, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.path,
                    row.content_hash,
                    int(row.size),
                    int(row.mtime_ns),
                    float(row.duration),
                    int(row.n_clips),
                    row.status,
                    row.error,
                    json.dumps(row.unreadable),
                    time.time(),
                ),
            )
            video_id = int(cur.lastrowid)
            if row.status == "ok":
                data = np.ascontiguousarray(features, dtype=np.float32).tobytes()
                self._db.execute(
                    "INSERT INTO features(video_id, n_clips, dim, data, checksum) VALUES (?, ?, ?, ?, ?)",
                    (video_id, len(features), features.shape[1], data, _checksum(data)),
                )
            for i, seg in enumerate(lines):
                emb = None
                if line_embeddings is not None:
                    emb = np.ascontiguousarray(line_embeddings[i], dtype=np.float32).tobytes()
                self._db.execute(
                    "INSERT INTO lines(video_id, start, end, text, embedding) VALUES (?, ?, ?, ?, ?)",
                    (video_id, float(seg.start), float(seg.end), seg.text, emb),
                )
            self._bump()
        row.id = video_id
        return video_id

    def move_video(self, video_id: int, path: str, size: int, mtime_ns: int) -> None:
        if self.video(video_id) is None:
            raise InputError(f"{self.location}: no video {video_id} to move")
        with self._write():
            # a stale row of another file at the new path gives way to the one that moved there
            self._db.execute("DELETE FROM videos WHERE path = ? AND id != ?", (path, int(video_id)))
            self._bump()
            self._db.execute(
                "UPDATE videos SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                (path, int(size), int(mtime_ns), int(video_id)),
            )

    def remove_video(self, video_id: int) -> None:
        with self._write():
            self._db.execute("DELETE FROM videos WHERE id = ?", (int(video_id),))
            self._bump()

    def features(self, video_id: int) -> np.ndarray:
        r = self._db.execute(
            "SELECT n_clips, dim, data, checksum FROM features WHERE video_id = ?", (int(video_id),)
        ).fetchone()
        if r is None:
            raise InputError(f"{self.location}: video {video_id} has no features")
        n, dim, data, checksum = r
        if _checksum(data) != checksum or len(data) != n * dim * 4:
            raise InputError(
                f"{self.location}: the features of video {video_id} are damaged (checksum); "
                "run `momentfinder index verify` and add the video again"
            )
        return np.frombuffer(data, dtype=np.float32).reshape(n, dim).copy()

    def lines(self, video_id: int) -> tuple[list[SubtitleSegment], np.ndarray | None]:
        rows = self._db.execute(
            "SELECT start, end, text, embedding FROM lines WHERE video_id = ? ORDER BY start",
            (int(video_id),),
        ).fetchall()
        segments = [SubtitleSegment(r[0], r[1], r[2]) for r in rows]
        if not rows or any(r[3] is None for r in rows):
            return segments, None
        return segments, np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows])

    # -- search --------------------------------------------------------------------------------
    def _index_path(self) -> str:
        return self.location + ".index"

    def _sync_index(self) -> VectorIndex | None:
        """The vector index, brought up to date with the database (loaded, caught up, saved)."""
        info = self.info()
        if info is None:
            return None
        generation = int(self._meta("generation") or 0)
        if self._index is not None and generation == self._index_generation:
            return self._index
        if self._index is None:
            self._index, self._index_clips = self._load_index(info.dim)
        ok = {r[0]: r[1] for r in self._db.execute("SELECT id, n_clips FROM videos WHERE status = 'ok'")}
        stale = self._index_clips.keys() - ok.keys()
        if stale:
            ids = [clip_vector_id(v, i) for v in stale for i in range(self._index_clips[v])]
            self._index.remove(np.asarray(ids, dtype=np.int64))
        for video_id in sorted(ok.keys() - self._index_clips.keys()):
            feats = self.features(video_id)
            ids = np.asarray([clip_vector_id(video_id, i) for i in range(len(feats))], dtype=np.int64)
            self._index.add(ids, feats)
        self._index_clips = ok
        self._index_generation = generation
        self._save_index()
        return self._index

    def _load_index(self, dim: int) -> tuple[VectorIndex, dict[int, int]]:
        """The saved index and the clip count of each video it holds (empty when it is missing)."""
        try:
            with open(self._index_path() + ".json", encoding="utf-8") as f:
                state = json.load(f)
            index = VectorIndex.load(self._index_path(), dim)
            return index, {int(k): int(v) for k, v in state["videos"].items()}
        except (OSError, ValueError, KeyError, TypeError, InputError, AttributeError):
            return VectorIndex(dim), {}  # missing or unreadable: rebuilt from the features

    def _save_index(self) -> None:
        try:
            self._index.save(self._index_path())
            state = {"generation": self._index_generation, "videos": self._index_clips}
            write_atomic(self._index_path() + ".json", json.dumps(state).encode())
        except OSError:
            pass  # a read-only library still searches; the index is rebuilt in memory next time

    def search_clips(self, query: np.ndarray, k: int, where: VideoFilter | None = None) -> list[ClipHit]:
        index = self._sync_index()
        if index is None or not len(index) or k < 1:
            return []
        allowed = None if where is None else {r.id for r in self.videos("ok", where)}
        fetch = k
        while True:
            ids, scores = index.search(np.asarray(query, dtype=np.float32)[None, :], min(fetch, len(index)))
            hits = []
            for vid, score in zip(ids[0], scores[0], strict=True):
                if vid < 0:
                    continue
                video_id, clip = split_vector_id(int(vid))
                if allowed is None or video_id in allowed:
                    hits.append(ClipHit(video_id, clip, float(score)))
            if len(hits) >= k or fetch >= len(index):
                return hits[:k]
            fetch *= 4  # a filter left too few: look further

    def search_lines(self, text: str, k: int, where: VideoFilter | None = None) -> list[LineHit]:
        words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
        if not words or k < 1:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        rows = self._db.execute(
            "SELECT lines.video_id, lines.start, lines.end, lines.text, bm25(lines_fts) FROM lines_fts "
            "JOIN lines ON lines.id = lines_fts.rowid WHERE lines_fts MATCH ? ORDER BY bm25(lines_fts) "
            "LIMIT ?",
            (match, max(k * 4, k)),
        ).fetchall()
        allowed = None if where is None else {r.id for r in self.videos("ok", where)}
        hits = [
            LineHit(r[0], r[1], r[2], r[3], -float(r[4])) for r in rows if allowed is None or r[0] in allowed
        ]
        return hits[:k]

    # -- found moments -------------------------------------------------------------------------
    def add_found_moment(self, moment: FoundMoment) -> int:
        with self._write():
            cur = self._db.execute(
                "INSERT INTO found_moments(source, query, start, end, score, found_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    moment.source,
                    moment.query,
                    float(moment.start),
                    float(moment.end),
                    float(moment.score),
                    float(moment.found_at),
                ),
            )
        return int(cur.lastrowid)

    def found_moments(self, text: str, k: int) -> list[FoundMoment]:
        words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
        if not words or k < 1:
            return []
        rows = self._db.execute(
            "SELECT m.id, m.source, m.query, m.start, m.end, m.score, m.found_at, bm25(found_fts) "
            "FROM found_fts JOIN found_moments m ON m.id = found_fts.rowid WHERE found_fts MATCH ? "
            "ORDER BY bm25(found_fts), m.score DESC, m.id LIMIT ?",
            (" OR ".join(f'"{w}"' for w in words), int(k)),
        ).fetchall()
        return [FoundMoment(r[1], r[2], r[3], r[4], r[5], r[6], id=r[0], rank=-float(r[7])) for r in rows]

    def count_found_moments(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM found_moments").fetchone()[0])

    def verify(self) -> list[str]:
        problems = []
        check = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems.append(f"{self.location}: SQLite integrity check: {check}")
        for video_id, path, n_clips in self._db.execute(
            "SELECT id, path, n_clips FROM videos WHERE status = 'ok'"
        ).fetchall():
            try:
                if len(self.features(video_id)) != n_clips:
                    problems.append(f"{path}: {n_clips} clips recorded, features differ")
            except InputError as err:
                problems.append(f"{path}: {err}")
        return problems

    def close(self) -> None:
        self._db.close()


def _matches(row: VideoRow, where: VideoFilter | None) -> bool:
    if where is None:
        return True
    if where.path_glob and not fnmatch.fnmatch(row.path, where.path_glob):
        return False
    if where.min_duration is not None and row.duration < where.min_duration:
        return False
    return where.max_duration is None or row.duration <= where.max_duration
