"""``momentfinder eval``: the official numbers, plots, and clear errors with a non-zero exit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from momentfinder.cli import main

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VAL_GT = DATA / "qvhighlights" / "highlight_val_release.jsonl"
SAMPLE = DATA / "moment_detr" / "sample_val_preds.jsonl"


@pytest.fixture(autouse=True)
def _need_data():
    if not VAL_GT.is_file():
        pytest.skip(f"{VAL_GT} is absent (the shared/ folder is not beside the repo)")


def test_json_output_is_the_official_metrics_file(capsys, tmp_path):
    out = tmp_path / "metrics.json"
    plot = tmp_path / "metrics.png"
    rc = main(
        [
            "eval",
            "--submission",
            str(SAMPLE),
            "--gt",
            str(VAL_GT),
            "--json",
            "-o",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert rc == 0
    expected = (DATA / "moment_detr" / "sample_val_preds_metrics_raw.json").read_text()
    assert json.loads(capsys.readouterr().out) == json.loads(expected)
    assert out.read_text() == expected
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_human_output_and_extended(capsys):
    assert (
        main(
            [
                "eval",
                "--submission",
                str(DATA / "cg_detr/best_hl_val_preds.jsonl"),
                "--gt",
                str(VAL_GT),
                "--extended",
            ]
        )
        == 0
    )
    lines = dict(line.rsplit(None, 1) for line in capsys.readouterr().out.splitlines())
    assert (
        lines["MR-full-mAP"] == "44.93"
        and lines["MR-full-R1@0.3"] == "77.94"
        and lines["MR-full-mIoU"] == "61.69"
    )


def test_recall_protocol(capsys, tmp_path):
    plot = tmp_path / "r.png"
    args = ["eval", "--submission", str(SAMPLE), "--gt", str(VAL_GT), "--protocol", "recall", "--json"]
    assert main([*args, "--plot", str(plot)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]
    assert got["R1@0.5"] == 53.94 and got["R1@0.7"] == 34.84  # the official R1 values
    assert plot.is_file()


def test_tvr_protocol_is_picked_for_a_json_submission(capsys, tmp_path):
    gt = tmp_path / "tvr_gt.jsonl"
    gt.write_text(
        json.dumps(
            {"vid_name": "a", "duration": 60, "ts": [1.0, 9.0], "desc": "x", "type": "v", "desc_id": 1}
        )
        + "\n"
        + json.dumps(
            {"vid_name": "b", "duration": 60, "ts": [10.0, 20.0], "desc": "y", "type": "t", "desc_id": 2}
        )
        + "\n"
    )
    sub = tmp_path / "sub.json"
    preds = [
        {"desc_id": 1, "predictions": [[0, 1.0, 9.0, 1.0]]},
        {"desc_id": 2, "predictions": [[0, 10, 20, 1.0]]},
    ]
    sub.write_text(json.dumps({"video2idx": {"a": 0, "b": 1}, "VCMR": preds, "VR": preds}))
    assert (
        main(["eval", "--submission", str(sub), "--gt", str(gt), "--json", "--plot", str(tmp_path / "t.png")])
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert got["VCMR"]["0.7-r1"] == 50.0 and got["VR"]["r1"] == 50.0
    assert got["VR_by_type"]["desc_type_ratio"] == "v 50.0 t 50.0 vt 0.0"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda lines: lines[:-1],
            r"qids differ: 1 ground-truth qid\(s\) missing from the submission \(e.g. \[\d+\]\)",
        ),
        (
            lambda lines: [*lines[:5], '{"qid": 1, "pred_relevant_windows": [[0, 2, 0.5]', *lines[6:]],
            r"preds\.jsonl:6: not valid JSON",
        ),
        (
            lambda lines: [
                lines[0].replace(
                    '"pred_relevant_windows": [[', '"pred_relevant_windows": [[151.0, 152.0, 0.1], ['
                )
            ],
            "lies outside the video",
        ),
        (
            lambda lines: [lines[0].replace("0.9986", "NaN")],
            r"preds\.jsonl:1: pred_relevant_windows\[0\] .* NaN",
        ),
    ],
    ids=["qid-mismatch", "malformed-line", "outside-video", "nan-score"],
)
def test_bad_input_exits_non_zero_with_one_clear_line(edit, message, tmp_path, capsys):
    lines = SAMPLE.read_text().splitlines()
    pred = tmp_path / "preds.jsonl"
    pred.write_text("\n".join(edit(lines)) + "\n")
    gt = VAL_GT
    if (
        "outside" in message or "NaN" in message
    ):  # a one-query ground truth to go with the one-line submission
        gt = tmp_path / "gt.jsonl"
        gt.write_text(VAL_GT.read_text().splitlines()[0] + "\n")
    rc = main(["eval", "--submission", str(pred), "--gt", str(gt)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("momentfinder: error: ") and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_missing_file(capsys, tmp_path):
    assert main(["eval", "--submission", str(tmp_path / "none.jsonl"), "--gt", str(VAL_GT)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_tvsum_is_detected_from_per_clip_labels(capsys, tmp_path):
    gt = DATA / "tvsum" / "tvsum_val_release.jsonl"
    if not gt.is_file():
        pytest.skip(f"{gt} is absent")
    sub = tmp_path / "tvsum.jsonl"
    rows = [json.loads(line) for line in gt.read_text().splitlines() if line.strip()]
    sub.write_text(
        "".join(
            json.dumps({"qid": r["qid"], "pred_saliency_scores": [0.0] * len(r["label"])}) + "\n"
            for r in rows
        )
    )
    assert (
        main(["eval", "--submission", str(sub), "--gt", str(gt), "--json", "--plot", str(tmp_path / "h.png")])
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert got["videos"] == 10 and len(got["by_domain"]) == 10 and 0 <= got["mAP"] < 100


def test_per_query_rows_average_to_the_official_numbers(tmp_path, capsys):
    rows_path = tmp_path / "per_query.jsonl"
    args = ["eval", "--submission", str(SAMPLE), "--gt", str(VAL_GT), "--json", "--per-query", str(rows_path)]
    assert main(args) == 0
    brief = json.loads(capsys.readouterr().out)["brief"]
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert len(rows) == 1550 and rows[0]["qid"] == 2579
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    assert float(f"{100 * mean('MR-AP'):.2f}") == brief["MR-full-mAP"]
    assert float(f"{100 * mean('MR-AP@0.5'):.2f}") == brief["MR-full-mAP@0.5"]
    assert float(f"{100 * sum(r['MR-top1-IoU'] >= 0.7 for r in rows) / 1550:.2f}") == brief["MR-full-R1@0.7"]
    assert float(f"{100 * mean('HL-min-VeryGood-AP'):.2f}") == brief["HL-min-VeryGood-mAP"]
    assert float(f"{100 * mean('HL-min-Good-Hit1'):.2f}") == brief["HL-min-Good-Hit1"]
