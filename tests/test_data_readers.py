"""Every annotation format becomes GroundingSample; malformed input names the file and line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from momentfinder.data.readers import detect_format, read_annotations
from momentfinder.errors import InputError

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# file -> (records, format detected)
SHARED_FILES = {
    "qvhighlights/highlight_val_release.jsonl": (1550, "qvhighlights"),
    "qvhighlights/highlight_test_release.jsonl": (1542, "qvhighlights"),
    "qvhighlights/highlight_train_release.jsonl": (7218, "qvhighlights"),
    "charades_sta/charades_test_release.jsonl": (3720, "qvhighlights"),
    "tacos/tacos_val_release.jsonl": (4436, "qvhighlights"),
    "activitynet_captions/activitynet_val_release.jsonl": (17505, "qvhighlights"),
    "tvsum/tvsum_val_release.jsonl": (10, "qvhighlights"),
    "youtube_highlights/youtube_highlight_val_release.jsonl": (152, "qvhighlights"),
    "clotho_moment/clotho_moment_val_release.jsonl": (4918, "qvhighlights"),
    "castella/castella_val_release.jsonl": (352, "qvhighlights"),
    "tut2017/tut2017_test_release.jsonl": (104, "qvhighlights"),
    "unav100_subset/unav100-subset_test_release.jsonl": (100, "qvhighlights"),
    "tvr/tvr_val_release.jsonl": (10895, "tvr"),
    "tvr/tvr_test_public_release.jsonl": (5445, "tvr"),
    "tvr/mtvr/tvr_zh_en_val_release.jsonl": (10895, "tvr"),
}


@pytest.mark.parametrize("name", sorted(SHARED_FILES))
def test_reads_every_shared_annotation_file(name):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    n, fmt = SHARED_FILES[name]
    assert detect_format(path) == fmt
    samples = read_annotations(path)
    assert len(samples) == n
    assert len({s.qid for s in samples}) == n
    for s in samples:
        assert s.query
        for st, ed in s.windows:
            assert 0 <= st <= ed


def test_qvhighlights_fields():
    path = DATA / "qvhighlights/highlight_val_release.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    s = read_annotations(path)[0]
    assert (s.qid, s.vid, s.duration) == (2579, "NUsG9BgSes0_210.0_360.0", 150.0)
    assert s.saliency_clip_ids[0] == 41 and s.saliency_scores[0] == [1, 1, 2]
    assert len(s.saliency_clip_ids) == len(s.saliency_scores)
    test = read_annotations(DATA / "qvhighlights/highlight_test_release.jsonl")[0]
    assert test.windows == [] and test.extra["unlabelled"] is True


def test_highlight_only_datasets_keep_per_clip_labels():
    path = DATA / "tvsum/tvsum_val_release.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    s = read_annotations(path)[0]
    assert s.windows == [] and s.extra["domain"]
    assert s.saliency_clip_ids == list(range(len(s.saliency_scores)))
    assert len(s.saliency_scores[0]) == 20  # 20 annotators


def test_tvr_fields():
    path = DATA / "tvr/tvr_val_release.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    s = read_annotations(path)[0]
    assert (s.qid, s.vid, s.duration, s.windows) == (
        90200,
        "friends_s01e03_seg02_clip_19",
        61.46,
        [[16.48, 33.87]],
    )
    assert s.query == "Phoebe puts one of her ponytails in her mouth." and s.extra["type"] == "v"
    t = read_annotations(DATA / "tvr/tvr_test_public_release.jsonl")[0]
    assert t.extra["unlabelled"] and t.vid == "" and math.isnan(t.duration)


def test_byte_order_mark_and_blank_lines_are_tolerated(tmp_path):
    p = tmp_path / "bom.jsonl"
    rec = {"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 1]]}
    p.write_bytes(b"\xef\xbb\xbf" + (json.dumps(rec) + "\n\n").encode())
    assert [s.qid for s in read_annotations(p)] == [1]
    txt = tmp_path / "c.txt"
    txt.write_bytes(b"\xef\xbb\xbfABC 1.0 2.0##a person sits.\n")
    assert read_annotations(txt)[0].vid == "ABC"
    other = tmp_path / "charades_sta_test"  # no extension: the '##' line tells
    other.write_text("\nABC 1.0 2.0##a person sits.\n")
    assert detect_format(other) == "charades_sta"
    other.write_text("just some text\n")
    with pytest.raises(InputError, match="cannot tell the annotation format"):
        read_annotations(other)


def test_negative_query_file(tmp_path):
    p = tmp_path / "val_negative.jsonl"
    p.write_text(
        json.dumps({"qid": 7, "query": "nothing", "duration": 60.0, "vid": "v", "relevant_windows": []})
        + "\n"
    )
    (s,) = read_annotations(p)
    assert s.windows == [] and "unlabelled" not in s.extra


def test_charades_sta_text(tmp_path):
    p = tmp_path / "charades_sta_test.txt"
    p.write_text(
        "3MSZA 24.3 30.4##person turn a light on.\n\nAO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
    )
    samples = read_annotations(p, durations={"3MSZA": 30.96})
    assert [(s.qid, s.vid, s.windows) for s in samples] == [
        (0, "3MSZA", [[24.3, 30.4]]),
        (1, "AO8RW", [[0.0, 6.9]]),
    ]
    assert samples[0].query == "person turn a light on." and samples[0].duration == 30.96
    assert math.isnan(samples[1].duration) and samples[1].extra["duration_unknown"]
    csv = tmp_path / "Charades_v1_test.csv"
    csv.write_text("id,subject,length\n3MSZA,x,30.96\nAO8RW,y,31.5\n")
    assert [s.duration for s in read_annotations(p, durations=csv)] == [30.96, 31.5]
    p.write_text("3MSZA 24.3 30.4##ok\n3MSZA 24.3##missing end\n")
    with pytest.raises(InputError, match=r"charades_sta_test\.txt:2: expected 'vid start end##sentence'"):
        read_annotations(p)
    p.write_text("3MSZA 30.4 24.3##inverted\n")
    with pytest.raises(InputError, match=r":1: window entry \[30\.4, 24\.3\] is not a valid window"):
        read_annotations(p)


def test_activitynet_captions_json(tmp_path):
    p = tmp_path / "val_1.json"
    data = {
        "v_uqiMw7tQ1Cc": {
            "duration": 55.15,
            "timestamps": [[0.28, 55.15], [13.79, 54.32]],
            "sentences": ["A weight lifting tutorial is given.", "  The coach helps the guy."],
        }
    }
    p.write_text(json.dumps(data))
    samples = read_annotations(p)
    assert [(s.qid, s.vid, s.duration, s.windows) for s in samples] == [
        ("v_uqiMw7tQ1Cc_0", "v_uqiMw7tQ1Cc", 55.15, [[0.28, 55.15]]),
        ("v_uqiMw7tQ1Cc_1", "v_uqiMw7tQ1Cc", 55.15, [[13.79, 54.32]]),
    ]
    assert samples[1].query == "The coach helps the guy."
    data["v_uqiMw7tQ1Cc"]["sentences"].pop()
    p.write_text(json.dumps(data))
    with pytest.raises(InputError, match="2 timestamps but 1 sentences"):
        read_annotations(p)


def test_malformed_jsonl_lines_name_file_and_line(tmp_path):
    p = tmp_path / "ann.jsonl"
    good = {"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 1]]}
    cases = {
        "{not json": r"ann\.jsonl:2: not valid JSON",
        "[1, 2]": r"ann\.jsonl:2: expected a JSON object",
        json.dumps({"qid": 2, "query": "q", "vid": "v"}): r"ann\.jsonl:2: missing field\(s\) duration",
        json.dumps({**good, "relevant_windows": [[5, 1]]}): r"ann\.jsonl:2: relevant_windows entry \[5, 1\]",
        json.dumps({**good, "duration": "long"}): r"ann\.jsonl:2: duration must be a number",
        json.dumps({**good, "qid": [1]}): r"ann\.jsonl:2: a query id must be an integer or a string",
        json.dumps(
            {**good, "relevant_clip_ids": [0, 1], "saliency_scores": [[1, 1, 1]]}
        ): r":2: saliency_scores has 1 rows",
    }
    for line, pattern in cases.items():
        p.write_text(json.dumps(good) + "\n" + line + "\n")
        with pytest.raises(InputError, match=pattern):
            read_annotations(p, fmt="qvhighlights")
    with pytest.raises(InputError, match="unknown annotation format"):
        read_annotations(p, fmt="didemo")
    with pytest.raises(InputError, match="annotation file not found"):
        read_annotations(tmp_path / "missing.jsonl")


def test_tvr_malformed_records(tmp_path):
    p = tmp_path / "tvr.jsonl"
    rec = {"vid_name": "a", "duration": 60.0, "ts": [1.0, 2.0], "desc": "x", "type": "v", "desc_id": 1}
    for bad, pattern in {
        json.dumps({**rec, "ts": 5}): r"tvr\.jsonl:1: ts must be a list",
        json.dumps({**rec, "ts": [3.0, 2.0]}): r"tvr\.jsonl:1: ts entry \[3\.0, 2\.0\] is not a valid window",
        json.dumps({k: v for k, v in rec.items() if k != "desc"}): r"tvr\.jsonl:1: missing field desc",
        json.dumps(
            {k: v for k, v in rec.items() if k != "vid_name"}
        ): r"tvr\.jsonl:1: missing field\(s\) vid_name",
    }.items():
        p.write_text(bad + "\n")
        with pytest.raises(InputError, match=pattern):
            read_annotations(p, fmt="tvr")
    p.write_text(json.dumps({**rec, "ts": [[0, 5], [0, 5], [1, 6], [20, 25]]}) + "\n")  # DiDeMo-style
    assert read_annotations(p)[0].windows == [[0, 5], [0, 5], [1, 6], [20, 25]]
