"""``momentfinder ground VIDEO QUERY [QUERY ...]``: ranked moments for each query."""

from __future__ import annotations

import argparse
import json
import os

from .options import add_grounding_options, add_model_options, finder_from_args, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ground",
        help="find the moments where a sentence happens in a video",
        description="Find the moments where each QUERY happens in VIDEO. Times are seconds.",
    )
    p.add_argument("video", help="video (or audio with subtitles) file")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="sentence(s) to ground")
    add_model_options(p)
    add_grounding_options(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--json", action="store_true", help="print JSON (one object, or a list for several queries)"
    )
    out.add_argument("--plot", metavar="PNG", help="draw the saliency curve with the moments shaded")
    out.add_argument("--export", metavar="DIR", help="cut the top moments into clips in DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..finder import validate_query
    from ..report import format_result, plot_saliency

    queries = [validate_query(q) for q in args.queries]
    finder = finder_from_args(args)
    feats = finder.extract(args.video, args.subtitles)
    if feats.channels:  # without any channel, grounding raises one error that includes the notes
        for note in feats.notes:
            warn(args, f"{note}; continuing with {', '.join(feats.channels)}")
    results = [finder.ground_features(feats, q, top_k=args.top_k) for q in queries]
    for i, result in enumerate(results):
        if args.plot:
            plot_saliency(result, _numbered(args.plot, i, len(results)))
        if args.export:
            _export(args, result, i if len(results) > 1 else None)
    if args.json:
        payload = [r.to_json() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=None))
    else:
        print("\n\n".join(format_result(r) for r in results))
    return 0


def _numbered(path: str, index: int, total: int) -> str:
    if total == 1:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}_{index + 1}{ext}"


def _export(args: argparse.Namespace, result, query_index: int | None) -> None:
    from ..video.cut import cut_clip

    stem = os.path.splitext(os.path.basename(args.video))[0]
    prefix = f"{stem}_q{query_index + 1}" if query_index is not None else stem
    for rank, m in enumerate(result.moments, 1):
        out = os.path.join(args.export, f"{prefix}_{rank:02d}_{m.start:.1f}-{m.end:.1f}.mp4")
        cut_clip(args.video, m.start, m.end, out)
        if not args.quiet and not args.json:
            print(f"exported {out}")
