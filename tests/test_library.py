"""The library: index a folder of real generated videos, search it, and what a user does to it
(re-run, rename, copy, break, remove, kill mid-index)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from momentfinder.cli import main
from momentfinder.errors import InputError
from momentfinder.pipeline.library import Library, expand_paths
from momentfinder.store.catalog import VideoFilter
from momentfinder.types import SubtitleSegment
from momentfinder.video.sample import Scene, write_sample_video

LINES = [
    "the red team scores a goal",
    "a green frog jumps into the pond",
    "blue water flows over the dam",
    "a yellow taxi stops at the corner",
]


def make_videos(folder, n=len(LINES), seconds=18):
    os.makedirs(folder, exist_ok=True)
    colours = [(220, 20, 20), (20, 220, 20), (20, 20, 220), (230, 220, 30)]
    paths = []
    for i in range(n):
        scenes = [
            Scene(seconds / 3, (128, 128, 128)),
            Scene(seconds / 3, colours[i % 4]),
            Scene(seconds / 3, (90, 90, 90)),
        ]
        subs = [SubtitleSegment(seconds / 3 + 0.5, 2 * seconds / 3 - 0.5, LINES[i % len(LINES)])]
        paths.append(
            write_sample_video(str(folder / f"v{i}.mp4"), scenes, size=(64, 48), fps=5, subtitles=subs)
        )
    return paths


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("lib") / "vids")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_index_search_and_everyday_changes(videos, tiny_clip, tmp_path, capsys):
    folder = tmp_path / "vids"
    shutil.copytree(os.path.dirname(videos[0]), folder)
    db = tmp_path / "lib.db"
    common = ["--db", db, "--cache-dir", tmp_path / "cache"]
    code, out, err = run(capsys, "index", "add", folder, "--visual-model", tiny_clip, *common, "--json")
    assert code == 0 and len(json.loads(out)["added"]) == 4, (out, err)
    code, out, _ = run(capsys, "index", "add", folder, *common, "--json")  # nothing changed
    assert json.loads(out)["unchanged"] and not json.loads(out)["added"]
    os.rename(folder / "v2.mp4", folder / "renamed.mp4")
    os.rename(folder / "v2.srt", folder / "renamed.srt")
    shutil.copy(folder / "v3.mp4", folder / "copy.mp4")
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    code, out, err = run(capsys, "index", "add", folder, *common, "--json")
    report = json.loads(out)
    assert code == 0 and [os.path.basename(p) for p in report["moved"]] == ["renamed.mp4"]
    assert [os.path.basename(p) for p in report["copied"]] == ["copy.mp4"]
    assert [os.path.basename(f["path"]) for f in report["failed"]] == ["broken.mp4"]
    assert err.count("broken.mp4") == 1  # one warning, the path said once
    code, out, _ = run(capsys, "index", "status", "--db", db, "--json", "--failed")
    status = json.loads(out)
    assert (status["videos"], status["failed"]) == (5, 1) and status["library"]["model"] == tiny_clip

    code, out, _ = run(capsys, "search", "a frog jumps in a pond", "--db", db, "--json", "--top-k", "3")
    hits = json.loads(out)["hits"]
    assert code == 0 and os.path.basename(hits[0]["video"]) == "v1.mp4"
    assert (hits[0]["start"], hits[0]["end"]) == (6.5, 11.5) and hits[0]["confidence"] > 0.9
    code, out, _ = run(capsys, "search", "blue water over a dam", "--db", db, "--json")
    assert os.path.basename(json.loads(out)["hits"][0]["video"]) == "renamed.mp4"
    code, out, _ = run(capsys, "search", "a frog jumps in a pond", "--db", db, "--json", "--path", "*/copy*")
    assert {os.path.basename(h["video"]) for h in json.loads(out)["hits"]} == {"copy.mp4"}
    code, out, _ = run(capsys, "search", "a frog jumps in a pond", "--db", db, "--min-duration", "100")
    assert "no matching moment" in out

    os.remove(folder / "v0.mp4")
    code, out, _ = run(capsys, "index", "verify", "--db", db)
    assert code == 1 and "v0.mp4: the file is gone" in out
    code, out, _ = run(capsys, "index", "rm", folder / "v0.mp4", "--db", db)
    assert code == 0 and "removed 1" in out
    code, out, _ = run(capsys, "index", "verify", "--db", db)
    assert code == 0
    code, out, _ = run(capsys, "search", "the red team scores a goal", "--db", db, "--json")
    assert all(os.path.basename(h["video"]) != "v0.mp4" for h in json.loads(out)["hits"])


def test_bad_libraries_and_encoders(videos, tiny_clip, tiny_siglip, tmp_path, capsys):
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t(x)").connection.commit()
    code, _, err = run(capsys, "search", "q", "--db", foreign)
    assert code == 2 and "not a momentfinder library" in err and len(err.strip().splitlines()) == 1
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(4096))
    code, _, err = run(capsys, "index", "status", "--db", garbage)
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "search", "q", "--db", tmp_path / "none.db")
    assert code == 2 and "no library" in err
    db = tmp_path / "lib.db"
    common = ["--db", db, "--cache-dir", tmp_path / "cache"]
    assert run(capsys, "index", "add", videos[0], "--visual-model", tiny_clip, *common)[0] == 0
    code, _, err = run(capsys, "index", "add", videos[1], "--visual-model", tiny_siglip, *common)
    assert code == 2 and "was made with" in err  # one library, one encoder
    code, _, err = run(capsys, "index", "add", videos[1], "--clip-len", "1", *common)
    assert code == 2 and "was made with" in err
    with pytest.raises(InputError, match="no such file"):
        expand_paths([str(tmp_path / "missing")])


def test_python_api(videos, tiny_clip, tmp_path):
    from momentfinder.pipeline import FinderConfig

    lib = Library(
        tmp_path / "lib.db", FinderConfig(visual_model=tiny_clip, cache_dir=str(tmp_path)), progress=False
    )
    report = lib.add([os.path.dirname(videos[0])])
    assert len(report.added) == 4 and lib.status().videos == 4
    hits = lib.search("a yellow taxi stops at the corner", top_k=5, where=VideoFilter(max_duration=60))
    assert os.path.basename(hits[0].video) == "v3.mp4" and hits[0].evidence == "subtitles"
    lib.close()
    again = Library(tmp_path / "lib.db", progress=False)  # the library's own encoder, from the catalog
    assert os.path.basename(again.search("a green frog", top_k=1)[0].video) == "v1.mp4"


_INDEXER = """
import sys
from momentfinder.pipeline import FinderConfig
from momentfinder.pipeline.library import Library
lib = Library(sys.argv[1], FinderConfig(visual_model=sys.argv[2], cache_dir=sys.argv[3]), progress=False)
lib.add([sys.argv[4]], on_video=lambda path, outcome: print(outcome, path, flush=True))
"""


def test_kill_9_mid_index_loses_at_most_the_video_in_flight(tiny_clip, tmp_path):
    """SIGKILL the indexer at several points; every restart resumes; the end state equals a clean run."""
    folder = tmp_path / "vids"
    make_videos(folder, n=8, seconds=12)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    db = tmp_path / "lib.db"
    args = [sys.executable, "-c", _INDEXER, str(db), tiny_clip, str(tmp_path / "nocache"), str(folder)]
    for delay in (1.5, 2.5, 3.5):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lib = Library(db, progress=False, create=False) if db.exists() else None
        if lib is not None:
            assert lib.verify() == [] or all("gone" not in p for p in lib.verify())
            lib.close()
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
    clean_db = tmp_path / "clean.db"
    subprocess.run(
        [*args[:3], str(clean_db), *args[4:]], env=env, check=True, capture_output=True, timeout=300
    )
    resumed, clean = Library(db, progress=False), Library(clean_db, progress=False)
    rows = {r.path: r for r in resumed.catalog.videos()}
    clean_rows = {r.path: r for r in clean.catalog.videos()}
    assert rows.keys() == clean_rows.keys() and len(rows) == 8
    for path, row in rows.items():
        assert row.status == "ok" and row.n_clips == clean_rows[path].n_clips
        assert (resumed.catalog.features(row.id) == clean.catalog.features(clean_rows[path].id)).all()
    assert resumed.verify() == [] and resumed.status().clips == clean.status().clips


def test_options_apply_to_an_existing_library(videos, tiny_clip, tmp_path, capsys):
    """Without --visual-model the library keeps its encoder, and the other options still apply."""
    db = tmp_path / "lib.db"
    assert (
        run(capsys, "index", "add", videos[0], "--visual-model", tiny_clip, "--db", db, "--no-cache")[0] == 0
    )
    assert run(capsys, "index", "add", videos[1], "--db", db, "--no-subtitles", "--no-cache")[0] == 0
    lib = Library(db, progress=False)
    lines = {os.path.basename(r.path): len(lib.catalog.lines(r.id)[0]) for r in lib.catalog.videos()}
    assert lines == {"v0.mp4": 1, "v1.mp4": 0} and lib.catalog.info().model == tiny_clip
    lib.close()
