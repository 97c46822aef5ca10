"""``momentfinder serve``: the HTTP API and web page, a face over the pipeline like the CLI.

    from momentfinder.server import ServerConfig, create_app
    app = create_app(ServerConfig(db="library.db", roots=("~/videos",)))

* :mod:`.app` — ``create_app``: routers, error handlers, middleware (hosts, CORS, body limit)
* :mod:`.routes` — one ``APIRouter`` per concern: library (status, index, uploads), search
  (library search, ground in one video), videos (list, stream with ranges, thumbnails, clips,
  delete), web (the page)
* :mod:`.state` — the library on its own thread, the token, the roots
* :mod:`.security` — the write token, confining paths to the roots; :mod:`.ranges`, :mod:`.limits`
* ``static/`` — the web page (HTML, CSS, JavaScript; no build step)
"""

from .app import ROUTERS, create_app
from .config import ServerConfig

__all__ = ["ROUTERS", "ServerConfig", "create_app"]
