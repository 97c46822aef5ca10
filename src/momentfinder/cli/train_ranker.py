"""``momentfinder train-ranker``: train the library's cross-video ranker (``search --ranker``)."""

from __future__ import annotations

import argparse
import json
import sys

from .options import any_int, clip_seconds, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-ranker",
        help="train the cross-video ranker a library search uses with --ranker",
        description="Train the cross-video relevance model (query tokens x clip features, trained "
        "contrastively against other videos and against the clips outside each moment) on a "
        "Moment-DETR-layout feature directory and annotations; `momentfinder search --ranker CKPT` "
        "then picks candidate videos with it. Prints the run summary as JSON.",
    )
    p.add_argument(
        "--features", required=True, help="feature directory (clip_features/, clip_text_features/)"
    )
    p.add_argument(
        "--train", required=True, help="training annotations (QVHighlights jsonl or any `data` format)"
    )
    p.add_argument(
        "--val", default=None, help="validation annotations (the epoch with the best video R@1 is kept)"
    )
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint file to write")
    p.add_argument("--config", default=None, help="YAML file of ranker settings (see README)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the config's epochs")
    p.add_argument("--seed", type=any_int, default=0, help="random seed")
    p.add_argument(
        "--visual-dirs",
        default="clip_features",
        help="comma-separated visual sub-directories, concatenated (default clip_features)",
    )
    p.add_argument("--text-dir", default="clip_text_features", help="query feature sub-directory")
    p.add_argument(
        "--clip-len",
        type=clip_seconds,
        default=None,
        help="seconds per clip of a directory without videos.jsonl",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.retrieval import RankerTrainRequest, train_ranker_from_features

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    request = RankerTrainRequest(
        features=args.features,
        train=args.train,
        out=args.out,
        val=args.val,
        config=args.config,
        epochs=args.epochs,
        visual_dirs=tuple(d.strip() for d in args.visual_dirs.split(",") if d.strip()),
        text_dir=args.text_dir,
        clip_len=args.clip_len,
        seed=args.seed,
        progress=not args.quiet and sys.stderr.isatty(),
    )

    def report(row: dict) -> None:
        if not args.quiet:
            extra = "".join(f"  {k} {v}" for k, v in row.items() if k.startswith("val_"))
            print(
                f"epoch {row['epoch'] + 1}: loss video {row['loss_video']:.3f} clip {row['loss_clip']:.3f}{extra}",
                file=sys.stderr,
                flush=True,
            )

    print(json.dumps(train_ranker_from_features(request, on_epoch=report), indent=2))
    return 0
