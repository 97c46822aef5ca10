"""``momentfinder train-ranker``: train the library's cross-video ranker (``search --ranker``)."""

from __future__ import annotations

import argparse
import json
import sys

from .options import add_training_data_options, any_int, positive_int, set_torch_threads, visual_dirs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-ranker",
        help="train the cross-video ranker a library search uses with --ranker",
        description="Train the cross-video relevance model (query tokens x clip features, trained "
        "contrastively against other videos and against the clips outside each moment) on a "
        "Moment-DETR-layout feature directory and annotations; `momentfinder search --ranker CKPT` "
        "then picks candidate videos with it. Prints the run summary as JSON.",
    )
    add_training_data_options(p)
    p.add_argument(
        "--val", default=None, help="validation annotations (the epoch with the best video R@1 is kept)"
    )
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint file to write")
    p.add_argument("--config", default=None, help="YAML file of ranker settings (see README)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the config's epochs")
    p.add_argument("--seed", type=any_int, default=0, help="random seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.retrieval import RankerTrainRequest, train_ranker_from_features

    set_torch_threads(args)
    request = RankerTrainRequest(
        features=args.features,
        train=args.train,
        out=args.out,
        val=args.val,
        config=args.config,
        epochs=args.epochs,
        visual_dirs=tuple(visual_dirs(args)),
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
