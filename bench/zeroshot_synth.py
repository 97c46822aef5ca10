#!/usr/bin/env python3
"""Benchmark the zero-shot grounder on the synthetic QVHighlights-layout data (issue #5).

For each seed: generate data with ``../shared/bench/synth_qvh.py`` (cached), calibrate the
no-moment threshold on the val split (+ val negatives), and report on the test split:
R1@0.5, R1@0.7, mAP, mIoU, HL mAP / HIT@1 (VeryGood), the share of test negatives rejected,
the share of positives rejected and the R1@0.5 lost at that threshold; the same for the plain
baseline (cosine to the pooled query, runs above mean + 1 std ranked by mean similarity,
rejection by a threshold on the top similarity calibrated the same way). Then long videos
(test videos chained to about 3 hours) and single-core latency.

    python bench/zeroshot_synth.py --seeds 0 1 2
    python bench/zeroshot_synth.py --seeds 0 --set length_exponent=0.5   # an ablation
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # latency is measured on one core

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.data.features import FeatureDirectory  # noqa: E402
from momentfinder.data.readers import read_annotations  # noqa: E402
from momentfinder.data.submission import submission_record  # noqa: E402
from momentfinder.eval.qvhighlights import evaluate  # noqa: E402
from momentfinder.grounding.calibration import NoMomentCalibration, calibrate_threshold  # noqa: E402
from momentfinder.grounding.curve_ops import runs_above  # noqa: E402
from momentfinder.grounding.windows import WindowGrounder  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotConfig, ZeroShotGrounder  # noqa: E402
from momentfinder.types import ClipFeatures, GroundingResult, Moment  # noqa: E402

GENERATOR = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "synth_qvh.py"
CLIP_LEN = 2.0


def ensure_data(root: Path, seed: int, n_videos: int) -> Path:
    out = root / f"seed{seed}_n{n_videos}"
    if not (out / "test_negative.jsonl").is_file():
        if not GENERATOR.is_file():
            sys.exit(f"generator not found: {GENERATOR} (the shared/ folder must sit beside the repo)")
        print(f"generating {out} ...", file=sys.stderr)
        cmd = [sys.executable, str(GENERATOR), str(out), "--seed", str(seed), "--n-videos", str(n_videos)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def load_pairs(fd: FeatureDirectory, ann: Path, cache: dict) -> list:
    """(sample, ClipFeatures, QueryFeatures) for every query of an annotation file."""
    pairs = []
    for s in read_annotations(ann):
        if s.vid not in cache:
            cache[s.vid] = fd.clip_features(s.vid, CLIP_LEN, duration=s.duration)
        pairs.append((s, cache[s.vid], fd.query_features(s.qid, s.query)))
    return pairs


class PlainBaseline:
    """Cosine to the pooled query; runs above mean + 1 std, ranked by mean similarity."""

    def ground(self, clips: ClipFeatures, query, top_k: int = 10) -> GroundingResult:
        sim = clips.features @ (query.pooled / np.linalg.norm(query.pooled))
        spans = runs_above(sim, sim.mean() + sim.std())
        if not len(spans):
            top = int(np.argmax(sim))
            spans = np.array([[top, top + 1]])
        means = np.array([sim[s:e].mean() for s, e in spans])
        order = np.argsort(-means)[:top_k]
        moments = [
            Moment(
                spans[i, 0] * clips.clip_len,
                min(spans[i, 1] * clips.clip_len, clips.duration),
                float(means[i]),
            )
            for i in order
        ]
        return GroundingResult(query.text, clips.duration, clips.clip_len, moments, sim)

    def evidence(self, clips: ClipFeatures, query) -> float:
        return float((clips.features @ (query.pooled / np.linalg.norm(query.pooled))).max())


def zero_shot_evidence(grounder: ZeroShotGrounder, clips, query) -> float:
    return grounder.evidence(grounder.curves(clips, query))


def run_method(name, ground, evidence, val_pos, val_neg, test_pos, test_neg, target_rejection):
    """Metrics of one method on the test split, rejection calibrated on val (``evidence`` None: no rejection)."""
    records = []
    t0 = time.perf_counter()
    for s, c, q in test_pos:
        res = ground(c, q)
        res.qid, res.video = s.qid, s.vid
        records.append(submission_record(res))
    seconds = time.perf_counter() - t0
    gts = [s for s, _, _ in test_pos]
    full = evaluate(records, gts, extended=True)["brief"]
    row = {
        "method": name,
        "R1@0.5": full["MR-full-R1@0.5"],
        "R1@0.7": full["MR-full-R1@0.7"],
        "mAP": full["MR-full-mAP"],
        "mIoU": full["MR-full-mIoU"],
        "HL-mAP": full["HL-min-VeryGood-mAP"],
        "HL-HIT@1": full["HL-min-VeryGood-Hit1"],
        "HL-Good-mAP": full["HL-min-Good-mAP"],
        "ms_per_query": round(1000 * seconds / max(1, len(test_pos)), 2),
    }
    if evidence is None:
        return row
    val_scores = [np.array([evidence(c, q) for _, c, q in split]) for split in (val_pos, val_neg)]
    test_scores = [np.array([evidence(c, q) for _, c, q in split]) for split in (test_pos, test_neg)]
    for target in sorted({0.8, 0.85, 0.9, 0.95, target_rejection}):
        thr, _ = calibrate_threshold(*val_scores, target)
        rejected_pos = test_scores[0] <= thr
        tag = "" if target == target_rejection else f"@{target}"
        row[f"neg_rejected%{tag}"] = round(100 * float(np.mean(test_scores[1] <= thr)), 1)
        row[f"pos_rejected%{tag}"] = round(100 * float(np.mean(rejected_pos)), 1)
        if not tag:
            gated = [
                dict(r, pred_relevant_windows=[]) if rej else r
                for r, rej in zip(records, rejected_pos, strict=True)
            ]
            r1_gated = evaluate(gated, gts, extended=True)["brief"]["MR-full-R1@0.5"]
            row["R1@0.5_gated"] = r1_gated
            row["R1@0.5_lost"] = round(full["MR-full-R1@0.5"] - r1_gated, 2)
    return row


def chain_videos(test_pos: list, n_clips: int, rng: np.random.Generator) -> list:
    """Long videos: test videos chained (shuffled) until about ``n_clips`` clips; every query of
    a chained video becomes a query of the long one, its windows shifted."""
    videos: dict[str, tuple] = {}
    for s, c, q in test_pos:
        videos.setdefault(s.vid, (c, []))[1].append((s, q))
    order = list(videos)
    rng.shuffle(order)
    out, group, length = [], [], 0
    for vid in order:
        group.append(vid)
        length += videos[vid][0].n_clips
        if length >= n_clips:
            feats = np.concatenate([videos[v][0].features for v in group])
            clips = ClipFeatures(feats, CLIP_LEN, len(feats) * CLIP_LEN, video_id=f"chain{len(out)}")
            offset = 0.0
            for v in group:
                for s, q in videos[v][1]:
                    shifted = [[a + offset, b + offset] for a, b in s.windows]
                    out.append((s, shifted, clips, q))
                offset += videos[v][0].n_clips * CLIP_LEN
            group, length = [], 0
    return out


def long_video_recall(grounder, chained: list) -> dict:
    """R1@0.5, R5@0.5 (a top-5 moment hits), mIoU of the top moment, median latency."""
    from momentfinder.eval.iou import iou_cross

    hits1, hits5, ious, times = [], [], [], []
    for _s, windows, clips, q in chained:
        t0 = time.perf_counter()
        res = grounder.ground(clips, q)
        times.append(time.perf_counter() - t0)
        top = np.array([[m.start, m.end] for m in res.moments[:5]]).reshape(-1, 2)
        best = iou_cross(top, np.array(windows)).max(axis=1) if len(top) else np.zeros(1)
        hits1.append(best[0] >= 0.5)
        hits5.append(best.max() >= 0.5)
        ious.append(float(best[0]))
    return {
        "R1@0.5": round(100 * float(np.mean(hits1)), 2),
        "R5@0.5": round(100 * float(np.mean(hits5)), 2),
        "mIoU": round(100 * float(np.mean(ious)), 2),
        "clips": int(chained[0][2].n_clips) if chained else 0,
        "ms_per_query": round(1000 * float(np.median(times)), 2),
    }


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = (
            json.loads(value) if value[:1] in "[{" or value.replace(".", "").lstrip("-").isdigit() else value
        )
        if value in ("null", "None"):
            out[key] = None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument("--n-videos", type=int, default=2000, help="generator --n-videos (test split = 15 %%)")
    ap.add_argument("--target-rejection", type=float, default=0.92, help="share of val negatives to reject")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ZeroShotConfig overrides")
    ap.add_argument("--long-clips", type=int, default=5400, help="clips per chained long video (0 = skip)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--eval-split", choices=("test", "val"), default="test", help="val: for choosing settings (ablations)"
    )
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args()

    config = ZeroShotConfig.from_dict(parse_overrides(args.set))
    rows, long_rows = [], []
    for seed in args.seeds:
        root = ensure_data(args.data_root, seed, args.n_videos)
        fd = FeatureDirectory(root)
        cache: dict = {}
        val_pos, val_neg = (
            load_pairs(fd, root / "val.jsonl", cache),
            load_pairs(fd, root / "val_negative.jsonl", cache),
        )
        test_pos = load_pairs(fd, root / f"{args.eval_split}.jsonl", cache)
        test_neg = load_pairs(fd, root / f"{args.eval_split}_negative.jsonl", cache)
        # the null level (mean clip feature) comes from the val videos, as `predict --calibrate-on` does
        cal = ZeroShotGrounder(config).calibrate(
            [(c, q) for _, c, q in val_pos], [(c, q) for _, c, q in val_neg]
        )
        open_cal = NoMomentCalibration(feature_mean=cal.feature_mean, curve_null=cal.curve_null)
        zs = ZeroShotGrounder(
            config, open_cal
        )  # thresholds applied by run_method, so both R1s come from one run
        methods = [("zero-shot", zs.ground, functools.partial(zero_shot_evidence, zs))]
        if not args.no_baseline:
            base = PlainBaseline()
            methods.append(("plain", base.ground, base.evidence))
            methods.append(("windows-v1", WindowGrounder().ground, None))
        for name, ground, evidence in methods:
            row = run_method(
                name, ground, evidence, val_pos, val_neg, test_pos, test_neg, args.target_rejection
            )
            row["seed"] = seed
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.long_clips:
            chained = chain_videos(test_pos, args.long_clips, np.random.default_rng(seed))
            short = long_video_recall(zs, [(s, s.windows, c, q) for s, c, q in test_pos])
            long = long_video_recall(zs, chained)
            long_rows.append({"seed": seed, "short": short, "long": long, "n_long_queries": len(chained)})
            print(json.dumps(long_rows[-1]), flush=True)

    print("\nmean over seeds", args.seeds)
    for name in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == name]
        keys = [k for k in sel[0] if k not in ("method", "seed")]
        stats = {k: f"{np.mean([r[k] for r in sel]):.1f}±{np.std([r[k] for r in sel]):.1f}" for k in keys}
        print(name.ljust(10), "  ".join(f"{k} {v}" for k, v in stats.items()))
    if not args.no_baseline:
        zs_r1 = np.mean([r["R1@0.5"] for r in rows if r["method"] == "zero-shot"])
        base_r1 = np.mean([r["R1@0.5"] for r in rows if r["method"] == "plain"])
        print(f"R1@0.5 ratio zero-shot / plain: {zs_r1 / max(base_r1, 1e-9):.2f}")
    if long_rows:
        for part in ("short", "long"):
            vals = {
                k: np.mean([r[part][k] for r in long_rows])
                for k in ("R1@0.5", "R5@0.5", "mIoU", "clips", "ms_per_query")
            }
            print(f"{part:5s} videos: " + "  ".join(f"{k} {v:.1f}" for k, v in vals.items()))
    if args.out:
        args.out.write_text(
            json.dumps({"config": vars(config), "rows": rows, "long": long_rows}, indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
