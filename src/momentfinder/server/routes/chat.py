"""Conversations about one video of the library: each turn may refine the last answer
("the one after that", "shorter", "not in the kitchen"), as ``momentfinder chat`` does; the
sessions are :class:`~momentfinder.server.sessions.ChatSessions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ..models import ChatOut, ChatRequest
from ..state import ServerState, get_state
from .videos import VideoId

router = APIRouter(prefix="/api", tags=["chat"])
State = Annotated[ServerState, Depends(get_state)]


@router.post(
    "/videos/{video_id}/chat",
    response_model=ChatOut,
    summary="one turn of a conversation about a video (send back the session id to refine)",
)
async def chat(video_id: VideoId, body: ChatRequest, state: State) -> ChatOut:
    session, answer = await state.worker.run(state.chats.turn, video_id, body.session, body.text)
    return ChatOut(session=session, video_id=video_id, answer=answer)
