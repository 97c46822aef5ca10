"""The library as a whole: what it holds, and adding to it (files inside the roots, or uploads)."""

from __future__ import annotations

import os
import re
import secrets
from contextlib import suppress
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ...errors import MediaError
from ...pipeline.library import MEDIA_EXTENSIONS, IndexReport, Library, expand_paths
from ...pipeline.media import probe_media
from ..models import IndexOut, IndexRequest, LibraryOut, UploadOut, VideoOut
from ..security import confine
from ..security import inside as within
from ..state import ServerState, get_state, write_access

router = APIRouter(prefix="/api", tags=["library"])
State = Annotated[ServerState, Depends(get_state)]

UPLOAD_PATH = "/api/uploads"  # counts its own bytes (BodyLimit leaves it alone)
_UNSAFE = re.compile(r"[^\w.\- ]+")
_ACCEPTED_TYPES = ("video/", "audio/", "application/octet-stream")


@router.get("/library", response_model=LibraryOut, summary="what the library holds")
async def library_status(state: State) -> LibraryOut:
    return LibraryOut.of(await state.worker.run(Library.status))


@router.post(
    "/index",
    response_model=IndexOut,
    summary="index files or folders inside the library's roots; needs the token",
    dependencies=[Depends(write_access)],
)
async def index(body: IndexRequest, state: State) -> IndexOut:
    def add(library: Library) -> IndexOut:
        roots = state.index_roots(library)
        paths = [confine(os.path.expanduser(p), roots) for p in body.paths]
        files = expand_paths(paths, body.recursive)
        refused: list[tuple[str, str]] = []
        readable: list[str] = []
        for f in files:
            if os.path.splitext(f)[1].lower() not in MEDIA_EXTENSIONS:  # named, not found in a folder
                refused.append((f, "not a video or audio file name"))
            elif not any(within(os.path.realpath(f), root) for root in roots):
                refused.append((f, "a link to a file outside the library's folders"))
            else:
                readable.append(f)
        report = library.add(readable, recursive=body.recursive) if readable else IndexReport()
        report.failed += refused
        return IndexOut.of(report)

    return await state.writer.run(add)


def upload_name(filename: str) -> str:
    """A plain file name from what a client sent: no folders, no leading dots, no odd characters."""
    name = os.path.basename(filename.replace("\\", "/"))
    name = _UNSAFE.sub("_", name).strip(" .")
    return name[-120:] or "upload"


@router.post(
    "/uploads",
    response_model=UploadOut,
    status_code=201,
    summary="upload a video file (the request body) and index it; needs the token",
    dependencies=[Depends(write_access)],
    responses={
        413: {"description": "larger than the upload limit"},
        415: {"description": "not a video or audio file"},
    },
)
async def upload(
    request: Request,
    state: State,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="the file's name")],
) -> UploadOut:
    name = upload_name(filename)
    ext = os.path.splitext(name)[1].lower()
    if ext not in MEDIA_EXTENSIONS:
        raise HTTPException(415, f"{name}: not a video or audio file name (e.g. .mp4, .mkv, .webm)")
    kind = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if not kind.startswith(_ACCEPTED_TYPES):
        raise HTTPException(415, f"uploads are video or audio files, not {kind}")
    limit = state.config.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"the file is larger than the upload limit ({limit} bytes)")
    part = os.path.join(state.uploads, f".{secrets.token_hex(8)}.part{ext}")
    try:
        size = 0
        with open(part, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the file is larger than the upload limit ({limit} bytes)")
                f.write(chunk)
        if size == 0:
            raise HTTPException(415, f"{name}: the file is empty")
        try:
            await anyio.to_thread.run_sync(probe_media, part)
        except MediaError as err:
            raise HTTPException(415, str(err).replace(part, name)) from None
        final = _claim(part, state.uploads, name)
    finally:
        with suppress(OSError):
            os.unlink(part)
    report = await state.writer.run(Library.add, [final])
    if report.failed:
        with suppress(OSError):
            os.unlink(final)
        await state.writer.run(lambda lib: lib.remove([final]))
        raise HTTPException(415, f"{name}: {report.failed[0][1].replace(final, name)}")
    outcome = next(k for k in ("added", "copied", "moved", "unchanged") if getattr(report, k))
    row = await state.writer.run(Library.video_at, final)
    return UploadOut(video=VideoOut.of(row), outcome=outcome)


def _claim(part: str, folder: str, name: str) -> str:
    """``part`` renamed to ``name`` in ``folder`` (``name-1``, ``name-2``... when taken; the name is
    claimed first with an exclusive create, so two uploads of one name never overwrite each other)."""
    stem, ext = os.path.splitext(name)
    for n in range(10_000):
        candidate = os.path.join(folder, f"{stem}-{n}{ext}" if n else name)
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        os.replace(part, candidate)
        return candidate
    raise HTTPException(409, f"too many uploads named {name}")
