"""Finding moments: across the library, or in one of its videos (with the saliency curve)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from ...pipeline.library import Library, VideoFilter
from ..models import FoundOut, GroundOut, GroundRequest, HitOut, SearchOut, SearchRequest
from ..state import ServerState, get_state
from .videos import VideoId

router = APIRouter(prefix="/api", tags=["search"])
State = Annotated[ServerState, Depends(get_state)]


def _checked(query: str, state: ServerState) -> str:
    limit = state.config.max_query_chars
    if len(query) > limit:
        raise HTTPException(422, f"query: at most {limit} characters, got {len(query)}")
    return query


@router.post("/search", response_model=SearchOut, summary="a sentence's moments across the library")
async def search(body: SearchRequest, state: State) -> SearchOut:
    query = _checked(body.query, state)
    where = VideoFilter(path_glob=body.path_glob) if body.path_glob else None
    hits = await state.worker.run(
        Library.search, query, top_k=body.top_k, where=where, candidates=body.candidates
    )
    found = await state.worker.run(Library.found, query, top_k=body.top_k)
    return SearchOut(
        query=query, hits=[HitOut.of_hit(h) for h in hits], found=[FoundOut.of_hit(h) for h in found]
    )


@router.post(
    "/videos/{video_id}/ground",
    response_model=GroundOut,
    summary="a sentence's moments in one video, with its saliency curve (from the stored features)",
)
async def ground(video_id: VideoId, body: GroundRequest, state: State) -> GroundOut:
    query = _checked(body.query, state)
    result = await state.worker.run(Library.ground_video, video_id, query, top_k=body.top_k)
    return GroundOut.of(video_id, result)
