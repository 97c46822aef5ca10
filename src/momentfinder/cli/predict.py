"""``momentfinder predict``: ground every query of an annotation file in a feature directory.

    momentfinder predict --features DIR --annotations FILE --out PRED.jsonl
        [--grounder zero-shot | --checkpoint RUN/best.ckpt [--zeroshot-rerank W]] [--top-k 10]
        [--calibrate-on VAL_ANN [VAL_NEG_ANN] --save-calibration CAL.json] [--calibration CAL.json]

``DIR`` has the Moment-DETR layout (``clip_features/{vid}.npz``, ``clip_text_features/qid{N}.npz``,
and from ``momentfinder extract`` a ``videos.jsonl`` manifest whose clip length is used); the
output is a QVHighlights submission that ``momentfinder eval`` scores. A query the grounder
rejects ("no matching moment") gets an empty window list and its ``no_moment_score``.
"""

from __future__ import annotations

import argparse
import sys

from .options import ZEROSHOT_RERANK_HELP, clip_seconds, key_values, non_negative_float, positive_int, share


def register(sub: argparse._SubParsersAction) -> None:
    from ..pipeline.choices import DEFAULT_GROUNDER, GROUNDER_NAMES

    p = sub.add_parser(
        "predict",
        help="ground every query of an annotation file in pre-extracted features",
        description="Ground every query of ANNOTATIONS in the features of DIR and write a QVHighlights submission.",
    )
    p.add_argument("--features", required=True, metavar="DIR", help="Moment-DETR-layout feature directory")
    p.add_argument("--annotations", required=True, metavar="FILE", help="queries to ground (jsonl)")
    p.add_argument("--out", required=True, metavar="PRED.jsonl", help="submission file to write")
    p.add_argument(
        "--grounder", choices=GROUNDER_NAMES, default=DEFAULT_GROUNDER, help=f"default {DEFAULT_GROUNDER}"
    )
    p.add_argument(
        "--checkpoint",
        metavar="RUN/best.ckpt",
        help="a trained DETR checkpoint (`momentfinder train`) instead of --grounder; its calibrated "
        "no-moment threshold rejects queries unless --no-reject",
    )
    p.add_argument("--device", default=None, help="--checkpoint: cpu, cuda (default: CUDA when available)")
    p.add_argument(
        "--zeroshot-rerank", type=non_negative_float, metavar="W", default=None, help=ZEROSHOT_RERANK_HELP
    )
    p.add_argument("--top-k", type=positive_int, default=10, help="moments per query (default 10)")
    p.add_argument(
        "--clip-len",
        type=clip_seconds,
        default=None,
        help="seconds per feature row of a directory without videos.jsonl (default 2, QVHighlights); "
        "a directory from `momentfinder extract` records its own and a different value is an error",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="zero-shot options (ZeroShotConfig, docs/zeroshot.md), e.g. --set common_token_share=1.0 "
        "bank_temperature=0; calibrate with the same options",
    )
    cal = p.add_argument_group("no-moment decision (zero-shot grounder)")
    cal.add_argument(
        "--calibration",
        metavar="CAL.json",
        help="calibration made for these features' encoder (default: none, nothing is rejected)",
    )
    cal.add_argument(
        "--calibrate-on",
        nargs="+",
        metavar="ANN",
        help="calibrate on VAL_ANN (queries that happen) and optional VAL_NEG_ANN (queries that do not)",
    )
    cal.add_argument(
        "--save-calibration", metavar="CAL.json", help="write the calibration from --calibrate-on here"
    )
    cal.add_argument(
        "--target-rejection",
        type=share,
        default=0.92,
        help="share of the calibration negatives to reject (default 0.92)",
    )
    cal.add_argument("--no-reject", action="store_true", help="never reject a query (always return moments)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.batch import PredictRequest, predict_file
    from ..pipeline.choices import GrounderSpec

    request = PredictRequest(
        features=args.features,
        annotations=args.annotations,
        out=args.out,
        grounder=GrounderSpec(
            name=args.grounder,
            options=key_values(args.set),
            calibration=args.calibration,
            checkpoint=args.checkpoint,
            device=args.device,
            reject=not args.no_reject,
            zeroshot_rerank=args.zeroshot_rerank,
        ),
        top_k=args.top_k,
        clip_len=args.clip_len,
        calibrate_on=args.calibrate_on or (),
        save_calibration=args.save_calibration,
        target_rejection=args.target_rejection,
    )
    report = predict_file(request, log=lambda line: print(line, file=sys.stderr))
    print(report.summary(args.out), file=sys.stderr)
    return 0
