"""What the synthetic benchmarks share: the generated data set, its loading, the plain baseline.

Both ``bench/zeroshot_synth.py`` and ``bench/detr_synth.py`` generate data with
``../shared/bench/synth_qvh.py`` into one cache layout, so they reuse each other's sets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from momentfinder.data.readers import read_annotations
from momentfinder.eval.iou import iou_paired
from momentfinder.grounding.curve_ops import runs_above
from momentfinder.store import FeatureDirectory
from momentfinder.types import ClipFeatures, GroundingResult, Moment

GENERATOR = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "synth_qvh.py"
CLIP_LEN = 2.0


def ensure_data(root: Path, seed: int, n_videos: int) -> Path:
    """``root/seed{S}_n{N}``, generated on first use."""
    out = root / f"seed{seed}_n{n_videos}"
    if not (out / "test_negative.jsonl").is_file():
        if not GENERATOR.is_file():
            sys.exit(f"generator not found: {GENERATOR} (the shared/ folder must sit beside the repo)")
        print(f"generating {out} ...", file=sys.stderr)
        cmd = [sys.executable, str(GENERATOR), str(out), "--seed", str(seed), "--n-videos", str(n_videos)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def hit(span, windows, threshold: float = 0.5) -> bool:
    """Whether ``span`` (seconds) has IoU >= ``threshold`` with one of ``windows``, computed as the
    official R@1 does (``momentfinder.eval.iou.iou_paired``)."""
    ious = iou_paired(np.asarray(span, dtype=float), np.asarray(windows, dtype=float).reshape(-1, 2))
    return bool(len(ious) and ious.max() >= threshold)


def load_pairs(fd: FeatureDirectory, ann: Path, cache: dict) -> list:
    """(sample, ClipFeatures, QueryFeatures) for every query of an annotation file."""
    pairs = []
    for s in read_annotations(ann):
        if s.vid not in cache:
            cache[s.vid] = fd.clip_features(s.vid, duration=s.duration)
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
        return GroundingResult(query.text, clips.timeline, moments, sim)

    def evidence(self, clips: ClipFeatures, query) -> float:
        """The top similarity: what a plain threshold rejects on."""
        return float((clips.features @ (query.pooled / np.linalg.norm(query.pooled))).max())
