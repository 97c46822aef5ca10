"""The web page: plain HTML, CSS and JavaScript shipped in the package (no build step)."""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
# the page loads nothing from elsewhere and is framed by no one
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(
        os.path.join(STATIC, "index.html"),
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
    )
