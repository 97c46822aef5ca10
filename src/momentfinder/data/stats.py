"""Summary statistics of an annotation file: counts, video durations, moment lengths, moments per query."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..types import GroundingSample

#: QVHighlights' moment length buckets (seconds): (lo, hi]
LENGTH_BUCKETS = {
    "short (<=10 s)": (0.0, 10.0),
    "middle (10-30 s)": (10.0, 30.0),
    "long (>30 s)": (30.0, math.inf),
}


def _summary(values: np.ndarray) -> dict | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return {
        "min": round(float(values.min()), 2),
        "mean": round(float(values.mean()), 2),
        "median": round(float(np.median(values)), 2),
        "max": round(float(values.max()), 2),
    }


def _arrays(samples: Sequence[GroundingSample]) -> dict[str, np.ndarray]:
    durations = {}
    for s in samples:
        durations.setdefault(s.vid, s.duration)
    lengths, rel_centers = [], []
    for s in samples:
        for st, ed in s.windows:
            lengths.append(ed - st)
            if s.duration and math.isfinite(s.duration):
                rel_centers.append(min(1.0, (st + ed) / 2 / s.duration))
    labelled = [s for s in samples if not s.extra.get("unlabelled")]
    return {
        "durations": np.asarray(list(durations.values()), dtype=np.float64),
        "lengths": np.asarray(lengths, dtype=np.float64),
        "per_query": np.asarray([len(s.windows) for s in labelled], dtype=np.int64),
        "rel_centers": np.asarray(rel_centers, dtype=np.float64),
        "query_words": np.asarray([len(s.query.split()) for s in samples], dtype=np.int64),
    }


def dataset_stats(samples: Sequence[GroundingSample]) -> dict:
    """Counts and distributions (seconds) of a list of samples; JSON-ready."""
    if not samples:
        raise InputError("no samples to describe")
    a = _arrays(samples)
    n_unlabelled = sum(1 for s in samples if s.extra.get("unlabelled"))
    lengths = a["lengths"]
    per_query = Counter(a["per_query"].tolist())
    return {
        "queries": len(samples),
        "videos": int(a["durations"].size),
        "moments": int(lengths.size),
        "negative_queries": int(np.sum(a["per_query"] == 0)),
        "unlabelled_queries": n_unlabelled,
        "queries_with_saliency": sum(1 for s in samples if s.saliency_clip_ids),
        "videos_without_duration": int(np.sum(~np.isfinite(a["durations"]))),
        "video_duration_s": _summary(a["durations"]),
        "moment_length_s": _summary(lengths),
        "moment_length_buckets": {
            name: int(np.sum((lengths > lo) & (lengths <= hi))) for name, (lo, hi) in LENGTH_BUCKETS.items()
        },
        "moment_coverage": _summary(_coverage(samples)),
        "moments_per_query": {str(k): per_query[k] for k in sorted(per_query)},
        "mean_moments_per_query": round(float(a["per_query"].mean()), 3) if a["per_query"].size else None,
        "query_words": _summary(a["query_words"].astype(np.float64)),
    }


def _coverage(samples: Sequence[GroundingSample]) -> np.ndarray:
    """Fraction of each labelled video covered by its query's moments."""
    out = []
    for s in samples:
        if s.windows and s.duration and math.isfinite(s.duration):
            out.append(min(1.0, sum(ed - st for st, ed in s.windows) / s.duration))
    return np.asarray(out, dtype=np.float64)


def plot_dataset(samples: Sequence[GroundingSample], path: str | os.PathLike, title: str = "") -> None:
    """A 2x2 PNG: video durations, moment lengths, moments per query, moment centre in the video."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = _arrays(samples)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        (axes[0, 0], a["durations"][np.isfinite(a["durations"])], "video duration (s)", "videos"),
        (axes[0, 1], a["lengths"], "moment length (s)", "moments"),
        (axes[1, 1], a["rel_centers"], "moment centre (fraction of the video)", "moments"),
    ]
    for ax, values, xlabel, ylabel in panels:
        if values.size:
            ax.hist(values, bins=40, color="#4477aa")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    counts = Counter(a["per_query"].tolist())
    ax = axes[1, 0]
    ax.bar([str(k) for k in sorted(counts)], [counts[k] for k in sorted(counts)], color="#ee6677")
    ax.set_xlabel("moments per query")
    ax.set_ylabel("queries")
    fig.suptitle(title or f"{len(samples)} queries, {a['durations'].size} videos")
    save_figure(fig, path)


def save_figure(fig, path: str | os.PathLike) -> None:
    """Lay out, write (PNG by extension) and close a matplotlib figure; an unwritable path is an InputError."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as err:
        raise InputError(f"cannot write the plot {path}: {err.strerror}") from None
    finally:
        plt.close(fig)
