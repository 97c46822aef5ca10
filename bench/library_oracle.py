#!/usr/bin/env python3
"""The ceiling of cross-video ranking on the synthetic benchmark (issue #13): video R@1 of a scorer
that knows the generator's latent world exactly.

``../shared/bench/synth_qvh.py`` draws its vocabulary and projections from a fixed seed; this
rebuilds them, inverts the video projection, and scores each test video for each test query by
its best clip's min(subject match, action match) (``sum`` for the plain sum). It reports the share
of queries whose labelled video comes first among the seed's test videos, and the same leaving out
videos that show the query's event unlabelled (``fair``). No trained model can beat these numbers
on this data; ``bench/library_synth.py --ranker train`` compares with them.

    python bench/library_oracle.py --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from momentfinder.data.readers import read_annotations
from momentfinder.store import FeatureDirectory
from synth_common import ensure_data
from zeroshot_synth import latent_labels


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def latent_world(dim: int = 512):
    """The generator's subjects, actions and video projection (its defaults: gap 1.6, family 0.75)."""
    world = np.random.default_rng(1234)
    n_subj, n_act, n_fam = 40, 60, 12
    subj = unit(world.standard_normal((n_subj, dim)))
    fam_of = np.arange(n_act) % n_fam
    centers = unit(world.standard_normal((n_fam, dim)))
    act = unit(0.75 * centers[fam_of] + np.sqrt(1 - 0.75**2) * unit(world.standard_normal((n_act, dim))))
    world.standard_normal((30, dim)), world.standard_normal((20, dim))  # scenes, fillers: same draws
    p_video = np.eye(dim) + 1.6 * world.standard_normal((dim, dim)) / np.sqrt(dim)
    return subj, act, p_video


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-videos", type=int, default=2000)
    ap.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "momentfinder-synth"
    )
    args = ap.parse_args()
    root = ensure_data(args.data_root, args.seed, args.n_videos)
    fd = FeatureDirectory(root)
    samples = read_annotations(root / "test.jsonl")
    vids = sorted({s.vid for s in samples})
    subj, act, p_video = latent_world()
    inverse = np.linalg.inv(p_video)
    latent = {v: unit(fd.clip_features(v).features @ inverse.T) for v in vids}
    events, query_event, _ = latent_labels(args.seed, args.n_videos)
    out = {"seed": args.seed, "queries": len(samples), "videos": len(vids)}
    for mode in ("sum", "min"):
        first = fair = 0
        for s in samples:
            subject, action = query_event[s.qid]
            score = {}
            for v in vids:
                ps, pa = latent[v] @ subj[subject], latent[v] @ act[action]
                score[v] = float((ps + pa if mode == "sum" else np.minimum(ps, pa)).max())
            first += max(score, key=score.get) == s.vid
            kept = {
                v: x for v, x in score.items() if v == s.vid or (subject, action) not in events.get(v, ())
            }
            fair += max(kept, key=kept.get) == s.vid
        out[f"{mode}_video_R@1"] = round(100 * first / len(samples), 2)
        out[f"{mode}_fair_video_R@1"] = round(100 * fair / len(samples), 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
