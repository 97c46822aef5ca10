#!/usr/bin/env python3
"""Benchmark the trainable DETR grounder on synthetic QVHighlights-layout data (issue #6).

For a seed: generate data with ``../shared/bench/synth_qvh.py`` (cached), train on
``train.jsonl`` (model selection on ``val.jsonl``) for each supervision mode, and report on
``test.jsonl``: R1@0.5, R1@0.7, mAP, HL mAP / HIT@1, beside the zero-shot grounder and the plain
cosine baseline; the share of ``test_negative.jsonl`` queries rejected and of positives rejected
at the val-calibrated threshold; CPU seconds per training epoch; single-core inference latency
per query; the parameter count. Runs are kept and resumed (``--runs``), so an interrupted
benchmark continues where it stopped.

    python bench/detr_synth.py --seed 0                         # full, point, weak
    python bench/detr_synth.py --seed 0 --modes full --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from momentfinder.data.readers import read_annotations
from momentfinder.data.submission import submission_record
from momentfinder.eval.qvhighlights import evaluate
from momentfinder.grounding import make_grounder
from momentfinder.grounding.detr import load_config, load_grounder
from momentfinder.grounding.detr.config import DetrConfig, default_config_name
from momentfinder.grounding.detr.supervision import PseudoLabel
from momentfinder.grounding.detr.train import train_detector
from momentfinder.grounding.zeroshot import ZeroShotGrounder
from momentfinder.pipeline.train import official_metrics
from momentfinder.store import FeatureDirectory
from momentfinder.types import GroundingResult
from synth_common import PlainBaseline, ensure_data, load_pairs


def zero_shot_grounder(fd: FeatureDirectory, data: Path, cache: dict):
    """The zero-shot grounder with a calibration fitted on the val split (queries that happen and
    queries that do not), as ``bench/zeroshot_synth.py`` and ``predict --calibrate-on`` do: its
    null level, stop words and query bank come from those features. No calibration ships."""
    grounder = make_grounder("zero-shot")
    val = [(c, q) for _, c, q in load_pairs(fd, data / "val.jsonl", cache)]
    negatives = [(c, q) for _, c, q in load_pairs(fd, data / "val_negative.jsonl", cache)]
    grounder.calibration = grounder.calibrate(val, negatives, target_rejection=0.92)
    return grounder


def metrics_of(results: list[GroundingResult], pairs: list) -> dict:
    for r, (s, _, _) in zip(results, pairs, strict=True):
        r.qid, r.video = s.qid, s.vid
    brief = evaluate([submission_record(r) for r in results], [s for s, _, _ in pairs])["brief"]
    return {
        "R1@0.5": brief["MR-full-R1@0.5"],
        "R1@0.7": brief["MR-full-R1@0.7"],
        "mAP": brief["MR-full-mAP"],
        "HL-mAP": brief["HL-min-VeryGood-mAP"],
        "HL-HIT@1": brief["HL-min-VeryGood-Hit1"],
    }


def bench_baseline(name: str, grounder, test_pos: list) -> dict:
    t0 = time.perf_counter()
    results = [grounder.ground(c, q) for _, c, q in test_pos]
    ms = 1000 * (time.perf_counter() - t0) / len(test_pos)
    return {"method": name, **metrics_of(results, test_pos), "ms_per_query": round(ms, 2)}


def bench_detr(
    mode: str, run: Path, test_pos: list, test_neg: list, rerank: float | None = None, fallback=None
) -> dict:
    """Test metrics of ``run``'s best.ckpt; ``rerank``: with ``inference.zeroshot_rerank`` set to
    it (a checkpoint without its own zero-shot calibration borrows ``fallback``'s grounder)."""
    grounder = load_grounder(run / "best.ckpt")
    if rerank is not None:
        grounder.config.inference.zeroshot_rerank = rerank
        grounder.zeroshot = grounder.zeroshot or fallback
    elif grounder.zeroshot is not None and grounder.config.inference.zeroshot_rerank > 0:
        mode += f" + zero-shot re-rank {grounder.config.inference.zeroshot_rerank:g} (its config)"
    pairs = [(c, q) for _, c, q in test_pos]
    results = grounder.ground_batch(pairs, 10, reject=False)
    row = {"method": f"detr ({mode})", **metrics_of(results, test_pos)}
    thr = grounder.no_moment_threshold
    pos_scores = np.array([r.no_moment_score for r in results])
    neg_scores = np.array(
        [r.no_moment_score for r in grounder.ground_batch([(c, q) for _, c, q in test_neg], 1, reject=False)]
    )
    row["neg_rejected%"] = round(100 * float(np.mean(neg_scores > thr)), 1)
    row["pos_rejected%"] = round(100 * float(np.mean(pos_scores > thr)), 1)
    gated = [
        r if s <= thr else GroundingResult(r.query, r.timeline, [], r.saliency)
        for r, s in zip(results, pos_scores, strict=True)
    ]
    row["R1@0.5_gated"] = metrics_of(gated, test_pos)["R1@0.5"]
    # single-query latency on one core: feature checks + forward + decoding
    torch.set_num_threads(1)
    times, cpu = [], []
    for _, c, q in test_pos[:200]:
        t0, c0 = time.perf_counter(), time.process_time()
        grounder.ground(c, q)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    row["ms_per_query"] = round(1000 * float(np.median(times)), 2)
    row["cpu_ms_per_query"] = round(1000 * float(np.median(cpu)), 2)  # what a free core would take
    log = json.loads((run / "log.json").read_text())
    row["s_per_epoch"] = round(float(np.mean([r["train_seconds"] for r in log])), 1)
    if all("train_cpu_seconds" in r for r in log):
        row["cpu_s_per_epoch"] = round(float(np.mean([r["train_cpu_seconds"] for r in log])), 1)
    row["epochs"] = len(log)
    row["best_epoch"] = int(torch.load(run / "best.ckpt", weights_only=True)["epoch"]) + 1
    row["params"] = sum(p.numel() for p in grounder.model.parameters())
    return row


def zero_shot_pseudo_labels(grounder, train_pairs: list) -> dict:
    """The zero-shot grounder's top-10 windows and saliency on every training query (nothing
    rejected): the pseudo labels ``momentfinder train --pseudo-labels`` reads from ``predict``."""
    out = {}
    for s, c, q in train_pairs:
        r = grounder.ground(c, q, 10)
        out[s.qid] = PseudoLabel([m.as_list() for m in r.moments], np.asarray(r.saliency))
    return out


def test_each_epoch(run: Path, test_pos: list, rows: list):
    """An ``on_epoch`` hook scoring ``last.ckpt`` (just written, with that epoch's val calibration)
    on the test split: a diagnostic of model selection (which epoch each val metric would keep),
    never used to select."""

    def hook(row: dict) -> None:
        grounder = load_grounder(run / "last.ckpt")
        results = grounder.ground_batch([(c, q) for _, c, q in test_pos], 10, reject=False)
        m = metrics_of(results, test_pos)
        keys = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "point_hit")
        rows.append({"epoch": row["epoch"] + 1, **{f"val_{k}": row.get(f"val_{k}") for k in keys}, "test": m})
        print(
            f"    test after epoch {row['epoch'] + 1}: R1@0.5 {m['R1@0.5']:.2f} R1@0.7 {m['R1@0.7']:.2f} "
            f"mAP {m['mAP']:.2f} (val point hit {row.get('val_point_hit') or float('nan'):.2f})",
            file=sys.stderr,
            flush=True,
        )

    return hook


def train_run(mode: str, data: Path, run: Path, args, pseudo: dict | None = None, per_epoch=None) -> float:
    """Train (or resume, or reuse) one run; return wall-clock seconds spent now."""
    if ((run / "summary.json").is_file() and not args.retrain) or args.evaluate_only:
        return 0.0
    if args.retrain and run.exists():  # kept beside, not resumed (a finished run resumes to itself)
        aside = run.with_name(f"{run.name}.before-{time.strftime('%Y%m%d-%H%M%S')}")
        run.rename(aside)
        print(f"--retrain: the previous run {run} moved to {aside}", file=sys.stderr)
    cfg = load_config(args.config or default_config_name(mode))
    cfg.supervision.mode = mode
    if args.epochs:
        cfg.train.epochs = args.epochs
    for item in args.set:
        section, _, rest = item.partition(".")
        key, _, value = rest.partition("=")
        cfg = DetrConfig.from_dict(
            {**cfg.to_dict(), section: {**cfg.to_dict()[section], key: yaml.safe_load(value)}}
        )
    fd = FeatureDirectory(data, normalize=True)
    t0 = time.perf_counter()

    def on_epoch(r: dict) -> None:
        print(
            f"[{mode}] epoch {r['epoch'] + 1}: loss {r['loss']:.3f} {r['train_seconds']:.0f}s "
            f"val R1@0.5 {r.get('val_MR-full-R1@0.5', float('nan')):.2f} mAP {r.get('val_MR-full-mAP', float('nan')):.2f}"
            + (
                f" pseudo IoU {r['pseudo_mean_iou']:.3f} (>=0.5 {100 * r['pseudo_iou_0.5']:.1f} %, "
                f">=0.7 {100 * r['pseudo_iou_0.7']:.1f} %); clip labels right: relevant "
                f"{100 * r['pseudo_clip_pos_right']:.1f} %, not {100 * r['pseudo_clip_neg_right']:.1f} %, "
                f"unsure {100 * r['pseudo_clip_unsure']:.1f} %"
                if "pseudo_mean_iou" in r
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )
        if per_epoch is not None:
            per_epoch(r)

    train_detector(
        cfg,
        fd,
        read_annotations(data / "train.jsonl"),
        read_annotations(data / "val.jsonl"),
        run,
        evaluate=official_metrics,
        seed=args.train_seed,
        resume=(run / "last.ckpt").is_file(),
        val_negatives=read_annotations(data / "val_negative.jsonl"),
        pseudo_labels=pseudo,
        progress=sys.stderr.isatty(),
        on_epoch=on_epoch,
    )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="generator and training seed (below 1000)")
    ap.add_argument(
        "--train-seed",
        type=int,
        default=None,
        help="training seed (weights, order, point draws) when it should differ from --seed, to measure "
        "run-to-run spread on one dataset",
    )
    ap.add_argument("--n-videos", type=int, default=2000)
    ap.add_argument(
        "--modes", nargs="+", default=["full", "point", "weak"], choices=["full", "point", "weak"]
    )
    ap.add_argument(
        "--config",
        default=None,
        help="YAML config or built-in name (default: the one `momentfinder train` picks for each mode: "
        "detr, detr_point, detr_weak)",
    )
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument(
        "--pseudo",
        choices=["weak", "point-and-weak", "none"],
        default="weak",
        help="which runs start from the val-calibrated zero-shot grounder's windows as pseudo labels "
        "(default: weak only; point runs with them measured below plain point labels)",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="config overrides, e.g. train.lr_drop=8",
    )
    ap.add_argument("--tag", default="", help="suffix of the run directories (for ablations with --set)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument(
        "--runs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-detr-runs"
    )
    ap.add_argument(
        "--retrain",
        action="store_true",
        help="train again from the start even when a run exists (the old one is moved beside it, "
        "to NAME.before-DATE-TIME)",
    )
    ap.add_argument(
        "--evaluate-only", action="store_true", help="no training: score the runs' current best.ckpt"
    )
    ap.add_argument(
        "--test-each-epoch",
        action="store_true",
        help="diagnostic: score each epoch's last.ckpt on test too (JSON 'per_epoch'; never selects)",
    )
    ap.add_argument(
        "--rerank",
        type=float,
        nargs="*",
        default=[],
        metavar="W",
        help="also score each run with inference.zeroshot_rerank=W (the zero-shot grounder's look-alike "
        "contrast re-ranking the detector's moments), one row per W; 0 = the checkpoint without it",
    )
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args()
    if args.train_seed is None:
        args.train_seed = args.seed

    data = ensure_data(args.data_root, args.seed, args.n_videos)
    fd = FeatureDirectory(data, normalize=True)
    cache: dict = {}
    test_pos = load_pairs(fd, data / "test.jsonl", cache)
    test_neg = load_pairs(fd, data / "test_negative.jsonl", cache)
    rows, walls, per_epoch = [], {}, {}
    zero_shot = zero_shot_grounder(fd, data, cache)
    pseudo = None
    pseudo_modes = {"weak": {"weak"}, "point-and-weak": {"point", "weak"}, "none": set()}[args.pseudo]
    if pseudo_modes & set(args.modes) and not args.evaluate_only:
        pseudo = zero_shot_pseudo_labels(zero_shot, load_pairs(fd, data / "train.jsonl", cache))
    # for --rerank on checkpoints trained before they kept a zero-shot calibration: the bench's own
    rerank_fallback = ZeroShotGrounder(
        zero_shot.config,
        dataclasses.replace(zero_shot.calibration, feature_threshold=None, curve_threshold=None),
    )
    for mode in args.modes:
        init = "_zs" if mode in pseudo_modes else ""
        config = Path(args.config or default_config_name(mode)).stem
        train_seed = "" if args.train_seed == args.seed else f"_train{args.train_seed}"
        run = args.runs / f"seed{args.seed}_n{args.n_videos}_{config}_{mode}{init}{train_seed}{args.tag}"
        torch.set_num_threads(args.threads)
        hook = None
        if args.test_each_epoch:
            per_epoch[mode] = []
            hook = test_each_epoch(run, test_pos, per_epoch[mode])
        walls[mode] = train_run(mode, data, run, args, pseudo if mode in pseudo_modes else None, hook)
        rows.append(
            bench_detr(mode + init.replace("_zs", " + zero-shot init") + args.tag, run, test_pos, test_neg)
        )
        rows[-1]["train_wall_s"] = round(walls[mode], 1) or None
        for weight in args.rerank:
            name = (
                f"{mode}{init.replace('_zs', ' + zero-shot init')}{args.tag} + zero-shot re-rank {weight:g}"
            )
            rows.append(bench_detr(name, run, test_pos, test_neg, weight, rerank_fallback))
    rows.append(bench_baseline("zero-shot (calibrated on val)", zero_shot, test_pos))
    # the same grounder without its no-moment rejection (the DETR rows' R1@0.5 is ungated too)
    open_zero_shot = make_grounder("zero-shot")
    open_zero_shot.calibration = dataclasses.replace(zero_shot.calibration, feature_threshold=None)
    rows.append(bench_baseline("zero-shot (calibrated on val, no rejection)", open_zero_shot, test_pos))
    rows.append(bench_baseline("plain cosine", PlainBaseline(), test_pos))
    columns = [
        "method",
        "R1@0.5",
        "R1@0.7",
        "mAP",
        "HL-mAP",
        "HL-HIT@1",
        "neg_rejected%",
        "pos_rejected%",
        "R1@0.5_gated",
    ]
    columns += [
        "ms_per_query",
        "cpu_ms_per_query",
        "s_per_epoch",
        "cpu_s_per_epoch",
        "epochs",
        "best_epoch",
        "train_wall_s",
        "params",
    ]
    print(
        f"\nseed {args.seed}, {len(test_pos)} test queries, {len(test_neg)} negatives, threads {args.threads}\n"
    )
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in columns) + " |")
    if args.out:
        args.out.write_text(
            json.dumps(
                {"seed": args.seed, "train_seed": args.train_seed, "rows": rows, "per_epoch": per_epoch},
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
