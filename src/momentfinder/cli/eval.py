"""``momentfinder eval --submission PRED --gt GT``: score predictions exactly like the papers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import write_atomic

PROTOCOLS = ("auto", "qvhighlights", "recall", "tvr", "tvsum", "youtube")


def register(sub: argparse._SubParsersAction) -> None:
    from ..data.readers import FORMATS

    p = sub.add_parser(
        "eval",
        help="score a submission against ground truth (QVHighlights, R@n IoU=m, TVR, TVSum)",
        description="Score a submission. qvhighlights: the official Moment-DETR metrics (mAP, R@1, "
        "short/middle/long, highlight mAP/HIT@1); recall: R@{1,5} at IoU {0.3,0.5,0.7} and mIoU "
        "(Charades-STA / ActivityNet convention); tvr: VCMR/SVMR/VR recall; tvsum / youtube: top-5 / full "
        "highlight mAP per domain. auto picks tvr for a .json submission or TVR ground truth, tvsum or "
        "youtube for per-clip labels with domains, qvhighlights otherwise.",
    )
    p.add_argument("--submission", required=True, help="predictions (.jsonl; TVR: .json)")
    p.add_argument("--gt", required=True, help="ground truth (any format `momentfinder data` reads)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="auto", help="metrics to compute (default auto)")
    p.add_argument(
        "--gt-format",
        default="auto",
        choices=("auto", *FORMATS),
        help="ground-truth format (default: detect)",
    )
    p.add_argument(
        "--extended",
        action="store_true",
        help="qvhighlights: CG-DETR's layout, adding R1@0.3-0.45 and mIoU to the official one",
    )
    p.add_argument("--allow-partial", action="store_true", help="score only the qids both files share")
    p.add_argument(
        "--strict-windows", action="store_true", help="also reject windows that end after the video"
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON (the official file layout)")
    p.add_argument("-o", "--output", default=None, help="also write the metrics JSON to this file")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="draw the metrics into a PNG")
    p.add_argument(
        "--per-query",
        default=None,
        metavar="OUT.jsonl",
        help="qvhighlights: write each query's AP, top-1 IoU and highlight scores (for error analysis)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.readers import detect_format, read_annotations
    from ..errors import InputError

    gt_path, sub_path = Path(args.gt), Path(args.submission)
    for path in (gt_path, sub_path):
        if not path.is_file():
            raise InputError(f"file not found: {path}")
    gt_format = detect_format(gt_path) if args.gt_format == "auto" else args.gt_format
    protocol = args.protocol
    if protocol == "auto":
        protocol = "tvr" if gt_format == "tvr" or sub_path.suffix.lower() == ".json" else "qvhighlights"
    match_number = not args.allow_partial
    if protocol == "tvr":
        from ..eval.tvr import evaluate_tvr_files

        metrics = evaluate_tvr_files(sub_path, gt_path, match_number=match_number)
    else:
        from ..data.submission import read_submission

        submission = read_submission(sub_path)
        gt = read_annotations(gt_path, fmt=gt_format)
        if args.protocol == "auto" and all(
            "domain" in s.extra and not s.windows and s.saliency_scores for s in gt
        ):
            protocol = "tvsum" if len(gt[0].saliency_scores[0]) > 1 else "youtube"
        if protocol in ("tvsum", "youtube"):
            from ..eval.highlights import PROTOCOL_TOP_K, highlight_map

            metrics = highlight_map(submission, gt, top_k=PROTOCOL_TOP_K[protocol], match_number=match_number)
        elif protocol == "recall":
            from ..eval.recall import recall_at_iou

            metrics = recall_at_iou(
                submission, gt, match_number=match_number, strict_windows=args.strict_windows
            )
        else:
            from ..eval.qvhighlights import evaluate

            metrics = evaluate(
                submission,
                gt,
                extended=args.extended,
                match_number=match_number,
                strict_windows=args.strict_windows,
            )
            if args.per_query:
                from ..data.readers import write_jsonl
                from ..eval.qvhighlights import per_query

                write_jsonl(args.per_query, per_query(submission, gt, match_number=match_number))
    if args.per_query and protocol != "qvhighlights":
        raise InputError("--per-query is only available for the qvhighlights protocol")
    text = json.dumps(metrics, indent=4)
    if args.output:
        try:
            write_atomic(args.output, text.encode("utf-8"))
        except OSError as err:
            raise InputError(f"cannot write {args.output}: {err.strerror}") from None
    if args.plot:
        from ..eval.plot import plot_metrics

        plot_metrics(metrics, args.plot, protocol, title=sub_path.name)
    if args.json:
        print(text)
    else:
        print(format_metrics(metrics, protocol))
    return 0


def format_metrics(metrics: dict, protocol: str) -> str:
    """A short human-readable table: the ``brief`` block, or every value of a flat table."""
    if protocol == "qvhighlights":
        rows = metrics["brief"].items()
    elif protocol in ("tvsum", "youtube"):
        rows = [("mAP (mean over domains)", metrics["mAP"]), *metrics["by_domain"].items()]
    elif protocol == "tvr":
        rows = [
            (f"{task} {key}", value)
            for task, table in metrics.items()
            if "_by_type" not in task
            for key, value in table.items()
        ]
    else:
        rows = metrics.items()
    rows = list(rows)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {'n/a' if v is None else f'{v:.2f}'}" for k, v in rows)
