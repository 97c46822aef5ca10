#!/usr/bin/env python3
"""Where a trained DETR grounder's decoder looks: positional or content attention (issue #18).

Each moment query of the decoder carries an anchor span. A detector that localises attends, in
its first decoder layer, around its own anchor (cross-attention centre follows the anchor centre,
across videos the centre hardly moves); one whose queries all attend to the video's most salient
clips instead cannot learn where a window starts and ends relative to its anchor. For each
checkpoint this prints, per decoder layer, the correlation between the queries' attention centres
and their anchor centres, how much the attention centre moves from video to video, the attention
entropy, and the attention mass inside the annotated windows (best query and mean) against the
windows' share of the video, on the first ``--n`` val queries that have windows.

    python bench/detr_attention.py --data /tmp/momentfinder-synth/seed2_n4000 \\
        RUN_A/best.ckpt RUN_B/best.ckpt --out /tmp/attention.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from momentfinder.data.readers import read_annotations
from momentfinder.grounding.detr import load_grounder
from momentfinder.grounding.detr.dataset import build_examples, collate
from momentfinder.grounding.detr.supervision import clip_span
from momentfinder.store import FeatureDirectory


def record_cross_attention(model: torch.nn.Module) -> tuple[list[torch.Tensor], list]:
    """Hooks that keep each decoder layer's head-averaged cross-attention weights ``(B, Q, L)``."""
    weights: list[torch.Tensor] = []
    handles = []

    def ask_for_weights(_module, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": True}

    def keep(_module, _args, output):
        weights.append(output[1].detach())

    for layer in model.decoder:
        attention = layer.cross_attention
        handles.append(attention.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
        handles.append(attention.register_forward_hook(keep))
    return weights, handles


def attention_stats(model: torch.nn.Module, batch: dict, inside: torch.Tensor) -> list[dict]:
    """Per decoder layer: anchor correlation, centre spread over videos, entropy, mass in the windows."""
    weights, handles = record_cross_attention(model)
    try:
        with torch.no_grad():
            model(batch["vid"], batch["vid_mask"], batch["txt"], batch["txt_mask"])
    finally:
        for h in handles:
            h.remove()
    n = batch["vid_mask"].sum(1).float()
    positions = torch.arange(batch["vid_mask"].shape[1], dtype=torch.float32) + 0.5
    anchors = model.anchors.detach().sigmoid()[:, 0].numpy()
    rows = []
    for layer, a in enumerate(weights):
        centre = (a * positions).sum(-1) / n[:, None]  # (B, Q): share of the video
        mass = (a * inside[:, None]).sum(-1)  # (B, Q)
        rows.append(
            {
                "layer": layer,
                "centre_anchor_r": float(np.corrcoef(centre.mean(0).numpy(), anchors)[0, 1]),
                "centre_std_over_videos": float(centre.std(0).mean()),
                "entropy": float(-(a.clamp_min(1e-9).log() * a).sum(-1).mean()),
                "uniform_entropy": float(n.log().mean()),
                "mass_in_windows_best_query": float(mass.max(1).values.mean()),
                "mass_in_windows_mean": float(mass.mean()),
                "windows_share": float((inside.sum(1) / n).mean()),
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path, help="best.ckpt / last.ckpt files")
    ap.add_argument("--data", type=Path, required=True, help="feature directory with val.jsonl")
    ap.add_argument("--n", type=int, default=128, help="val queries (with windows) to look at")
    ap.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = ap.parse_args()
    fd = FeatureDirectory(args.data, normalize=True)
    samples = [s for s in read_annotations(args.data / "val.jsonl") if s.windows][: args.n]
    if not samples:
        print(f"error: {args.data / 'val.jsonl'} has no query with windows", file=sys.stderr)
        return 2
    examples = build_examples(samples, fd)
    batch = collate(examples)
    inside = torch.zeros(batch["vid_mask"].shape)
    for i, e in enumerate(examples):
        for w in e.sample.windows:
            inside[i, slice(*clip_span(w, e.n_clips, e.clip_len))] = 1.0
    report = {}
    for path in args.checkpoints:
        model = load_grounder(path).model.eval()
        rows = attention_stats(model, batch, inside)
        report[str(path)] = rows
        print(path)
        for r in rows:
            print(
                f"  decoder layer {r['layer']}: attention centre vs anchor r = {r['centre_anchor_r']:+.2f}, "
                f"centre std over videos {r['centre_std_over_videos']:.3f}, entropy {r['entropy']:.2f} "
                f"(uniform {r['uniform_entropy']:.2f}), mass in windows: best query "
                f"{r['mass_in_windows_best_query']:.3f}, mean {r['mass_in_windows_mean']:.3f} "
                f"(windows' share {r['windows_share']:.3f})"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
