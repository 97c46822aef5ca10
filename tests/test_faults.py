"""Faults (issue 11): a self-checking feature cache, crash- and race-safe feature directories,
checksummed checkpoints, ids that cannot leave their directory, and kill -9 / parallel-writer runs."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from momentfinder.cli import main
from momentfinder.errors import InputError, ModelUnavailableError
from momentfinder.grounding.detr.checkpoint import (
    CheckpointDamagedError,
    load_checkpoint,
    load_resume_checkpoint,
    save_checkpoint,
)
from momentfinder.pipeline import MomentFinder
from momentfinder.pipeline.extract import extract_directory
from momentfinder.store import (
    MANIFEST,
    QUERY_MANIFEST,
    FeatureCache,
    FeatureDirectory,
    FeatureDirectoryWriter,
    FeatureKey,
    FeatureRecord,
    read_manifest,
)
from momentfinder.store.cache import entry_checksum
from momentfinder.types import ClipFeatures, QueryFeatures, Timeline

SRC = str(Path(__file__).resolve().parents[1] / "src")
CHILD_ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def clips(value: float, n: int = 3, dim: int = 4, vid: str = "v", clip_len: float = 2.0) -> ClipFeatures:
    return ClipFeatures(np.full((n, dim), value, np.float32), Timeline.of(n, clip_len), "m", vid)


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> str:
    """6 s, 3 scenes, 64×48 @ 10 fps: quick to decode in a child process."""
    from momentfinder.video.sample import Scene, write_sample_video

    path = tmp_path_factory.mktemp("short") / "short.mp4"
    return write_sample_video(
        path,
        [Scene(2, (220, 20, 20)), Scene(2, (20, 220, 20)), Scene(2, (20, 20, 220))],
        size=(64, 48),
        fps=10,
    )


def run_child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_ready(proc: subprocess.Popen, marker: Path, timeout: float = 120) -> None:
    """SIGKILL ``proc`` once it has written ``marker`` (it is then blocked mid-write)."""
    deadline = time.time() + timeout
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not marker.exists():
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the child never reached the write (rc {proc.returncode}): {err[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def snapshot(root: Path) -> dict[str, bytes]:
    """Every data file under ``root`` (the store's private dot-files excluded)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


# --- the feature cache checks itself --------------------------------------------------------------------


def cache_key(name: str = "abc") -> FeatureKey:
    return FeatureKey.make(name * 8, "m", "fp", {"clip_len": 2.0, "frames_per_clip": 1, "decode": "auto"})


def write_entry(path: str, features: np.ndarray, record: dict, checksum: str | None = "auto") -> None:
    record_json, sampling_json = json.dumps(record), json.dumps({"clip_len": 2.0})
    arrays = {"features": features, "record": np.asarray(record_json), "sampling": np.asarray(sampling_json)}
    if checksum is not None:
        arrays["checksum"] = np.asarray(entry_checksum(features, record_json, sampling_json))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    Path(path).write_bytes(buffer.getvalue())


def _record(n: int) -> dict:
    return FeatureRecord("v", 2.0 * n, 2.0, n, "m").to_dict()


def _zero_byte(path, good):
    Path(path).write_bytes(b"")


def _truncated(path, good):
    Path(path).write_bytes(good[: len(good) // 2])


def _bit_flip(path, good):
    data = bytearray(good)
    data[data.find(np.float32(0.25).tobytes()) + 1] ^= 0x04  # one bit of one feature value
    Path(path).write_bytes(bytes(data))


def _short(path, good):  # a consistent file whose array has fewer rows than its record
    write_entry(path, np.full((2, 4), 0.25, np.float32), _record(3))


def _nan(path, good):
    features = np.full((3, 4), 0.25, np.float32)
    features[1, 2] = np.nan
    write_entry(path, features, _record(3))


def _no_checksum(path, good):  # an entry of an older momentfinder: cannot be verified
    write_entry(path, np.full((3, 4), 0.25, np.float32), _record(3), checksum=None)


def _wrong_dim(path, good):  # another encoder's width than the caller expects (dim=4)
    write_entry(path, np.full((3, 5), 0.25, np.float32), _record(3))


@pytest.mark.parametrize(
    "damage",
    [_zero_byte, _truncated, _bit_flip, _short, _nan, _no_checksum, _wrong_dim],
    ids=lambda f: f.__name__,
)
def test_a_damaged_cache_entry_is_dropped_and_recomputed(tmp_path, caplog, damage):
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key()
    path = cache.save(key, clips(0.25))
    good = Path(path).read_bytes()
    assert cache.load(key, dim=4).features.tolist() == clips(0.25).features.tolist()
    damage(path, good)
    with caplog.at_level(logging.WARNING, logger="momentfinder.store.cache"):
        assert cache.load(key, dim=4) is None
    assert "dropping a damaged feature cache entry" in caplog.text
    assert not os.path.exists(path)  # deleted, so the next run recomputes it
    cache.save(key, clips(0.25))
    assert cache.load(key, dim=4) is not None


@pytest.mark.parametrize("problem", ["read-only", "full", "missing"])
def test_a_cache_that_cannot_be_written_never_costs_the_result(tmp_path, caplog, monkeypatch, problem):
    import momentfinder.store.cache as cache_module

    if problem == "read-only":  # a file where the cache directory would go: unwritable even as root
        (tmp_path / "blocked").write_text("not a directory")
        root = tmp_path / "blocked" / "cache"
    else:
        root = tmp_path / "not" / "yet" / "there"
    if problem == "full":

        def full_disk(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(cache_module, "write_atomic", full_disk)
    cache = FeatureCache(root)
    with caplog.at_level(logging.WARNING, logger="momentfinder.store.cache"):
        first = cache.save(cache_key("a"), clips(1.0))
        second = cache.save(cache_key("b"), clips(2.0))
        assert cache.load(cache_key("a")) is None or problem == "missing"
    if problem == "missing":  # created on first use
        assert first and second and cache.load(cache_key("a")) is not None
        return
    assert first is None and second is None and not cache.writable
    assert caplog.text.count("going on without caching") == 1  # warned once


def test_the_finder_recomputes_a_damaged_entry_and_works_without_a_cache(
    short_video, tiny_clip, tmp_path, monkeypatch, caplog
):
    import momentfinder.pipeline.finder as finder_module

    calls = []
    real = finder_module.VisualChannel.extract
    monkeypatch.setattr(
        finder_module.VisualChannel, "extract", lambda self, media: calls.append(1) or real(self, media)
    )

    def finder(cache_dir):
        return MomentFinder(tiny_clip, cache_dir=str(cache_dir), progress=False, use_subtitles=False)

    first = finder(tmp_path / "cache").extract(short_video).visual.features
    assert len(calls) == 1
    entry = next((tmp_path / "cache" / "features").rglob("*.npz"))
    data = bytearray(entry.read_bytes())
    data[data.find(first[1].tobytes()) + 5] ^= 0x01  # a flipped bit in clip 1
    entry.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = finder(tmp_path / "cache").extract(short_video).visual.features
    assert len(calls) == 2 and np.array_equal(again, first) and "damaged feature cache entry" in caplog.text
    assert np.array_equal(finder(tmp_path / "cache").extract(short_video).visual.features, first)
    assert len(calls) == 2  # the recomputed entry was cached again
    (tmp_path / "blocked").write_text("a file where the cache directory would go")
    result = finder(tmp_path / "blocked").ground(short_video, "a green scene", top_k=1)
    assert result.moments and len(calls) == 3


# --- extract: unique ids, query texts, atomic and locked writes -----------------------------------------


def test_two_videos_with_one_name_get_two_stable_ids(short_video, tiny_clip, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(short_video, tmp_path / folder / "clip.mp4")
    out = tmp_path / "feats"
    common = ["--out", str(out), "--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "cache")]
    videos = [str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.mp4")]
    assert main(["extract", *videos, *common, "--query", "a red scene", "--query", "a blue scene"]) == 0
    err = capsys.readouterr().err
    rows = read_manifest(out)
    assert len(rows) == 2 and "clip" in rows and "both named 'clip'" in err
    other = next(v for v in rows if v != "clip")
    assert other.startswith("clip-") and rows[other].path == videos[1] and rows["clip"].path == videos[0]
    # stable: the same paths keep their ids in any order, nothing is added or overwritten
    assert main(["extract", *reversed(videos), *common, "-q"]) == 0
    assert sorted(read_manifest(out)) == sorted(rows) and read_manifest(out)[other].path == videos[1]
    # the query texts are recorded with their qids, and read back when the caller has none
    fd = FeatureDirectory(out)
    assert fd.query_features(1).text == "a blue scene" and fd.query_features(0, "given").text == "given"
    lines = [json.loads(line) for line in (out / QUERY_MANIFEST).read_text().splitlines()]
    assert [(r["qid"], r["text"]) for r in lines] == [(0, "a red scene"), (1, "a blue scene")]
    assert sorted(fd.video_ids()) == sorted(rows)


def test_one_qid_with_two_texts_is_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match="query id 0 is given twice"):
        extract_directory(None, [], str(tmp_path), [(0, "a dog"), (0, "a cat")])


def test_parallel_writers_lose_no_manifest_row(tmp_path):
    """Six processes commit eight videos each (one commit per video) into one directory at once."""
    root = tmp_path / "feats"
    code = """
        import sys, time, numpy as np
        from pathlib import Path
        from momentfinder.store import FeatureDirectoryWriter
        from momentfinder.types import ClipFeatures, Timeline
        root, me, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
        while not go.exists():
            time.sleep(0.01)
        with FeatureDirectoryWriter(root, commit_every=0) as w:
            for i in range(8):
                n = 2 + (me + i) % 3
                feats = np.full((n, 4), me * 100 + i, np.float32)
                w.add_video(ClipFeatures(feats, Timeline.of(n, 2.0), "m", f"p{me}-{i}"), f"/src/p{me}-{i}.mp4")
                w.add_video(ClipFeatures(feats, Timeline.of(n, 2.0), "m", "same"), f"/src/{me}/same.mp4")
    """
    go = tmp_path / "go"
    procs = [run_child(code, str(root), str(me), str(go)) for me in range(6)]
    time.sleep(1.0)
    go.write_text("")
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    rows = read_manifest(root)
    # 48 own videos, and six different source files all named "same": six ids, none overwritten
    assert len([v for v in rows if v.startswith("p")]) == 48
    same = sorted(v for v in rows if v.startswith("same"))
    assert len(same) == 6 and len({rows[v].path for v in same}) == 6
    fd = FeatureDirectory(root, text_feat_dir=None)
    for vid, row in rows.items():
        feats = fd.clip_features(vid).features
        assert feats.shape[0] == row.n_clips  # every file agrees with its row
    assert sorted(fd.video_ids()) == sorted(rows)
    assert not list(root.glob(".staging-*")) and not (root / ".commit.json").exists()


def test_a_failed_commit_leaves_no_staging_behind_and_old_features_intact(tmp_path, monkeypatch):
    root = tmp_path / "feats"
    with FeatureDirectoryWriter(root) as w:
        w.add_video(clips(1.0, vid="a"), "a.mp4")
    before = snapshot(root)
    import momentfinder.store.feature_dir as feature_dir

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(feature_dir, "write_atomic", full_disk)
    with pytest.raises(InputError, match="No space left"):
        with FeatureDirectoryWriter(root) as w:
            w.add_video(clips(2.0, vid="a"), "a.mp4")
            w.add_video(clips(2.0, vid="b"), "b.mp4")
    monkeypatch.undo()
    assert snapshot(root) == before and not list(root.glob(".staging-*"))


# --- ids never leave their directory --------------------------------------------------------------------

BAD_IDS = ["../x", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "a\0b", "", ".", "..", ".hidden"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_never_escape_the_feature_directory(tmp_path, bad):
    root = tmp_path / "feats"
    with FeatureDirectoryWriter(root) as w:
        w.add_video(clips(1.0, vid="ok"), "ok.mp4")
        w.add_query(0, QueryFeatures("q", np.ones(4, np.float32)))
        with pytest.raises(InputError, match="inside the feature directory"):
            w.add_video(clips(1.0, vid=bad), "x.mp4")
        with pytest.raises(InputError, match="query id"):
            w.add_query(bad, QueryFeatures("q", np.ones(4, np.float32)))
    fd = FeatureDirectory(root)
    with pytest.raises(InputError, match="video id"):
        fd.clip_features(bad)
    with pytest.raises(InputError, match="query id"):
        fd.query_features(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats"]  # nothing written beside it
    with pytest.raises(InputError, match="not inside"):
        FeatureDirectory(root, clip_feat_dirs=("../feats/clip_features",))


def test_an_unsafe_id_in_an_annotation_file_is_one_line_naming_the_file(tmp_path, capsys):
    root = tmp_path / "feats"
    with FeatureDirectoryWriter(root) as w:
        w.add_video(clips(1.0, vid="ok"), "ok.mp4")
        w.add_query(0, QueryFeatures("q", np.ones(4, np.float32), np.ones((2, 4), np.float32)))
    ann = tmp_path / "ann.jsonl"
    row = {"qid": 0, "query": "q", "duration": 6.0, "vid": "../../outside", "relevant_windows": [[0, 2]]}
    ann.write_text(json.dumps(row) + "\n")
    assert (
        main(["predict", "--features", str(root), "--annotations", str(ann), "--out", str(tmp_path / "p")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(ann) in err and "'../../outside'" in err
    ann.write_text(json.dumps({**row, "vid": "ok", "qid": "a/../../b"}) + "\n")
    assert (
        main(["predict", "--features", str(root), "--annotations", str(ann), "--out", str(tmp_path / "p")])
        == 2
    )
    assert "query id 'a/../../b'" in capsys.readouterr().err


def test_a_forged_commit_journal_moves_nothing_out_of_the_directory(tmp_path):
    root = tmp_path / "feats"
    FeatureDirectoryWriter(root).close()
    (tmp_path / "victim").write_text("keep me")
    for src, dst in [(".staging-x/v0.npz", "../victim"), ("../victim", "clip_features/a.npz")]:
        (root / ".commit.json").write_text(json.dumps({"moves": [[src, dst]], "videos": []}))
        with pytest.raises(InputError, match="refusing to move"):
            FeatureDirectoryWriter(root)
    assert (tmp_path / "victim").read_text() == "keep me" and not (root / "clip_features" / "a.npz").exists()


# --- checkpoints carry a checksum -----------------------------------------------------------------------


def tiny_checkpoint(path: Path) -> torch.Tensor:
    weights = torch.linspace(-1, 1, 4096)
    param = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([param])
    param.grad = torch.ones(3)
    opt.step()
    save_checkpoint(
        path,
        {
            "config": {"train": {"epochs": 2}},
            "spec": {"visual_model": "m", "visual_dim": 4, "text_model": "m", "text_dim": 4, "clip_len": 2.0},
            "model": {"w": weights},
            "train_state": {"optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "epoch": 0},
        },
    )
    return weights


def flip_a_weight_bit(path: Path, weights: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(weights.numpy().tobytes()[8000:8064])
    assert at > 0
    data[at + 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_bit_flipped_checkpoint_is_refused(tmp_path, capsys):
    ckpt = tmp_path / "run" / "best.ckpt"
    ckpt.parent.mkdir()
    weights = tiny_checkpoint(ckpt)
    assert torch.equal(load_checkpoint(ckpt)["model"]["w"], weights)
    flip_a_weight_bit(ckpt, weights)
    assert not torch.equal(torch.load(ckpt, weights_only=True)["model"]["w"], weights)  # torch loads it
    with pytest.raises(CheckpointDamagedError, match="checksum mismatch"):
        load_checkpoint(ckpt)
    # predict --checkpoint and ground --model: one line, exit 3
    args = ["predict", "--checkpoint", str(ckpt), "--features", str(tmp_path), "--annotations", str(ckpt)]
    args += ["--out", str(tmp_path / "pred.jsonl")]
    assert main(args) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checksum mismatch" in err
    assert main(["ground", str(ckpt), "anything", "--model", str(ckpt)]) == 3
    assert "checksum mismatch" in capsys.readouterr().err


def test_a_damaged_last_checkpoint_is_not_resumed(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    tiny_checkpoint(run / "best.ckpt")
    weights = tiny_checkpoint(run / "last.ckpt")
    assert load_resume_checkpoint(run / "last.ckpt")["train_state"]["epoch"] == 0
    flip_a_weight_bit(run / "last.ckpt", weights)
    with pytest.raises(InputError, match="start the run over .* or use .*best.ckpt"):
        load_resume_checkpoint(run / "last.ckpt")
    args = ["train", "--features", str(tmp_path), "--train", "t.jsonl", "--val", "v.jsonl"]
    assert main([*args, "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged (checksum mismatch)" in err and "best.ckpt" in err
    (run / "last.ckpt").write_bytes((run / "last.ckpt").read_bytes()[:1000])  # truncated
    with pytest.raises(InputError, match="cannot resume: .*not a readable checkpoint"):
        load_resume_checkpoint(run / "last.ckpt")


def test_a_checkpoint_without_a_checksum_loads_with_a_warning(tmp_path, caplog):
    from momentfinder.grounding.detr.checkpoint import FORMAT

    torch.save({"format": FORMAT, "model": {"w": torch.ones(2)}}, tmp_path / "old.ckpt")
    with caplog.at_level(logging.WARNING):
        assert torch.equal(load_checkpoint(tmp_path / "old.ckpt")["model"]["w"], torch.ones(2))
    assert "no checksum" in caplog.text
    (tmp_path / "old.ckpt").write_bytes(b"\0" * 100)  # not a checkpoint at all: exit 3, as before
    with pytest.raises(ModelUnavailableError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "old.ckpt")


# --- kill -9 ---------------------------------------------------------------------------------------------

# Run the CLI in a child whose staging writes block (after writing half a file) at the Nth write.
_BLOCKING_EXTRACT = """
    import sys, time
    from pathlib import Path
    import momentfinder.store.feature_dir as fd
    marker, block_at = Path(sys.argv[1]), int(sys.argv[2])
    real, writes = fd.write_durable, []
    def slow(path, data):
        writes.append(path)
        if len(writes) == block_at:
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
            marker.write_text(str(path))
            time.sleep(600)
        real(path, data)
    fd.write_durable = slow
    from momentfinder.cli import main
    sys.exit(main(sys.argv[3:]))
"""


def test_extract_killed_mid_write_keeps_the_old_directory(short_video, tiny_clip, tmp_path):
    videos = []
    for name in ("one", "two", "three"):
        videos.append(str(tmp_path / f"{name}.mp4"))
        shutil.copy(short_video, videos[-1])
    out = tmp_path / "feats"
    common = ["--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert main(["extract", *videos[:2], "--out", str(out), *common, "--query", "red"]) == 0
    before = snapshot(out)
    # a re-run at another clip length, killed while writing its second video
    marker = tmp_path / "ready"
    proc = run_child(
        _BLOCKING_EXTRACT, str(marker), "2", "extract", *videos, "--out", str(out), *common, "--clip-len", "1"
    )
    kill_when_ready(proc, marker)
    assert snapshot(out) == before  # the old manifest and features, byte for byte
    fd = FeatureDirectory(out)
    assert fd.video_ids() == ["one", "two"] and fd.clip_len == 2.0  # the half-written file is not trusted
    assert fd.clip_features("one").n_clips == 3
    # a re-run completes (and clears the dead run's staging directory)
    assert main(["extract", *videos, "--out", str(out), *common, "--clip-len", "1"]) == 0
    fd = FeatureDirectory(out)
    assert fd.video_ids() == ["one", "three", "two"] and fd.clip_len == 1.0
    assert all(fd.clip_features(v).n_clips == 6 for v in fd.video_ids())
    assert not list(out.glob(".staging-*"))


_BLOCKING_COMMIT = """
    import os, sys, time
    from pathlib import Path
    import numpy as np
    import momentfinder.store.feature_dir as fd
    from momentfinder.types import ClipFeatures, Timeline
    root, marker = sys.argv[1], Path(sys.argv[2])
    real, moved = os.replace, []
    def slow_replace(src, dst):
        real(src, dst)
        if str(dst).endswith(".npz"):
            moved.append(dst)
            if len(moved) == 2:  # two of three videos moved in place, the manifest not yet merged
                marker.write_text("")
                time.sleep(600)
    fd.os.replace = slow_replace
    with fd.FeatureDirectoryWriter(root) as w:
        for i in range(3):
            w.add_video(ClipFeatures(np.full((5, 4), 9.0, np.float32), Timeline.of(5, 1.0), "new", f"v{i}"), f"/v{i}")
"""


def test_a_writer_killed_mid_commit_is_finished_by_the_next_one(tmp_path, caplog):
    root = tmp_path / "feats"
    with FeatureDirectoryWriter(root) as w:
        for i in range(3):
            w.add_video(clips(1.0, vid=f"v{i}"), f"/v{i}")
    marker = tmp_path / "ready"
    kill_when_ready(run_child(_BLOCKING_COMMIT, str(root), str(marker)), marker)
    assert (root / ".commit.json").exists()
    with caplog.at_level(logging.WARNING):
        FeatureDirectory(root, text_feat_dir=None)  # a reader is told
    assert "left a commit unfinished" in caplog.text
    FeatureDirectoryWriter(root).close()  # the next writer finishes the commit
    fd = FeatureDirectory(root, text_feat_dir=None)
    assert fd.video_ids() == ["v0", "v1", "v2"] and fd.clip_len == 1.0
    assert all(
        fd.clip_features(v).features[0, 0] == 9.0 and fd.clip_features(v).n_clips == 5 for v in fd.video_ids()
    )
    assert not (root / ".commit.json").exists() and not list(root.glob(".staging-*"))


_BLOCKING_CACHE_SAVE = """
    import os, sys, time
    from pathlib import Path
    import momentfinder.atomic as atomic
    marker, cache, video, model = Path(sys.argv[1]), *sys.argv[2:5]
    real_fdopen = os.fdopen
    class HalfWriter:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            self.f.write(bytes(data)[: len(data) // 2])
            self.f.flush()
            marker.write_text("")
            time.sleep(600)
    def fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        return HalfWriter(f) if "/features/" in os.readlink(f"/proc/self/fd/{fd}") else f
    atomic.os.fdopen = fdopen
    from momentfinder.pipeline import MomentFinder
    MomentFinder(model, cache_dir=cache, progress=False, use_subtitles=False).extract(video)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell the cache write")
def test_a_cache_save_killed_mid_write_is_ignored(short_video, tiny_clip, tmp_path, monkeypatch):
    import momentfinder.pipeline.finder as finder_module

    cache = tmp_path / "cache"
    marker = tmp_path / "ready"
    kill_when_ready(run_child(_BLOCKING_CACHE_SAVE, str(marker), str(cache), short_video, tiny_clip), marker)
    leftovers = [p for p in (cache / "features").rglob("*") if p.is_file()]
    assert leftovers and all(p.name.startswith(".") for p in leftovers)  # a temporary file, never an entry
    calls = []
    real = finder_module.VisualChannel.extract
    monkeypatch.setattr(
        finder_module.VisualChannel, "extract", lambda self, media: calls.append(1) or real(self, media)
    )

    def extract():
        return MomentFinder(tiny_clip, cache_dir=str(cache), progress=False, use_subtitles=False).extract(
            short_video
        )

    assert extract().visual.n_clips == 3 and len(calls) == 1  # the next run computes and caches
    assert extract().visual.n_clips == 3 and len(calls) == 1  # and the one after reads the cache


def test_two_extracts_at_once_into_one_directory_and_one_cache(short_video, tiny_clip, tmp_path):
    """Two `momentfinder extract` processes share a video, a feature directory and a cache."""
    shared, own = tmp_path / "shared.mp4", [tmp_path / "x" / "own.mp4", tmp_path / "y" / "own.mp4"]
    shutil.copy(short_video, shared)
    for path in own:
        path.parent.mkdir()
        shutil.copy(short_video, path)
    out, cache = tmp_path / "feats", tmp_path / "cache"
    code = "import sys; from momentfinder.cli import main; sys.exit(main(sys.argv[1:]))"
    procs = [
        run_child(
            code,
            "extract",
            str(shared),
            str(video),
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--visual-model",
            tiny_clip,
            "--query",
            "a red scene",
        )  # fmt: skip
        for video in own
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    rows = read_manifest(out)
    assert len(rows) == 3 and {r.path for r in rows.values()} == {str(shared), *map(str, own)}
    fd = FeatureDirectory(out)
    assert all(fd.clip_features(v).n_clips == r.n_clips == 3 for v, r in rows.items())
    entries = [p for p in (cache / "features").rglob("*") if p.is_file()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")  # one content, one valid entry
    from momentfinder.store.cache import _parse_entry

    assert _parse_entry(entries[0].read_bytes(), str(entries[0]), None).n_clips == 3  # passes every check
    assert not list(out.glob(".staging-*")) and not (out / ".commit.json").exists()
    assert MANIFEST in os.listdir(out)
