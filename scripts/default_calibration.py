#!/usr/bin/env python3
"""Regenerate the shipped zero-shot calibration, ``src/momentfinder/configs/zeroshot_calibration.json``.

It is made on the synthetic benchmark's val split (``../shared/bench/synth_qvh.py --seed 0``,
``val.jsonl`` + ``val_negative.jsonl``), exactly as ``momentfinder predict --calibrate-on`` makes a
user's calibration, and is only right for features like the synthetic ones: its thresholds, null
levels (``feature_mean``, ``curve_null``, ``bank_clip_sims``), stop words (the generator's filler
words) and query bank (its subjects and actions) come from them. For real features (CLIP,
SigLIP...) calibrate on your own validation split (docs/zeroshot.md). ``curve_threshold`` is left
out (null): the video finder hands ``ground_curve`` standardised, fused curves, for which no
threshold transfers, so curves never reject by default.

    python scripts/default_calibration.py            # writes the JSON file in place

The file is the format ``--save-calibration`` writes, one array row per line (JSON parses in
~20 ms; the same numbers as YAML took 0.5 s).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from momentfinder.data.features import FeatureDirectory  # noqa: E402
from momentfinder.grounding.zeroshot import ZeroShotGrounder  # noqa: E402
from synth_common import ensure_data, load_pairs  # noqa: E402

OUT = ROOT / "src" / "momentfinder" / "configs" / "zeroshot_calibration.json"
SOURCE = "synth_qvh.py --seed 0 (n-videos 2000): val.jsonl + val_negative.jsonl"
NOTE = (
    "Default calibration of the zero-shot grounder, made by scripts/default_calibration.py on the synthetic "
    "benchmark's val split. NOT from any real encoder: for CLIP/SigLIP features calibrate on your own "
    "validation split (momentfinder predict --calibrate-on VAL.jsonl [VAL_NEG.jsonl] --save-calibration CAL.json)."
)


def _dump(data: dict) -> str:
    """JSON with one top-level key per line and one row of a matrix per line."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n  ".join(json.dumps(r, separators=(",", ":")) for r in value)
            lines.append(f"{json.dumps(key)}: [\n  {rows}\n ]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main() -> int:
    root = ensure_data(Path("/tmp/momentfinder-synth"), 0, 2000)
    fd = FeatureDirectory(root)
    cache: dict = {}
    pos = [(c, q) for _, c, q in load_pairs(fd, root / "val.jsonl", cache)]
    neg = [(c, q) for _, c, q in load_pairs(fd, root / "val_negative.jsonl", cache)]
    cal = ZeroShotGrounder().calibrate(pos, neg, source=SOURCE)
    cal = dataclasses.replace(cal, curve_threshold=None, report={"note": NOTE, **cal.report})
    cal.feature_mean = [round(v, 5) for v in cal.feature_mean]
    cal.query_bank = [[round(v, 4) for v in r] for r in cal.query_bank or []] or None
    cal.bank_clip_sims = [[round(v, 3) for v in r] for r in cal.bank_clip_sims or []] or None
    OUT.write_text(_dump(cal.to_dict()), encoding="utf-8")
    print(f"wrote {OUT}: {len(cal.common_tokens or [])} stop words, {len(cal.query_bank or [])} bank entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
