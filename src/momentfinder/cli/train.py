"""``momentfinder train``: train the DETR-style grounder on a feature directory."""

from __future__ import annotations

import argparse
import sys

from .options import add_training_data_options, any_int, positive_int, set_torch_threads, visual_dirs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the DETR-style grounder on pre-extracted features",
        description="Train the moment detector (Moment-DETR / QD-DETR line) on a Moment-DETR/Lighthouse "
        "feature directory. Validates every epoch with the official QVHighlights metrics, keeps "
        "RUN/best.ckpt (best val mAP or the config's train.select_metric, with the calibrated no-moment "
        "threshold) and RUN/last.ckpt "
        "(for --resume), and writes RUN/log.csv, RUN/log.json and RUN/curves.png.",
    )
    add_training_data_options(p)
    p.add_argument("--val", required=True, help="validation annotations (model selection and calibration)")
    p.add_argument("--out", required=True, help="run directory to create (or continue with --resume)")
    p.add_argument(
        "--config",
        default=None,
        help="YAML config or built-in name: detr, detr_qd, detr_moment, detr_qvh, detr_point, detr_weak "
        "(default: detr_point for --supervision point, detr_weak for weak labels or --pseudo-labels alone, "
        "else detr)",
    )
    p.add_argument(
        "--supervision", choices=("full", "point", "weak"), default=None, help="label type (default: config)"
    )
    p.add_argument(
        "--pseudo-labels",
        default=None,
        metavar="PRED.jsonl",
        help="self-training: windows another grounder predicted for the --train queries "
        "(`momentfinder predict --grounder zero-shot --annotations TRAIN --no-reject`) train the "
        "detector; --train may then hold unlabelled videos (weak supervision unless --supervision point)",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="override train.epochs")
    p.add_argument("--batch-size", type=positive_int, default=None, help="override train.batch_size")
    p.add_argument(
        "--seed", type=any_int, default=2018, help="random seed (runs are deterministic per seed and device)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last finished epoch"
    )
    p.add_argument("--val-negative", default=None, help="val queries that do not happen (calibration report)")
    p.add_argument(
        "--no-normalize", action="store_true", help="do not L2-normalise features (Moment-DETR does)"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..pipeline.train import TrainRequest, train, training_config

    set_torch_threads(args)
    request = TrainRequest(
        features=args.features,
        train=args.train,
        val=args.val,
        out=args.out,
        val_negative=args.val_negative,
        config=args.config,
        supervision=args.supervision,
        pseudo_labels=args.pseudo_labels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        visual_dirs=visual_dirs(args),
        text_dir=args.text_dir,
        normalize=not args.no_normalize,
        clip_len=args.clip_len,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    epochs = training_config(request).train.epochs

    def report(row: dict) -> None:
        if args.quiet:
            return
        line = f"epoch {row['epoch'] + 1}/{epochs}: loss {row['loss']:.3f} ({row['train_seconds']:.0f} s)"
        if "val_MR-full-mAP" in row:
            line += (
                f"  val R1@0.5 {row['val_MR-full-R1@0.5']:.2f} R1@0.7 {row['val_MR-full-R1@0.7']:.2f}"
                f" mAP {row['val_MR-full-mAP']:.2f} HL-mAP {row['val_HL-min-VeryGood-mAP']:.2f}"
            )
        print(line, file=sys.stderr, flush=True)

    print(json.dumps(train(request, on_epoch=report), indent=2))
    return 0
