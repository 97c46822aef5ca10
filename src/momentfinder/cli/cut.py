"""``momentfinder cut VIDEO --start S --end E -o OUT``: export one moment."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cut", help="export a moment of a video to its own file")
    p.add_argument("video")
    p.add_argument("--start", required=True, help="seconds or HH:MM:SS")
    p.add_argument("--end", required=True, help="seconds or HH:MM:SS")
    p.add_argument("-o", "--output", required=True, help="output file (.mp4, .mkv, ...; .m4a for audio)")
    p.add_argument(
        "--copy",
        action="store_true",
        help="copy the streams instead of re-encoding: fast and lossless, but the clip starts at the "
        "keyframe at or before --start (possibly seconds early); default: frame-exact re-encoding",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.output import cut

    def warn(message: str) -> None:
        print(f"momentfinder: warning: {message}", file=sys.stderr)

    print(cut(args.video, args.start, args.end, args.output, copy=args.copy, warn=warn))
    return 0
