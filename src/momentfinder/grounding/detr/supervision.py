"""Supervision modes: full windows, points (one timestamp per moment), weak (video-sentence pairs).

Point and weak labels are derived from a full annotation for experiments. Both start with
saliency-only training (point: the clip holding each point is relevant; weak: multiple-instance
learning, the top clips of a matched pair are relevant) and negative pairs; after
``warmup_epochs`` the model's own saliency curve is grown into pseudo windows (around each
point, or around the curve's peak for weak labels) that then train the detector, refreshed
every ``refresh_every`` epochs.

Pseudo labels (:class:`PseudoLabel`, e.g. the zero-shot grounder's predictions on the training
videos) replace the warm-up: weak labels take each query's top windows as training windows
(self-training); point labels take, for each point, the best-scored window holding it, or grow
one around the point on the pseudo labeller's saliency curve (ViGA / D3G-style). They train the
detector from the first epoch and are kept unless ``refine_pseudo``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .config import SupervisionConfig
from .dataset import UNSURE, Example, collate, windows_to_spans
from .span_utils import span_cxw_to_xx, temporal_iou


def point_of(window: list[float], qid, index: int, seed: int) -> float:
    """A reproducible timestamp (seconds) drawn uniformly inside ``window``, like a glance annotation."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{qid}/{index}".encode())])
    return float(window[0] + rng.uniform() * (window[1] - window[0]))


@dataclass
class PseudoLabel:
    """Another grounder's answer for one training query: ranked ``[start_s, end_s, score]`` windows
    (best first; empty when it rejected the query) and its per-clip saliency (or None)."""

    windows: list[list[float]]
    saliency: np.ndarray | None = None


def point_saliency(
    n_clips: int, spans: list[tuple[int, int]], centres: list[float], sigma: float
) -> np.ndarray:
    """Per-clip labels for clip ``spans`` ``[start, end)``: 1 inside (0 outside) or, with ``sigma > 0``,
    ``0.5 + 0.5 * Gaussian`` of the distance to the span's ``centre`` clip (sigma: a share of the
    span's length), so clips near the annotated point rank above the span's edges."""
    labels = np.zeros(n_clips, dtype=np.float32)
    for (st, ed), c in zip(spans, centres, strict=True):
        idx = np.arange(st, ed)
        if sigma > 0:
            width = max(sigma * (ed - st), 0.5)
            value = 0.5 + 0.5 * np.exp(-0.5 * ((idx + 0.5 - c) / width) ** 2)
        else:
            value = np.ones(len(idx))
        labels[st:ed] = np.maximum(labels[st:ed], value)
    return labels


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching clip spans ``[start, end)`` merged, sorted."""
    out: list[list[int]] = []
    for st, ed in sorted(spans):
        if out and st <= out[-1][1]:
            out[-1][1] = max(out[-1][1], ed)
        else:
            out.append([st, ed])
    return [(a, b) for a, b in out]


def clip_span(window: list[float], n_clips: int, clip_len: float) -> tuple[int, int]:
    """Clip indices ``[start, end)`` covering ``window`` (seconds), at least one clip, inside the video."""
    st = min(int(window[0] / clip_len + 1e-6), n_clips - 1)
    ed = min(max(int(np.ceil(window[1] / clip_len - 1e-6)), st + 1), n_clips)
    return st, ed


def apply_pseudo_labels(
    examples: list[Example],
    pseudo: Mapping,
    cfg: SupervisionConfig,
    max_windows: int = 5,
) -> int:
    """Set pseudo windows from ``pseudo`` (qid -> :class:`PseudoLabel`) on point / weak ``examples``
    (in place, after :func:`apply_supervision`); return how many examples got windows."""
    done = 0
    for e in examples:
        label = pseudo.get(e.sample.qid)
        if label is None:
            continue
        n, clip_len = e.n_clips, e.clip_len
        ranked = [w for w in label.windows if w[1] > w[0]]
        if cfg.mode == "weak":
            spans = [clip_span(w, n, clip_len) for w in ranked[: cfg.pseudo_windows]]
            centres = [(st + ed) / 2 for st, ed in spans]
        elif cfg.mode == "point":
            spans, centres = [], []
            curve = None
            if label.saliency is not None and len(label.saliency) >= n:
                curve = np.asarray(label.saliency[:n], dtype=np.float64)
                curve = (curve - curve.min()) / max(curve.max() - curve.min(), 1e-9)
            for t in e.extra["points"]:
                holding = next((w for w in ranked if w[0] <= t <= w[1]), None)
                seed_clip = min(int(t / clip_len), n - 1)
                if holding is not None:
                    spans.append(clip_span(holding, n, clip_len))
                elif curve is not None:
                    spans.append(grow_window(curve, seed_clip, cfg.pseudo_grow_ratio))
                else:
                    continue
                centres.append(t / clip_len)
        else:
            raise ValueError(f"pseudo labels need point or weak supervision, not {cfg.mode!r}")
        if not spans:
            continue
        e.saliency = point_saliency(n, spans, centres, cfg.point_sigma if cfg.mode == "point" else 0.0)
        merged = merge_spans(spans)
        e.spans = windows_to_spans(
            [[a * clip_len, b * clip_len] for a, b in merged], n, clip_len, max_windows
        )
        e.span_valid = True
        e.extra["pseudo"] = True
        done += 1
    return done


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


def sure_saliency(
    curve: np.ndarray, grown: list[tuple[int, int]], seeds: list[int], sigma: float, cfg: SupervisionConfig
) -> np.ndarray:
    """Per-clip labels for pseudo windows ``grown`` around clips ``seeds`` on ``curve``: relevant
    inside, not relevant outside, except (with ``cfg.sure_inside_ratio > 0``) where the curve is
    unsure: clips of the run at ``sure_outside_ratio`` but not of the run at ``sure_inside_ratio``
    (shares of the seed clip's value) are :data:`.dataset.UNSURE`."""
    centres = [s + 0.5 for s in seeds]
    if cfg.sure_inside_ratio <= 0:
        return point_saliency(len(curve), grown, centres, sigma)
    inner = [grow_window(curve, s, cfg.sure_inside_ratio) for s in seeds]
    labels = point_saliency(len(curve), inner, centres, sigma)
    unsure = np.zeros(len(curve), dtype=bool)
    for s, window in zip(seeds, grown, strict=True):
        st, ed = grow_window(curve, s, cfg.sure_outside_ratio) if cfg.sure_outside_ratio > 0 else window
        unsure[min(st, window[0]) : max(ed, window[1])] = True
    labels[unsure & (labels <= 0)] = UNSURE
    return labels


def detector_window(
    pred: np.ndarray, prob: np.ndarray, n_clips: int, clip_len: float, point: float | None
) -> tuple[int, int] | None:
    """Clip span ``[start, end)`` of the most confident predicted window (``pred``: ``(Q, 2)``
    start/end as shares of the clip sequence, ``prob``: ``(Q,)`` foreground probability) that
    holds ``point`` (seconds; ``None``: any window), or ``None`` when no prediction holds it."""
    for q in np.argsort(-prob):
        # rounded to 1e-4 of a clip: float32 shares of the sequence put exact clip edges off by ulps
        start, end = (round(float(x) * n_clips, 4) * clip_len for x in pred[q])
        if end <= start:
            continue
        if point is None or start <= point <= end:
            return clip_span([start, end], n_clips, clip_len)
    return None


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
        probs = out["pred_logits"].softmax(-1)[..., 0].cpu().numpy()
        preds = span_cxw_to_xx(out["pred_spans"]).clamp(0, 1).cpu().numpy()
        for e, curve, prob, pred in zip(chunk, curves, probs, preds, strict=True):
            curve = curve[: e.n_clips]
            if cfg.mode == "point":
                seeds = [min(int(t / e.clip_len), e.n_clips - 1) for t in e.extra["points"]]
            else:
                seeds = [int(np.argmax(curve))]
            if cfg.refine_source == "detector" and e.span_valid:  # the detector has trained on windows
                points = e.extra["points"] if cfg.mode == "point" else [None]
                grown = [
                    detector_window(pred, prob, e.n_clips, e.clip_len, t)
                    or grow_window(curve, s, cfg.expand_ratio)
                    for t, s in zip(points, seeds, strict=True)
                ]
            else:
                grown = [grow_window(curve, s, cfg.expand_ratio) for s in seeds]
            sigma = cfg.point_sigma if cfg.mode == "point" else 0.0
            e.saliency = sure_saliency(curve, grown, seeds, sigma, cfg)
            spans = merge_spans(grown)
            lengths += [ed - st for st, ed in spans]
            windows = [[st * e.clip_len, ed * e.clip_len] for st, ed in spans]
            e.spans = windows_to_spans(windows, e.n_clips, e.clip_len, max_windows)
            e.span_valid = True
    model.train(was_training)
    return float(np.mean(lengths)) if lengths else 0.0


def pseudo_window_quality(examples: list[Example]) -> dict | None:
    """How well the current pseudo windows match the annotation they were derived from (point /
    weak labels made from full ones, as in the benchmarks): per true window, the best IoU of a
    pseudo window; per clip, the share of saliency labels that are right among those called
    relevant / not relevant, and the share left unsure. ``None`` when no example has both."""
    best = []
    # clips labelled relevant, of them truly inside, labelled not relevant, of them truly outside
    counts = np.zeros(4)
    unsure = labelled = 0
    for e in examples:
        if not (e.span_valid and e.sample.windows and len(e.spans)):
            continue
        n = e.n_clips * e.clip_len
        pseudo = span_cxw_to_xx(torch.as_tensor(e.spans, dtype=torch.float64)) * n
        truth = torch.tensor([w[:2] for w in e.sample.windows], dtype=torch.float64)
        best += temporal_iou(truth, pseudo)[0].max(1).values.tolist()
        inside = np.zeros(e.n_clips, dtype=bool)
        for w in e.sample.windows:
            inside[slice(*clip_span(w, e.n_clips, e.clip_len))] = True
        pos, neg = e.saliency > 0, e.saliency == 0
        counts += [pos.sum(), (pos & inside).sum(), neg.sum(), (neg & ~inside).sum()]
        unsure += int((e.saliency == UNSURE).sum())
        labelled += e.n_clips
    if not best:
        return None
    arr = np.asarray(best)
    return {
        "mean_iou": float(arr.mean()),
        "iou_0.5": float((arr >= 0.5).mean()),
        "iou_0.7": float((arr >= 0.7).mean()),
        # per-clip saliency labels: share right among those called relevant / not relevant, share unsure
        "clip_pos_right": float(counts[1] / max(counts[0], 1)),
        "clip_neg_right": float(counts[3] / max(counts[2], 1)),
        "clip_unsure": unsure / max(labelled, 1),
    }


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
