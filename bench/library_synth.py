#!/usr/bin/env python3
"""Library search quality on the synthetic benchmark (issue #13): video corpus moment retrieval.

The test split of ``../shared/bench/synth_qvh.py`` (seed below 1000; ~300 videos at the default
2,000) becomes one library (the embedded SQLite catalog, features written directly: the data set
is features, not video files). Every test query is searched across the whole library with
``Library.search_encoded`` (nearest clips pick the candidate videos, each is grounded by the
zero-shot grounder calibrated on val, moments ranked by confidence, decoys = 64 train queries),
and scored with ``momentfinder eval``'s TVR protocol: VCMR R@{1,5,10} at IoU 0.5 / 0.7, and VR
(right video in the top k). Next to it: R1@0.5 with the right video given (the same grounder on
the query's own video), the goal being VCMR R1@0.5 within 10 points of it; and search latency.

``--ranker train`` trains the cross-video ranker (``momentfinder train-ranker``: train split,
val for model selection) and reports every number again with it (``ranker_*``), with its training
CPU seconds; ``--ranker CKPT`` loads one instead. The latent world of the generator is the same
for every seed, so a ranker trained on one seed's train split applies to another seed's videos.

The generator places each (subject, action) event in many videos but labels only the query's own
video, so a hit on the same event in another video counts as wrong. ``fair_*`` numbers leave such
unlabelled true matches out of each query's ranking (the latent labels are read back by rerunning
the generator, as ``bench/zeroshot_synth.py`` does), like its "fair" long-video protocol.

    python bench/library_synth.py --seeds 0 1 --ranker train --out /tmp/library_synth.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.channels import Query  # noqa: E402
from momentfinder.eval.tvr import evaluate_tvr, tvr_submission  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotGrounder  # noqa: E402
from momentfinder.pipeline import FinderConfig  # noqa: E402
from momentfinder.pipeline.library import Library  # noqa: E402
from momentfinder.pipeline.retrieval import RankerTrainRequest, train_ranker_from_features  # noqa: E402
from momentfinder.store.catalog import LibraryInfo, VideoRow  # noqa: E402
from momentfinder.store.catalog_sqlite import SqliteCatalog  # noqa: E402
from synth_common import decoy_queries, ensure_data, hit, load_splits  # noqa: E402
from zeroshot_synth import latent_labels  # noqa: E402


def get_ranker(args, root: Path, tmp: str) -> tuple[str | None, dict]:
    """The ranker checkpoint to use (trained here on ``root``'s train split, or given) and its
    training summary."""
    if args.ranker is None:
        return None, {}
    if args.ranker != "train":
        return args.ranker, {}
    out = os.path.join(args.ranker_dir or tmp, f"ranker_seed{root.name}.ckpt")
    request = RankerTrainRequest(
        features=str(root),
        train=str(root / "train.jsonl"),
        val=str(root / "val.jsonl"),
        out=out,
        config=args.ranker_config,
        epochs=args.ranker_epochs,
        seed=0,
        progress=False,
    )
    summary = train_ranker_from_features(request)
    return out, {
        "ranker_train_cpu_s": summary["train_seconds"],
        "ranker_best_epoch": summary["best_epoch"],
        "ranker_val_video_R@1": summary["best_val_r1"],
    }


def run_seed(args, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = ensure_data(args.data_root, seed, args.n_videos)
        ranker, summary = get_ranker(args, root, tmp)
        row = {"seed": seed, **summary}
        for name, r in [("", None), *([("ranker_", ranker)] if ranker else [])]:
            row.update(
                {f"{name}{k}" if k != "seed" else k: v for k, v in evaluate_seed(args, seed, r).items()}
            )
    return row


def evaluate_seed(args, seed: int, ranker: str | None) -> dict:
    root = ensure_data(args.data_root, seed, args.n_videos)
    val_pos, val_neg, test_all, train = load_splits(root, "val", "val_negative", "test", "train")
    test = test_all[: args.limit]
    cal = ZeroShotGrounder().calibrate([(c, q) for _, c, q in val_pos], [(c, q) for _, c, q in val_neg])
    calibration = dataclasses.replace(cal, feature_threshold=None, curve_threshold=None)
    videos = {s.vid: c for s, c, _ in test_all}  # the library: every test video
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        catalog = SqliteCatalog(db)
        first = next(iter(videos.values()))
        catalog.set_info(LibraryInfo(first.model, "synthetic", first.dim, first.clip_len))
        t0 = time.perf_counter()
        for vid, clips in videos.items():
            row = VideoRow(f"/synthetic/{vid}", vid, 0, 0, clips.duration, clips.n_clips)
            catalog.add_video(row, clips.features)
        build_s = time.perf_counter() - t0
        catalog.close()
        library = Library(
            db, FinderConfig(visual_model=first.model, use_subtitles=False), progress=False, ranker=ranker
        )
        finder = library.finder()
        finder.grounder.calibration = calibration
        rng = np.random.default_rng(seed)
        finder.channel("visual").use_decoys(decoy_queries(train, 64, rng))
        events, query_event, _ = latent_labels(seed, args.n_videos)
        ranked, fair, given_hits, latency, by_conf = {}, {}, [], [], {}
        for s, clips, q in test:
            t = time.perf_counter()
            hits = library.search_encoded(
                Query(s.query, {"visual": q}), top_k=100, candidates=args.candidates, per_video=args.per_video
            )
            latency.append(time.perf_counter() - t)
            if args.rank_by == "score":
                hits = sorted(hits, key=lambda h: -h.score)
            elif args.rank_by == "evidence":  # the video's evidence first, then the moment's score
                visual, qq = finder.channel("visual"), Query(s.query, {"visual": q})
                ev = {h.video: visual.evidence(videos[os.path.basename(h.video)], qq) for h in hits}
                hits = sorted(hits, key=lambda h: (-ev[h.video], -h.score))
            ranked[s.qid] = [
                (os.path.basename(h.video), h.start, h.end, float(len(hits) - i)) for i, h in enumerate(hits)
            ]
            # the same videos in the same order, each one's moments by the grounder's confidence
            order = {v: i for i, v in enumerate(dict.fromkeys(h.video for h in hits))}
            alt = sorted(hits, key=lambda h: (order[h.video], -(h.confidence or 0.0), -h.score))
            by_conf[s.qid] = [
                (os.path.basename(h.video), h.start, h.end, float(len(alt) - i)) for i, h in enumerate(alt)
            ]
            same_event = {v for v in videos if v != s.vid and query_event[s.qid] in events.get(v, ())}
            fair[s.qid] = [row for row in ranked[s.qid] if row[0] not in same_event]
            top = finder.grounder.ground(clips, q, top_k=1).moments[0]
            given_hits.append(hit((top.start, top.end), s.windows))
        library.close()
    video2idx = {vid: i for i, vid in enumerate(sorted(videos))}
    submission = tvr_submission(ranked, video2idx, "VCMR")
    submission["VR"] = [
        {"desc_id": e["desc_id"], "predictions": [[p[0], 0.0, 0.0, p[3]] for p in e["predictions"]]}
        for e in submission["VCMR"]
    ]
    metrics = evaluate_tvr(submission, [s for s, _, _ in test])
    vcmr, vr = metrics["VCMR"], metrics["VR"]
    fair_vcmr = evaluate_tvr(tvr_submission(fair, video2idx, "VCMR"), [s for s, _, _ in test])["VCMR"]
    conf_vcmr = evaluate_tvr(tvr_submission(by_conf, video2idx, "VCMR"), [s for s, _, _ in test])["VCMR"]
    return {
        "seed": seed,
        "videos": len(videos),
        "clips": int(sum(c.n_clips for c in videos.values())),
        "queries": len(test),
        "right_video_given_R1@0.5": round(100 * float(np.mean(given_hits)), 2),
        **{f"VCMR_{k}": v for k, v in vcmr.items()},
        **{f"VR_{k}": v for k, v in vr.items()},
        **{f"fair_VCMR_{k}": v for k, v in fair_vcmr.items()},
        "videos_in_order_moments_by_confidence_VCMR_R1@0.5": conf_vcmr["0.5-r1"],
        "queries_with_unlabelled_matches%": round(
            100 * float(np.mean([len(ranked[s.qid]) != len(fair[s.qid]) for s, _, _ in test])), 1
        ),
        "build_s": round(build_s, 2),
        "search_ms_p50": round(1000 * float(np.percentile(latency, 50)), 1),
        "search_ms_p95": round(1000 * float(np.percentile(latency, 95)), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument("--n-videos", type=int, default=2000)
    ap.add_argument("--candidates", type=int, default=10, help="videos grounded per query")
    ap.add_argument("--per-video", type=int, default=3, help="moments kept per candidate video")
    ap.add_argument("--rank-by", choices=("confidence", "score", "evidence"), default="confidence")
    ap.add_argument(
        "--ranker",
        default=None,
        help="'train': train the cross-video ranker on the seed's train split; or a CKPT",
    )
    ap.add_argument("--ranker-config", default=None, help="YAML ranker settings for --ranker train")
    ap.add_argument("--ranker-epochs", type=int, default=None)
    ap.add_argument("--ranker-dir", default=None, help="keep the trained rankers here (default: removed)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N test queries (quick looks)")
    ap.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = ap.parse_args()
    rows = [run_seed(args, seed) for seed in args.seeds]
    for row in rows:
        print(json.dumps(row))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
