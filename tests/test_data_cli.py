"""``momentfinder data stats|convert|check-features`` and the statistics behind them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.data.readers import read_annotations
from momentfinder.data.stats import dataset_stats
from momentfinder.types import GroundingSample

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_stats_by_hand():
    samples = [
        GroundingSample(1, "a man runs", "v1", 100.0, [[0.0, 10.0], [50.0, 90.0]]),
        GroundingSample(2, "a dog", "v1", 100.0, [[20.0, 40.0]]),
        GroundingSample(3, "nothing here at all", "v2", 60.0, []),
        GroundingSample(4, "test query", "v3", math.nan, [], extra={"unlabelled": True}),
    ]
    st = dataset_stats(samples)
    assert (st["queries"], st["videos"], st["moments"]) == (4, 3, 3)
    assert (st["negative_queries"], st["unlabelled_queries"], st["videos_without_duration"]) == (1, 1, 1)
    assert st["video_duration_s"] == {"min": 60.0, "mean": 80.0, "median": 80.0, "max": 100.0}
    assert st["moment_length_s"] == {"min": 10.0, "mean": 23.33, "median": 20.0, "max": 40.0}
    assert st["moment_length_buckets"] == {"short (<=10 s)": 1, "middle (10-30 s)": 1, "long (>30 s)": 1}
    assert st["moments_per_query"] == {"0": 1, "1": 1, "2": 1}
    assert st["mean_moments_per_query"] == 1.0
    assert st["moment_coverage"]["max"] == 0.5 and st["query_words"]["max"] == 4.0


def test_stats_cli_on_qvhighlights_val(capsys, tmp_path):
    path = DATA / "qvhighlights" / "highlight_val_release.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    plot = tmp_path / "stats.png"
    assert main(["data", "stats", str(path), "--json", "--plot", str(plot)]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["queries"], st["videos"], st["moments"], st["queries_with_saliency"]) == (
        1550,
        1519,
        2803,
        1550,
    )
    assert st["video_duration_s"]["max"] == 150.0 and st["video_duration_s"]["min"] == 120.0
    assert sum(st["moments_per_query"].values()) == 1550
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["data", "stats", str(DATA / "tvr" / "tvr_val_release.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "queries                  10895" in out and "videos                   2179" in out


def test_convert_charades_text(tmp_path, capsys):
    txt = tmp_path / "charades.txt"
    txt.write_text("3MSZA 24.3 30.4##person turn a light on.\nAO8RW 0.0 6.9##a person reads.\n")
    out = tmp_path / "charades.jsonl"
    assert main(["data", "convert", str(txt), "-o", str(out)]) == 2
    assert "no video duration" in capsys.readouterr().err
    durations = tmp_path / "d.json"
    durations.write_text(json.dumps({"3MSZA": 30.96, "AO8RW": 31.0}))
    assert main(["data", "convert", str(txt), "-o", str(out), "--durations", str(durations), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 2
    back = read_annotations(out)
    assert [(s.vid, s.duration, s.windows, s.query) for s in back] == [
        ("3MSZA", 30.96, [[24.3, 30.4]], "person turn a light on."),
        ("AO8RW", 31.0, [[0.0, 6.9]], "a person reads."),
    ]


def test_check_features(tmp_path, capsys):
    root = tmp_path / "feats"
    (root / "clip_features").mkdir(parents=True)
    (root / "clip_text_features").mkdir()
    np.savez(root / "clip_features" / "v1.npz", features=np.ones((5, 8), np.float32))
    np.savez(
        root / "clip_text_features" / "qid1.npz", last_hidden_state=np.ones((3, 8)), pooler_output=np.ones(8)
    )
    ann = tmp_path / "ann.jsonl"
    rec = {"qid": 1, "query": "q", "vid": "v1", "duration": 10, "relevant_windows": [[0, 2]]}
    ann.write_text(json.dumps(rec) + "\n")
    assert main(["data", "check-features", str(root), "--annotations", str(ann), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"queries": 1, "videos": 1, "dim": 8, "problems": []}
    ann.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "qid": 2, "vid": "v2"}) + "\n")
    assert main(["data", "check-features", str(root), "--annotations", str(ann)]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s)" in out and "v2.npz" in out and "qid2.npz" in out
