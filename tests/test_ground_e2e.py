"""End to end on real generated videos: real decoding, real MiniLM, tiny CLIP/SigLIP via --visual-model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.pipeline import MomentFinder
from momentfinder.store import FeatureDirectory
from momentfinder.types import GroundingResult, Moment, SubtitleSegment
from momentfinder.video.sample import Scene, write_sample_video

from .conftest import shared_path

# A four-minute video: twelve 20 s scenes, each with one subtitle line at a known time.
LINES = [
    "Good morning everyone and welcome to the show.",
    "Today we are going to repair an old bicycle.",
    "First take the front wheel off the frame.",
    "The tyre has a small hole, so we patch it with glue.",
    "Now we pump air into the tyre until it is firm.",
    "The chain is rusty and needs a good amount of oil.",
    "Let us adjust the brakes so they stop quickly.",
    "My dog is barking because the mail carrier arrived.",
    "Next we raise the seat to the right height.",
    "A quick ride around the park to test everything.",
    "It started raining, so we went back inside.",
    "Thank you for watching and see you next time.",
]
PARAPHRASES = {
    3: "fixing a puncture in the tire",
    7: "the puppy barks at the postman",
    10: "rain begins to fall outside",
}


@pytest.fixture(scope="module")
def talk_video(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("talk")
    rng = np.random.default_rng(1)
    scenes = [Scene(20.0, tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in LINES]
    subs = [SubtitleSegment(20.0 * i + 4.0, 20.0 * i + 12.0, text) for i, text in enumerate(LINES)]
    return write_sample_video(str(folder / "bicycle.mp4"), scenes, size=(96, 64), fps=5, subtitles=subs)


def write_annotations(path, queries: list[str], scenes: bool, first_qid: int = 0):
    """QVHighlights-style records on the bicycle video: query ``i`` happens in scene ``i`` (or never)."""
    with open(path, "w") as f:
        for i, text in enumerate(queries):
            windows = [[20 * i, 20 * i + 20]] if scenes else []
            record = {
                "qid": first_qid + i,
                "query": text,
                "vid": "bicycle",
                "duration": 240,
                "relevant_windows": windows,
            }
            f.write(json.dumps(record) + "\n")
    return path


def overlaps_line(moment: Moment, index: int) -> bool:
    start, end = 20.0 * index + 4.0, 20.0 * index + 12.0
    return moment.start < end and moment.end > start


@pytest.mark.parametrize("line", sorted(PARAPHRASES))
def test_paraphrased_query_finds_its_subtitle_line(talk_video, tiny_clip, tmp_path, line):
    finder = MomentFinder(visual_model=tiny_clip, cache_dir=str(tmp_path), progress=False)
    result = finder.ground(talk_video, PARAPHRASES[line], top_k=5)
    assert isinstance(result, GroundingResult)
    assert result.channels == ["visual", "subtitles"]
    assert overlaps_line(result.moments[0], line), (result.moments[0], line)
    assert len(result.saliency) == 120  # 240 s / 2 s clips
    assert int(np.argmax(result.saliency)) // 10 == line  # the curve peaks in that scene too


def test_second_query_reuses_cached_features(talk_video, tiny_clip, tmp_path, monkeypatch):
    finder = MomentFinder(visual_model=tiny_clip, cache_dir=str(tmp_path), progress=False)
    first = finder.ground(talk_video, "the dog barks")
    from momentfinder.channels import VisualChannel

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(VisualChannel, "extract", no_decoding)
    fresh = MomentFinder(visual_model=tiny_clip, cache_dir=str(tmp_path), progress=False)
    again = fresh.ground(talk_video, "the dog barks")
    assert again.moments == first.moments
    with pytest.raises(AssertionError, match="decoded again"):
        MomentFinder(visual_model=tiny_clip, cache_dir=str(tmp_path), progress=False, clip_len=1.0).ground(
            talk_video, "the dog barks"
        )


def test_charades_video_json(tiny_clip, tmp_path, capsys):
    charades = shared_path("univtg", "charades.mp4")
    rc = main(
        [
            "ground",
            charades,
            "a person opens a door",
            "--visual-model",
            tiny_clip,
            "--json",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "a person opens a door"
    assert out["duration"] == pytest.approx(30.74, abs=0.05)
    assert out["channels"] == ["visual"]
    assert out["subqueries"] == ["person opens", "door"]  # matched together (an AND)
    assert 1 <= len(out["pred_relevant_windows"]) <= 5
    for start, end, score in out["pred_relevant_windows"]:
        assert 0.0 <= start < end <= out["duration"] and np.isfinite(score)
    assert len(out["pred_saliency_scores"]) == 16


def test_cli_table_plot_export_and_siglip(talk_video, tiny_siglip, tmp_path, capsys):
    plot, export = tmp_path / "curve.png", tmp_path / "clips"
    args = ["ground", talk_video, PARAPHRASES[7], "--visual-model", tiny_siglip, "--top-k", "2"]
    rc = main(args + ["--plot", str(plot), "--export", str(export), "--cache-dir", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "channels: visual, subtitles" in out and "00:02:" in out  # line 7 is at 2:24-2:32
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    clips = sorted(os.listdir(export))
    assert len(clips) == 2 and clips[0].startswith("bicycle_01_")


def test_several_queries_give_a_json_list(talk_video, tiny_clip, tmp_path, capsys):
    rc = main(
        [
            "ground",
            talk_video,
            "the dog barks",
            "it rains",
            "--visual-model",
            tiny_clip,
            "--json",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["query"] for o in out] == ["the dog barks", "it rains"]


def test_subtitles_only_when_the_visual_model_is_unavailable(talk_video, tmp_path, capsys):
    rc = main(
        [
            "ground",
            talk_video,
            PARAPHRASES[10],
            "--visual-model",
            "no-such-org/no-model",
            "--allow-missing-channels",
            "--json",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert "visual channel off: cannot load visual model 'no-such-org/no-model'" in captured.err
    assert "continuing with subtitles" in captured.err
    out = json.loads(captured.out)
    assert out["channels"] == ["subtitles"]
    start, end, _ = out["pred_relevant_windows"][0]
    assert start < 212.0 and end > 204.0


def test_extract_writes_the_moment_detr_layout(talk_video, tiny_clip, tmp_path, capsys):
    out = tmp_path / "feats"
    queries = ["--query", "the dog barks", "--query", "a man in a red shirt opens the door"]
    args = ["extract", talk_video, "--out", str(out), *queries]
    assert main([*args, "--visual-model", tiny_clip, "--cache-dir", str(tmp_path)]) == 0
    with np.load(out / "clip_features" / "bicycle.npz") as f:
        assert f["features"].shape == (120, 16)
    with np.load(out / "clip_text_features" / "qid0.npz") as f:
        assert f["pooler_output"].shape == (16,) and f["last_hidden_state"].shape[1] == 16
        assert "parts" not in f  # one phrase ("dog barks"): no sub-queries
    # sub-query phrases, encoded on their own, travel with the query features
    q = FeatureDirectory(out).query_features(1, "a man in a red shirt opens the door")
    assert q.part_texts == ("man", "red shirt opens", "door") and q.parts.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(q.parts, axis=1), 1.0, rtol=1e-5)
    manifest = [json.loads(line) for line in (out / "videos.jsonl").read_text().splitlines()]
    assert manifest[0]["vid"] == "bicycle" and manifest[0]["n_clips"] == 120
    # extracting again (from the cache) replaces the video's manifest entry instead of adding one
    assert main([*args, "--visual-model", tiny_clip, "--cache-dir", str(tmp_path)]) == 0
    assert len((out / "videos.jsonl").read_text().splitlines()) == 1


def test_demo_runs_offline(tmp_path, capsys):
    from momentfinder.demo import main as demo_main

    assert (
        demo_main(
            [
                "--out",
                str(tmp_path),
                "--visual-model",
                "no-such-org/no-model",
                "--video",
                str(tmp_path / "none.mp4"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "channels: subtitles" in out
    results = json.loads((tmp_path / "result.json").read_text())
    first = results[0]["pred_relevant_windows"][0]
    assert first[0] < 47 and first[1] > 31  # the spaghetti line, 31-47 s
    for result in results:  # no moment repeated as a window inside or around a better one
        windows = result["pred_relevant_windows"]
        for i, (s1, e1, _) in enumerate(windows):
            for s2, e2, _ in windows[i + 1 :]:
                assert max(0.0, min(e1, e2) - max(s1, s2)) / min(e1 - s1, e2 - s2) <= 0.75, windows
    assert "skipped" in out and "no such file" in out


def test_trained_model_grounds_a_raw_video(talk_video, tiny_clip, tiny_siglip, tmp_path, capsys):
    """extract → train → ground --model: the checkpoint names its encoder, and a different one is refused."""
    ann = write_annotations(tmp_path / "ann.jsonl", LINES, scenes=True)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "model: {hidden_dim: 16, dim_feedforward: 32, nheads: 2, num_queries: 4}\ntrain: {epochs: 1, batch_size: 4}\n"
    )
    feats, run = tmp_path / "feats", tmp_path / "run"
    common = ["--cache-dir", str(tmp_path), "-q"]
    assert (
        main(
            [
                "extract",
                talk_video,
                "--out",
                str(feats),
                "--queries",
                str(ann),
                "--visual-model",
                tiny_clip,
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--features",
                str(feats),
                "--train",
                str(ann),
                "--val",
                str(ann),
                "--out",
                str(run),
                "--config",
                str(cfg),
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    ckpt = str(run / "best.ckpt")
    from momentfinder.grounding.detr import feature_spec

    spec = feature_spec(ckpt)
    assert (spec.visual_model, spec.text_model) == (tiny_clip, tiny_clip)  # recorded from videos.jsonl
    assert main(["ground", talk_video, LINES[3], "--model", ckpt, "--json", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == ["visual"] and "no_moment_score" in out
    assert len(out["pred_saliency_scores"]) == 120
    for start, end, _ in out["pred_relevant_windows"]:
        assert 0 <= start <= end <= 240
    rc = main(["ground", talk_video, LINES[3], "--model", ckpt, "--visual-model", tiny_siglip, *common])
    assert rc == 2 and "was trained on features of" in capsys.readouterr().err


def test_calibrated_no_moment_decision_on_video(talk_video, tiny_clip, tmp_path, capsys):
    """extract → predict --calibrate-on → ground --calibration: the visual-only path can reject."""
    pos = write_annotations(tmp_path / "val.jsonl", LINES, scenes=True)
    negatives = ["a cat sleeps on the sofa", "fireworks over the harbour", "a chess game"]
    neg = write_annotations(tmp_path / "val_negative.jsonl", negatives, scenes=False, first_qid=100)
    feats, cal = tmp_path / "feats", tmp_path / "cal.json"
    common = ["--cache-dir", str(tmp_path), "-q", "--visual-model", tiny_clip]
    assert main(
        ["extract", talk_video, "--out", str(feats), "--queries", str(pos), "--queries", str(neg), *common]
    ) in (0,)
    capsys.readouterr()
    rc = main(
        [
            "predict",
            "--features",
            str(feats),
            "--annotations",
            str(pos),
            "--out",
            str(tmp_path / "p.jsonl"),
            "--calibrate-on",
            str(pos),
            str(neg),
            "--save-calibration",
            str(cal),
        ]
    )
    assert rc == 0
    capsys.readouterr()
    ground = [
        "ground",
        talk_video,
        "a chess game",
        "--no-subtitles",
        "--json",
        "--calibration",
        str(cal),
        *common,
    ]
    assert main(ground) == 0
    out = json.loads(capsys.readouterr().out)
    assert "no_moment_score" in out
    # the calibration records the encoder `extract` wrote in videos.jsonl, the one `ground` uses
    data = json.loads(cal.read_text())
    assert data["encoder"] == tiny_clip and data["encoder_dim"] > 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**data, "encoder": "another/encoder"}))
    assert main([str(other) if a == str(cal) else a for a in ground]) == 2
    assert "was made for features of 'another/encoder'" in capsys.readouterr().err
    # a calibration that demands overwhelming evidence rejects: empty windows, and the table says so
    data["feature_threshold"] = 1e9
    cal.write_text(json.dumps(data))
    assert main(ground) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pred_relevant_windows"] == [] and out["no_moment_score"] >= 0.5
    assert main([a for a in ground if a != "--json"]) == 0
    assert "no matching moment" in capsys.readouterr().out
    # with a matching subtitle line fused in, the curve has no calibrated scale: ranked, never rejected
    assert main(["ground", talk_video, PARAPHRASES[7], "--json", "--calibration", str(cal), *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == ["visual", "subtitles"] and out["pred_relevant_windows"]


def test_honest_scores_subtitles(talk_video, tmp_path, capsys):
    """Subtitle-only grounding: a line-exact moment with a confidence for a paraphrase, a lower
    confidence for a loosely related line, and "no matching moment" when no line matches."""
    base = ["ground", talk_video, "--no-visual", "--json", "--cache-dir", str(tmp_path)]
    assert main([*base, PARAPHRASES[3], "the weather outside"]) == 0
    exact, loose = json.loads(capsys.readouterr().out)
    top = exact["moments"][0]
    assert (top["start"], top["end"]) == (64.0, 72.0)  # the line's own times, not the 2 s grid
    assert top["evidence"] == "subtitles" and 0.9 <= top["confidence"] <= 1.0
    assert all(0.0 <= m["confidence"] <= 1.0 for m in exact["moments"] + loose["moments"])
    assert loose["moments"][0]["confidence"] < top["confidence"] or not loose["moments"]
    assert main([*base, "a volcano erupts on a distant planet"]) == 0
    nothing = json.loads(capsys.readouterr().out)
    assert nothing["pred_relevant_windows"] == [] and nothing["no_moment_score"] == 1.0
    assert main(["ground", talk_video, "--no-visual", "a volcano erupts on a distant planet"]) == 0
    assert "no matching moment" in capsys.readouterr().out


def test_honest_scores_visual(talk_video, tiny_clip, tmp_path, capsys):
    """Every visual moment has a confidence in [0, 1] (decoy queries in the same video), shown in
    the table and the JSON beside the raw score."""
    finder = MomentFinder(
        visual_model=tiny_clip, cache_dir=str(tmp_path), progress=False, use_subtitles=False
    )
    result = finder.ground(talk_video, "a red scene", top_k=3)
    assert result.moments and all(
        0.0 <= m.confidence <= 1.0 and m.evidence == "visual" for m in result.moments
    )
    assert [m["confidence"] for m in result.to_json()["moments"]] == [
        round(m.confidence, 3) for m in result.moments
    ]
    from momentfinder.pipeline.output import format_result

    assert "confidence" in format_result(result).splitlines()[2]


def test_times_never_print_sixty_seconds():
    from momentfinder.video.cut import format_time

    assert format_time(119.96) == "00:02:00.0" and format_time(3599.97) == "01:00:00.0"
    assert format_time(59.94) == "00:00:59.9"
