"""Online moment retrieval: the causal grounder, live sources, the watcher and ``momentfinder watch``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from momentfinder.errors import InputError, MediaError, UsageError
from momentfinder.grounding.online import LevelTracker, OnlineConfig, OnlineGrounder
from momentfinder.pipeline.finder import FinderConfig, MomentFinder
from momentfinder.pipeline.online import EventLog, LiveConfig, WatchConfig, Watcher, read_queries_file
from momentfinder.types import MomentEvent, QueryFeatures
from momentfinder.video.live import LiveSource, source_kind
from momentfinder.video.sample import Scene, write_sample_video

from .flaky_http import FlakyServer

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def check_sequence(events: list[MomentEvent], closed: bool = True) -> None:
    """Every end has a start, decisions come in time order, a moment never ends before it starts."""
    opened: dict = {}
    last_at = -np.inf
    ids: dict = {}
    for e in events:
        assert e.at is not None and e.at >= last_at - 1e-9, e
        last_at = e.at
        key = (e.query, e.moment)
        if e.event == "start":
            assert key not in opened, f"moment started twice: {e}"
            assert e.moment > ids.get(e.query, 0), "moment numbers increase"
            ids[e.query] = e.moment
            assert e.t == e.start and e.t <= e.at + 1e-9
            opened[key] = e
        else:
            assert key in opened, f"{e.event} without a start: {e}"
            assert e.t >= opened[key].t and e.start == opened[key].t, e
            if e.event == "end":
                del opened[key]
    if closed:
        assert not opened, f"moments left open: {list(opened)}"


def bump_curve(n: int, start: int, end: int, rng: np.random.Generator, height: float = 6.0) -> np.ndarray:
    x = rng.normal(0.0, 1.0, n)
    x[start:end] += height
    return x


# --- the causal grounder ------------------------------------------------------------------
def test_a_clear_moment_starts_soon_and_ends_where_the_evidence_ends():
    rng = np.random.default_rng(0)
    curve = bump_curve(60, 20, 30, rng) * 0.01  # cosine-like units
    tracker = LevelTracker("q", 2.0, OnlineConfig())
    events = []
    for i, value in enumerate(curve):
        for e in tracker.push(np.array([[value]])):
            events.append(e)
            assert e.at == pytest.approx((i + 1) * 2.0)  # decided as the clip arrived: lag 0
    events += tracker.finish()
    check_sequence(events)
    starts = [e for e in events if e.event == "start"]
    ends = [e for e in events if e.event == "end"]
    assert len(starts) >= 1
    best = max(ends, key=lambda e: e.score)
    assert best.start == pytest.approx(40.0, abs=4.0) and best.t == pytest.approx(60.0, abs=4.0)
    first = next(e for e in starts if e.moment == best.moment)
    assert first.at - 40.0 <= 4.0  # the start is announced within two clips


def test_more_lag_waits_longer():
    rng = np.random.default_rng(1)
    curve = bump_curve(60, 20, 30, rng) * 0.01
    delays = []
    for lag in (0, 3):
        tracker = LevelTracker("q", 2.0, OnlineConfig(lag_clips=lag))
        events = [e for v in curve for e in tracker.push(np.array([[v]]))] + tracker.finish()
        start = next(e for e in events if e.event == "start" and abs(e.t - 40.0) <= 2.0)
        delays.append(start.at - start.t)
    assert delays[1] >= delays[0] + 2 * 2.0


def test_flat_noise_raises_alarms_that_lag_and_levels_trade_away():
    x = np.random.default_rng(2).normal(0, 0.01, (1800, 1))  # an hour of 2 s clips, nothing happens
    alarms = []
    for config in (OnlineConfig(), OnlineConfig(lag_clips=2, smooth_sigma=1.0, start_level=2.0)):
        tracker = LevelTracker("q", 2.0, config)
        events = tracker.push(x) + tracker.finish()
        check_sequence(events)
        alarms.append(sum(e.event == "start" for e in events))
    assert alarms[0] < 1800 / 20 and alarms[1] < 1800 / 300


curves = st.integers(min_value=2, max_value=80).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=n, max_size=n),
        st.integers(0, n),
    )
)
configs = st.builds(
    OnlineConfig,
    lag_clips=st.integers(0, 3),
    smooth_sigma=st.sampled_from([0.0, 0.7, 1.5]),
    start_level=st.sampled_from([0.5, 1.2, 2.0]),
    end_level=st.sampled_from([-0.5, 0.0, 0.5]),
    end_clips=st.integers(1, 3),
    prior_noise=st.sampled_from([None, 0.05]),
    max_moment_clips=st.sampled_from([0, 5]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(curve=curves, config=configs, columns=st.integers(1, 3), chunk=st.integers(1, 7))
def test_events_up_to_a_time_do_not_depend_on_the_clips_after_it(curve, config, columns, chunk):
    values, cut = curve
    raw = np.asarray(values, dtype=np.float64)[:, None] * np.linspace(1.0, 0.5, columns)[None, :]
    full = LevelTracker("q", 1.0, config)
    seen_by_cut: list = []
    later: list = []
    for i in range(len(raw)):
        events = full.push(raw[i : i + 1])
        (seen_by_cut if i < cut else later).extend(events)
    rest = later + full.finish()
    prefix = LevelTracker("q", 1.0, config)
    chunked = []
    for i in range(0, cut, chunk):  # fed in chunks of any size: the same events
        chunked += prefix.push(raw[i : min(cut, i + chunk)])
    assert chunked == seen_by_cut
    assert all(e.at <= cut * 1.0 + 1e-9 for e in chunked)
    check_sequence(seen_by_cut + rest)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 40), cut=st.integers(0, 40), chunk=st.integers(1, 9))
def test_the_grounder_over_clip_features_is_causal_too(seed, n, cut, chunk):
    rng = np.random.default_rng(seed)
    cut = min(cut, n)
    query = QueryFeatures(
        "q", unit(rng.normal(size=8)), parts=np.stack([unit(rng.normal(size=8)) for _ in range(2)])
    )
    feats = np.stack([unit(rng.normal(size=8) + (2 * query.pooled if i % 7 < 3 else 0)) for i in range(n)])
    full = OnlineGrounder(None, 2.0)
    full.add_query("q", query)
    early = [e for i in range(cut) for e in full.push(feats[i : i + 1])]
    check_sequence(early + [e for i in range(cut, n) for e in full.push(feats[i : i + 1])] + full.finish())
    prefix = OnlineGrounder(None, 2.0)
    prefix.add_query("q", query)
    assert [e for i in range(0, cut, chunk) for e in prefix.push(feats[i : min(cut, i + chunk)])] == early


@settings(max_examples=150, deadline=None)
@given(curve=curves, config=configs, gaps=st.lists(st.integers(0, 4), max_size=3))
def test_event_sequences_are_valid(curve, config, gaps):
    values, cut = curve
    tracker = LevelTracker("q", 2.0, config)
    events = list(tracker.push(np.asarray(values[:cut])[:, None]))
    for g in gaps:
        events += tracker.skip(g)
    events += tracker.push(np.asarray(values[cut:])[:, None])
    events += tracker.finish()
    check_sequence(events)


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_queries_come_and_go_and_a_removed_query_is_closed():
    rng = np.random.default_rng(3)
    dim = 8
    target = unit(rng.normal(size=dim))
    feats = [unit(rng.normal(size=dim) + (4 * target if 10 <= i < 30 else 0)) for i in range(60)]
    online = OnlineGrounder(None, 2.0)
    online.add_query("a", QueryFeatures("a", target))
    events = online.push(np.stack(feats[:20]))
    assert any(e.event == "start" and e.query == "a" for e in events)
    events += online.remove_query("a")
    assert events[-1].event == "end" and events[-1].query == "a"
    online.add_query("b", QueryFeatures("b", target))  # from clip 20 on
    events += online.push(np.stack(feats[20:])) + online.finish()
    check_sequence(events)
    assert all(e.at > 40.0 for e in events if e.query == "b")
    assert online.remove_query("missing") == []


def test_online_config_refuses_bad_values():
    with pytest.raises(InputError, match="lag_clips"):
        OnlineConfig(lag_clips=-1)
    with pytest.raises(InputError, match="start_level"):
        OnlineConfig(start_level=0.0, end_level=1.0)
    with pytest.raises(InputError, match="unknown online option"):
        OnlineConfig.from_dict({"nope": 1})
    with pytest.raises(InputError, match="integer"):
        OnlineConfig.from_dict({"end_clips": 1.5})
    assert OnlineConfig.from_dict({"lag_clips": 2.0}).lag_clips == 2


# --- live sources ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def colour_stream(tmp_path_factory) -> str:
    """24 s: red 0-8 s, green 8-16 s, red 16-24 s; 96×64 @ 10 fps, a keyframe a second."""
    path = str(tmp_path_factory.mktemp("live") / "rgr.mp4")
    scenes = [Scene(8, (220, 30, 30)), Scene(8, (30, 220, 30)), Scene(8, (220, 30, 30))]
    return write_sample_video(path, scenes, size=(96, 64), fps=10, gop=10)


@pytest.fixture(scope="module")
def colour_ts(colour_stream) -> str:
    """``colour_stream`` remuxed to MPEG-TS, as live streams are carried."""
    import av

    path = colour_stream[:-4] + ".ts"
    with av.open(colour_stream) as src, av.open(path, "w", format="mpegts") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def test_a_file_source_yields_every_clip_once_in_order(colour_stream):
    source = LiveSource(colour_stream, LiveConfig(clip_len=2.0, frames_per_clip=2, size=32))
    clips = list(source.clips())
    assert [c.index for c in clips] == list(range(12))
    for c in clips:
        assert len(c.frames) == 2 and all(c.index * 2.0 <= t < c.index * 2.0 + 2.0 for t in c.times)
    assert source.stats.ended == "end of file" and source.stats.gap_clips == 0
    assert not source.live


def test_loop_and_max_seconds_make_a_file_a_stream(colour_stream):
    source = LiveSource(colour_stream, LiveConfig(clip_len=2.0, size=32, loop=True, max_seconds=50))
    clips = list(source.clips())
    assert [c.index for c in clips] == list(range(25))
    assert "stopped after 50" in source.stats.ended


def test_realtime_paces_a_file_at_its_frame_rate(colour_stream):
    waited = []
    clock = [0.0]

    def sleep(s):
        waited.append(s)
        clock[0] += s

    source = LiveSource(
        colour_stream, LiveConfig(size=32, realtime=True), sleep=sleep, clock=lambda: clock[0]
    )
    assert source.live
    assert len(list(source.clips())) == 12
    assert sum(waited) == pytest.approx(24.0, abs=0.5)


def test_a_dropped_http_stream_reconnects_and_resumes_without_repeating(colour_ts):
    size = os.path.getsize(colour_ts)
    with FlakyServer(colour_ts, cut_bytes=size // 3, drops=3) as server:
        source = LiveSource(server.url, LiveConfig(size=32, backoff=0.05, reconnects=4, timeout=5))
        clips = list(source.clips())
    assert [c.index for c in clips] == list(range(12))
    assert source.stats.reconnects >= 1 and source.stats.ended == "end of stream"


def test_a_stream_that_stays_down_is_lost_after_bounded_retries(colour_ts):
    size = os.path.getsize(colour_ts)
    with FlakyServer(colour_ts, cut_bytes=size // 3, drops=1000) as server:
        source = LiveSource(server.url, LiveConfig(size=32, backoff=0.01, reconnects=2, timeout=5))
        clips = list(source.clips())
    assert 0 < len(clips) < 12 and [c.index for c in clips] == list(range(len(clips)))
    assert "lost after 2 reconnect attempts" in source.stats.ended


def test_source_kinds_and_bad_sources(tmp_path):
    assert source_kind("rtsp://cam/1") == "network" and source_kind("https://x/a.m3u8") == "network"
    assert source_kind("/dev/video0") == "device" and source_kind("testsrc", "lavfi") == "device"
    assert source_kind("movie.mp4") == "file" and source_kind("file:///a/b.mp4") == "file"
    with pytest.raises(InputError, match="unsupported source scheme"):
        source_kind("gopher://x")
    with pytest.raises(InputError, match="no such file"):
        LiveSource(str(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="cannot open"):
        list(LiveSource(str(junk)).clips())
    with pytest.raises(MediaError, match="cannot open"):
        list(LiveSource("http://127.0.0.1:9/none.mp4", LiveConfig(timeout=2)).clips())


# --- the watcher, with an encoder that sees colours --------------------------------------
class ColourEncoder:
    """Frames → their mean colour (plus a little noise, as real features have); a query names a colour."""

    name, dim, frame_size, batch_size, fingerprint, precision = "colour", 4, 32, 8, "colour", "fp32"
    COLOURS = {"red": [1, 0, 0, 0.2], "green": [0, 1, 0, 0.2], "blue": [0, 0, 1, 0.2]}

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def encode_images(self, images):
        rows = [np.append(img.reshape(-1, 3).mean(axis=0) / 255.0, 0.2) for img in images]
        x = np.asarray(rows) + self.rng.normal(0, 0.02, (len(rows), 4))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def encode_texts(self, texts):
        return np.stack([self.encode_query(t)[0] for t in texts])

    def encode_query(self, text):
        v = np.asarray(self.COLOURS[text.split()[0]], dtype=np.float32)
        return v / np.linalg.norm(v), None


def colour_finder() -> MomentFinder:
    finder = MomentFinder(config=FinderConfig(visual_model="colour", use_subtitles=False, use_cache=False))
    finder.models._visual = ColourEncoder()
    return finder


def test_the_watcher_finds_the_green_scene_as_it_happens(colour_stream, tmp_path):
    events_file = tmp_path / "events.jsonl"
    watcher = Watcher(
        colour_finder(), colour_stream, WatchConfig(events_file=str(events_file)), ["green", "blue"]
    )
    heard: list = []
    watcher.subscribe(heard.append)
    summary = watcher.run()
    check_sequence(heard)
    green = [e for e in heard if e.query == "green"]
    start = next(e for e in green if e.event == "start")
    end = next(e for e in green if e.event == "end")
    assert start.t == pytest.approx(8.0, abs=2.0) and start.at - start.t <= 4.0
    # ends within two clips of the scene change (uncalibrated: the null is the running median, which
    # a long green third of the stream lifts, so some red clips after it still look a little green)
    assert end.t == pytest.approx(16.0, abs=4.0) and end.at - end.t <= 6.0
    blue = [e.score for e in heard if e.query == "blue" and e.event == "end"]  # noise: a weak alarm at most
    assert max(blue, default=0.0) < end.score / 3
    assert [json.loads(line) for line in events_file.read_text().splitlines()] == [e.to_json() for e in heard]
    assert summary.clips == 12 and summary.dropped == 0 and summary.events == len(heard)
    assert summary.ended == "end of file" and summary.speed > 0


def test_a_slow_encoder_on_a_live_source_drops_clips_and_says_so(colour_stream, caplog):
    class Slow(ColourEncoder):
        def encode_images(self, images):
            time.sleep(0.4 * len(images))  # slower than real time: 0.25 s clips
            return super().encode_images(images)

    finder = colour_finder()
    finder.models._visual = Slow()
    live = LiveConfig(realtime=True, loop=True, max_seconds=12.0, clip_len=0.25)
    finder.config.sampling.clip_len = 0.25
    watcher = Watcher(
        finder, colour_stream, WatchConfig(live=live, queue_clips=1, drop_report_seconds=0), ["green"]
    )
    summary = watcher.run()
    assert summary.dropped > 0 and summary.clips + summary.dropped + summary.gap_clips <= 48
    assert "dropped" in summary.describe() and "falling behind real time" in caplog.text


def test_a_queries_file_adds_and_removes_queries_while_watching(colour_stream, tmp_path):
    qfile = tmp_path / "queries.txt"
    qfile.write_text("# standing queries\ngreen\n")
    finder = colour_finder()
    finder.models._visual.batch_size = 1  # the file is checked between batches: here between clips
    watcher = Watcher(finder, colour_stream, WatchConfig(queries_file=str(qfile), poll_seconds=0.0), [])
    seen: list = []
    push = watcher.grounder.push

    def spy(features):
        clip = watcher.grounder.clips
        if clip == 3:  # another program edits the file: red added
            qfile.write_text("green\nred\n")
            os.utime(qfile, (time.time() + 5, time.time() + 5))
        if clip == 6:  # green removed while its moment is open
            qfile.write_text("red\n")
            os.utime(qfile, (time.time() + 10, time.time() + 10))
        seen.append((clip, tuple(watcher.grounder.queries)))
        return push(features)

    watcher.grounder.push = spy
    heard: list = []
    watcher.subscribe(heard.append)
    watcher.run()
    check_sequence(heard)
    assert seen[0] == (0, ("green",)) and seen[-1][1] == ("red",)
    assert any(q == ("green", "red") for _, q in seen)
    green = [e for e in heard if e.query == "green"]
    assert green and green[-1].event == "end" and green[-1].at <= 8 * 2.0  # closed when removed
    assert read_queries_file(str(qfile)) == ["red"]


def test_the_watcher_api_is_thread_safe_and_refuses_nothing_to_watch(colour_stream):
    with pytest.raises(UsageError, match="nothing to watch"):
        Watcher(colour_finder(), colour_stream, WatchConfig(), [])
    watcher = Watcher(colour_finder(), colour_stream, WatchConfig(), ["green"])
    threads = [threading.Thread(target=watcher.add_query, args=(f"blue {i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(watcher.queries) == 9
    assert watcher.remove_query("blue 3") and not watcher.remove_query("blue 3")
    with pytest.raises(InputError, match="empty"):
        watcher.add_query("  ")
    got: list = []
    consumer = threading.Thread(target=lambda: got.extend(watcher.events()))
    consumer.start()
    time.sleep(0.1)
    watcher.run()
    consumer.join(timeout=10)
    check_sequence(got)
    assert any(e.query == "green" for e in got)


def test_the_event_log_appends_and_refuses_a_missing_folder(tmp_path):
    log = EventLog(tmp_path / "e.jsonl")
    log.write(MomentEvent("q", "start", 1.0, 2.0, at=2.0, start=1.0))
    log.close()
    log = EventLog(tmp_path / "e.jsonl")
    log.write(MomentEvent("q", "end", 3.0, 2.5, at=4.0, start=1.0, end=3.0))
    log.close()
    assert [json.loads(x)["event"] for x in (tmp_path / "e.jsonl").read_text().splitlines()] == [
        "start",
        "end",
    ]
    with pytest.raises(InputError, match="folder does not exist"):
        EventLog(tmp_path / "nope" / "e.jsonl")


# --- the command -------------------------------------------------------------------------
def watch(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run(
        [sys.executable, "-m", "momentfinder", "watch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_watch_prints_json_lines_for_a_generated_video(colour_stream, tiny_clip, tmp_path):
    events = tmp_path / "events.jsonl"
    r = watch(colour_stream, "--visual-model", tiny_clip, "--query", "a green room", "--query", "red",
              "--events", str(events), "--clip-len", "1", "--set", "start_level=0.5")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines and lines == [json.loads(x) for x in events.read_text().splitlines()]
    for e in lines:
        assert {"query", "event", "t", "score"} <= set(e) and e["event"] in ("start", "update", "end")
    check_sequence([MomentEvent(**e) for e in lines])
    assert "watched 24.0 s of stream" in r.stderr and "end of file" in r.stderr


def test_watch_over_a_dropping_http_stream(colour_ts, tiny_clip):
    size = os.path.getsize(colour_ts)
    with FlakyServer(colour_ts, cut_bytes=size // 2, drops=2) as server:
        r = watch(server.url, "--visual-model", tiny_clip, "--query", "red", "--set", "start_level=0.5")
    assert r.returncode == 0, r.stderr
    assert "reconnect" in r.stderr and "12 clips" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.mp4", "--query", "x"], "no such file"),
        (["{junk}", "--query", "x"], "cannot open"),
        (["gopher://host/x", "--query", "x"], "unsupported source scheme"),
        (["{video}"], "nothing to watch"),
        (["{video}", "--query", "x", "--set", "lag_clips=-2"], "lag_clips"),
        (["{video}", "--query", "x", "--queries-file", "{missing}"], "cannot read the queries file"),
        (["{video}", "--query", "x", "--events", "/nonexistent/dir/e.jsonl"], "folder does not exist"),
        (["{video}", "--query", "x", "--no-stdout"], "--no-stdout without --events"),
        (["{video}", "--query", " "], "query is empty"),
    ],
)
def test_watch_bad_input_is_one_error_line_and_exit_2(args, message, colour_stream, tiny_clip, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00junk" * 500)
    args = [a.format(junk=junk, video=colour_stream, missing=tmp_path / "q.txt") for a in args]
    r = watch(*args, "--visual-model", tiny_clip)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momentfinder: error:") and message in lines[0], r.stderr


def test_events_survive_kill_9(colour_stream, tiny_clip, tmp_path):
    events = tmp_path / "events.jsonl"
    out = tmp_path / "stdout.txt"
    env = dict(os.environ, PYTHONPATH=SRC)
    cmd = [sys.executable, "-m", "momentfinder", "watch", colour_stream, "--visual-model", tiny_clip,
           "--query", "red", "--realtime", "--loop", "--clip-len", "0.5", "--events", str(events),
           "--set", "start_level=-50", "end_level=-100", "update_change=0.01"]  # fmt: skip
    with open(out, "w") as stdout:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                if events.exists() and len(events.read_text().splitlines()) >= 4:
                    break
                time.sleep(0.2)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
    kept = [json.loads(x) for x in events.read_text().splitlines()]
    printed = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(kept) >= 4
    assert kept[: len(printed)] == printed  # whatever was announced is in the file
    assert kept[0]["event"] == "start"


def test_watch_a_device_with_a_queries_file_edited_while_running(tiny_clip, tmp_path):
    """FFmpeg's test source as a capture device (``--format lavfi``), paced in real time; a query is
    added and another removed by editing the file. Thresholds far below any level make every
    watched query's moment open after the warm-up, so what is watched when shows in the events."""
    qfile = tmp_path / "queries.txt"
    qfile.write_text("a red square\n")
    out = tmp_path / "stdout.txt"
    env = dict(os.environ, PYTHONPATH=SRC)
    cmd = [sys.executable, "-m", "momentfinder", "watch", "testsrc=size=96x64:rate=10", "--format", "lavfi",
           "--realtime", "--max-seconds", "12", "--clip-len", "0.5", "--visual-model", tiny_clip,
           "--queries-file", str(qfile), "--set", "start_level=-50", "end_level=-100", "update_change=100"]  # fmt: skip
    with open(out, "w") as stdout:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 60
        while time.time() < deadline and "a red square" not in out.read_text():
            time.sleep(0.1)
        qfile.write_text("a blue circle\n")  # red removed, blue added
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    events = [MomentEvent(**json.loads(x)) for x in out.read_text().splitlines()]
    check_sequence(events)
    red = [e for e in events if e.query == "a red square"]
    blue = [e for e in events if e.query == "a blue circle"]
    assert [e.event for e in red] == ["start", "end"] and red[1].at < 12.0  # closed when removed
    assert blue and blue[0].event == "start" and blue[0].at > red[1].at - 1.0
    assert "watched" in stderr and "stopped after 12 s of stream" in stderr, stderr


def test_the_event_iterator_ends_after_a_quiet_timeout(colour_stream):
    watcher = Watcher(colour_finder(), colour_stream, WatchConfig(), ["green"])
    t0 = time.monotonic()
    assert list(watcher.events(timeout=0.3)) == []  # nothing is running: quiet, so it ends
    assert time.monotonic() - t0 < 5


def test_watch_with_a_model_that_cannot_load_is_exit_3(colour_stream, tmp_path):
    r = watch(colour_stream, "--query", "x", "--visual-model", str(tmp_path / "no-model"))
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot load visual model" in lines[0] and "allow-missing" not in lines[0]
