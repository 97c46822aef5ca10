#!/usr/bin/env python3
"""How the label-free stop-word rule behaves on real contextual token features (docs/zeroshot.md).

The zero-shot grounder's stop words are query tokens whose features recur across the
calibration queries (cosine > 0.7 to tokens of >= 5 % of them). On the synthetic benchmark a
token is a fixed word vector, so fillers recur. Real text encoders give *contextual* token
features. This bench runs the rule on the real all-MiniLM-L6-v2 (bundled, offline) token features
of QVHighlights queries: calibrate on 1,000 val queries, apply to 300 others, and count which
words are dropped and kept; then the same queries through the phrase decomposition that the
video path uses instead (``momentfinder.query``).

    python bench/stopwords_minilm.py [--similarity 0.5 0.6 0.7 0.8] [--out bench/results/stopwords_minilm.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

from momentfinder.encoders.text import bundled_minilm_path
from momentfinder.grounding.zeroshot import (
    NoMomentCalibration,
    ZeroShotConfig,
    ZeroShotGrounder,
    find_common_tokens,
)
from momentfinder.query import KeyPhraseDecomposer, load_stop_words

QVH_VAL = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "qvhighlights"
    / "highlight_val_release.jsonl"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=Path, default=QVH_VAL)
    ap.add_argument("--similarity", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    ap.add_argument("--out", type=Path, default=Path("bench/results/stopwords_minilm.json"))
    args = ap.parse_args()
    if not args.queries.is_file():
        sys.exit(f"query file not found: {args.queries}")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(bundled_minilm_path(), device="cpu")
    with open(args.queries, encoding="utf-8") as f:
        texts = [json.loads(line)["query"] for line in f]
    np.random.default_rng(0).shuffle(texts)
    calib, held_out = texts[:1000], texts[1000:1300]

    def token_features(batch: list[str]) -> tuple[list[np.ndarray], list[list[str]]]:
        out = model.encode(batch, output_value="token_embeddings", convert_to_numpy=False, batch_size=64)
        words = [model.tokenizer.convert_ids_to_tokens(model.tokenizer(t)["input_ids"]) for t in batch]
        return [o.float().numpy() for o in out], words

    calib_feats, _ = token_features(calib)
    test_feats, test_words = token_features(held_out)
    stop = load_stop_words()
    report: dict = {
        "queries": str(args.queries),
        "n_calibration": len(calib),
        "n_test": len(held_out),
        "rule": {},
    }
    for similarity in args.similarity:
        reps, shares = find_common_tokens(calib_feats, similarity, 0.05)
        cal = NoMomentCalibration(common_tokens=reps.tolist(), common_token_shares=shares.tolist())
        grounder = ZeroShotGrounder(ZeroShotConfig(common_token_similarity=similarity), cal)
        dropped, kept = collections.Counter(), collections.Counter()
        for feats, words in zip(test_feats, test_words, strict=True):
            keep = grounder.content_tokens(feats / np.linalg.norm(feats, axis=1, keepdims=True))
            for word, k in zip(words, keep, strict=True):
                (kept if k else dropped)[word] += 1
        function = sum(n for w, n in dropped.items() if w in stop or not w.isalpha())
        content = sum(n for w, n in dropped.items() if w.isalpha() and w not in stop)
        row = {
            "groups": len(reps),
            "dropped_function_words": function,
            "kept_function_words": sum(n for w, n in kept.items() if w in stop or not w.isalpha()),
            "dropped_content_words": content,
            "dropped_top": dropped.most_common(12),
            "kept_top": kept.most_common(12),
        }
        report["rule"][str(similarity)] = row
        print(
            f"similarity {similarity}: {len(reps)} groups; dropped {function} function-word/special tokens "
            f"and {content} content-word tokens; kept {row['kept_function_words']} function-word/special tokens"
        )
        print("   dropped most:", ", ".join(f"{w} {n}" for w, n in row["dropped_top"]))
        print("   kept most:   ", ", ".join(f"{w} {n}" for w, n in row["kept_top"]))
    decomposer = KeyPhraseDecomposer()
    parts = [decomposer.decompose(t) for t in held_out]
    counts = collections.Counter(len(p) for p in parts)
    report["phrases"] = {
        "parts_per_query": dict(sorted(counts.items())),
        "examples": list(zip(held_out[:5], parts[:5], strict=True)),
    }
    print("phrase decomposition, parts per query:", dict(sorted(counts.items())))
    for text, p in report["phrases"]["examples"]:
        print(f"   {text!r} -> {p}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
