"""``momentfinder ground VIDEO QUERY [QUERY ...]``: ranked moments for each query."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .options import (
    add_grounding_options,
    add_model_options,
    add_question_options,
    finder_from_args,
    parser_settings_from_args,
    positive_float,
    positive_int,
    warn,
)


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
    add_question_options(p)
    vlm = p.add_argument_group("re-ranking by a vision-language model (off by default)")
    vlm.add_argument(
        "--rerank-vlm",
        metavar="MODEL",
        default=None,
        help="ask this model which numbered frames show the query, for the top moments: a local "
        "image-text-to-text model directory, or the model's name with --vlm-url",
    )
    vlm.add_argument("--vlm-url", metavar="URL", default=None, help="OpenAI-compatible vision chat API")
    vlm.add_argument("--rerank-top", type=positive_int, default=3, help="moments asked about (default 3)")
    vlm.add_argument(
        "--rerank-frames", type=positive_int, default=12, help="numbered frames per moment (default 12)"
    )
    vlm.add_argument(
        "--vlm-timeout", type=positive_float, default=60.0, help="seconds per answer (default 60)"
    )
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

    from ..pipeline.compose import QueryReader, answer_result
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
    reader = QueryReader(parser_settings_from_args(args))
    if args.export_copy and not args.export:
        raise InputError("--export-copy needs --export DIR")
    if args.export:  # output paths are checked before the slow work
        check_export_dir(args.export)
    if args.plot:
        check_output_file(args.plot)
    reranker = None
    if args.vlm_url and not args.rerank_vlm:
        raise InputError("--vlm-url needs --rerank-vlm MODEL (the model's name on that server)")
    if args.rerank_vlm:
        from ..pipeline.rerank import RerankSettings, build_reranker

        settings = RerankSettings(
            args.rerank_vlm,
            args.vlm_url,
            args.rerank_top,
            max(2, args.rerank_frames),
            timeout=args.vlm_timeout,
        )
        reranker = build_reranker(settings, device=args.device)  # a model that cannot load fails first
    finder = finder_from_args(args)
    parsed = [reader.parse(q) for q in queries]  # before the slow work: an LLM that fails falls back
    if args.explain and not args.json:
        for q in parsed:
            print(f'"{q.text}" parsed as {q.explain()}\n', flush=True)
    atoms = list(dict.fromkeys(a for q in parsed for a in q.atoms()))
    feats = finder.extract(args.video, args.subtitles, queries=atoms)
    if feats.channels:  # without any channel, grounding raises one error that includes the notes
        for note in feats.notes:
            warn(args, f"{note}; continuing with {', '.join(feats.channels)}")
    results = [answer_result(finder, feats, q, top_k=args.top_k) for q in parsed]
    if reranker is not None:
        results = [reranker.rerank(args.video, r) for r in results]
    if args.explain:  # the JSON then carries every query's structure, plain ones too
        for result, q in zip(results, parsed, strict=True):
            result.structure = q.to_json()
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
