"""``momentfinder extract VIDEO [VIDEO ...] --out DIR``: features in the Moment-DETR/Lighthouse layout."""

from __future__ import annotations

import argparse
import os

from .options import add_model_options, finder_from_args, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="write clip and query features in the Moment-DETR/Lighthouse layout",
        description=(
            "Writes DIR/clip_features/{vid}.npz (key 'features', one row per clip), "
            "DIR/clip_text_features/qid{N}.npz (keys 'last_hidden_state', 'pooler_output', and for a query of "
            "several phrases 'parts', 'part_texts': the phrases encoded on their own) and "
            "DIR/videos.jsonl (vid, path, duration, clip_len, n_clips, model, text_model). vid is the file name "
            "without extension."
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
    import numpy as np

    from ..errors import ModelUnavailableError

    args.no_subtitles = True
    finder = finder_from_args(args)
    if finder.visual_encoder() is None:
        raise ModelUnavailableError(finder.visual_error or "no visual model")
    queries = [(i, q) for i, q in enumerate(args.query)]
    if args.queries:
        from ..data.readers import read_annotations

        for path in args.queries:
            queries += [(s.qid, s.query) for s in read_annotations(path)]
    clip_dir = os.path.join(args.out, "clip_features")
    text_dir = os.path.join(args.out, "clip_text_features")
    os.makedirs(clip_dir, exist_ok=True)
    manifest = []
    for video in args.videos:
        feats = finder.extract(video)
        if feats.visual is None:
            warn(args, f"{video}: skipped ({'; '.join(feats.notes)})")
            continue
        vid = feats.visual.video_id
        np.savez(os.path.join(clip_dir, f"{vid}.npz"), features=feats.visual.features)
        manifest.append(
            {
                "vid": vid,
                "path": os.path.abspath(video),
                "duration": feats.info.duration,
                "clip_len": feats.visual.clip_len,
                "n_clips": feats.visual.n_clips,
                "model": feats.visual.model,
                "text_model": feats.visual.model,  # queries are embedded with the same model's text tower
            }
        )
    if queries:
        os.makedirs(text_dir, exist_ok=True)
        for qid, text in queries:
            q = finder.encode_query(text)
            extra = {} if q.parts is None else {"parts": q.parts, "part_texts": np.array(q.part_texts)}
            np.savez(
                os.path.join(text_dir, f"qid{qid}.npz"),
                last_hidden_state=q.tokens,
                pooler_output=q.pooled,
                **extra,
            )
    _update_manifest(os.path.join(args.out, "videos.jsonl"), manifest)
    print(f"{len(manifest)} video(s), {len(queries)} query(ies) → {args.out}")
    return 0


def _update_manifest(path: str, rows: list[dict]) -> None:
    """Rewrite ``videos.jsonl`` with ``rows`` replacing earlier entries of the same vid (atomically)."""
    from ..data.readers import iter_jsonl, write_jsonl

    by_vid = {row["vid"]: row for _, row in iter_jsonl(path)} if os.path.exists(path) else {}
    by_vid.update({row["vid"]: row for row in rows})
    write_jsonl(path + ".tmp", by_vid.values())
    os.replace(path + ".tmp", path)
