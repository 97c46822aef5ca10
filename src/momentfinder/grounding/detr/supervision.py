"""Supervision modes: full windows, points (one timestamp per moment), weak (video-sentence pairs).

Point and weak labels are derived from a full annotation for experiments. Both start with
saliency-only training (point: the clip holding each point is relevant; weak: multiple-instance
learning, the top clips of a matched pair are relevant) and negative pairs; after
``warmup_epochs`` the model's own saliency curve is grown into pseudo windows (around each
point, or around the curve's peak for weak labels) that then train the detector, refreshed
every ``refresh_every`` epochs.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from .config import SupervisionConfig
from .dataset import Example, collate, windows_to_spans


def point_of(window: list[float], qid, index: int, seed: int) -> float:
    """A reproducible timestamp (seconds) drawn uniformly inside ``window``, like a glance annotation."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{qid}/{index}".encode())])
    return float(window[0] + rng.uniform() * (window[1] - window[0]))


def apply_supervision(examples: list[Example], mode: str, seed: int, max_windows: int = 5) -> None:
    """Replace the full labels of ``examples`` (in place) by ``mode`` labels."""
    if mode == "full":
        return
    for e in examples:
        e.saliency = np.full(e.n_clips, -1.0, dtype=np.float32)
        e.spans = np.zeros((0, 2), dtype=np.float32)
        e.span_valid = False
        if mode == "point":
            points = [
                point_of(w, e.sample.qid, i, seed) for i, w in enumerate(e.sample.windows[:max_windows])
            ]
            e.extra["points"] = points
            for t in points:
                e.saliency[min(int(t / e.clip_len), e.n_clips - 1)] = 1.0
        elif mode != "weak":
            raise ValueError(f"unknown supervision mode {mode!r}")


def grow_window(curve: np.ndarray, seed_clip: int, ratio: float) -> tuple[int, int]:
    """Clip indices ``[start, end)`` of the run around ``seed_clip`` where ``curve >= ratio * curve[seed_clip]``."""
    threshold = ratio * curve[seed_clip]
    start = end = seed_clip
    while start > 0 and curve[start - 1] >= threshold:
        start -= 1
    while end + 1 < len(curve) and curve[end + 1] >= threshold:
        end += 1
    return start, end + 1


@torch.no_grad()
def refresh_pseudo_windows(
    model: torch.nn.Module,
    examples: list[Example],
    cfg: SupervisionConfig,
    device: torch.device,
    max_windows: int = 5,
    batch_size: int = 64,
) -> float:
    """Grow pseudo windows from the model's saliency (in place); return their mean length in clips."""
    was_training = model.training
    model.eval()
    lengths = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        batch = collate(chunk)
        out = model(
            batch["vid"].to(device),
            batch["vid_mask"].to(device),
            batch["txt"].to(device),
            batch["txt_mask"].to(device),
        )
        curves = torch.sigmoid(out["saliency"]).cpu().numpy()
        for e, curve in zip(chunk, curves, strict=True):
            curve = curve[: e.n_clips]
            if cfg.mode == "point":
                seeds = [min(int(t / e.clip_len), e.n_clips - 1) for t in e.extra["points"]]
            else:
                seeds = [int(np.argmax(curve))]
            spans = sorted({grow_window(curve, s, cfg.expand_ratio) for s in seeds})
            e.saliency = np.zeros(e.n_clips, dtype=np.float32)
            for st, ed in spans:
                e.saliency[st:ed] = 1.0
                lengths.append(ed - st)
            windows = [[st * e.clip_len, ed * e.clip_len] for st, ed in spans]
            e.spans = windows_to_spans(windows, e.n_clips, e.clip_len, max_windows)
            e.span_valid = True
    model.train(was_training)
    return float(np.mean(lengths)) if lengths else 0.0


def pseudo_label_state(examples: list[Example]) -> list[dict]:
    """What a resumed run needs to continue with the same pseudo labels."""
    return [
        {
            "spans": torch.from_numpy(e.spans.copy()),
            "saliency": torch.from_numpy(e.saliency.copy()),
            "valid": e.span_valid,
        }
        for e in examples
    ]


def restore_pseudo_labels(examples: list[Example], state: list[dict]) -> None:
    for e, s in zip(examples, state, strict=True):
        e.spans, e.saliency, e.span_valid = s["spans"].numpy(), s["saliency"].numpy(), bool(s["valid"])
