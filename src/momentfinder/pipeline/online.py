"""Watch a live source for standing queries: source → visual encoder → causal grounder → events.

    watcher = Watcher(MomentFinder(...), "rtsp://camera/stream", WatchConfig(), ["a man opens the door"])
    watcher.subscribe(lambda event: print(event.to_json()))
    summary = watcher.run()          # blocks until the source ends or watcher.stop()

A background thread reads the source (:class:`~momentfinder.video.live.LiveSource`) into a small
queue of sampled clips; the thread that calls :meth:`Watcher.run` encodes them with the finder's
visual encoder (in batches of what is waiting) and feeds the causal grounder
(:class:`~momentfinder.grounding.online.OnlineGrounder`). A source that runs at the pace of the
world (a stream, a device, a file played in real time) never waits for the encoder: when the
queue is full the oldest clip is dropped, counted and reported (a gap of one or two clips holds
the previous clip's relevance; a longer one closes the open moments). Queries are added and
removed while it runs, from any thread (:meth:`Watcher.add_query`, :meth:`Watcher.remove_query`,
the queries file), and every event goes to the subscribers and, appended and fsynced one by one,
to the events file, so an event that was announced is never lost, even to ``kill -9``. With a
library (:class:`LibrarySink`), every closed moment (its ``end`` event) is also committed to the
library, one transaction per moment, before anyone hears of it: ``momentfinder search`` finds it
by its query's words.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..encoders.base import l2_normalize
from ..errors import InputError, ModelUnavailableError, UsageError
from ..grounding.online import OnlineConfig, OnlineGrounder
from ..grounding.zeroshot import ZeroShotGrounder
from ..store.catalog import FoundMoment
from ..types import MomentEvent
from ..video.live import LiveClip, LiveConfig, LiveSource, SourceStats
from .finder import MomentFinder, validate_query

__all__ = [
    "EventLog",
    "LibrarySink",
    "LiveConfig",
    "OnlineConfig",
    "WatchConfig",
    "WatchSummary",
    "Watcher",
    "read_queries_file",
]

log = logging.getLogger(__name__)
_DONE = object()
HOLD_GAP_CLIPS = 2  # a gap this short holds the previous clip's relevance; a longer one closes moments


@dataclass
class WatchConfig:
    """How a source is watched (the sampling clip length and frames per clip come from the finder)."""

    live: LiveConfig = field(default_factory=LiveConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    queue_clips: int = 4  # clips waiting for the encoder before a live source's oldest is dropped
    queries_file: str | None = None  # one query a line ('#' comments), re-read when it changes
    events_file: str | None = None  # JSON lines, appended and fsynced per event
    library: str | None = None  # a library (SQLite file or postgresql:// URL) the closed moments go to
    poll_seconds: float = 0.5  # how often the queries file is checked
    drop_report_seconds: float = 10.0  # at most one "falling behind" warning this often

    def __post_init__(self) -> None:
        if self.queue_clips < 1:
            raise InputError(f"the clip queue must hold at least 1 clip, got {self.queue_clips}")


@dataclass
class WatchSummary:
    """What a watch did: stream seconds watched in wall seconds, clips encoded and dropped (the
    encoder fell behind), gap clips (the source had no frame), reconnections, events, why it ended."""

    stream_seconds: float
    wall_seconds: float
    clips: int
    dropped: int
    gap_clips: int
    reconnects: int
    events: int
    ended: str
    encode_seconds: float = 0.0
    recorded: int = 0  # closed moments committed to the library

    @property
    def speed(self) -> float:
        """Stream seconds per wall second (1.0 = exactly real time)."""
        return self.stream_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {
            "stream_seconds": round(self.stream_seconds, 2),
            "wall_seconds": round(self.wall_seconds, 2),
            "speed": round(self.speed, 2),
            "clips": self.clips,
            "dropped": self.dropped,
            "gap_clips": self.gap_clips,
            "reconnects": self.reconnects,
            "events": self.events,
            "encode_seconds": round(self.encode_seconds, 2),
            "recorded": self.recorded,
            "ended": self.ended,
        }

    def describe(self) -> str:
        text = (
            f"watched {self.stream_seconds:.1f} s of stream in {self.wall_seconds:.1f} s "
            f"({self.speed:.2f}x real time): {self.clips} clips, {self.events} events"
        )
        if self.dropped:
            share = 100.0 * self.dropped / max(1, self.clips + self.dropped)
            text += f", {self.dropped} clips dropped ({share:.0f}%: the encoder could not keep up)"
        if self.gap_clips:
            text += f", {self.gap_clips} clips without frames"
        if self.reconnects:
            text += f", {self.reconnects} reconnections"
        if self.recorded:
            text += f", {self.recorded} moments recorded in the library"
        return f"{text}; {self.ended}"


class EventLog:
    """An append-only JSON-lines file of events: each line is written, flushed and fsynced before
    :meth:`write` returns, so what was announced survives a crash (a torn last line at most)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise InputError(f"{self.path}: its folder does not exist")
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise InputError(f"{self.path}: cannot write events ({err.strerror})") from None
        self._lock = threading.Lock()

    def write(self, event: MomentEvent) -> None:
        line = (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class LibrarySink:
    """Records every closed moment (an ``end`` event) in a library as a
    :class:`~momentfinder.store.catalog.FoundMoment`: source, query, start, end, final score and
    the wall-clock time it was found; one committed transaction per moment, so a crash loses at
    most the moment being written. The library is opened (created, or migrated to the current
    schema) once here to check it, then again by the thread that writes first (a SQLite
    connection belongs to its thread); :meth:`close` must be called on that thread."""

    def __init__(self, location: str | os.PathLike, source: str):
        from .library import Library

        self.location = os.fspath(location)
        self.source = source
        Library(self.location, progress=False, create=True).close()  # a bad library fails now
        self._library = None
        self._thread: int | None = None
        self.recorded = 0

    def write(self, event: MomentEvent) -> None:
        if event.event != "end":
            return
        from .library import Library

        if self._library is None:
            self._library, self._thread = Library(self.location, progress=False), threading.get_ident()
        elif threading.get_ident() != self._thread:
            raise RuntimeError("a LibrarySink writes from the thread that wrote first")
        start = event.start if event.start is not None else event.t
        end = event.end if event.end is not None else event.t
        moment = FoundMoment(self.source, event.query, start, end, event.score, time.time())
        self._library.add_found_moment(moment)
        self.recorded += 1

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None


def source_name(source: LiveSource) -> str:
    """How a library names a watched source: a file's absolute path, a stream's URL without its
    password, a device as given."""
    if source.kind == "file":
        return os.path.abspath(source.source)
    if source.kind == "network":
        parts = urlsplit(source.source)
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[1]
            netloc = f"{parts.username}@{host}" if parts.username else host
            return urlunsplit(parts._replace(netloc=netloc))
    return source.source


def _blank_frame(encoder) -> np.ndarray:
    size = getattr(encoder, "frame_size", 224) or 224
    width, height = (size, size) if isinstance(size, int) else size
    return np.zeros((height, width, 3), dtype=np.uint8)


def read_queries_file(path: str) -> list[str]:
    """The queries of a queries file: one a line, blank lines and ``#`` comments skipped."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return list(dict.fromkeys(" ".join(q.split()) for q in lines if q and not q.startswith("#")))


class Watcher:
    """Standing queries over a live source (see module docstring). Thread-safe: queries can be
    added and removed, and subscribers can come and go, from any thread while :meth:`run` runs."""

    def __init__(
        self,
        finder: MomentFinder,
        source: str,
        config: WatchConfig | None = None,
        queries: list[str] | tuple[str, ...] = (),
    ):
        self.finder = finder
        self.config = config or WatchConfig()
        if finder.config.checkpoint is not None or not isinstance(finder.grounder, ZeroShotGrounder):
            raise UsageError(
                "watching grounds with the zero-shot grounder; a trained --model is not supported"
            )
        sampling = finder.config.sampling
        # the finder owns the sampling: the source samples as its encoder expects
        self.config = replace(
            self.config,
            live=replace(
                self.config.live, clip_len=sampling.clip_len, frames_per_clip=sampling.frames_per_clip
            ),
        )
        self.source = LiveSource(source, self.config.live)
        self.grounder = OnlineGrounder(finder.grounder, sampling.clip_len, self.config.online)
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []  # ("add" | "remove", query), applied between clips
        self._wanted: dict[str, None] = {}  # the queries as the callers see them (ordered set)
        self._from_file: set[str] = set()
        self._subscribers: list[Callable[[MomentEvent], None]] = []
        self._stop = threading.Event()
        self._file_state: tuple[float, int] | None = None
        self._file_checked = 0.0
        self._file_error: str | None = None
        self._log = EventLog(self.config.events_file) if self.config.events_file else None
        self._found = (
            LibrarySink(self.config.library, source_name(self.source)) if self.config.library else None
        )
        for q in queries:
            self.add_query(q)
        if self.config.queries_file is not None:
            self._check_queries_file(force=True)
        if not self._wanted and self.config.queries_file is None:
            raise UsageError("nothing to watch for: give a --query or a --queries-file")

    # --- queries and subscribers (any thread) --------------------------------------------
    def add_query(self, query: str) -> str:
        """Watch for ``query`` from the next clip on; returns it normalised."""
        query = validate_query(query)
        with self._lock:
            if query not in self._wanted:
                self._wanted[query] = None
                self._pending.append(("add", query))
        return query

    def remove_query(self, query: str) -> bool:
        """Stop watching ``query`` (its open moment is closed); False when it was not watched."""
        query = " ".join(str(query).split())
        with self._lock:
            if query not in self._wanted:
                return False
            del self._wanted[query]
            self._pending.append(("remove", query))
        return True

    @property
    def queries(self) -> list[str]:
        with self._lock:
            return list(self._wanted)

    def subscribe(self, callback: Callable[[MomentEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on (on the watching thread; keep it
        quick); returns the function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def events(self, timeout: float | None = None) -> Iterator[MomentEvent]:
        """The events from now on, as an iterator (for a server's event stream); it ends when
        the watch ends, or after ``timeout`` seconds without an event."""
        box: queue.Queue = queue.Queue()
        unsubscribe = self.subscribe(box.put)
        quiet_since = time.monotonic()
        try:
            while True:
                try:
                    item = box.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set() or (
                        timeout is not None and time.monotonic() - quiet_since > timeout
                    ):
                        return
                    continue
                quiet_since = time.monotonic()
                yield item
        finally:
            unsubscribe()

    def stop(self) -> None:
        """End the watch: :meth:`run` closes the open moments and returns."""
        self._stop.set()

    # --- the watch ------------------------------------------------------------------------
    def run(self) -> WatchSummary:
        """Watch until the source ends, is lost, or :meth:`stop`; returns what happened."""
        encoder = self.finder.visual_encoder()
        if encoder is None:
            raise ModelUnavailableError(self.finder.visual_error or "no visual model configured")
        clips: queue.Queue = queue.Queue(maxsize=self.config.queue_clips)
        failure: list[BaseException] = []
        dropped = [0]
        live = self.source.live

        anchor: list[float] = []  # wall clock of stream time 0 (set by the first clip)

        def ahead_of_real_time(clip: LiveClip) -> bool:
            """Whether the source reads faster than real time (video on demand over the network, a
            burst of a live stream): then it can wait for the encoder; behind real time, it drops."""
            t = clip.index * self.config.live.clip_len
            if not anchor:
                anchor.append(time.monotonic() - t)
            return t + self.config.live.clip_len > time.monotonic() - anchor[0]

        def produce() -> None:
            try:
                for clip in self.source.clips(self._stop):
                    if live and not ahead_of_real_time(clip):
                        while True:
                            try:
                                clips.put_nowait(clip)
                                break
                            except queue.Full:
                                try:
                                    clips.get_nowait()
                                    dropped[0] += 1
                                except queue.Empty:
                                    pass
                    else:
                        while not self._stop.is_set():
                            try:
                                clips.put(clip, timeout=0.2)
                                break
                            except queue.Full:
                                continue
            except BaseException as err:  # handed to the watching thread, raised there
                failure.append(err)
            finally:
                while True:
                    try:
                        clips.put(_DONE, timeout=0.2)
                        break
                    except queue.Full:
                        if self._stop.is_set():
                            try:
                                clips.get_nowait()
                            except queue.Empty:
                                pass

        # the standing queries are encoded and the encoder warmed up before the source starts: a
        # live source must not drop its first clips while the models get ready
        self._apply_queries()
        self._encode(encoder, [LiveClip(-1, [_blank_frame(encoder)] * self.config.live.frames_per_clip, [])])
        start = time.monotonic()
        worker = threading.Thread(target=produce, name="momentfinder-live", daemon=True)
        worker.start()
        n_events = encoded = 0
        next_index = 0  # the clip the grounder expects next
        encode_seconds = 0.0
        last_features: np.ndarray | None = None
        reported_drops, last_report = 0, 0.0
        batch_limit = max(1, getattr(encoder, "batch_size", 32) // self.config.live.frames_per_clip)
        try:
            done = False
            while not done:
                self._check_queries_file()
                n_events += self._emit(self._apply_queries())
                try:
                    item = clips.get(timeout=self.config.poll_seconds)
                except queue.Empty:
                    continue
                batch: list[LiveClip] = []
                while item is not _DONE:
                    batch.append(item)
                    if len(batch) >= batch_limit:
                        break
                    try:
                        item = clips.get_nowait()
                    except queue.Empty:
                        break
                done = item is _DONE
                if not batch:
                    continue
                t0 = time.perf_counter()
                features = self._encode(encoder, batch)
                encode_seconds += time.perf_counter() - t0
                encoded += len(batch)
                for clip, row in zip(batch, features, strict=True):
                    events: list[MomentEvent] = []
                    gap = clip.index - next_index
                    if gap > 0 and last_features is not None and gap <= HOLD_GAP_CLIPS:
                        events += self.grounder.push(np.repeat(last_features[None], gap, axis=0))
                    elif gap > 0:
                        events += self.grounder.skip(gap)
                    events += self.grounder.push(row[None])
                    next_index, last_features = clip.index + 1, row
                    n_events += self._emit(events)
                if (
                    dropped[0] > reported_drops
                    and time.monotonic() - last_report >= self.config.drop_report_seconds
                ):
                    share = 100.0 * dropped[0] / max(1, dropped[0] + encoded)
                    log.warning(
                        "falling behind real time: %d clips dropped so far (%.0f%% of the stream); "
                        "try a smaller model, a longer --clip-len or fewer --frames-per-clip",
                        dropped[0],
                        share,
                    )
                    reported_drops, last_report = dropped[0], time.monotonic()
            if failure:
                raise failure[0]
            n_events += self._emit(self.grounder.finish())
        finally:
            self._stop.set()
            worker.join(timeout=5)
            if self._log is not None:
                self._log.close()
            if self._found is not None:
                self._found.close()
        stats: SourceStats = self.source.stats
        return WatchSummary(
            stream_seconds=stats.stream_time,
            wall_seconds=time.monotonic() - start,
            clips=encoded,
            dropped=dropped[0],
            gap_clips=stats.gap_clips,
            reconnects=stats.reconnects,
            events=n_events,
            ended=stats.ended or "stopped",
            encode_seconds=encode_seconds,
            recorded=self._found.recorded if self._found is not None else 0,
        )

    def _encode(self, encoder, batch: list[LiveClip]) -> np.ndarray:
        frames = [f for clip in batch for f in clip.frames]
        emb = np.asarray(encoder.encode_images(frames), dtype=np.float32)
        n = self.config.live.frames_per_clip
        if n > 1:
            emb = emb.reshape(len(batch), n, -1).mean(axis=1)
        return l2_normalize(emb)

    def _emit(self, events: list[MomentEvent]) -> int:
        if not events:
            return 0
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            if self._log is not None:
                self._log.write(event)  # durable before anyone hears of it
            if self._found is not None:
                self._found.write(event)  # a closed moment: committed to the library
            for callback in subscribers:
                callback(event)
        return len(events)

    def _apply_queries(self) -> list[MomentEvent]:
        with self._lock:
            pending, self._pending = self._pending, []
        events: list[MomentEvent] = []
        for op, query in pending:
            if op == "add":
                self.grounder.add_query(query, self.finder.encode_query(query))
                log.info("watching for %r", query)
            else:
                events += self.grounder.remove_query(query)
                log.info("no longer watching for %r", query)
        return events

    def _check_queries_file(self, force: bool = False) -> None:
        path = self.config.queries_file
        if path is None or (not force and time.monotonic() - self._file_checked < self.config.poll_seconds):
            return
        self._file_checked = time.monotonic()
        try:
            st = os.stat(path)
            state = (st.st_mtime, st.st_size)
            if state == self._file_state:
                return
            wanted = read_queries_file(path)
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            if force:
                raise InputError(f"{path}: cannot read the queries file ({reason})") from None
            if self._file_error != reason:
                log.warning(
                    "%s: cannot read the queries file (%s); keeping the queries as they are", path, reason
                )
                self._file_error = reason
            return
        self._file_state, self._file_error = state, None
        new = set()
        for q in wanted:
            try:
                new.add(validate_query(q))
            except InputError:
                continue
        for q in sorted(self._from_file - new):
            self.remove_query(q)
        for q in wanted:
            if q in new and q not in self._from_file:
                self.add_query(q)
        self._from_file = new
