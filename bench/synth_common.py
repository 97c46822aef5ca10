"""What the synthetic benchmarks share: the generated data set, its loading, the plain baseline.

Both ``bench/zeroshot_synth.py`` and ``bench/detr_synth.py`` generate data with
``../shared/bench/synth_qvh.py`` into one cache layout, so they reuse each other's sets.
"""

from __future__ import annotations

import dataclasses
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


# the generator's text projection; "no modality gap" replaces it by the video projection
TEXT_PROJECTION = "    P_text = np.eye(D) + a.gap * world.standard_normal((D, D)) / np.sqrt(D)\n"


def ensure_data(root: Path, seed: int, n_videos: int, modality_gap: bool = True) -> Path:
    """``root/seed{S}_n{N}``, generated on first use.

    ``modality_gap=False`` (``root/seed{S}_n{N}_nogap``, a diagnostic): the same videos, annotations
    and queries, but query tokens seen through the *video* projection, as if the text encoder
    mapped a concept where the video encoder does. What the zero-shot grounder loses to the gap
    between the two encoders is then the difference to the plain set. The generator's world is
    drawn from a fixed seed before anything else, so only the query features change."""
    out = root / f"seed{seed}_n{n_videos}{'' if modality_gap else '_nogap'}"
    if not (out / "test_negative.jsonl").is_file():
        if not GENERATOR.is_file():
            sys.exit(f"generator not found: {GENERATOR} (the shared/ folder must sit beside the repo)")
        print(f"generating {out} ...", file=sys.stderr)
        args = [str(out), "--seed", str(seed), "--n-videos", str(n_videos)]
        if modality_gap:
            subprocess.run([sys.executable, str(GENERATOR), *args], check=True, stdout=subprocess.DEVNULL)
        else:
            src = GENERATOR.read_text()
            if src.count(TEXT_PROJECTION) != 1:
                sys.exit(f"{GENERATOR} changed: its text projection line is not found, no gap-free variant")
            src = src.replace(TEXT_PROJECTION, TEXT_PROJECTION + "    P_text = P_video\n")
            run = [sys.executable, "-", *args]
            subprocess.run(run, input=src, text=True, check=True, stdout=subprocess.DEVNULL)
    return out


def hit(span, windows, threshold: float = 0.5) -> bool:
    """Whether ``span`` (seconds) has IoU >= ``threshold`` with one of ``windows``, computed as the
    official R@1 does (``momentfinder.eval.iou.iou_paired``)."""
    ious = iou_paired(np.asarray(span, dtype=float), np.asarray(windows, dtype=float).reshape(-1, 2))
    return bool(len(ious) and ious.max() >= threshold)


def decoy_queries(pairs: list, n: int, rng: np.random.Generator) -> list:
    """``n`` queries of ``pairs`` (``(sample, clips, query)``) as decoys for the visual channel's
    confidence, their texts blanked: every synthetic query is "synthetic query N", so by their
    words (:func:`momentfinder.query.unrelated_decoys`) each decoy would be related to every query
    and none would count; what tells them apart is the latent event, which the texts do not hold."""
    return [dataclasses.replace(pairs[i][2], text="") for i in rng.choice(len(pairs), n, replace=False)]


def load_splits(root: Path, *names: str) -> list[list]:
    """:func:`load_pairs` of ``root/{name}.jsonl`` for each of ``names``, each video's clip features
    loaded once for all of them."""
    fd, cache = FeatureDirectory(root), {}
    return [load_pairs(fd, root / f"{name}.jsonl", cache) for name in names]


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
