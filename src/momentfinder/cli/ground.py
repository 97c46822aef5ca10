"""``momentfinder ground VIDEO QUERY [QUERY ...]``: ranked moments for each query."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .options import add_channel_options, add_grounding_options, add_model_options, finder_from_args, warn


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
    add_channel_options(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--json", action="store_true", help="print JSON (one object, or a list for several queries)"
    )
    out.add_argument("--plot", metavar="PNG", help="draw the saliency curve with the moments shaded")
    out.add_argument("--export", metavar="DIR", help="cut the top moments into clips in DIR")
    out.add_argument(
        "--export-copy",
        action="store_true",
        help="with --export: copy the streams instead of re-encoding (fast, lossless; clips start at "
        "the keyframe at or before each moment)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from ..pipeline.finder import validate_query
    from ..pipeline.output import (
        check_export_dir,
        check_output_file,
        export_moments,
        format_result,
        numbered_path,
        plot_saliency,
        results_json,
    )

    queries = [validate_query(q) for q in args.queries]
    if args.export_copy and not args.export:
        raise InputError("--export-copy needs --export DIR")
    if args.export:  # output paths are checked before the slow work
        check_export_dir(args.export)
    if args.plot:
        check_output_file(args.plot)
    finder = finder_from_args(args)
    feats = finder.extract(args.video, args.subtitles, queries=queries)
    if feats.channels:  # without any channel, grounding raises one error that includes the notes
        for note in feats.notes:
            warn(args, f"{note}; continuing with {', '.join(feats.channels)}")
    results = [finder.ground_features(feats, q, top_k=args.top_k) for q in queries]
    # the results first: a file that cannot be written afterwards never loses them
    print(results_json(results) if args.json else "\n\n".join(format_result(r) for r in results), flush=True)
    for i, result in enumerate(results):
        if args.plot:
            plot_saliency(result, numbered_path(args.plot, i, len(results)))
        if args.export:
            stem = os.path.splitext(os.path.basename(args.video))[0]
            prefix = f"{stem}_q{i + 1}" if len(results) > 1 else stem
            clips = export_moments(
                args.video, result, args.export, prefix, copy=args.export_copy, warn=lambda m: warn(args, m)
            )
            for path in clips:
                if not args.quiet and not args.json:
                    print(f"exported {path}")
    return 0
