"""Live watches: standing queries over a stream or a file, their events as Server-Sent Events.

    POST   /api/watches                      {"source", "queries", "realtime"}   (token)
    GET    /api/watches, /api/watches/{id}
    GET    /api/watches/{id}/events          text/event-stream: every event so far, then as they come
    POST   /api/watches/{id}/queries         {"query"}                           (token)
    DELETE /api/watches/{id}/queries?query=  (token)
    DELETE /api/watches/{id}                 stop it                             (token)

A source is a network stream (rtsp, rtmp, http(s)/HLS, srt, udp) or a file inside the library's
folders; capture devices and FFmpeg options are left to ``momentfinder watch`` on the machine."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from ..models import WatchOut, WatchQuery, WatchRequest
from ..security import confine
from ..state import ServerState, get_state, write_access
from ..watches import NETWORK_SCHEMES, WatchLimit, WatchSession

router = APIRouter(prefix="/api/watches", tags=["watch"])
State = Annotated[ServerState, Depends(get_state)]
KEEPALIVE_SECONDS = 15.0


def _session(state: ServerState, watch_id: str) -> WatchSession:
    session = state.watches.get(watch_id)
    if session is None:
        raise HTTPException(404, f"no watch {watch_id!r}")
    return session


@router.post(
    "",
    response_model=WatchOut,
    status_code=201,
    dependencies=[Depends(write_access)],
    summary="start watching a stream or file for standing queries",
)
async def start(body: WatchRequest, state: State) -> WatchOut:
    source = body.source.strip()
    if not source.lower().startswith(NETWORK_SCHEMES):
        if "://" in source or source.startswith("-"):
            raise HTTPException(
                422, "source: a network stream (rtsp, rtmp, http(s), srt, udp) or a file path"
            )
        roots = await state.worker.run(state.index_roots)
        source = confine(os.path.abspath(os.path.expanduser(source)), roots)
        if not os.path.isfile(source):
            raise HTTPException(404, "source: no such file")
    config = await state.worker.run(lambda library: library.finder().config)
    try:
        session = await asyncio.to_thread(
            state.watches.start, config, source, body.queries, body.realtime, state.config.library
        )
    except WatchLimit as err:
        raise HTTPException(429, str(err)) from None
    return WatchOut(**session.to_json())


@router.get("", response_model=list[WatchOut], summary="the watches, running and ended")
async def listing(state: State) -> list[WatchOut]:
    return [WatchOut(**s.to_json()) for s in state.watches.all()]


@router.get("/{watch_id}", response_model=WatchOut, summary="one watch")
async def one(watch_id: str, state: State) -> WatchOut:
    return WatchOut(**_session(state, watch_id).to_json())


@router.get(
    "/{watch_id}/events",
    summary="its events as Server-Sent Events (`data:` one JSON event; `event: end` when it ends)",
    response_class=StreamingResponse,
)
async def events(watch_id: str, request: Request, state: State) -> StreamingResponse:
    session = _session(state, watch_id)

    async def stream():
        past, box = session.listen()
        try:
            for event in past:
                yield f"data: {json.dumps(event.to_json(), ensure_ascii=False)}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(box.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    end = {"error": session.error, "summary": session.summary}
                    yield f"event: end\ndata: {json.dumps(end)}\n\n"
                    return
                yield f"data: {json.dumps(event.to_json(), ensure_ascii=False)}\n\n"
        finally:
            session.forget(box)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.post(
    "/{watch_id}/queries",
    response_model=WatchOut,
    dependencies=[Depends(write_access)],
    summary="add a standing query",
)
async def add_query(watch_id: str, body: WatchQuery, state: State) -> WatchOut:
    session = _session(state, watch_id)
    if not session.running:
        raise HTTPException(409, "the watch has ended")
    session.watcher.add_query(body.query)
    return WatchOut(**session.to_json())


@router.delete(
    "/{watch_id}/queries",
    response_model=WatchOut,
    dependencies=[Depends(write_access)],
    summary="remove a standing query (its open moment ends)",
)
async def remove_query(
    watch_id: str, state: State, query: Annotated[str, Query(min_length=1, max_length=1000)]
) -> WatchOut:
    session = _session(state, watch_id)
    if not session.watcher.remove_query(query):
        raise HTTPException(404, f"the watch has no query {query!r}")
    return WatchOut(**session.to_json())


@router.delete(
    "/{watch_id}",
    response_model=WatchOut,
    dependencies=[Depends(write_access)],
    summary="stop a watch and forget it",
)
async def stop(watch_id: str, state: State) -> WatchOut:
    session = state.watches.remove(watch_id)
    if session is None:
        raise HTTPException(404, f"no watch {watch_id!r}")
    return WatchOut(**session.to_json())


__all__ = ["router"]
