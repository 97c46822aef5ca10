"""``momentfinder watch SOURCE --query Q [--query Q ...]``: standing queries over a live source;
events as JSON lines, as they happen."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError
from ..pipeline.choices import PRECISIONS
from .index import add_db_option
from .options import clip_seconds, key_values, non_negative_int, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="watch a live stream, camera or file for standing queries; events as they happen",
        description="Watch SOURCE (a video file, an rtsp:// rtmp:// http(s):// HLS udp:// srt:// stream, or "
        "a capture device with --format) for each query, and print one JSON line per event as soon as "
        'it is decided: {"query", "event": "start"|"update"|"end", "t", "score", ...}. Times are seconds '
        "of stream time from the first frame. A summary goes to stderr at the end.",
    )
    p.add_argument("source", help="video file, stream URL, or device (e.g. /dev/video0)")
    p.add_argument("--query", action="append", default=[], metavar="Q", help="a standing query (repeatable)")
    p.add_argument(
        "--queries-file",
        metavar="FILE",
        help="queries, one a line ('#' comments); re-read when it changes: add or delete a line to add "
        "or remove a query while watching",
    )
    p.add_argument(
        "--events", metavar="FILE", help="also append the events to this JSON-lines file (fsynced per event)"
    )
    p.add_argument("--no-stdout", action="store_true", help="do not print the events (with --events)")
    p.add_argument(
        "--library",
        action="store_true",
        help="also record every closed moment (source, query, start, end, score, when found) in the "
        "library, one commit per moment, where `momentfinder search` finds it (the library of --db)",
    )
    add_db_option(p)
    src = p.add_argument_group("source")
    src.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own speed, as a stream (default: as fast as it decodes)",
    )
    src.add_argument("--loop", action="store_true", help="play a file again from its start at its end")
    src.add_argument("--max-seconds", type=positive_float, help="stop after this many seconds of stream")
    src.add_argument(
        "--format", help="input format of a capture device: v4l2, avfoundation, dshow, x11grab, lavfi..."
    )
    src.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="FFmpeg input option (repeatable), e.g. rtsp_transport=tcp, video_size=640x480",
    )
    src.add_argument(
        "--reconnect",
        type=non_negative_int,
        default=5,
        help="reconnection attempts in a row when a network stream drops (default 5, exponential backoff)",
    )
    src.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds a network read may block (default 10)"
    )
    g = p.add_argument_group("model and decisions")
    g.add_argument("--visual-model", default=None, help="CLIP/SigLIP hub id or local directory")
    g.add_argument("--clip-len", type=clip_seconds, default=None, help="seconds per clip (default 2)")
    g.add_argument("--frames-per-clip", type=positive_int, default=1, help="frames sampled per clip")
    g.add_argument("--precision", choices=PRECISIONS, default="auto", help="encoder precision (default auto)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    g.add_argument(
        "--calibration", metavar="CAL.json", help="zero-shot calibration for this encoder (null levels)"
    )
    g.add_argument(
        "--lag",
        type=non_negative_int,
        default=None,
        help="clips a decision may wait: 0 = soonest (default), more = later but fewer false alarms",
    )
    g.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="causal grounder options (start_level, end_level, end_clips, smooth_sigma, ...)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.finder import MomentFinder, finder_config, quiet_libraries
    from ..pipeline.library import default_library
    from ..pipeline.online import LiveConfig, OnlineConfig, WatchConfig, Watcher

    if args.no_stdout and not args.events and not args.library and not args.db:
        raise UsageError("--no-stdout without --events or --library would show the events nowhere")
    online = key_values(args.set)
    if args.lag is not None:
        online["lag_clips"] = args.lag
    config = WatchConfig(
        live=LiveConfig(
            realtime=args.realtime,
            loop=args.loop,
            max_seconds=args.max_seconds,
            reconnects=args.reconnect,
            timeout=args.timeout,
            format=args.format,
            options={k: str(v) for k, v in key_values(args.option).items()},
        ),
        online=OnlineConfig.from_dict(online),
        queries_file=args.queries_file,
        events_file=args.events,
        library=(args.db or default_library()) if args.library or args.db else None,
    )
    finder_cfg = finder_config(
        visual_model=args.visual_model,
        clip_len=args.clip_len,
        frames_per_clip=args.frames_per_clip,
        calibration=args.calibration,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        use_cache=False,
        use_subtitles=False,
        progress=False,
    )
    quiet_libraries()
    watcher = Watcher(MomentFinder(config=finder_cfg), args.source, config, args.query)
    if not args.no_stdout:
        watcher.subscribe(lambda e: print(json.dumps(e.to_json(), ensure_ascii=False), flush=True))
    summary = watcher.run()
    if not args.quiet:
        print(f"momentfinder: {summary.describe()}", file=sys.stderr)
    return 0
