#!/usr/bin/env python3
"""Benchmark the zero-shot grounder on the synthetic QVHighlights-layout data (issue #5).

For each seed: generate data with ``../shared/bench/synth_qvh.py`` (cached), calibrate the
no-moment threshold on the val split (+ val negatives), and report on the test split:
R1@0.5, R1@0.7, mAP, mIoU, HL mAP / HIT@1 (VeryGood), the share of test negatives rejected,
the share of positives rejected and the R1@0.5 lost at that threshold; the same for the plain
baseline (cosine to the pooled query, runs above mean + 1 std ranked by mean similarity,
rejection by a threshold on the top similarity calibrated the same way). Then long videos of
about 3 hours and single-core latency, three ways: ``long``, the test videos chained (another
video of a chain may show the query's event, unlabelled); ``fair``, one chain per query padded
only with videos that do not show its event; ``strict``, padded only with videos that show
neither its subject nor its action. The generator does not write which events a video shows,
so the bench reruns its code (deterministic) to read them (:func:`latent_labels`).

    python bench/zeroshot_synth.py --seeds 0 1 2
    python bench/zeroshot_synth.py --seeds 0 --set length_exponent=0.5   # an ablation
    python bench/zeroshot_synth.py --seeds 0 --no-modality-gap   # what the text/video gap costs
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # latency is measured on one core

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.cli.options import key_values  # noqa: E402
from momentfinder.data.submission import submission_record  # noqa: E402
from momentfinder.eval.qvhighlights import evaluate  # noqa: E402
from momentfinder.grounding.windows import WindowGrounder  # noqa: E402
from momentfinder.grounding.zeroshot import (  # noqa: E402
    NoMomentCalibration,
    ZeroShotConfig,
    ZeroShotGrounder,
    calibrate_threshold,
)
from momentfinder.types import ClipFeatures, Timeline  # noqa: E402
from synth_common import CLIP_LEN, GENERATOR, PlainBaseline, ensure_data, load_splits  # noqa: E402


def zero_shot_evidence(grounder: ZeroShotGrounder, clips, query) -> float:
    return grounder.evidence(grounder.curves(clips, query))


def run_method(name, ground, evidence, val_pos, val_neg, test_pos, test_neg, target_rejection, margin=0.0):
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
        thr, _ = calibrate_threshold(*val_scores, target, margin=margin)
        rejected_pos = test_scores[0] <= thr
        tag = "" if target == target_rejection else f"@{target}"
        row[f"neg_rejected%{tag}"] = round(100 * float(np.mean(test_scores[1] <= thr)), 1)
        row[f"pos_rejected%{tag}"] = round(100 * float(np.mean(rejected_pos)), 1)
        # separation alone: the threshold that rejects this share of the test negatives themselves
        test_thr, _ = calibrate_threshold(*test_scores, target)
        row[f"pos_rejected%_at_test_neg{tag or '@' + str(target)}"] = round(
            100 * float(np.mean(test_scores[0] <= test_thr)), 1
        )
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
    """Long videos, old protocol: test videos chained (shuffled) until about ``n_clips`` clips; every
    query of a chained video becomes a query of the long one, its windows shifted. Unfair: another
    video of the chain may show the query's event (same subject and action), unlabelled."""
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
            clips = ClipFeatures(feats, Timeline.of(len(feats), CLIP_LEN), video_id=f"chain{len(out)}")
            offset = 0.0
            for v in group:
                length_s = videos[v][0].n_clips * CLIP_LEN
                for s, q in videos[v][1]:
                    shifted = [[a + offset, b + offset] for a, b in s.windows]
                    out.append((s, shifted, clips, q, group, (offset, offset + length_s)))
                offset += length_s
            group, length = [], 0
    return out


def latent_labels(seed: int, n_videos: int) -> tuple[dict, dict]:
    """The generator's latent labels, which it does not write: ``events[vid]`` = the (subject, action)
    pairs the video shows, ``query_event[qid]`` = the (subject, action) the query names.

    Runs the generator's own code (deterministic: its world comes from a fixed seed) with the
    feature projections and file writes replaced, recording each placed event and each query.
    """
    import contextlib
    import io

    src = GENERATOR.read_text()
    hooks = [
        (
            "occupied[st:st + L] = True\n",
            "occupied[st:st + L] = True\n                _EVENTS.append((vid, int(es), int(ea)))\n",
        ),
        (
            "    def text_feats(s, ac):\n",
            "    def text_feats(s, ac):\n        _QUERIES.append((int(s), int(ac)))\n",
        ),
        ("        feats = unit(feats @ P_video.T).astype(np.float32)\n", "        feats = None\n"),
        ("        T = unit(T @ P_text.T).astype(np.float32)\n", "        T = np.ones((1, 1), np.float32)\n"),
    ]
    for old, new in hooks:
        if src.count(old) != 1:
            raise RuntimeError(f"the generator changed; cannot reproduce its latent labels ({old.strip()!r})")
        src = src.replace(old, new)
    placed: list = []
    queries: list = []
    written: dict = {}

    class _Buffer(io.StringIO):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def close(self):
            written[Path(self.path).stem] = self.getvalue()
            super().close()

    class _NoFiles:  # os / np stand-ins that write nothing
        def __init__(self, module, **replaced):
            self.module, self.replaced = module, replaced

        def __getattr__(self, name):
            return self.replaced.get(name, getattr(self.module, name))

    env = {"__name__": "synth_latent", "_EVENTS": placed, "_QUERIES": queries}
    exec(compile(src, str(GENERATOR), "exec"), env)
    env["np"] = _NoFiles(np, savez=lambda *a, **k: None)
    env["os"] = _NoFiles(os, makedirs=lambda *a, **k: None)
    env["open"] = lambda path, mode="r": _Buffer(path)
    argv = sys.argv
    sys.argv = ["synth_qvh.py", "/nonexistent", "--seed", str(seed), "--n-videos", str(n_videos)]
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            env["main"]()
    finally:
        sys.argv = argv
    events: dict = {}
    for vid, subject, action in placed:
        events.setdefault(vid, set()).add((subject, action))
    return events, dict(enumerate(queries)), written


def action_families() -> dict:
    """The generator's action families (``action -> family``: look-alike actions share one), read
    from its source, which does not write them."""
    import re

    src = GENERATOR.read_text()
    sizes = re.search(r"n_subj, n_act, n_scene, n_fill, n_fam = (\d+), (\d+), (\d+), (\d+), (\d+)\n", src)
    if sizes is None or "fam_of = np.arange(n_act) % n_fam\n" not in src:
        raise RuntimeError("the generator changed; cannot reproduce its action families")
    n_act, n_fam = int(sizes.group(2)), int(sizes.group(5))
    return {a: a % n_fam for a in range(n_act)}


def top_moment_place(sample, group, mid_s, lengths, events, query_event, family) -> str:
    """Where a chain's top moment (its middle ``mid_s`` seconds) lies: ``own_hit`` / ``own_miss``
    (the query's own video; a miss is filled in by the caller), or the kind of the other video it
    lies in, by the events that video shows: ``subject+look-alike`` (the query's subject doing an
    action of its action's family), ``action`` (another subject doing its action), ``subject``,
    ``family`` (an action of its family only), ``unrelated``; ``none`` without a moment."""
    if mid_s < 0:
        return "none"
    offset, vid = 0.0, group[-1]
    for v in group:
        if offset <= mid_s < offset + lengths[v] * CLIP_LEN:
            vid = v
            break
        offset += lengths[v] * CLIP_LEN
    if vid == sample.vid:
        return "own"
    subject, action = query_event[sample.qid]
    shown = events.get(vid, set())
    if any(s == subject and family[a] == family[action] for s, a in shown):
        return "subject+look-alike"
    if any(a == action for _, a in shown):
        return "action"
    if any(s == subject for s, _ in shown):
        return "subject"
    if any(family[a] == family[action] for _, a in shown):
        return "family"
    return "unrelated"


def val_calibration(config: ZeroShotConfig, val_pos: list, val_neg: list) -> NoMomentCalibration:
    """The val split's calibration (null levels from the val videos, as ``predict --calibrate-on``
    does; stop words, query bank, no-moment model) without its thresholds: the benches apply them
    themselves, so grounding rejects nothing (and chained features need no encoder name)."""
    cal = ZeroShotGrounder(config).calibrate([(c, q) for _, c, q in val_pos], [(c, q) for _, c, q in val_neg])
    return dataclasses.replace(cal, feature_threshold=None, curve_threshold=None)


def chain_labels(root: Path, seed: int, n_videos: int, split: str) -> tuple[dict, dict]:
    """:func:`latent_labels` ``(events, query_event)`` of a seed, checked to reproduce its
    ``split`` annotations (exits when the generator no longer does)."""
    events, query_event, written = latent_labels(seed, n_videos)
    split_file = root / f"{split}.jsonl"
    if written.get(split) != split_file.read_text():
        sys.exit(f"latent labels of seed {seed} do not reproduce {split_file}")
    return events, query_event


def chain_place(test_pos: list, events: dict, query_event: dict):
    """:func:`top_moment_place` of chains made of ``test_pos``'s videos: ``place(sample, group, mid_s)``."""
    lengths = {s.vid: c.n_clips for s, c, _ in test_pos}
    return functools.partial(
        top_moment_place, lengths=lengths, events=events, query_event=query_event, family=action_families()
    )


def fair_chains(test_pos: list, events: dict, query_event: dict, n_clips: int, strict: bool, seed: int):
    """Long videos, fair protocol: one chain per query, its video at a random place among other test
    videos that do not show the query's event (``strict``: that show neither its subject nor its
    action). Yields ``(sample, windows, clips, query, group)``; chains are built lazily (11 MB each)."""
    rng = np.random.default_rng(seed)
    videos: dict[str, ClipFeatures] = {}
    for s, c, _q in test_pos:
        videos.setdefault(s.vid, c)
    names = list(videos)
    for s, c, q in test_pos:
        subject, action = query_event[s.qid]
        if strict:
            ok = [
                v
                for v in names
                if v != s.vid and not any(e[0] == subject or e[1] == action for e in events[v])
            ]
        else:
            ok = [v for v in names if v != s.vid and (subject, action) not in events[v]]
        order = rng.permutation(len(ok))
        group, length = [], c.n_clips
        for i in order:
            if length >= n_clips:
                break
            group.append(ok[i])
            length += videos[ok[i]].n_clips
        at = int(rng.integers(len(group) + 1))
        group.insert(at, s.vid)
        offset = sum(videos[v].n_clips for v in group[:at]) * CLIP_LEN
        feats = np.concatenate([videos[v].features for v in group])
        clips = ClipFeatures(feats, Timeline.of(len(feats), CLIP_LEN), video_id=f"chain-q{s.qid}")
        span = (offset, offset + c.n_clips * CLIP_LEN)
        yield s, [[a + offset, b + offset] for a, b in s.windows], clips, q, group, span


def unlabelled_share(chained: list, events: dict, query_event: dict) -> float:
    """Share of long-video queries whose chain shows the query's event in another video (unlabelled)."""
    hit = [
        any(query_event[s.qid] in events[v] for v in group if v != s.vid)
        for s, _w, _c, _q, group, _ in chained
    ]
    return round(100 * float(np.mean(hit)), 1) if hit else 0.0


def long_video_recall(grounder, chained: list, short_hits: dict | None = None, place=None) -> dict:
    """R1@0.5, R5@0.5 (a top-5 moment hits), mIoU of the top moment, median latency; for chains
    (items with the query video's ``(start, end)`` span last): the share of queries whose top
    moment lies in the query's own video (``own_video%``, finding the right region) and R1@0.5
    among those (``R1@0.5_in_own``, localising the moment once the region is right), next to the
    R1@0.5 the same queries get in their 150 s video alone (``R1@0.5_150s_same``, from
    ``short_hits``: qid -> hit). ``hits`` (qid -> hit) is for that comparison, not for printing.
    ``place(sample, group, mid_s)`` (chains): counts of where the top moment lies
    (``top_place``, :func:`top_moment_place`)."""
    from momentfinder.eval.iou import iou_cross

    hits1, hits5, ious, times, n_clips, own, qids = [], [], [], [], [], [], []
    places: dict = {}
    for s, windows, clips, q, *rest in chained:
        qids.append(s.qid)
        t0 = time.perf_counter()
        res = grounder.ground(clips, q)
        times.append(time.perf_counter() - t0)
        n_clips.append(clips.n_clips)
        top = np.array([[m.start, m.end] for m in res.moments[:5]]).reshape(-1, 2)
        best = iou_cross(top, np.array(windows)).max(axis=1) if len(top) else np.zeros(1)
        hits1.append(best[0] >= 0.5)
        hits5.append(best.max() >= 0.5)
        ious.append(float(best[0]))
        if len(rest) == 2:  # a chain: (group, span of the query's own video)
            mid = (top[0, 0] + top[0, 1]) / 2 if len(top) else -1.0
            own.append(rest[1][0] <= mid < rest[1][1])
            if place is not None:
                where = place(s, rest[0], mid)
                where = f"own_{'hit' if hits1[-1] else 'miss'}" if where == "own" else where
                places[where] = places.get(where, 0) + 1
    own_hits = [h for h, o in zip(hits1, own, strict=True) if o] if own else []
    chain_stats = {}
    if own:
        chain_stats = {
            "own_video%": round(100 * float(np.mean(own)), 2),
            "R1@0.5_in_own": round(100 * float(np.mean(own_hits)), 2) if own_hits else 0.0,
        }
        if short_hits is not None and own_hits:
            same = [short_hits[qid] for qid, o in zip(qids, own, strict=True) if o]
            chain_stats["R1@0.5_150s_same"] = round(100 * float(np.mean(same)), 2)
        if places:
            chain_stats["top_place"] = dict(sorted(places.items()))
    return {
        "R1@0.5": round(100 * float(np.mean(hits1)), 2),
        "R5@0.5": round(100 * float(np.mean(hits5)), 2),
        "mIoU": round(100 * float(np.mean(ious)), 2),
        "clips": int(np.median(n_clips)) if n_clips else 0,
        "n_queries": len(hits1),
        "ms_per_query": round(1000 * float(np.median(times)), 2),
        **chain_stats,
        "hits": dict(zip(qids, (bool(h) for h in hits1), strict=True)),
    }


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
    ap.add_argument(
        "--uncalibrated",
        action="store_true",
        help="no calibration, as `ground` without --calibration: no null level, query bank or "
        "rejection; the val stop words are kept, standing in for the phrases the video path uses",
    )
    ap.add_argument(
        "--no-modality-gap",
        action="store_true",
        help="diagnostic: the same data with query tokens seen through the video projection "
        "(no gap between the text and video encoders), to measure what the gap costs",
    )
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args()

    config = ZeroShotConfig.from_dict(key_values(args.set))
    rows, long_rows = [], []
    for seed in args.seeds:
        root = ensure_data(args.data_root, seed, args.n_videos, modality_gap=not args.no_modality_gap)
        split = args.eval_split
        val_pos, val_neg, test_pos, test_neg = load_splits(
            root, "val", "val_negative", split, f"{split}_negative"
        )
        # null levels and stop words from val; thresholds are applied by run_method
        open_cal = val_calibration(config, val_pos, val_neg)
        if args.uncalibrated:
            open_cal = NoMomentCalibration(
                common_tokens=open_cal.common_tokens, common_token_shares=open_cal.common_token_shares
            )
        zs = ZeroShotGrounder(
            config, open_cal
        )  # thresholds applied by run_method, so both R1s come from one run
        evidence = None if args.uncalibrated else functools.partial(zero_shot_evidence, zs)
        methods = [("zero-shot", zs.ground, evidence)]
        if not args.no_baseline:
            base = PlainBaseline()
            methods.append(("plain", base.ground, base.evidence))
            methods.append(("windows-v1", WindowGrounder().ground, None))
        for name, ground, evidence in methods:
            row = run_method(
                name,
                ground,
                evidence,
                val_pos,
                val_neg,
                test_pos,
                test_neg,
                args.target_rejection,
                config.rejection_margin,
            )
            row["seed"] = seed
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.long_clips:
            events, query_event = chain_labels(root, seed, args.n_videos, args.eval_split)
            chained = chain_videos(test_pos, args.long_clips, np.random.default_rng(seed))
            short = long_video_recall(zs, [(s, s.windows, c, q) for s, c, q in test_pos])
            place = chain_place(test_pos, events, query_event)
            row = {
                "seed": seed,
                "short": short,
                "long": long_video_recall(zs, chained, short["hits"], place),
                "long_unlabelled%": unlabelled_share(chained, events, query_event),
            }
            for name, strict in (("fair", False), ("strict", True)):
                chains = fair_chains(test_pos, events, query_event, args.long_clips, strict, seed)
                row[name] = long_video_recall(zs, chains, short["hits"], place)
            for part in ("short", "long", "fair", "strict"):
                del row[part]["hits"]
            long_rows.append(row)
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
        for part in ("short", "long", "fair", "strict"):
            vals = {
                k: f"{np.mean([r[part][k] for r in long_rows]):.1f}±{np.std([r[part][k] for r in long_rows]):.1f}"
                for k in (
                    "R1@0.5",
                    "R5@0.5",
                    "mIoU",
                    "clips",
                    "ms_per_query",
                    "own_video%",
                    "R1@0.5_in_own",
                    "R1@0.5_150s_same",
                )
                if k in long_rows[0][part]
            }
            print(f"{part:6s} videos: " + "  ".join(f"{k} {v}" for k, v in vals.items()))
            places: dict = {}
            for r in long_rows:
                for k, v in r[part].get("top_place", {}).items():
                    places[k] = places.get(k, 0) + v
            if places:
                print(f"{'':6s} top moment lies in (all seeds): {dict(sorted(places.items()))}")
        unl = [r["long_unlabelled%"] for r in long_rows]
        print(f"old chains: {np.mean(unl):.1f}% of queries have an unlabelled occurrence of their event")
    if args.out:
        args.out.write_text(
            json.dumps({"config": vars(config), "rows": rows, "long": long_rows}, indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
