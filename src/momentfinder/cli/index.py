"""``momentfinder index add|status|rm|verify``: a library of videos to search."""

from __future__ import annotations

import argparse
import json
import sys

from .options import add_channel_options, add_model_options, finder_config_from_args, show_progress, warn


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="LIB",
        default=None,
        help="library: a SQLite file or postgresql://user:pass@host/db "
        "(default $MOMENTFINDER_DB, else ~/.local/share/momentfinder/library.db)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build and look after a library of videos (then `momentfinder search`)",
        description="Index videos once, then search them all with `momentfinder search`.",
    )
    commands = p.add_subparsers(dest="index_command", metavar="ACTION")
    commands.required = True
    add = commands.add_parser(
        "add",
        help="index files, folders or globs (incremental, resumable)",
        description="Index media files: folders are searched recursively for video and audio files; "
        "unchanged files are skipped, moved or renamed ones keep their features, unreadable ones are "
        "recorded as failed and skipped. Each video is committed on its own, so an interrupted run "
        "resumes where it stopped.",
    )
    add.add_argument("paths", nargs="+", metavar="PATH")
    add_db_option(add)
    add.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    add.add_argument("--retry-failed", action="store_true", help="try files that failed before again")
    add.add_argument("--json", action="store_true", help="print what happened to each file as JSON")
    add_model_options(add)
    add_channel_options(add)
    add.add_argument("--no-subtitles", action="store_true", help="do not index subtitle lines")
    add.add_argument(
        "--ray",
        nargs="?",
        const=True,
        default=None,
        metavar="ADDRESS",
        help="read the videos on Ray workers: alone, a local Ray on this machine's CPUs; 'auto' joins "
        "the cluster this machine is in (ray start), ray://HOST:10001 a remote one. This process "
        "still writes the library (pip install 'momentfinder[ray]')",
    )
    add.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray workers to start, each with a loaded encoder (default: one per CPU of the cluster)",
    )
    add.set_defaults(func=run_add)
    status = commands.add_parser("status", help="what the library holds")
    add_db_option(status)
    status.add_argument("--json", action="store_true")
    status.add_argument("--failed", action="store_true", help="list the files that failed and why")
    status.set_defaults(func=run_status)
    rm = commands.add_parser("rm", help="forget files or folders")
    rm.add_argument("paths", nargs="+", metavar="PATH")
    add_db_option(rm)
    rm.set_defaults(func=run_rm)
    verify = commands.add_parser("verify", help="check the library against itself and the files")
    add_db_option(verify)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=run_verify)


def open_library(args: argparse.Namespace):
    from ..pipeline.library import Library

    return Library(args.db, progress=show_progress(args), create=False, ranker=getattr(args, "ranker", None))


def run_add(args: argparse.Namespace) -> int:
    from ..pipeline.library import Library

    # without --visual-model / --clip-len an existing library keeps its own encoder and sampling;
    # the other options (cache, subtitles, threads...) apply either way
    explicit = args.visual_model is not None or args.clip_len is not None
    config = finder_config_from_args(args)
    library = Library(args.db, config, progress=show_progress(args), create=True, adopt_encoder=not explicit)
    try:
        report = library.add(
            args.paths,
            recursive=not args.no_recursive,
            retry_failed=args.retry_failed,
            ray=args.ray,
            workers=args.ray_workers,
        )
    finally:
        library.close()
    for path, reason in report.failed:
        warn(args, f"{path}: {reason}; skipped")
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(f"{library.catalog.location}: {report.summary()}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    library = open_library(args)
    status = library.status()
    failed = library.catalog.videos("failed") if args.failed else []
    library.close()
    if args.json:
        out = status.to_json()
        if args.failed:
            out["failed_files"] = [{"path": r.path, "error": r.error} for r in failed]
        print(json.dumps(out))
        return 0
    info = status.info
    print(f"library {status.location}")
    if info is not None:
        print(f"encoder {info.model} (dim {info.dim}), {info.clip_len:g} s clips")
    print(f"{status.videos} videos, {status.clips} clips, {status.hours:.2f} hours; {status.failed} failed")
    print(f"{status.found_moments} moments found by watch")
    for row in failed:
        print(f"  failed {row.path}: {row.error}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        removed = library.remove(args.paths)
    finally:
        library.close()
    print(f"removed {len(removed)} video(s)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    library = open_library(args)
    problems = library.verify()
    library.close()
    if args.json:
        print(json.dumps({"problems": problems}))
    else:
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0
