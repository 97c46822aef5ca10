#!/usr/bin/env python3
"""Benchmark the causal (online) grounder on the synthetic QVHighlights-layout data (issue #15).

For each seed: generate data with ``../shared/bench/synth_qvh.py`` (cached, as
``bench/zeroshot_synth.py``), calibrate the zero-shot null levels, stop words and query bank on the
val split, then replay every test video clip by clip through the causal grounder with all of its
queries (positive and negative) standing, and report:

* R1@0.5 / R1@0.7 / mAP (the project's official evaluation) of the emitted moments (each closed
  moment, ranked by its final score), next to the offline zero-shot grounder on the same features;
* start and end delay in seconds, mean and 90th percentile, for the emitted moments that hit a
  ground-truth window (IoU >= 0.5): stream time the ``start`` (``end``) event was decided minus the
  window's start (end);
* false alarms per hour of watched video on the negative queries (moments emitted for a query
  whose event never happens), and moments per positive query;
* the running noise unit starts from a prior measured on the val videos (``fit_prior_noise``,
  label-free; ``--set prior_noise=null`` turns it off: no decision in a video's first clips);
* sustained clips per second (clips through the grounder with the video's standing queries,
  excluding data loading) and query-clips per second.

    python bench/online_synth.py --seeds 0 1 2
    python bench/online_synth.py --seeds 0 --split val --set lag_clips=4   # choose settings on val
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # speed is measured on one core

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.cli.options import key_values  # noqa: E402
from momentfinder.data.submission import submission_record  # noqa: E402
from momentfinder.eval.iou import iou_cross  # noqa: E402
from momentfinder.eval.qvhighlights import evaluate  # noqa: E402
from momentfinder.grounding.online import OnlineConfig, OnlineGrounder, fit_prior_noise  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotConfig, ZeroShotGrounder  # noqa: E402
from momentfinder.types import GroundingResult, Moment  # noqa: E402
from synth_common import CLIP_LEN, ensure_data, load_splits  # noqa: E402


def replay(grounder: ZeroShotGrounder, config: OnlineConfig, pairs: list) -> tuple[dict, dict, float, int]:
    """Every video of ``pairs`` clip by clip with its queries standing: (qid -> moments
    [(start, end, score, start_at, end_at)], qid -> events, seconds, clips)."""
    by_video: dict[str, list] = defaultdict(list)
    for s, c, q in pairs:
        by_video[s.vid].append((s, c, q))
    moments: dict = {}
    events: dict = {}
    seconds, clips = 0.0, 0
    for items in by_video.values():
        feats = items[0][1].features
        online = OnlineGrounder(grounder, CLIP_LEN, config)
        for s, _c, q in items:
            online.add_query(str(s.qid), q)
        t0 = time.perf_counter()
        emitted = []
        for i in range(len(feats)):
            emitted.extend(online.push(feats[i : i + 1]))
        emitted.extend(online.finish())
        seconds += time.perf_counter() - t0
        clips += len(feats)
        for s, _c, _q in items:
            mine = [e for e in emitted if e.query == str(s.qid)]
            events[s.qid] = mine
            starts = {e.moment: e for e in mine if e.event == "start"}
            moments[s.qid] = [
                (starts[e.moment].t, e.t, e.score, starts[e.moment].at, e.at)
                for e in mine
                if e.event == "end"
            ]
    return moments, events, seconds, clips


def check_events(events: list) -> None:
    """Every end has a start, decisions are in time order, a moment starts before it ends."""
    opened: dict = {}
    last_at = -1.0
    for e in events:
        assert e.at >= last_at - 1e-9, e
        last_at = e.at
        if e.event == "start":
            assert e.moment not in opened, e
            opened[e.moment] = e
        else:
            assert e.moment in opened and e.t >= opened[e.moment].t, e
            if e.event == "end":
                del opened[e.moment]
    assert not opened, opened


def records_of(pos: list, moments: dict) -> list:
    out = []
    for s, c, _q in pos:
        ranked = sorted(moments[s.qid], key=lambda m: -m[2])
        res = GroundingResult(s.query, c.timeline, [Moment(a, b, sc) for a, b, sc, *_ in ranked], np.zeros(1))
        res.qid, res.video = s.qid, s.vid
        out.append(submission_record(res))
    return out


def delays(pos: list, moments: dict) -> dict:
    start, end = [], []
    for s, _c, _q in pos:
        ms = moments[s.qid]
        if not ms:
            continue
        spans = np.array([[a, b] for a, b, *_ in ms])
        ious = iou_cross(np.asarray(s.windows, dtype=float), spans)
        for w, row in zip(s.windows, ious, strict=True):
            j = int(np.argmax(row))
            if row[j] >= 0.5:
                start.append(ms[j][3] - w[0])
                end.append(ms[j][4] - w[1])

    def stats(x):
        return {
            "mean": round(float(np.mean(x)), 2) if x else None,
            "p90": round(float(np.percentile(x, 90)), 2) if x else None,
        }

    return {"start_delay_s": stats(start), "end_delay_s": stats(end), "n_matched": len(start)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument("--n-videos", type=int, default=2000, help="generator --n-videos (test split = 15 %%)")
    ap.add_argument("--split", choices=("test", "val"), default="test", help="val: for choosing settings")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="OnlineConfig overrides")
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args()

    overrides = key_values(args.set)
    config = OnlineConfig.from_dict(overrides)
    rows = []
    for seed in args.seeds:
        root = ensure_data(args.data_root, seed, args.n_videos)
        val_pos, val_neg, pos, neg = load_splits(
            root, "val", "val_negative", args.split, f"{args.split}_negative"
        )
        zs_config = ZeroShotConfig()
        cal = ZeroShotGrounder(zs_config).calibrate(
            [(c, q) for _, c, q in val_pos], [(c, q) for _, c, q in val_neg]
        )
        cal = dataclasses.replace(
            cal, feature_threshold=None, curve_threshold=None
        )  # no rejection, both ways
        zs = ZeroShotGrounder(zs_config, cal)
        gts = [s for s, _, _ in pos]
        if "prior_noise" not in overrides:  # the running noise unit starts from the val videos' (no labels)
            config = dataclasses.replace(
                config, prior_noise=fit_prior_noise(zs, [(c, q) for _, c, q in val_pos])
            )

        offline = []
        for s, c, q in pos:
            res = zs.ground(c, q)
            res.qid, res.video = s.qid, s.vid
            offline.append(submission_record(res))
        off = evaluate(offline, gts, extended=True)["brief"]

        moments, events, seconds, clips = replay(zs, config, pos + neg)
        for evs in events.values():
            check_events(evs)
        on = evaluate(records_of(pos, moments), gts, extended=True)["brief"]
        neg_hours = sum(c.duration for _s, c, _q in neg) / 3600.0
        false_alarms = sum(len(moments[s.qid]) for s, _c, _q in neg)
        query_clips = sum(c.n_clips for _s, c, _q in pos + neg)
        row = {
            "seed": seed,
            "split": args.split,
            "offline_R1@0.5": off["MR-full-R1@0.5"],
            "offline_R1@0.7": off["MR-full-R1@0.7"],
            "offline_mAP": off["MR-full-mAP"],
            "online_R1@0.5": on["MR-full-R1@0.5"],
            "online_R1@0.7": on["MR-full-R1@0.7"],
            "online_mAP": on["MR-full-mAP"],
            **delays(pos, moments),
            "false_alarms_per_hour": round(false_alarms / max(neg_hours, 1e-9), 2),
            "neg_queries_with_alarm%": round(
                100 * float(np.mean([bool(moments[s.qid]) for s, _, _ in neg])), 1
            ),
            "moments_per_pos_query": round(float(np.mean([len(moments[s.qid]) for s, _, _ in pos])), 2),
            "pos_queries_without_moment%": round(
                100 * float(np.mean([not moments[s.qid] for s, _, _ in pos])), 1
            ),
            "clips_per_s": round(clips / seconds, 1),
            "query_clips_per_s": round(query_clips / seconds, 1),
            "n_pos": len(pos),
            "n_neg": len(neg),
            "prior_noise": round(config.prior_noise, 4) if config.prior_noise else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = [k for k, v in rows[0].items() if isinstance(v, int | float) and k not in ("seed", "prior_noise")]
    print("\nmean over seeds", args.seeds)
    for k in keys:
        vals = [r[k] for r in rows]
        print(f"  {k:28s} {np.mean(vals):8.2f} ± {np.std(vals):.2f}")
    for k in ("start_delay_s", "end_delay_s"):
        for part in ("mean", "p90"):
            vals = [r[k][part] for r in rows if r[k][part] is not None]
            print(f"  {k + '.' + part:28s} {np.mean(vals):8.2f} ± {np.std(vals):.2f}")
    if args.out:
        args.out.write_text(json.dumps({"config": dataclasses.asdict(config), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
