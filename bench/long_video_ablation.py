#!/usr/bin/env python3
"""Fast ablations of how the zero-shot grounder ranks moments in 3-hour videos (issue #18).

``bench/zeroshot_synth.py`` grounds every chained 3-hour video from its clip features: about 90 s
per seed for the fair chains alone. Options that only decide how moments are ranked from the level
curves (the coarse pass, the fine pass, span scoring, NMS: :data:`RANKING_OPTIONS`) leave the curves
unchanged, so this bench computes each query's curves once (its fair chain and its own 150 s video)
and then runs the grounder's own ranking (:func:`momentfinder.grounding.zeroshot.proposals.ranked_moments`,
the code ``ground`` runs) once per variant: a few seconds per variant and seed. Per variant and
seed it reports R1@0.5 of the fair chains and of the same queries in their 150 s videos (and so
the gap between them), R5@0.5, the share of chains whose top moment lies in the query's own video,
R1@0.5 among those, and where the other top moments lie (:func:`zeroshot_synth.top_moment_place`).

    python bench/long_video_ablation.py --seeds 0 1 --n-videos 4000 \\
        --variant shipped= --variant "peak10=coarse_peak_weight=10" \\
        --variant "cuts=window_levels=[0.25,0.5,1,1.5,2] coarse_spans=3"

A variant is ``NAME=KEY=VALUE KEY=VALUE ...``, values without spaces (``NAME=`` alone: the base
config, ``--set``).
Curve options (null levels, query bank, look-alikes, smoothing, sub-query weights, ...) are refused
here: measure those with ``bench/zeroshot_synth.py --set``. Memory: 0.8 GB peak at
4,000 videos (one seed's curves at a time, not the chains' features; 83 s for seed 0 and one variant).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from momentfinder.cli.options import key_values  # noqa: E402
from momentfinder.errors import InputError  # noqa: E402
from momentfinder.eval.iou import iou_cross  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotConfig, ZeroShotGrounder  # noqa: E402
from momentfinder.grounding.zeroshot.curves import contrast_levels, level_curves  # noqa: E402
from momentfinder.grounding.zeroshot.proposals import ranked_moments, relevance_for_proposals  # noqa: E402
from synth_common import CLIP_LEN, ensure_data, load_splits  # noqa: E402
from zeroshot_synth import chain_labels, chain_place, fair_chains, val_calibration  # noqa: E402

# options read only by the ranking of moments from the level curves (proposals.py), not by the
# curves themselves: a variant may change these and nothing else
RANKING_OPTIONS = frozenset(
    {
        "coarse_evidence",
        "coarse_level",
        "coarse_peak_weight",
        "coarse_peak_sigma",
        "coarse_regions",
        "coarse_spans",
        "contrast_weight",
        "contrast_width",
        "length_exponent",
        "level_offset",
        "levels",
        "max_moment_clips",
        "nms_iou",
        "nms_max_containment",
        "window_levels",
        "window_stride",
    }
)


@dataclasses.dataclass
class CachedCurves:
    """What :func:`ranked_moments` reads for one (video, query), computed once."""

    relevance: np.ndarray
    pooled_levels: np.ndarray
    subquery_levels: np.ndarray | None
    contrast: np.ndarray | None
    regions: object | None  # curves.RegionSiblings

    @classmethod
    def of(cls, grounder: ZeroShotGrounder, clips, query) -> CachedCurves:
        cfg = grounder.config
        curves = grounder.curves(clips, query)
        pooled_levels, subquery_levels = level_curves(curves, cfg)
        relevance = relevance_for_proposals(
            curves.pooled, pooled_levels, subquery_levels, cfg.smooth_sigma, cfg
        )
        return cls(relevance, pooled_levels, subquery_levels, contrast_levels(curves, cfg), curves.regions)

    def moments(self, config: ZeroShotConfig, model: dict | None, top_k: int = 5) -> np.ndarray:
        """The top-k moments ``(m, 2)`` in seconds, as the grounder returns them."""
        spans, _ = ranked_moments(
            self.relevance,
            self.pooled_levels,
            self.subquery_levels,
            top_k,
            config,
            model,
            self.contrast,
            self.regions,
        )
        seconds = np.minimum(spans * CLIP_LEN, len(self.relevance) * CLIP_LEN).astype(np.float64)
        return seconds[seconds[:, 1] > seconds[:, 0]]  # as the grounder drops empty moments


@dataclasses.dataclass
class Query:
    """One test query: its own 150 s video's curves and its fair chain's."""

    sample: object  # types.Sample
    group: list  # the chain's videos, in order
    own: tuple  # (start_s, end_s) of the query's own video in the chain
    chain_windows: np.ndarray  # (w, 2) seconds
    short: CachedCurves
    chain: CachedCurves


def check_variant(name: str, options: dict) -> None:
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(ZeroShotConfig)})
    if unknown:
        sys.exit(f"variant {name!r}: unknown zero-shot option(s) {', '.join(unknown)}")
    bad = sorted(set(options) - RANKING_OPTIONS)
    if bad:
        sys.exit(
            f"variant {name!r}: {', '.join(bad)} change the curves, not only the ranking; "
            "measure them with bench/zeroshot_synth.py --set"
        )


def parse_variant(text: str) -> tuple[str, dict]:
    name, sep, rest = text.partition("=")
    if not sep or not name:
        sys.exit(f"--variant {text!r}: expected NAME=KEY=VALUE ... (NAME= for the base config)")
    try:
        options = key_values(rest.split())
    except InputError as err:
        sys.exit(f"--variant {text!r}: {err} (no spaces inside a value)")
    check_variant(name, options)
    return name, options


def cache_queries(grounder: ZeroShotGrounder, test_pos, events, query_event, n_clips: int, seed: int) -> list:
    short = {s.qid: CachedCurves.of(grounder, c, q) for s, c, q in test_pos}
    out = []
    for s, windows, clips, q, group, span in fair_chains(test_pos, events, query_event, n_clips, False, seed):
        out.append(
            Query(
                s, group, span, np.asarray(windows, float), short[s.qid], CachedCurves.of(grounder, clips, q)
            )
        )
    return out


def score_variant(queries: list, config: ZeroShotConfig, model: dict | None, place) -> dict:
    """R1@0.5 of the chains and of the 150 s videos, R5@0.5, own-video share, R1@0.5 in it, places."""
    short_hits, hits1, hits5, own, places = [], [], [], [], {}
    for item in queries:
        s = item.sample
        top = item.short.moments(config, model, top_k=1)
        short_hits.append(bool(len(top)) and iou_cross(top, np.asarray(s.windows, float)).max() >= 0.5)
        top = item.chain.moments(config, model)
        best = iou_cross(top, item.chain_windows).max(axis=1) if len(top) else np.zeros(1)
        hits1.append(best[0] >= 0.5)
        hits5.append(best.max() >= 0.5)
        mid = (top[0, 0] + top[0, 1]) / 2 if len(top) else -1.0
        own.append(item.own[0] <= mid < item.own[1])
        where = place(s, item.group, mid)
        where = f"own_{'hit' if hits1[-1] else 'miss'}" if where == "own" else where
        places[where] = places.get(where, 0) + 1
    in_own = [h for h, o in zip(hits1, own, strict=True) if o]
    r1, r1_short = 100 * float(np.mean(hits1)), 100 * float(np.mean(short_hits))
    return {
        "R1@0.5": round(r1, 2),
        "R1@0.5_150s": round(r1_short, 2),
        "gap": round(r1_short - r1, 2),
        "R5@0.5": round(100 * float(np.mean(hits5)), 2),
        "own_video%": round(100 * float(np.mean(own)), 2),
        "R1@0.5_in_own": round(100 * float(np.mean(in_own)), 2) if in_own else 0.0,
        "top_place": dict(sorted(places.items())),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    ap.add_argument("--n-videos", type=int, default=4000, help="generator --n-videos (test split = 15 %%)")
    ap.add_argument("--long-clips", type=int, default=5400, help="clips per chained long video")
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="base ZeroShotConfig (any option)"
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE ...",
        help="ranking options on top of the base (repeat; default: the base alone)",
    )
    ap.add_argument(
        "--eval-split",
        choices=("test", "val"),
        default="test",
        help="val: chains of the val videos (the calibration's own), for choosing settings",
    )
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args()
    variants = dict(parse_variant(v) for v in args.variant) or {"base": {}}
    try:
        base = ZeroShotConfig.from_dict(key_values(args.set))
        configs = {name: ZeroShotConfig.from_dict({**vars(base), **opts}) for name, opts in variants.items()}
    except InputError as err:
        sys.exit(f"error: {err}")
    rows: dict[str, list] = {name: [] for name in variants}
    for seed in args.seeds:
        t0 = time.perf_counter()
        root = ensure_data(args.data_root, seed, args.n_videos)
        val_pos, val_neg, test_pos = load_splits(root, "val", "val_negative", args.eval_split)
        cal = val_calibration(base, val_pos, val_neg)
        events, query_event = chain_labels(root, seed, args.n_videos, args.eval_split)
        queries = cache_queries(
            ZeroShotGrounder(base, cal), test_pos, events, query_event, args.long_clips, seed
        )
        place = chain_place(test_pos, events, query_event)
        print(
            f"seed {seed}: {len(queries)} queries cached in {time.perf_counter() - t0:.0f} s", file=sys.stderr
        )
        for name, config in configs.items():
            row = {"seed": seed, **score_variant(queries, config, cal.evidence_model, place)}
            rows[name].append(row)
            print(json.dumps({"variant": name, **row}), flush=True)
    print(f"\nmean ± std over seeds {args.seeds} (fair 3-hour chains; gap = 150 s R1@0.5 - chains R1@0.5)")
    keys = ("R1@0.5", "R1@0.5_150s", "gap", "R5@0.5", "own_video%", "R1@0.5_in_own")
    for name, sel in rows.items():
        stats = "  ".join(
            f"{k} {np.mean([r[k] for r in sel]):.2f}±{np.std([r[k] for r in sel]):.2f}" for k in keys
        )
        print(f"{name:16s} {stats}")
    if args.out:
        args.out.write_text(
            json.dumps({"base": vars(base), "variants": variants, "rows": rows}, indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
