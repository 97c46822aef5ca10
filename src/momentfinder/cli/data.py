"""``momentfinder data stats|convert|check-features``: look at, convert and check datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset statistics, format conversion and feature checks")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True

    s = dsub.add_parser("stats", help="counts, video durations, moment lengths, moments per query")
    s.add_argument(
        "file", help="annotation file (QVHighlights/Lighthouse/TVR jsonl, Charades-STA txt, ActivityNet json)"
    )
    _add_format_options(s)
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    s.add_argument("--plot", default=None, metavar="OUT.png", help="draw the distributions into a PNG")
    s.set_defaults(func=run_stats)

    c = dsub.add_parser("convert", help="rewrite any annotation format as QVHighlights/Lighthouse jsonl")
    c.add_argument("file")
    c.add_argument("-o", "--output", required=True, help="output .jsonl")
    _add_format_options(c)
    c.add_argument("--json", action="store_true", help="print a JSON summary")
    c.set_defaults(func=run_convert)

    f = dsub.add_parser(
        "check-features", help="check that every video and query of a file has readable features"
    )
    f.add_argument("feature_dir", help="Moment-DETR/Lighthouse feature directory")
    f.add_argument("--annotations", required=True, help="annotation file whose vids/qids must have features")
    f.add_argument(
        "--clip-dirs", nargs="+", default=["clip_features"], help="visual sub-directories (concatenated)"
    )
    f.add_argument(
        "--text-dir", default="clip_text_features", help="query feature sub-directory ('' for none)"
    )
    _add_format_options(f)
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    f.set_defaults(func=run_check_features)


def _add_format_options(p: argparse.ArgumentParser) -> None:
    from ..data.readers import FORMATS

    p.add_argument("--format", dest="fmt", default="auto", choices=("auto", *FORMATS), help="input format")
    p.add_argument(
        "--durations", default=None, help="vid -> seconds (JSON or Charades CSV) for Charades-STA text"
    )


def _read(args: argparse.Namespace):
    from ..data.readers import read_annotations

    return read_annotations(
        args.file if hasattr(args, "file") else args.annotations, args.fmt, args.durations
    )


def run_stats(args: argparse.Namespace) -> int:
    from ..data.stats import dataset_stats, plot_dataset

    samples = _read(args)
    stats = dataset_stats(samples)
    if args.plot:
        plot_dataset(samples, args.plot, title=Path(args.file).name)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{key.replace('_', ' '):<24} {'n/a' if value is None else value}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..data.readers import samples_to_records, write_jsonl
    from ..errors import InputError

    samples = _read(args)
    unknown = [s.vid for s in samples if s.duration != s.duration]  # NaN: the format has no durations
    if unknown:
        raise InputError(
            f"{len(unknown)} queries have no video duration (e.g. {unknown[0]}); pass --durations"
        )
    records = samples_to_records(samples)
    write_jsonl(args.output, records)
    if args.json:
        print(json.dumps({"records": len(records), "output": args.output}))
    else:
        print(f"wrote {len(records)} records to {args.output}")
    return 0


def run_check_features(args: argparse.Namespace) -> int:
    from ..pipeline.batch import check_features

    samples = _read(args)
    dim, problems = check_features(args.feature_dir, samples, tuple(args.clip_dirs), args.text_dir or None)
    result = {
        "queries": len(samples),
        "videos": len({s.vid for s in samples}),
        "dim": dim,
        "problems": problems,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['queries']} queries, {result['videos']} videos, visual dim {dim}: "
            f"{len(problems)} problem(s)"
        )
        for line in problems[:20]:
            print(f"  {line}")
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more")
    return 1 if problems else 0
