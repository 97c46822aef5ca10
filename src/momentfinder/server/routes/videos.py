"""The videos of the library: list, watch (byte ranges, so players seek), pictures, clips, delete."""

from __future__ import annotations

import math
import mimetypes
import os
import secrets
from contextlib import suppress
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from ...pipeline.library import Library
from ...pipeline.media import probe_media
from ...pipeline.output import cut
from ..models import VideoList, VideoOut
from ..ranges import check_range
from ..state import ServerState, get_state, write_access

router = APIRouter(prefix="/api/videos", tags=["videos"])

VideoId = Annotated[int, Path(ge=1, le=2**62, description="the video's id in the library")]
State = Annotated[ServerState, Depends(get_state)]


@router.get("", response_model=VideoList, summary="list the library's videos")
async def list_videos(
    state: State,
    status: Annotated[str | None, Query(pattern="^(ok|failed)$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VideoList:
    rows = await state.worker.run(Library.videos, status)
    return VideoList(total=len(rows), videos=[VideoOut.of(r) for r in rows[offset : offset + limit]])


@router.get("/{video_id}", response_model=VideoOut, summary="one video")
async def get_video(video_id: VideoId, state: State) -> VideoOut:
    return VideoOut.of(await state.video(video_id))


@router.head("/{video_id}/stream", include_in_schema=False)
@router.get(
    "/{video_id}/stream",
    summary="the video file, with byte ranges (206) so a player can seek",
    response_class=FileResponse,
    responses={206: {"description": "part of the file"}, 416: {"description": "range past the end"}},
)
async def stream(video_id: VideoId, request: Request, state: State) -> FileResponse:
    path = await state.readable_file(video_id)
    stat = os.stat(path)
    if (header := request.headers.get("range")) is not None:
        check_range(header, stat.st_size)
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, stat_result=stat, headers={"Cache-Control": "no-cache"})


@router.get(
    "/{video_id}/thumbnail",
    summary="the picture shown at a time, as JPEG",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def thumbnail(
    video_id: VideoId,
    state: State,
    t: Annotated[float, Query(ge=0, le=1e7, description="seconds")] = 0.0,
    w: Annotated[int, Query(ge=16, le=1280, description="width in pixels")] = 320,
) -> Response:
    path = await state.readable_file(video_id)
    data = await anyio.to_thread.run_sync(state.thumbnails.get, path, t, w)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get(
    "/{video_id}/clip",
    summary="a moment cut into its own file, as a download",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}, "audio/mp4": {}}}},
)
async def clip(
    video_id: VideoId,
    state: State,
    start: Annotated[float, Query(ge=0, le=1e7, description="seconds")],
    end: Annotated[float, Query(gt=0, le=1e7, description="seconds")],
) -> FileResponse:
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise HTTPException(422, "end must be after start")
    longest = state.config.max_clip_seconds
    if end - start > longest:
        raise HTTPException(422, f"a clip is at most {longest:g} s long")
    path = await state.readable_file(video_id)
    info = await anyio.to_thread.run_sync(probe_media, path)
    ext = ".mp4" if info.has_video else ".m4a"
    stem = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(state.exports, f"{secrets.token_hex(8)}{ext}")

    def cut_one() -> str:
        with state.export_slots:
            return cut(path, start, end, out)

    try:
        await anyio.to_thread.run_sync(cut_one)
    except BaseException:
        with suppress(OSError):
            os.unlink(out)
        raise
    return FileResponse(
        out,
        media_type="video/mp4" if info.has_video else "audio/mp4",
        filename=f"{stem}_{start:.1f}-{end:.1f}{ext}",
        background=BackgroundTask(_remove, out),
    )


@router.delete(
    "/{video_id}",
    summary="forget a video (an uploaded file is deleted too); needs the token",
    dependencies=[Depends(write_access)],
)
async def delete_video(video_id: VideoId, state: State) -> dict:
    row = await state.video(video_id)
    await state.writer.run(Library.remove, [row.path])
    state.forget(video_id)
    if state.is_upload(row.path):
        with suppress(OSError):
            os.unlink(row.path)
    return {"removed": VideoOut.of(row).model_dump()}


def _remove(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)
