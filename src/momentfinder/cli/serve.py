"""``momentfinder serve``: the web page and HTTP API over a library (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import sys

from .index import add_db_option
from .options import add_model_options, any_int, finder_config_from_args, positive_int

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def port_number(text: str) -> int:
    value = any_int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number, 0 to 65535, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="a web page and HTTP API over a library: search, watch the moment, upload",
        description="Serve the library: a web page (search, the moment in a player, the saliency curve, "
        "uploads) and its HTTP API (OpenAPI at /docs). Writing (upload, index, delete) needs the token "
        "printed on the first start and kept beside the library (mode 0600).",
    )
    add_db_option(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=port_number, default=8000, help="port (default 8000)")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose files may be served and indexed (repeatable; default: the folders the "
        "library already holds, each video confined to its own)",
    )
    p.add_argument(
        "--state-dir",
        default=None,
        help="token, uploads and thumbnails (default: LIB.serve beside the library)",
    )
    p.add_argument(
        "--max-upload-mb", type=positive_int, default=2048, help="largest upload in MiB (default 2048)"
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN call the API (repeatable; default: none, CORS off)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name requests may use besides localhost (repeatable; '*' for any)",
    )
    add_model_options(p)
    p.add_argument("--no-subtitles", action="store_true", help="do not index subtitle lines of uploads")
    p.set_defaults(func=run)


def server_config(args: argparse.Namespace):
    """The :class:`~momentfinder.server.ServerConfig` the options describe."""
    from ..server.config import LOOPBACK_HOSTS, ServerConfig

    explicit = args.visual_model is not None or args.clip_len is not None
    hosts = tuple(args.allowed_host)
    if not hosts and args.host not in LOOPBACK:
        hosts = ("*",)  # listening on a public address: any name that reaches it
    return ServerConfig(
        db=args.db,
        finder=finder_config_from_args(args),
        adopt_encoder=not explicit,
        roots=tuple(args.root),
        state_dir=args.state_dir,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        allowed_hosts=(*LOOPBACK_HOSTS, args.host, *hosts),
        cors_origins=tuple(args.cors_origin),
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..server import create_app
    from ..server.state import ServerState

    state = ServerState(server_config(args))
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/"
    if state.token_created:
        print(
            f"momentfinder: write token (shown once; kept in {state.token_file}): {state.token}\n"
            f"momentfinder: open {url}#token={state.token} to upload from the page",
            file=sys.stderr,
        )
    else:
        print(f"momentfinder: the write token is in {state.token_file}", file=sys.stderr)
    if args.host not in LOOPBACK:
        print(
            f"momentfinder: warning: listening on {args.host}: other machines can search and watch "
            "(writing still needs the token)",
            file=sys.stderr,
        )
    print(f"momentfinder: serving {state.config.library} at {url} (Ctrl-C stops)", file=sys.stderr)
    level = "warning" if args.quiet else "info"
    try:
        uvicorn.run(create_app(state.config, state), host=args.host, port=args.port, log_level=level)
    finally:
        state.close()
    return 0
