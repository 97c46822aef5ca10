"""Every error as JSON ``{"error": "one line"}`` with the status that says what went wrong; an
unexpected one is logged here with its traceback and answered with a plain 500, never the trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import MediaError, ModelUnavailableError, MomentFinderError, NotFoundError

log = logging.getLogger(__name__)


def status_of(err: MomentFinderError) -> int:
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, MediaError):
        return 422  # a file that is there but cannot be read as a video
    if isinstance(err, ModelUnavailableError):
        return 503
    return 400


def error_response(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MomentFinderError)
    async def _momentfinder(request: Request, err: MomentFinderError) -> JSONResponse:
        return error_response(status_of(err), str(err).replace("\n", " "))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        return error_response(err.status_code, str(err.detail), headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in err.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid request"}
        return error_response(422, f"{first['field']}: {first['problem']}".strip(": "), problems=problems)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal error (the server log has the details)")
