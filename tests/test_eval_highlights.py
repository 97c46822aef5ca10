"""TVSum / YouTube Highlights top-k mAP (the UMT protocol used by Lighthouse)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from momentfinder.data.readers import read_annotations
from momentfinder.eval.highlights import _trapezoid_ap, highlight_map

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _loop_ap(pred, label, top_k, median):
    """The protocol as a plain loop over ranked clips."""
    order = sorted(range(len(pred)), key=lambda i: -pred[i])
    if median:
        m = sorted(label)[(len(label) - 1) // 2]
        label = [1.0 if x > m else 0.0 for x in label]
    ranked = [label[i] for i in order][:top_k] if top_k else [label[i] for i in order]
    n_gt = sum(ranked)
    if n_gt == 0:
        return 0.0
    hits = ap = rec = 0.0
    prc = 1.0
    for j, y in enumerate(ranked):
        hits += y
        r, p = hits / n_gt, hits / (j + 1)
        ap += (r - rec) * (prc + p) / 2
        rec, prc = r, p
    return ap


def test_trapezoid_ap_by_hand():
    assert _trapezoid_ap(np.array([1.0, 1.0, 0.0])) == 1.0
    # miss, hit: the precision falls to 0 at the miss, then the recall step 0 -> 1 ends at precision 1/2
    assert _trapezoid_ap(np.array([0.0, 1.0])) == 0.25
    assert _trapezoid_ap(np.array([1.0, 0.0, 1.0])) == 0.5 * 1 + 0.5 * (0.5 + 2 / 3) / 2
    assert _trapezoid_ap(np.zeros(4)) == 0.0


@pytest.mark.parametrize(
    ("name", "top_k"),
    [("tvsum/tvsum_val_release.jsonl", 5), ("youtube_highlights/youtube_highlight_val_release.jsonl", None)],
)
def test_agrees_with_the_loop_and_rewards_the_oracle(name, top_k):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    samples = read_annotations(path)
    rng = np.random.default_rng(0)
    median = top_k is not None
    random_sub, oracle_sub, want = [], [], {}
    for s in samples:
        labels = np.asarray(s.saliency_scores)
        pred = rng.random(len(labels)).round(2)  # some ties on purpose
        random_sub.append({"qid": s.qid, "pred_saliency_scores": pred.tolist()})
        oracle_sub.append({"qid": s.qid, "pred_saliency_scores": labels.mean(axis=1).tolist()})
        aps = [_loop_ap(pred.tolist(), labels[:, a].tolist(), top_k, median) for a in range(labels.shape[1])]
        want.setdefault(s.extra["domain"], []).extend(aps)
    got = highlight_map(random_sub, samples, top_k=top_k)
    assert got["videos"] == len(samples)
    assert got["by_domain"] == {k: float(f"{100 * np.mean(v):.2f}") for k, v in sorted(want.items())}
    assert got["mAP"] == float(f"{100 * np.mean([np.mean(v) for v in want.values()]):.2f}")
    oracle = highlight_map(oracle_sub, samples, top_k=top_k)
    assert oracle["mAP"] > got["mAP"] + 10
