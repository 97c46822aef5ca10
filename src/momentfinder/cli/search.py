"""``momentfinder search QUERY``: moments across every video of a library."""

from __future__ import annotations

import argparse
import json

from .index import add_db_option, open_library
from .options import add_question_options, finite_float, parser_settings_from_args, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="find a sentence's moments across a library (momentfinder index add first)",
        description="Find the moments where QUERY happens across the library: nearest clips and "
        "subtitle words pick candidate videos, each is grounded, all moments are ranked by confidence.",
    )
    p.add_argument("query", metavar="QUERY")
    add_db_option(p)
    p.add_argument("--top-k", type=positive_int, default=20, help="moments to return (default 20)")
    p.add_argument("--candidates", type=positive_int, default=10, help="videos grounded in full (default 10)")
    p.add_argument("--path", metavar="GLOB", default=None, help="only videos whose path matches GLOB")
    p.add_argument(
        "--min-duration", type=finite_float, default=None, metavar="S", help="only videos this long"
    )
    p.add_argument("--max-duration", type=finite_float, default=None, metavar="S")
    p.add_argument(
        "--ranker",
        metavar="CKPT",
        default=None,
        help="a cross-video ranker (`momentfinder train-ranker`) picks the candidate videos and ranks "
        "the moments; it must have been trained on the library's encoder",
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument(
        "--no-found",
        action="store_true",
        help="leave out the moments `watch --library` found (by default they follow the grounded hits, "
        'up to --top-k, as hits with evidence "watch")',
    )
    add_question_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.compose import parse_query
    from ..pipeline.library import VideoFilter
    from ..pipeline.output import format_hits

    settings = parser_settings_from_args(args)
    parsed = parse_query(args.query, settings)  # an LLM is asked once; the search reuses the parse
    if args.explain and not args.json:
        print(f'"{parsed.text}" parsed as {parsed.explain()}\n', flush=True)
    library = open_library(args)
    where = VideoFilter(args.path, args.min_duration, args.max_duration)
    try:
        hits = library.search(parsed, top_k=args.top_k, where=where, candidates=args.candidates)
        if not args.no_found:  # what `watch --library` found, after the grounded hits
            hits += library.found(parsed.text, top_k=args.top_k)
    finally:
        library.close()
    if args.json:
        out = {"query": args.query, "hits": [h.to_json() for h in hits]}
        if args.explain:
            out["structure"] = parsed.to_json()
        print(json.dumps(out))
    else:
        print(format_hits(args.query, hits))
    return 0
