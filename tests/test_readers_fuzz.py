"""Property tests: whatever bytes or JSON a reader is given, it returns samples or raises one
InputError naming the file; no other exception reaches the user."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from momentfinder.cli import main
from momentfinder.data.readers import _load_durations, read_annotations
from momentfinder.data.submission import read_submission
from momentfinder.errors import InputError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
record_keys = st.sampled_from(
    ["qid", "query", "vid", "duration", "relevant_windows", "relevant_clip_ids", "saliency_scores", "label"]
)
records = st.dictionaries(record_keys, json_values, max_size=8)


def _outcome(call, path):
    try:
        out = call()
    except InputError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return None
    assert isinstance(out, list | dict)
    return out


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".jsonl", ".txt", ".json"]))
def test_arbitrary_bytes(tmp_path, data, suffix):
    path = tmp_path / f"ann{suffix}"
    path.write_bytes(data)
    _outcome(lambda: read_annotations(path), path)
    _outcome(lambda: read_submission(path), path)


@FUZZ
@given(rows=st.lists(records, min_size=1, max_size=4))
def test_wrongly_typed_records(tmp_path, rows):
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    samples = _outcome(lambda: read_annotations(path, fmt="qvhighlights"), path)
    for s in samples or []:
        assert math.isfinite(s.duration) and all(0 <= a <= b for a, b in s.windows)
    _outcome(lambda: read_annotations(path, fmt="tvr"), path)


@FUZZ
@given(data=st.dictionaries(st.text(max_size=6), json_values, max_size=4))
def test_activitynet_json_and_durations(tmp_path, data):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    _outcome(lambda: read_annotations(path, fmt="activitynet"), path)
    _outcome(lambda: _load_durations(path), path)
    csv_path = tmp_path / "durations.csv"
    csv_path.write_text("id,length\n" + "".join(f"{k},{v}\n" for k, v in data.items()), encoding="utf-8")
    _outcome(lambda: _load_durations(csv_path), csv_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x01\x02binary", "binary file"),
        (b'{"qid": 1, "query": "caf\xe9"}\n', ":1: not UTF-8 text"),
        (b'{"qid": 1}\n{"qid": "x", "query": "\xff"}\n', ":2: not UTF-8 text"),
        (b"[" * 100000, "not valid JSON"),
    ],
)
def test_binary_and_non_utf8_files_name_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "ann.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_annotations(path, fmt="qvhighlights")
    assert main(["data", "stats", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
