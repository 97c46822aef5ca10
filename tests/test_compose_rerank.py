"""VLM re-ranking ("Number it"): reading answers, the re-ordering, numbered frames, the API model
against a local OpenAI-compatible server (good, malformed and slow answers), a tiny random local
LLaVA directory built in the test, and ``ground --rerank-vlm`` end to end."""

from __future__ import annotations

import base64
import io
import json
import logging

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.pipeline.rerank import RerankSettings, VLMReranker, build_reranker, read_answer
from momentfinder.types import GroundingResult, Moment, Timeline

from .test_compose_llm import ChatServer


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("3-7", (3, 7)),
        ("Frames 7 to 3.", (3, 7)),
        ("START-END: 2-2", (2, 2)),
        ("5", (5, 5)),
        ("none", None),
        ("No.", None),
        ("It does not happen in these frames.", None),
        ("not sure", "malformed"),
        ("", "malformed"),
        ("0-4", "malformed"),
        ("3-40", "malformed"),
        ("the dog", "malformed"),
    ],
)
def test_read_answer(answer, expected):
    assert read_answer(answer, 12) == expected


class Scripted:
    """A VisionChat whose answers are given in turn; it keeps what it was shown."""

    name = "scripted"

    def __init__(self, answers):
        self.answers, self.seen = list(answers), []

    def answer(self, images, prompt):
        self.seen.append((images, prompt))
        return self.answers.pop(0)


def result_on(video_duration=30.0):
    moments = [Moment(2, 6, 0.9, 0.8, "visual"), Moment(12, 16, 0.8), Moment(22, 26, 0.7), Moment(8, 9, 0.1)]
    return GroundingResult("a green screen", Timeline.covering(video_duration, 2.0), moments, np.zeros(15))


def test_rerank_orders_confirmed_unknown_rest_rejected(colour_video, caplog):
    model = Scripted(["none", "4-9", "maybe?"])
    settings = RerankSettings("scripted", top=3, frames=10, frame_size=64)
    with caplog.at_level(logging.WARNING, logger="momentfinder.pipeline.rerank"):
        out = VLMReranker(model, settings).rerank(colour_video, result_on())
    # moment 2 (12-16 s) asked with a 2 s margin: 10 frames over 10-18 s, 0.8 s apart; frames 4-9
    assert [(round(m.start, 2), round(m.end, 2)) for m in out.moments] == [
        (12.4, 17.2),
        (22, 26),
        (8, 9),
        (2, 6),
    ]
    assert out.moments[0].evidence == "vlm" and out.moments[-1].evidence == "visual"
    assert "'maybe?' for moment 3 names no frames" in caplog.text
    images, prompt = model.seen[1]
    assert len(images) == 10 and '"a green screen"' in prompt and "1 to 10" in prompt
    frame = images[0]
    assert frame[0:2, 0:2].max() == 0 and frame[:12, :12].min(axis=2).max() > 200  # white on a black box
    assert frame[40, 40, 1] > 150 and frame[40, 40, 0] < 100  # the green scene
    assert len(model.seen) == 3  # the fourth moment is not asked about


def test_api_model_sends_numbered_frames(colour_video, caplog):
    server = ChatServer()
    try:
        server.reply = lambda body: "frames 2-3"
        settings = RerankSettings("vision-model", url=server.url, top=1, frames=4, frame_size=48, timeout=5)
        out = build_reranker(settings).rerank(colour_video, result_on())
        content = server.requests[0]["messages"][0]["content"]
        urls = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
        assert len(urls) == 4 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
        from PIL import Image

        assert Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1]))).size[1] == 48
        assert out.moments[0].evidence == "visual+vlm"  # confirmed and refined: frames 2-3 of 0-8 s
        assert (out.moments[0].start, out.moments[0].end) == (2.0, 6.0)
        server.mode = "slow"
        settings = RerankSettings("vision-model", url=server.url, top=3, frames=4, frame_size=48, timeout=0.5)
        with caplog.at_level(logging.WARNING, logger="momentfinder.pipeline.rerank"):
            kept = build_reranker(settings).rerank(colour_video, result_on())
        assert kept.moments == result_on().moments and "no answer within 0.5 s" in caplog.text
        assert len(server.requests) == 2  # a model that is down is asked once, not once per moment
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from momentfinder.encoders.random_models import save_random_vlm

    return save_random_vlm(str(tmp_path_factory.mktemp("tiny-vlm")))


def test_local_model_directory(tiny_vlm, colour_video):
    reranker = build_reranker(RerankSettings(tiny_vlm, top=2, frames=3, frame_size=32), device="cpu")
    assert isinstance(reranker.model.answer([np.zeros((32, 32, 3), np.uint8)], "which frame?"), str)
    before = result_on()
    out = reranker.rerank(colour_video, before)
    assert len(out.moments) == len(before.moments)
    assert all(0 <= m.start <= m.end <= 30 for m in out.moments)


def test_ground_rerank_end_to_end(colour_video, tiny_clip, tiny_vlm, tmp_path, capsys):
    args = [
        "ground",
        colour_video,
        "a green screen",
        "--visual-model",
        tiny_clip,
        "--cache-dir",
        str(tmp_path),
    ]
    code = main([*args, "--json", "-q"])
    plain = json.loads(capsys.readouterr().out)
    code = main(
        [*args, "--json", "-q", "--rerank-vlm", tiny_vlm, "--rerank-top", "2", "--rerank-frames", "3"]
    )
    reranked = json.loads(capsys.readouterr().out)
    assert code == 0 and len(reranked["pred_relevant_windows"]) == len(plain["pred_relevant_windows"])


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--rerank-vlm", "/nonexistent/vlm"], 3, "cannot load the vision-language"),
        (["--vlm-url", "http://127.0.0.1:9/v1"], 2, "--vlm-url needs --rerank-vlm"),
    ],
)
def test_ground_rerank_bad_options(colour_video, capsys, extra, code, message):
    assert main(["ground", colour_video, "x", "--no-visual", *extra]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_frames_at_any_times_in_any_order(colour_video, tmp_path):
    from momentfinder.errors import MediaError
    from momentfinder.video.frames import frames_at

    times = [25.5, 1.0, 15.0, 29.99, 0.0, 9.9, 10.1, 100.0, -1.0]
    frames = frames_at(colour_video, times, size=None)
    colours = [int(np.argmax(f[60, 80])) for f in frames]  # 0 red, 1 green, 2 blue
    assert colours == [2, 0, 1, 2, 0, 0, 1, 2, 0]
    assert frames[0].shape == (120, 160, 3) and frames_at(colour_video, [5.0], size=32)[0].shape[0] == 32
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError):
        frames_at(broken, [1.0])
