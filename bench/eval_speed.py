#!/usr/bin/env python3
"""Time the QVHighlights evaluation: momentfinder's vectorised code vs the official per-query approach.

The official ``standalone_eval/eval.py`` loops over queries in Python (detection AP per query in a
multiprocessing pool, one sklearn precision-recall curve per query and annotator for highlights).
``momentfinder.eval.reference.evaluate_loop`` is that same per-query loop written out in plain
Python, single process and without sklearn; both paths are timed on the same loaded data, after
checking that they agree. Prints a table and writes JSON.

Usage: bench/eval_speed.py [--pred ../shared/data/moment_detr/sample_val_preds.jsonl]
                           [--gt ../shared/data/qvhighlights/highlight_val_release.jsonl]
                           [--repeats 5] [--out bench/results/eval_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from momentfinder.data.readers import read_annotations, samples_to_records
from momentfinder.data.submission import read_submission
from momentfinder.eval.qvhighlights import evaluate
from momentfinder.eval.reference import evaluate_loop

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _time(fn, repeats: int) -> dict:
    """Median and min wall time and the median CPU time of this process (robust to a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_median": round(statistics.median(wall), 4),
        "wall_min": round(min(wall), 4),
        "cpu_median": round(statistics.median(cpu), 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pred", default=str(DATA / "moment_detr" / "sample_val_preds.jsonl"))
    ap.add_argument("--gt", default=str(DATA / "qvhighlights" / "highlight_val_release.jsonl"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "eval_speed.json"))
    args = ap.parse_args()
    if not Path(args.gt).is_file() or not Path(args.pred).is_file():
        print(f"skipped: {args.pred} or {args.gt} is absent (../shared/data is not beside the repo)")
        return 0

    t0 = time.perf_counter()
    submission = read_submission(args.pred)
    t_read_sub = time.perf_counter() - t0
    t0 = time.perf_counter()
    gt_samples = read_annotations(args.gt)
    t_read_gt = time.perf_counter() - t0
    gt_records = samples_to_records(gt_samples)

    ours = evaluate(submission, gt_samples)
    ref = evaluate_loop(submission, gt_records)
    ref_map = float(f"{100 * np.mean(ref['full']['mAP']):.2f}")
    assert ours["brief"]["MR-full-mAP"] == ref_map, (ours["brief"]["MR-full-mAP"], ref_map)

    t_files = _time(lambda: evaluate(read_submission(args.pred), read_annotations(args.gt)), args.repeats)
    t_ours = _time(lambda: evaluate(submission, gt_samples), args.repeats)
    t_loop = _time(lambda: evaluate_loop(submission, gt_records), max(1, args.repeats // 2))
    result = {
        "queries": len(submission),
        "submission": args.pred,
        "ground_truth": args.gt,
        "read_submission_s": round(t_read_sub, 4),
        "read_ground_truth_s": round(t_read_gt, 4),
        "momentfinder_evaluate_s": t_ours,
        "momentfinder_read_and_evaluate_s": t_files,
        "per_query_loop_s": t_loop,
        "speedup_cpu": round(t_loop["cpu_median"] / t_ours["cpu_median"], 1),
        "MR-full-mAP": ours["brief"]["MR-full-mAP"],
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"queries                          {result['queries']}   (load average {result['load_average_1min']})"
    )
    print("                                 wall median   wall min   CPU median")
    for label, t in (
        ("momentfinder evaluate", t_ours),
        ("  + reading both files", t_files),
        ("per-query loop (official way)", t_loop),
    ):
        print(f"{label:<32} {t['wall_median']:>9.3f} s {t['wall_min']:>8.3f} s {t['cpu_median']:>10.3f} s")
    print(f"speed-up (CPU time)              {result['speedup_cpu']}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
