"""write_submission -> read_submission -> evaluate round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from momentfinder.data.submission import read_submission, write_submission
from momentfinder.errors import InputError
from momentfinder.eval.qvhighlights import evaluate
from momentfinder.types import GroundingResult, Moment, Timeline


def _result(qid, moments, n_clips=5, no_moment=None):
    return GroundingResult(
        query=f"query {qid}",
        timeline=Timeline.of(n_clips, 2.0),
        moments=[Moment(*m) for m in moments],
        saliency=np.linspace(0, 1, n_clips),
        no_moment_score=no_moment,
        video=f"vid{qid}",
        qid=qid,
    )


def test_round_trip(tmp_path):
    path = tmp_path / "sub.jsonl"
    n = write_submission(
        path, [_result(1, [(0.0, 4.0, 0.91234), (2.0, 6.0, 0.5)]), _result(2, [], no_moment=0.8)]
    )
    assert n == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "qid": 1,
        "query": "query 1",
        "vid": "vid1",
        "pred_relevant_windows": [[0.0, 4.0, 0.9123], [2.0, 6.0, 0.5]],
        "pred_saliency_scores": [0.0, 0.25, 0.5, 0.75, 1.0],
    }
    assert lines[1]["no_moment_score"] == 0.8 and lines[1]["pred_relevant_windows"] == []
    assert read_submission(path) == lines
    gt = [
        {"qid": 1, "query": "q", "vid": "vid1", "duration": 10, "relevant_windows": [[0, 4]]},
        {"qid": 2, "query": "q", "vid": "vid2", "duration": 10, "relevant_windows": [[6, 10]]},
    ]
    got = evaluate(read_submission(path), gt)
    assert got["full"]["MR-R1"]["0.5"] == 50.0
    # GroundingResult objects are scored exactly as their submission lines
    results = [_result(1, [(0.0, 4.0, 0.91234), (2.0, 6.0, 0.5)]), _result(2, [], no_moment=0.8)]
    assert evaluate(results, gt) == got


def test_writer_rejects_bad_results(tmp_path):
    with pytest.raises(InputError, match="has no qid"):
        write_submission(tmp_path / "a.jsonl", [_result(None, [])])
    with pytest.raises(InputError, match="duplicate qid 1"):
        write_submission(tmp_path / "a.jsonl", [_result(1, []), _result(1, [])])
    with pytest.raises(InputError, match="NaN"):
        write_submission(tmp_path / "a.jsonl", [_result(1, [(0.0, 1.0, float("nan"))])])
    with pytest.raises(InputError, match="output directory does not exist"):
        write_submission(tmp_path / "no" / "a.jsonl", [_result(1, [])])


def test_reader_validates_rows(tmp_path):
    p = tmp_path / "s.jsonl"
    for line, pattern in {
        '{"pred_relevant_windows": []}': r"s\.jsonl:1: missing field qid",
        '{"qid": 1}': r":1: needs pred_relevant_windows",
        '{"qid": 1, "pred_relevant_windows": [[0, 1]]}': r":1: pred_relevant_windows\[0\] = \[0, 1\] is not \[start, end, score\]",
        '{"qid": 1, "pred_saliency_scores": [0.1, Infinity]}': r":1: pred_saliency_scores\[1\] is inf",
        '{"qid": 1.5, "pred_saliency_scores": [0.1]}': r":1: qid must be an integer or a string",
        '{"qid": 1, "pred_saliency_scores": [0.1], "no_moment_score": NaN}': r":1: no_moment_score must be a finite",
    }.items():
        p.write_text(line + "\n")
        with pytest.raises(InputError, match=pattern):
            read_submission(p)
    p.write_text("\n")
    with pytest.raises(InputError, match="the submission is empty"):
        read_submission(p)
