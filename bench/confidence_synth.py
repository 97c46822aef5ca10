#!/usr/bin/env python3
"""How much the zero-shot confidence means, on the synthetic benchmark (issue #11, honest scores).

A moment's confidence is the share of decoy queries whose best evidence in the same video it
beats (``momentfinder.channels.span_confidence``). Here the decoys are 64 train queries (their
features, as the generator wrote them), the grounder is calibrated on val like
``bench/zeroshot_synth.py`` (null level, stop words, query bank; no rejection), and for the top
moment of every test query (positives) and test negative we report:

* AUC of confidence between positives and negatives, and the mean confidence of each;
* by confidence bin: the share of positives whose top moment is right (IoU >= 0.5 with a
  ground-truth window) and the share of all top moments (positives and negatives) in the bin;
* the same on long videos (each test video chained with unrelated test videos to about
  ``--long-clips`` clips): a confidence must mean the same in a 150 s and a 3-hour video.

    python bench/confidence_synth.py --seeds 0 1
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.channels import Query, SamplingConfig, VisualChannel, span_confidence  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotGrounder  # noqa: E402
from momentfinder.types import ClipFeatures, Timeline  # noqa: E402
from synth_common import decoy_queries, ensure_data, hit, load_splits  # noqa: E402

BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive's confidence > a negative's), ties counted half."""
    diff = pos[:, None] - neg[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def top_confidence(grounder, channel: VisualChannel, clips: ClipFeatures, q, text: str):
    """The top moment (seconds) and its confidence."""
    result = grounder.ground(clips, q, top_k=1)
    m = result.moments[0]
    query = Query(text, {"visual": q})
    curve = channel.relevance(clips, query, clips.timeline)
    start = int(np.floor(m.start / clips.clip_len + 1e-6))
    end = max(start + 1, int(np.ceil(m.end / clips.clip_len - 1e-6)))
    return (m.start, m.end), span_confidence(curve, start, end)


def report(name: str, pos: list[tuple[float, bool]], neg: list[float]) -> dict:
    pc = np.array([c for c, _ in pos])
    hit = np.array([h for _, h in pos])
    nc = np.array(neg)
    allc = np.concatenate([pc, nc])
    row = {
        "set": name,
        "auc_pos_vs_neg": round(auc(pc, nc), 3),
        "mean_conf_pos": round(float(pc.mean()), 3),
        "mean_conf_neg": round(float(nc.mean()), 3),
        "R1@0.5": round(100 * float(hit.mean()), 1),
    }
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        in_bin = (pc >= lo) & ((pc < hi) | (hi == BINS[-1]))  # the last bin holds 1.0 too
        share = float(np.mean((allc >= lo) & ((allc < hi) | (hi == BINS[-1]))))
        hits = f"{100 * hit[in_bin].mean():.0f}%" if in_bin.any() else "-"
        row[f"[{lo},{hi}{']' if hi == BINS[-1] else ')'}"] = (
            f"{hits} right of {int(in_bin.sum())} pos; {100 * share:.0f}% of all"
        )
    return row


def chains(test: list, others: list, n_clips: int, rng) -> list:
    """Each (sample, clips, query) inside a long video: its clips at a random place among others'."""
    out = []
    for s, c, q in test:
        pool = [o for o in others if o[0].vid != s.vid]
        parts, length = [], c.n_clips
        while length < n_clips:
            o = pool[rng.integers(len(pool))][1]
            parts.append(o.features)
            length += o.n_clips
        at = int(rng.integers(len(parts) + 1))
        offset = sum(len(p) for p in parts[:at]) * c.clip_len
        feats = np.concatenate([*parts[:at], c.features, *parts[at:]])
        long = ClipFeatures(feats, Timeline.of(len(feats), c.clip_len), c.model, f"long-{s.vid}")
        windows = [[a + offset, b + offset] for a, b in s.windows]
        out.append((s, long, q, windows))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument("--n-videos", type=int, default=2000)
    ap.add_argument("--decoys", type=int, default=64)
    ap.add_argument("--long-clips", type=int, default=1800, help="clips per long video (0 = skip)")
    ap.add_argument("--long-queries", type=int, default=100, help="test queries to chain into long videos")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        root = ensure_data(args.data_root, seed, args.n_videos)
        val_pos, val_neg, test_pos, test_neg, train = load_splits(
            root, "val", "val_negative", "test", "test_negative", "train"
        )
        cal = ZeroShotGrounder().calibrate([(c, q) for _, c, q in val_pos], [(c, q) for _, c, q in val_neg])
        grounder = ZeroShotGrounder(calibration=dataclasses.replace(cal, feature_threshold=None))
        rng = np.random.default_rng(seed)
        decoys = decoy_queries(train, args.decoys, rng)
        channel = VisualChannel(
            lambda: None, SamplingConfig(), relevance_curves=grounder.relevance_curves, decoys=decoys
        )
        pos = []
        for s, c, q in test_pos:
            span, conf = top_confidence(grounder, channel, c, q, s.query)
            pos.append((conf, hit(span, s.windows)))
        neg = [top_confidence(grounder, channel, c, q, s.query)[1] for s, c, q in test_neg]
        rows.append({"seed": seed, **report("150 s videos", pos, neg)})
        print(json.dumps(rows[-1]), flush=True)
        if args.long_clips:
            sub = [test_pos[i] for i in rng.choice(len(test_pos), args.long_queries, replace=False)]
            subn = [test_neg[i] for i in rng.choice(len(test_neg), args.long_queries, replace=False)]
            lpos = []
            for s, long, q, windows in chains(sub, test_pos, args.long_clips, rng):
                span, conf = top_confidence(grounder, channel, long, q, s.query)
                lpos.append((conf, hit(span, windows)))
            lneg = [
                top_confidence(grounder, channel, long, q, s.query)[1]
                for s, long, q, _ in chains(subn, test_pos, args.long_clips, rng)
            ]
            rows.append({"seed": seed, **report(f"{args.long_clips}-clip videos", lpos, lneg)})
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
