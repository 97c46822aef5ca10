"""What one server holds while it runs: the library (a reader thread for searches and listings, a
writer thread for indexing and removal), the token, the folders."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import TypeVar

from fastapi import HTTPException, Request

from ..pipeline.library import Library, VideoRow
from ..pipeline.media import ThumbnailCache
from .config import ServerConfig
from .security import check_token, confine, inside, load_or_create_token
from .sessions import ChatSessions
from .watches import Watches

T = TypeVar("T")


class LibraryWorker:
    """One connection to the library on a thread of its own: a SQLite connection belongs to the
    thread that opened it and a finder's models are not re-entrant, so every call runs there, one
    at a time, in the order they come; the event loop stays free for streaming and pictures
    meanwhile. The server has two: searches never wait for an indexing run (SQLite's WAL lets a
    reader read while the writer commits; the reader's vector index catches up with what the
    writer added on its next search)."""

    def __init__(self, open_library: Callable[[], Library]):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="momentfinder-library")
        self._closed = False
        try:
            self.library: Library = self._pool.submit(open_library).result()  # a bad library fails here
        except BaseException:
            self._pool.shutdown()
            raise

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(library, *args, **kwargs)`` on the library's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, self.library, *args, **kwargs))

    def close(self) -> None:
        """Close the library on its thread and end the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self._pool.submit(self.library.close).result()
        self._pool.shutdown()


class ServerState:
    """The server's parts, shared by every route (``request.app.state.momentfinder``)."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.folder = config.state_folder()
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        self.uploads = os.path.join(self.folder, "uploads")
        self.exports = os.path.join(self.folder, "exports")
        for folder in (self.uploads, self.exports):
            os.makedirs(folder, exist_ok=True)
        _remove_leftovers(self.uploads, self.exports)
        self.roots = tuple(os.path.realpath(os.path.expanduser(r)) for r in config.roots)
        self.thumbnails = ThumbnailCache(os.path.join(self.folder, "thumbnails"))
        # searches, listings, chats (its encoder loaded now: a library that does not fit stops here)
        self.worker = LibraryWorker(partial(open_library, config))
        # index, upload, remove: its own connection, and its own models, loaded on the first add
        try:
            self.writer = LibraryWorker(partial(open_library, config, load_models=False))
        except BaseException:
            self.worker.close()
            raise
        # after the library opened: a token made for a server that never starts is never shown
        self.token_file = os.path.join(self.folder, "token")
        self.token, self.token_created = load_or_create_token(self.token_file)
        self._paths: dict[int, str] = {}  # video id -> path, so streaming waits for no search
        self.export_slots = threading.BoundedSemaphore(2)  # clips cut at once (each re-encodes)
        self.chats = ChatSessions()  # conversations between turns (used on the library's thread)
        self.watches = Watches()  # live watches, each on a thread of its own

    def close(self) -> None:
        self.watches.close()
        self.writer.close()
        self.worker.close()

    # -- videos and files ------------------------------------------------------------------------
    async def video(self, video_id: int) -> VideoRow:
        """The library's record of ``video_id`` (404 when unknown)."""
        row = await self.worker.run(Library.video, video_id)
        self._paths[video_id] = row.path
        return row

    async def readable_file(self, video_id: int) -> str:
        """The resolved path of an indexed video, confined to the roots (404, 403, 410)."""
        path = self._paths.get(video_id)
        if path is None or not os.path.exists(path):
            row = await self.video(video_id)
            if row.status != "ok":
                raise HTTPException(404, f"video {video_id} was not indexed ({row.error})")
            path = row.path
        resolved = confine(path, self.roots_of(path))
        if not os.path.isfile(resolved):
            raise HTTPException(410, f"the file of video {video_id} is gone")
        return resolved

    def forget(self, video_id: int) -> None:
        self._paths.pop(video_id, None)

    def roots_of(self, path: str) -> tuple[str, ...]:
        """Where an indexed file may resolve to: the roots given, else its own folder (and uploads)."""
        uploads = os.path.realpath(self.uploads)
        if self.roots:
            return (*self.roots, uploads)
        return (os.path.realpath(os.path.dirname(os.path.abspath(path))), uploads)

    def index_roots(self, library: Library) -> tuple[str, ...]:
        """Where files may be indexed from: the roots given, else the folders the library holds."""
        uploads = os.path.realpath(self.uploads)
        if self.roots:
            return (*self.roots, uploads)
        folders = {os.path.realpath(os.path.dirname(r.path)) for r in library.videos()}
        return (*sorted(folders), uploads)

    def is_upload(self, path: str) -> bool:
        return inside(os.path.realpath(path), os.path.realpath(self.uploads))


def open_library(config: ServerConfig, load_models: bool = True) -> Library:
    """The library, its encoder loaded when it has one (``load_models``): a model that cannot load,
    or options that contradict the library, stop the server at start rather than fail every search."""
    library = Library(
        config.library,
        config.finder,
        progress=config.progress,
        create=True,
        adopt_encoder=config.adopt_encoder,
    )
    try:
        if load_models and library.status().info is not None:
            library.finder().visual_encoder()
    except BaseException:
        library.close()
        raise
    return library


def _remove_leftovers(uploads: str, exports: str) -> None:
    """What a server killed mid-way left: partial uploads (``.NAME.partEXT``) and clips not yet sent."""
    leftovers = [os.path.join(uploads, n) for n in os.listdir(uploads) if n.startswith(".") and ".part" in n]
    leftovers += [os.path.join(exports, n) for n in os.listdir(exports)]
    for path in leftovers:
        with suppress(OSError):
            os.unlink(path)


def get_state(request: Request) -> ServerState:
    return request.app.state.momentfinder


def write_access(request: Request) -> None:
    """A route dependency: the request carries the server's write token (401 / 403 otherwise)."""
    check_token(request, get_state(request).token)
