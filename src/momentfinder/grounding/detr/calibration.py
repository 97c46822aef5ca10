"""The no-moment threshold, calibrated on validation pairs (Neyman-Pearson style).

The threshold is the ``1 - positive_reject_rate`` quantile of the no-moment scores of real
(positive) val queries: the lowest threshold that rejects at most that share of positives, which
rejects as many negatives as any threshold can under that constraint. Negatives (a
``*_negative.jsonl`` file, or val queries paired with another val video) only measure it.
"""

from __future__ import annotations

import numpy as np


def calibrate_no_moment(
    positive: np.ndarray, negative: np.ndarray | None, positive_reject_rate: float
) -> dict:
    """``positive`` / ``negative``: no-moment scores (higher = more likely absent) of val pairs."""
    positive = np.asarray(positive, dtype=np.float64)
    if len(positive) == 0:
        return {"no_moment_threshold": None}
    threshold = float(np.quantile(positive, 1.0 - positive_reject_rate, method="higher"))
    out = {
        "no_moment_threshold": threshold,
        "val_positive_reject": float(np.mean(positive > threshold)),
        "val_negative_reject": None,
    }
    if negative is not None and len(negative):
        out["val_negative_reject"] = float(np.mean(np.asarray(negative) > threshold))
    return out


def mismatched_pairs(vids: list[str], seed: int = 0) -> list[int]:
    """For each pair ``i``, the index of another pair with a different video (for synthetic negatives)."""
    n = len(vids)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        j = int(rng.integers(n)) if n > 1 else i
        for _ in range(20):
            if vids[j] != vids[i]:
                break
            j = int(rng.integers(n))
        out.append(j)
    return out
