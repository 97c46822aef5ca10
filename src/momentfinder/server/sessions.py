"""Conversations kept by the server between turns (``POST /api/videos/{id}/chat``).

A conversation lives under a session id the first answer returns; the client sends it back with
the next turn. Sessions are kept in memory, the least recently used dropped past
:data:`MAX_SESSIONS` or after :data:`IDLE_SECONDS` without a turn (a follow-up to a dropped one is
answered as a first question would be: 400 when it can only refine)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

from ..pipeline.conversation import Conversation
from ..pipeline.library import Library

MAX_SESSIONS = 64
IDLE_SECONDS = 3600.0


class ChatSessions:
    """Conversations by session id, least recently used first; touched only on the library's
    thread (every turn runs there), so it needs no lock."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, idle_seconds: float = IDLE_SECONDS):
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._sessions: OrderedDict[str, tuple[int, Conversation, float]] = OrderedDict()

    def turn(self, library: Library, video_id: int, session: str | None, text: str) -> tuple[str, dict]:
        """Answer ``text`` in ``session`` (a new conversation when it is unknown, expired or about
        another video): ``(session id, the answer as JSON)``."""
        now = time.monotonic()
        for sid in [s for s, (_, _, last) in self._sessions.items() if now - last > self.idle_seconds]:
            del self._sessions[sid]
        kept = self._sessions.get(session) if session else None
        if kept is not None and kept[0] == video_id:
            chat = kept[1]
        else:
            chat, session = library.conversation(video_id), secrets.token_urlsafe(12)
        answer = chat.ask(text)
        self._sessions[session] = (video_id, chat, now)
        self._sessions.move_to_end(session)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session, answer.to_json()
