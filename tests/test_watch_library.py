"""``watch --library``: closed moments recorded in the library, found again by ``search``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from momentfinder.errors import InputError
from momentfinder.pipeline.library import Library
from momentfinder.pipeline.online import LibrarySink, WatchConfig, Watcher, source_name
from momentfinder.types import MomentEvent
from momentfinder.video.live import LiveSource
from momentfinder.video.sample import Scene, write_sample_video

from .test_online import SRC, check_sequence, colour_finder, watch


@pytest.fixture(scope="module")
def colour_stream(tmp_path_factory) -> str:
    """24 s: red 0-8 s, green 8-16 s, red 16-24 s; 96×64 @ 10 fps (as in test_online)."""
    path = str(tmp_path_factory.mktemp("live") / "rgr.mp4")
    scenes = [Scene(8, (220, 30, 30)), Scene(8, (30, 220, 30)), Scene(8, (220, 30, 30))]
    return write_sample_video(path, scenes, size=(96, 64), fps=10, gop=10)


def cli(*args, env_extra=None, timeout=180):
    env = dict(os.environ, PYTHONPATH=SRC, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "momentfinder", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_the_watcher_records_each_closed_moment_once_with_its_times_and_score(colour_stream, tmp_path):
    lib = str(tmp_path / "lib.db")
    events_file = tmp_path / "events.jsonl"
    config = WatchConfig(events_file=str(events_file), library=lib)
    watcher = Watcher(colour_finder(), colour_stream, config, ["green", "blue"])
    heard: list[MomentEvent] = []
    watcher.subscribe(heard.append)
    before = time.time()
    summary = watcher.run()
    after = time.time()
    check_sequence(heard)
    # the events file is what it always was: every event, in order
    assert [json.loads(line) for line in events_file.read_text().splitlines()] == [e.to_json() for e in heard]
    ends = [e for e in heard if e.event == "end"]
    assert any(e.query == "green" for e in ends)
    assert summary.recorded == len(ends)
    library = Library(lib, create=False, progress=False)
    try:
        assert library.status().found_moments == len(ends)
        stored = library.catalog.found_moments("green blue", 100)
        assert sorted((m.query, m.start, m.end, m.score) for m in stored) == sorted(
            (e.query, e.start, e.t, e.score) for e in ends
        )
        assert all(m.source == os.path.abspath(colour_stream) for m in stored)
        assert all(before <= m.found_at <= after for m in stored)
        green = library.found("the green one", top_k=5)
        assert green and {h.watch_query for h in green} == {"green"}
        assert all(h.evidence == "watch" and h.video == os.path.abspath(colour_stream) for h in green)
        best = max((e for e in ends if e.query == "green"), key=lambda e: e.score)
        assert (best.start, best.t, best.score) in {(h.start, h.end, h.score) for h in green}
        assert library.found("helicopter", top_k=5) == []
    finally:
        library.close()
    assert "moments recorded in the library" in summary.describe()


@pytest.fixture(params=["sqlite", "postgres"])
def library_location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "lib.db")
    return request.getfixturevalue("pg_database")


def test_the_sink_records_end_events_only_and_commits_each_at_once(library_location):
    lib = library_location
    sink = LibrarySink(lib, "rtsp://cam/1")
    sink.write(MomentEvent("a red car", "start", 4.0, 0.5, start=4.0, at=4.0))
    sink.write(MomentEvent("a red car", "update", 6.0, 0.6, start=4.0, end=6.0, at=6.0))
    empty = Library(lib, progress=False)
    assert empty.catalog.count_found_moments() == 0
    empty.close()
    sink.write(MomentEvent("a red car", "end", 8.0, 0.7, start=4.0, end=8.0, at=10.0))
    # committed before write returns: another connection sees it while the sink is still open
    other = Library(lib, progress=False)
    (hit,) = other.found("red car")
    assert (hit.video, hit.start, hit.end, hit.score, hit.watch_query) == (
        "rtsp://cam/1",
        4.0,
        8.0,
        0.7,
        "a red car",
    )
    other.close()
    sink.close()
    assert sink.recorded == 1


def test_a_library_that_cannot_be_used_is_refused_before_watching(colour_stream, tmp_path):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    for bad, message in ((foreign, "not a momentfinder library"), (tmp_path, "is a directory")):
        with pytest.raises(InputError, match=message):
            Watcher(colour_finder(), colour_stream, WatchConfig(library=str(bad)), ["green"])


def test_a_source_is_named_without_its_password(colour_stream, tmp_path):
    assert source_name(LiveSource(colour_stream)) == os.path.abspath(colour_stream)
    assert (
        source_name(LiveSource("rtsp://alice:s3cret@cam.local:554/live?x=1"))
        == "rtsp://alice@cam.local:554/live?x=1"
    )
    assert source_name(LiveSource("http://cam/stream.m3u8")) == "http://cam/stream.m3u8"


def test_watch_library_then_search_finds_the_moment(colour_stream, colour_video, tiny_clip, tmp_path):
    """End to end: a library with an indexed video; `watch --library` a generated video file; then
    `search` returns the grounded hits of the indexed video and, marked "watch", the found moment;
    `index status` counts it."""
    lib = str(tmp_path / "lib.db")
    r = cli("-q", "index", "add", colour_video, "--db", lib, "--visual-model", tiny_clip, "--clip-len", "1")
    assert r.returncode == 0, r.stderr
    # thresholds far below any level: the whole stream is one moment of each query, closed at its end
    r = watch(colour_stream, "--visual-model", tiny_clip, "--clip-len", "1", "--query", "a green room",
              "--library", "--db", lib, "--set", "start_level=-50", "end_level=-100")  # fmt: skip
    assert r.returncode == 0, r.stderr
    ends = [e for e in map(json.loads, r.stdout.splitlines()) if e["event"] == "end"]
    assert len(ends) == 1 and "1 moments recorded in the library" in r.stderr
    r = cli("search", "green room", "--db", lib, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    grounded = [h for h in hits if h.get("evidence") != "watch"]
    found = [h for h in hits if h.get("evidence") == "watch"]
    assert grounded and all(h["video"] == os.path.abspath(colour_video) for h in grounded)
    assert len(found) == 1
    (f,), (e,) = found, ends
    assert f["video"] == os.path.abspath(colour_stream) and f["watch_query"] == "a green room"
    assert (f["start"], f["end"], f["score"]) == (
        round(e["start"], 2),
        round(e["end"], 2),
        round(e["score"], 4),
    )
    assert "confidence" not in f and f["found_at"] > 0
    r = cli("index", "status", "--db", lib, "--json")
    status = json.loads(r.stdout)
    assert status["found_moments"] == 1 and status["videos"] == 1


def test_watch_library_uses_the_default_library_and_search_needs_no_model(colour_stream, tiny_clip, tmp_path):
    """`--library` alone writes the default library ($MOMENTFINDER_DB, as index and search use);
    a library holding only found moments is searched without loading a model."""
    lib = str(tmp_path / "default.db")
    env = {"MOMENTFINDER_DB": lib}
    r = cli("watch", colour_stream, "--visual-model", tiny_clip, "--query", "red", "--library", "--no-stdout",
            "--set", "start_level=-50", "end_level=-100", env_extra=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    r = cli("search", "red", "--json", env_extra=env)
    assert r.returncode == 0, r.stderr
    (hit,) = json.loads(r.stdout)["hits"]
    assert hit["evidence"] == "watch" and hit["start"] == 0.0 and hit["end"] == pytest.approx(24.0, abs=2.0)
    assert json.loads(cli("search", "red", "--no-found", "--json", env_extra=env).stdout)["hits"] == []
    assert json.loads(cli("search", "helicopter", "--json", env_extra=env).stdout)["hits"] == []
    r = cli("search", "a red one", env_extra=env)
    assert r.returncode == 0 and 'found by watch for "red"' in r.stdout and colour_stream in r.stdout
    r = cli("index", "status", env_extra=env)
    assert r.returncode == 0 and "1 moments found by watch" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--library", "--db", "{foreign}"], "not a momentfinder library"),
        (["--db", "{folder}"], "is a directory"),
    ],
)
def test_watch_with_a_bad_library_is_one_error_line_and_exit_2(
    args, message, colour_stream, tiny_clip, tmp_path
):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    args = [a.format(foreign=foreign, folder=tmp_path) for a in args]
    r = watch(colour_stream, "--query", "red", "--visual-model", tiny_clip, *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momentfinder: error:") and message in lines[0], r.stderr


def test_a_watch_killed_9_keeps_every_moment_it_committed(colour_stream, tmp_path):
    """A looping watch killed with SIGKILL: the library holds whole moments only, exactly the
    ended moments of the events file (fsynced first), but perhaps the one in flight, and opens clean."""
    lib, events = str(tmp_path / "lib.db"), tmp_path / "events.jsonl"
    child = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from tests.test_online import colour_finder\n"
        "from momentfinder.pipeline.online import LiveConfig, WatchConfig, Watcher\n"
        "config = WatchConfig(live=LiveConfig(loop=True), events_file=sys.argv[3], library=sys.argv[4])\n"
        "Watcher(colour_finder(), sys.argv[2], config, ['green']).run()\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen(
        [sys.executable, "-c", child, root, colour_stream, str(events), lib], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 120
        count = 0
        while time.time() < deadline and count < 3 and proc.poll() is None:
            time.sleep(0.2)
            if os.path.exists(lib):
                with sqlite3.connect(lib) as db:
                    try:
                        count = db.execute("SELECT count(*) FROM found_moments").fetchone()[0]
                    except sqlite3.OperationalError:
                        count = 0
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert count >= 3
    ends = []
    for line in events.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:  # a torn last line
            continue
        if e["event"] == "end":
            ends.append((e["query"], e["start"], e["end"], e["score"]))
    library = Library(lib, create=False, progress=False)
    try:
        assert library.verify() == []
        stored = [(m.query, m.start, m.end, m.score) for m in library.catalog.found_moments("green", 1000)]
        assert len(stored) == library.status().found_moments >= 3
        assert sorted(stored) == sorted(ends) or sorted(stored) == sorted(ends[:-1])
        assert all(start < end for _, start, end, _ in stored)
    finally:
        library.close()
