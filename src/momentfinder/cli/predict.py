"""``momentfinder predict``: ground every query of an annotation file in a feature directory.

    momentfinder predict --features DIR --annotations FILE --out PRED.jsonl
        [--grounder zero-shot] [--calibrate-on VAL_ANN [VAL_NEG_ANN] --save-calibration CAL.json]
        [--calibration CAL.json] [--top-k 10]

``DIR`` has the Moment-DETR layout (``clip_features/{vid}.npz``, ``clip_text_features/qid{N}.npz``);
the output is a QVHighlights submission that ``momentfinder eval`` scores. A query the grounder
rejects ("no matching moment") gets an empty window list and its ``no_moment_score``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from .options import positive_float, positive_int

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from ..grounding import DEFAULT_GROUNDER, GROUNDERS

    p = sub.add_parser(
        "predict",
        help="ground every query of an annotation file in pre-extracted features",
        description="Ground every query of ANNOTATIONS in the features of DIR and write a QVHighlights submission.",
    )
    p.add_argument("--features", required=True, metavar="DIR", help="Moment-DETR-layout feature directory")
    p.add_argument("--annotations", required=True, metavar="FILE", help="queries to ground (jsonl)")
    p.add_argument("--out", required=True, metavar="PRED.jsonl", help="submission file to write")
    p.add_argument(
        "--grounder", choices=sorted(GROUNDERS), default=DEFAULT_GROUNDER, help=f"default {DEFAULT_GROUNDER}"
    )
    p.add_argument(
        "--checkpoint",
        metavar="RUN/best.ckpt",
        help="a trained DETR checkpoint (`momentfinder train`) instead of --grounder; its calibrated "
        "no-moment threshold rejects queries unless --no-reject",
    )
    p.add_argument("--device", default=None, help="--checkpoint: cpu, cuda (default: CUDA when available)")
    p.add_argument("--top-k", type=positive_int, default=10, help="moments per query (default 10)")
    p.add_argument("--clip-len", type=positive_float, default=2.0, help="seconds per feature row (default 2)")
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
        help="calibration file to use (default: none, no query is rejected)",
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
        type=float,
        default=0.92,
        help="share of the calibration negatives to reject (default 0.92)",
    )
    cal.add_argument("--no-reject", action="store_true", help="never reject a query (always return moments)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.features import FeatureDirectory
    from ..data.readers import read_annotations
    from ..data.submission import write_submission
    from ..errors import InputError

    if args.calibrate_on and len(args.calibrate_on) > 2:
        raise InputError("--calibrate-on takes one or two files: VAL_ANN [VAL_NEG_ANN]")
    if args.save_calibration and not args.calibrate_on:
        raise InputError("--save-calibration needs --calibrate-on")
    if args.calibration and args.calibrate_on:
        raise InputError("use either --calibration or --calibrate-on, not both")
    if not 0.0 < args.target_rejection < 1.0:
        raise InputError(f"--target-rejection must be between 0 and 1, got {args.target_rejection}")
    if args.checkpoint:
        return _predict_checkpoint(args)
    features = FeatureDirectory(args.features)
    samples = read_annotations(args.annotations)
    if not samples:
        raise InputError(f"{args.annotations}: no queries")
    grounder = build_grounder(args, features)
    start = time.perf_counter()
    results, cache = [], {}
    for s in samples:
        result = grounder.ground(
            _clips(features, s, args.clip_len, cache), features.query_features(s.qid, s.query)
        )
        result.qid, result.video = s.qid, s.vid
        results.append(result)
    seconds = time.perf_counter() - start
    write_submission(args.out, results)
    _report(args.out, results, seconds)
    return 0


def _report(out: str, results: list, seconds: float) -> None:
    rejected = sum(1 for r in results if not r.moments)
    print(
        f"wrote {len(results)} predictions to {out} ({rejected} with no matching moment; "
        f"{1000 * seconds / max(1, len(results)):.2f} ms per query)",
        file=sys.stderr,
    )


def build_grounder(args: argparse.Namespace, features):
    """The grounder named by ``--grounder``, set up from the other options (one branch per kind)."""
    from ..errors import InputError
    from ..grounding import GROUNDERS
    from ..grounding.zeroshot import NoMomentCalibration, ZeroShotConfig, ZeroShotGrounder
    from .options import key_values

    if args.set and args.grounder != "zero-shot":
        raise InputError(f"--set configures the zero-shot grounder, not {args.grounder!r}")
    if args.grounder == "zero-shot":
        config = ZeroShotConfig.from_dict(key_values(args.set))
        if args.no_reject:
            return ZeroShotGrounder(config, NoMomentCalibration())
        if args.calibration:
            return ZeroShotGrounder(config, NoMomentCalibration.load(args.calibration))
        grounder = ZeroShotGrounder(config)
        if args.calibrate_on:
            grounder.calibration = _calibrate(grounder, features, args)
        return grounder
    if args.calibrate_on or args.calibration:
        log.warning("the %s grounder has no no-moment decision; calibration options ignored", args.grounder)
    return GROUNDERS[args.grounder]()


def _calibrate(grounder, features, args: argparse.Namespace):
    from ..data.readers import read_annotations
    from ..errors import InputError

    cache: dict = {}

    def pairs(path: str) -> list:
        return [
            (_clips(features, s, args.clip_len, cache), features.query_features(s.qid, s.query))
            for s in read_annotations(path)
        ]

    positives = pairs(args.calibrate_on[0])
    negatives = pairs(args.calibrate_on[1]) if len(args.calibrate_on) > 1 else []
    if not positives:
        raise InputError(f"{args.calibrate_on[0]}: no queries to calibrate on")
    cal = grounder.calibrate(
        positives, negatives, target_rejection=args.target_rejection, source=" + ".join(args.calibrate_on)
    )
    rates = cal.report["features"]
    print(
        f"calibrated on {len(positives)} positive and {len(negatives)} negative queries: "
        f"threshold {cal.feature_threshold:.3f} rejects "
        + (f"{100 * rates['negatives_rejected']:.1f}% of the negatives and " if negatives else "")
        + f"{100 * rates['positives_rejected']:.1f}% of the positives",
        file=sys.stderr,
    )
    if args.save_calibration:
        cal.save(args.save_calibration)
    return cal


def _clips(features, sample, clip_len: float, cache: dict):
    if sample.vid not in cache:
        cache.clear()  # annotation files list a video's queries together; keep one video in memory
        cache[sample.vid] = features.clip_features(sample.vid, clip_len, duration=sample.duration)
    return cache[sample.vid]


def _predict_checkpoint(args: argparse.Namespace) -> int:
    """``--checkpoint``: the trained DETR grounder; feature layout and threshold come from the checkpoint."""
    import torch

    from ..grounding.detr.predict import predict_annotations

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    results = predict_annotations(
        args.checkpoint,
        args.features,
        args.annotations,
        args.out,
        args.top_k,
        device,
        reject=not args.no_reject,
    )
    _report(args.out, results, time.perf_counter() - start)
    return 0
