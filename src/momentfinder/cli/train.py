"""``momentfinder train``: train the DETR-style grounder on a feature directory."""

from __future__ import annotations

import argparse
import sys

from .options import any_int, clip_seconds, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the DETR-style grounder on pre-extracted features",
        description="Train the moment detector (Moment-DETR / QD-DETR line) on a Moment-DETR/Lighthouse "
        "feature directory. Validates every epoch with the official QVHighlights metrics, keeps "
        "RUN/best.ckpt (best val mAP, with the calibrated no-moment threshold) and RUN/last.ckpt "
        "(for --resume), and writes RUN/log.csv, RUN/log.json and RUN/curves.png.",
    )
    p.add_argument(
        "--features", required=True, help="feature directory (clip_features/, clip_text_features/)"
    )
    p.add_argument(
        "--train", required=True, help="training annotations (QVHighlights jsonl or any `data` format)"
    )
    p.add_argument("--val", required=True, help="validation annotations (model selection and calibration)")
    p.add_argument("--out", required=True, help="run directory to create (or continue with --resume)")
    p.add_argument(
        "--config",
        default=None,
        help="YAML config or built-in name: detr (default), detr_qd, detr_moment, detr_qvh",
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
        "--visual-dirs",
        default="clip_features",
        help="comma-separated visual sub-directories, concatenated (e.g. slowfast_features,clip_features)",
    )
    p.add_argument("--text-dir", default="clip_text_features", help="query feature sub-directory")
    p.add_argument(
        "--no-normalize", action="store_true", help="do not L2-normalise features (Moment-DETR does)"
    )
    p.add_argument(
        "--clip-len",
        type=clip_seconds,
        default=None,
        help="seconds per clip of a directory without videos.jsonl (default 2); `momentfinder extract` "
        "directories record their own",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..pipeline.train import TrainRequest, train, training_config

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
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
        visual_dirs=[d.strip() for d in args.visual_dirs.split(",") if d.strip()],
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
