"""The API's request and response bodies (they make the OpenAPI schema)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, field_validator

from ..pipeline.library import IndexReport, LibraryStatus, VideoRow
from ..types import GroundingResult, Moment, SearchHit

MAX_QUERY_CHARS = 1000  # a sentence, not a document (ServerConfig.max_query_chars is checked too)


class QueryText(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="what happens, in words")

    @field_validator("query")
    @classmethod
    def _words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is empty: say what happens")
        return value


class SearchRequest(QueryText):
    top_k: int = Field(20, ge=1, le=200, description="moments to return")
    candidates: int = Field(10, ge=1, le=100, description="videos grounded in full")
    path_glob: str | None = Field(None, max_length=500, description="only videos whose path matches")


class GroundRequest(QueryText):
    top_k: int = Field(5, ge=1, le=50)


class IndexRequest(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=100, description="files or folders inside the roots")
    recursive: bool = True


class MomentOut(BaseModel):
    start: float = Field(description="seconds")
    end: float
    score: float
    confidence: float | None = None
    evidence: str = ""

    @classmethod
    def of(cls, m: Moment) -> MomentOut:
        return cls(
            start=round(m.start, 3),
            end=round(m.end, 3),
            score=round(float(m.score), 4),
            confidence=None if m.confidence is None else round(float(m.confidence), 4),
            evidence=m.evidence,
        )


class HitOut(MomentOut):
    video_id: int
    name: str

    @classmethod
    def of_hit(cls, h: SearchHit) -> HitOut:
        return cls(
            video_id=h.video_id,
            name=os.path.basename(h.video),
            start=round(h.start, 3),
            end=round(h.end, 3),
            score=round(float(h.score), 4),
            confidence=None if h.confidence is None else round(float(h.confidence), 4),
            evidence=h.evidence,
        )


class FoundOut(BaseModel):
    """A moment ``watch --library`` found: its source (a file's name, or the stream's URL without
    its password), the standing query it was found for, and when."""

    source: str
    start: float
    end: float
    score: float
    watch_query: str
    found_at: float | None = Field(None, description="Unix time it was found")

    @classmethod
    def of_hit(cls, h: SearchHit) -> FoundOut:
        source = h.video if "://" in h.video else os.path.basename(h.video)
        return cls(
            source=source,
            start=round(h.start, 3),
            end=round(h.end, 3),
            score=round(float(h.score), 4),
            watch_query=h.watch_query or "",
            found_at=h.found_at,
        )


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]
    found: list[FoundOut] = Field(
        default_factory=list,
        description="moments `watch --library` found for standing queries sharing its words",
    )


class GroundOut(BaseModel):
    video_id: int
    name: str
    query: str
    duration: float = Field(description="seconds")
    clip_len: float = Field(description="seconds per saliency value")
    moments: list[MomentOut] = Field(description="best first; empty: no matching moment")
    saliency: list[float] = Field(description="per clip, higher = more relevant")
    no_moment_score: float | None = None
    channels: list[str] = []

    @classmethod
    def of(cls, video_id: int, result: GroundingResult) -> GroundOut:
        return cls(
            video_id=video_id,
            name=os.path.basename(result.video),
            query=result.query,
            duration=round(result.duration, 3),
            clip_len=result.clip_len,
            moments=[MomentOut.of(m) for m in result.moments],
            saliency=[round(float(s), 4) for s in result.saliency],
            no_moment_score=None
            if result.no_moment_score is None
            else round(float(result.no_moment_score), 4),
            channels=list(result.channels),
        )


class VideoOut(BaseModel):
    id: int
    name: str
    duration: float
    clips: int
    status: str = Field(description="ok (indexed) or failed")
    error: str = ""

    @classmethod
    def of(cls, row: VideoRow) -> VideoOut:
        return cls(
            id=row.id,
            name=os.path.basename(row.path),
            duration=round(row.duration, 3),
            clips=row.n_clips,
            status=row.status,
            error=row.error,
        )


class VideoList(BaseModel):
    total: int
    videos: list[VideoOut]


class LibraryOut(BaseModel):
    videos: int
    failed: int
    clips: int
    hours: float
    model: str | None = None
    clip_len: float | None = None

    @classmethod
    def of(cls, status: LibraryStatus) -> LibraryOut:
        info = status.info
        return cls(
            videos=status.videos,
            failed=status.failed,
            clips=status.clips,
            hours=round(status.hours, 3),
            model=None if info is None else info.model,
            clip_len=None if info is None else info.clip_len,
        )


class IndexOut(BaseModel):
    added: list[str]
    unchanged: list[str]
    moved: list[str]
    copied: list[str]
    failed: list[dict[str, str]]

    @classmethod
    def of(cls, report: IndexReport) -> IndexOut:
        return cls(**report.to_json())


class UploadOut(BaseModel):
    video: VideoOut
    outcome: str = Field(description="added, unchanged, copied or moved")


class ChatRequest(BaseModel):
    text: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description='a question, or a refinement of the last answer ("the one after that", "shorter")',
    )
    session: str | None = Field(None, max_length=100, description="the session id of the last answer")

    @field_validator("text")
    @classmethod
    def _words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty: ask a question")
        return value


class ChatOut(BaseModel):
    session: str = Field(description="send it back with the next turn")
    video_id: int
    answer: dict = Field(
        description='{"action", "text", "moment", "moments", "structure", "count"?} as `momentfinder chat --json`'
    )


class WatchRequest(BaseModel):
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="rtsp/rtmp/http(s)/srt/udp URL, or a file in the library's folders",
    )
    queries: list[str] = Field(min_length=1, max_length=20, description="standing queries")
    realtime: bool = Field(False, description="play a file at its own speed (streams pace themselves)")

    @field_validator("queries")
    @classmethod
    def _sentences(cls, value: list[str]) -> list[str]:
        if any(not q.strip() or len(q) > MAX_QUERY_CHARS for q in value):
            raise ValueError(f"every query: words, at most {MAX_QUERY_CHARS} characters")
        return value


class WatchQuery(QueryText):
    pass


class WatchOut(BaseModel):
    id: str
    source: str
    queries: list[str]
    running: bool
    events: int = Field(description="events announced so far")
    error: str | None = None
    summary: dict | None = Field(None, description="what the watch did, once it ended")
