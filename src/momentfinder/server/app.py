"""``create_app(config)``: the FastAPI application (HTTP API, OpenAPI at ``/docs``, the web page).

Routes are grouped by concern, one ``APIRouter`` per module of :mod:`.routes`; a new concern (a
live event stream, a conversation) is a module with a ``router`` and one more line in
:data:`ROUTERS`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from .config import ServerConfig
from .errors import install_error_handlers
from .limits import BodyLimit
from .routes import chat, library, search, videos, watch, web
from .routes.library import UPLOAD_PATH
from .state import ServerState

ROUTERS: list[APIRouter] = [
    library.router,
    search.router,
    chat.router,
    watch.router,
    videos.router,
    web.router,
]


def create_app(config: ServerConfig | None = None, state: ServerState | None = None) -> FastAPI:
    """The application for ``config``; the library opens now, so a bad one fails before serving.
    ``state``: an already opened :class:`ServerState`, which the caller closes (the app closes the
    one it opens itself when it shuts down)."""
    config = config or ServerConfig()
    owned = state is None
    state = state or ServerState(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if owned:
            state.close()

    app = FastAPI(
        title="momentfinder",
        version=__version__,
        description="Find the moments in videos where a sentence happens: search a library, ground a "
        "query in one video, watch the moment, export it.",
        lifespan=lifespan,
    )
    app.state.momentfinder = state
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    # outermost last: hosts are checked first, then CORS, then the body size
    app.add_middleware(BodyLimit, limit=config.max_body_bytes, exempt=lambda path: path == UPLOAD_PATH)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range", "X-MomentFinder-Token"],
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))

    @app.middleware("http")
    async def _safety_headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
