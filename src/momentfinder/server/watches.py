"""Live watches the server runs (``/api/watches``): one :class:`~momentfinder.pipeline.online.Watcher`
per source, on a thread of its own, with its own copy of the library's encoder (a watch encodes
while searches run; the library's models stay on the library's thread).

Every event is kept (the last :data:`HISTORY` of them) so a page that connects late sees what was
found so far, and handed to the event-stream listeners through their asyncio queues."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..errors import MomentFinderError
from ..pipeline.finder import FinderConfig, MomentFinder
from ..pipeline.online import LiveConfig, WatchConfig, Watcher
from ..types import MomentEvent

HISTORY = 1000  # events kept per watch for late listeners
NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "srt://", "udp://")


@dataclass
class WatchSession:
    """One running (or ended) watch: its id, source, the watcher, what it announced."""

    id: str
    source: str
    watcher: Watcher
    started: float = field(default_factory=time.time)
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = field(default_factory=list)
    error: str | None = None
    summary: dict | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "queries": self.watcher.queries,
            "running": self.running,
            "events": len(self.history),
            "error": self.error,
            "summary": self.summary,
        }

    # -- the watching thread ------------------------------------------------------------------
    def publish(self, event: MomentEvent | None) -> None:
        """Keep ``event`` and hand it to every listener (None: the watch ended)."""
        with self.lock:
            if event is not None:
                self.history.append(event)
            listeners = list(self.listeners)
        for loop, box in listeners:
            loop.call_soon_threadsafe(box.put_nowait, event)

    def run(self) -> None:
        try:
            self.summary = self.watcher.run().to_json()
        except MomentFinderError as err:
            self.error = str(err)
        except Exception as err:  # a bug: said in the watch's status, never a dead silent thread
            self.error = f"internal error: {type(err).__name__}: {err}"
        finally:
            self.publish(None)

    # -- listeners (the event loop) -------------------------------------------------------------
    def listen(self) -> tuple[list[MomentEvent], asyncio.Queue]:
        """The events so far and a queue of those to come (None at the end)."""
        box: asyncio.Queue = asyncio.Queue()
        with self.lock:
            past = list(self.history)
            self.listeners.append((asyncio.get_running_loop(), box))
            if not self.running:
                box.put_nowait(None)
        return past, box

    def forget(self, box: asyncio.Queue) -> None:
        with self.lock:
            self.listeners = [(lp, b) for lp, b in self.listeners if b is not box]


class Watches:
    """The server's watches by id; at most ``limit`` run at once (each holds an encoder)."""

    def __init__(self, limit: int = 2):
        self.limit = limit
        self._sessions: dict[str, WatchSession] = {}
        self._lock = threading.Lock()

    def start(
        self, finder_config: FinderConfig, source: str, queries: list[str], realtime: bool, library: str
    ) -> WatchSession:
        """Start watching ``source``; every moment it closes is also recorded in ``library`` (as
        ``watch --library`` does), so searches find it."""
        with self._lock:  # the check and the start together: two requests cannot pass the limit
            if sum(s.running for s in self._sessions.values()) >= self.limit:
                raise WatchLimit(f"{self.limit} watches are running already: stop one first")
            config = WatchConfig(live=LiveConfig(realtime=realtime), library=library)
            finder = MomentFinder(config=finder_config)  # its models load on the watch's thread
            watcher = Watcher(finder, source, config, queries)
            session = WatchSession(secrets.token_urlsafe(8), source, watcher)
            watcher.subscribe(session.publish)
            session.thread = threading.Thread(
                target=session.run, name=f"momentfinder-watch-{session.id}", daemon=True
            )
            self._sessions[session.id] = session
            session.thread.start()  # alive before the lock is let go: the next check counts it
        return session

    def get(self, watch_id: str) -> WatchSession | None:
        with self._lock:
            return self._sessions.get(watch_id)

    def all(self) -> list[WatchSession]:
        with self._lock:
            return list(self._sessions.values())

    def remove(self, watch_id: str) -> WatchSession | None:
        with self._lock:
            session = self._sessions.pop(watch_id, None)
        if session is not None:
            session.watcher.stop()
        return session

    def close(self, timeout: float = 10.0) -> None:
        for session in self.all():
            session.watcher.stop()
        for session in self.all():
            if session.thread is not None:
                session.thread.join(timeout)


class WatchLimit(Exception):
    """Too many watches running."""
