"""``momentfinder extract VIDEO [VIDEO ...] --out DIR``: features in the Moment-DETR/Lighthouse layout."""

from __future__ import annotations

import argparse

from .options import add_model_options, finder_from_args, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="write clip and query features in the Moment-DETR/Lighthouse layout",
        description=(
            "Writes DIR/clip_features/{vid}.npz (key 'features', one row per clip), "
            "DIR/clip_text_features/qid{N}.npz (keys 'last_hidden_state', 'pooler_output', and for a query of "
            "several phrases 'parts', 'part_texts': the phrases encoded on their own) and "
            "DIR/videos.jsonl (vid, path, duration, clip_len, n_clips, model, text_model, model_fingerprint), "
            "which predict and train read the clip length from, and DIR/queries.jsonl (qid, text, model; the "
            "text is also the key 'text' of each query file). vid is the file name without extension; a "
            "second video of the same name (another folder) is written as NAME-HASH, with a warning. "
            "Features are committed together with their rows: a re-run, a parallel run or a killed run "
            "never leaves features that disagree with videos.jsonl."
        ),
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--out", required=True, metavar="DIR", help="output feature directory")
    p.add_argument("--query", action="append", default=[], help="a query to encode (qid 0, 1, ... in order)")
    p.add_argument(
        "--queries",
        metavar="JSONL",
        action="append",
        default=[],
        help="annotation file(s) whose queries to encode",
    )
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.readers import read_annotations
    from ..pipeline.extract import extract_directory

    queries = list(enumerate(args.query))
    for path in args.queries:
        queries += [(s.qid, s.query) for s in read_annotations(path)]
    finder = finder_from_args(args, use_subtitles=False)
    report = extract_directory(finder, args.videos, args.out, queries, warn=lambda line: warn(args, line))
    print(f"{len(report.videos)} video(s), {report.queries} query(ies) → {args.out}")
    return 0
