"""Conversations: refinements of the last answer on synthetic moment lists, and ``momentfinder
chat`` end to end with piped standard input on a generated video (tiny random CLIP + real MiniLM
on the subtitles)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.cli.chat import history_path
from momentfinder.errors import InputError
from momentfinder.pipeline.conversation import Conversation
from momentfinder.types import GroundingResult, Moment, SubtitleSegment, Timeline, VideoInfo

TIMELINE = Timeline.of(50, 2.0)


def M(start, end, score=0.9):  # noqa: N802
    return Moment(float(start), float(end), score)


WORLD = {
    "the dog jumps": [M(40, 44, 0.9), M(10, 14, 0.85), M(70, 72, 0.8), M(60, 68, 0.7)],
    "the bell rings": [M(30, 32, 0.8)],
    "in the kitchen": [M(55, 80, 0.9)],
    "the cat sneezes": [M(50, 52, 0.9)],
}


class FakeFinder:
    def __init__(self):
        self.calls = []

    def ground_features(self, feats, text, top_k=10):
        self.calls.append(text)
        return GroundingResult(text, TIMELINE, list(WORLD.get(text, [])), np.zeros(50), channels=["visual"])


class Feats:
    info = VideoInfo("v.mp4", 100.0, 25.0, 64, 48, True, False)
    notes: list = []


def chat() -> Conversation:
    return Conversation(FakeFinder(), "v.mp4", features=Feats())


def span(answer):
    return None if answer.moment is None else (answer.moment.start, answer.moment.end)


def test_stepping_through_occurrences():
    c = chat()
    assert span(c.ask("the second time the dog jumps")) == (40, 44)
    assert span(c.ask("the one after that")) == (60, 68)
    assert span(c.ask("next")) == (70, 72)
    answer = c.ask("and the next one?")
    assert answer.moment is None and answer.text == "there is no later one"
    assert span(c.ask("the one before that")) == (60, 68)  # from the last moment shown
    assert span(c.ask("previous")) == (40, 44)
    assert span(c.ask("the first one")) == (10, 14)
    assert span(c.ask("the last one")) == (70, 72)
    assert [a.action for a in c.history] == [
        "new",
        "next",
        "next",
        "next",
        "previous",
        "previous",
        "pick",
        "pick",
    ]


def test_other_shorter_longer():
    c = chat()
    assert span(c.ask("the dog jumps")) == (40, 44)
    assert span(c.ask("show the other one")) == (10, 14)  # the next best
    assert span(c.ask("another one")) == (70, 72)
    assert span(c.ask("longer")) == (40, 44)  # longer than 2 s, none overlapping: the best
    assert span(c.ask("longer")) == (60, 68)  # the only one longer than 4 s
    assert c.ask("longer").text == "there is no longer one"
    assert span(c.ask("make it shorter")) == (40, 44)  # shorter than 8 s, none overlapping: the best
    assert c.ask("a different one").text == "there is no other one"  # all four shown


def test_count_and_refinement_reuse_the_last_question():
    finder = FakeFinder()
    c = Conversation(finder, "v.mp4", features=Feats())
    c.ask("the dog jumps")
    answer = c.ask("how many times?")
    assert answer.count == 4 and answer.action == "count" and answer.text.startswith("4 times")
    refined = c.ask("not in the kitchen")
    assert refined.action == "refine" and span(refined) == (40, 44)
    assert all(m.end <= 55 or m.start >= 80 for m in refined.moments)
    assert refined.query.to_json()["root"]["op"] == "not"
    assert finder.calls.count("the dog jumps") == 1  # grounded once per conversation


def test_relative_to_the_moment_shown():
    c = chat()
    c.ask("the bell rings")
    assert span(c.ask("the dog jumps after that")) == (40, 44)
    c.ask("the cat sneezes")
    assert span(c.ask("the dog jumps before that")) == (40, 44)


def test_a_refinement_without_an_answer_is_an_error():
    with pytest.raises(InputError, match="ask a question first"):
        chat().ask("the one after that")
    with pytest.raises(InputError):
        chat().ask("   ")


def test_history_file_location(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == os.path.join(str(tmp_path), "momentfinder", "chat_history")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert history_path().endswith(os.path.join(".cache", "momentfinder", "chat_history"))
    assert history_path("h.txt") == "h.txt"


# -- end to end ----------------------------------------------------------------------------------
LINES = [
    SubtitleSegment(10.0, 14.0, "the dog is barking loudly at the door"),
    SubtitleSegment(22.0, 25.0, "we are making a cup of tea in the kitchen"),
    SubtitleSegment(30.0, 33.0, "the doorbell rings"),
    SubtitleSegment(50.0, 54.0, "the dog is barking loudly at the postman"),
    SubtitleSegment(62.0, 66.0, "time to read the newspaper"),
]


@pytest.fixture(scope="module")
def dog_video(tmp_path_factory) -> str:
    from momentfinder.video.sample import Scene, write_sample_video

    rng = np.random.default_rng(3)
    scenes = [Scene(10.0, tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(8)]
    path = str(tmp_path_factory.mktemp("chat") / "dog.mp4")
    return write_sample_video(path, scenes, size=(64, 48), fps=5, subtitles=LINES)


def run_chat(monkeypatch, capsys, args, text):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["chat", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_chat_with_piped_questions(dog_video, tiny_clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    questions = "\n".join(
        [
            "the second time the dog barks",
            "the one before that",
            "",
            "how many times does the dog bark?",
            "the dog barks after the doorbell rings",
            "show the other one",
            "quit",
            "the doorbell rings",  # after quit: never asked
        ]
    )
    args = [dog_video, "--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "c"), "-q", "--json"]
    code, out, err = run_chat(monkeypatch, capsys, args, questions)
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["action"] for a in answers] == ["new", "previous", "new", "new", "other"]
    starts = [a["moment"]["start"] if a["moment"] else None for a in answers]
    assert starts[0] == 50.0 and starts[1] == 10.0 and starts[3] == 50.0 and starts[4] == 10.0
    assert answers[2]["count"] == 2 and answers[0]["structure"]["root"]["op"] == "ordinal"
    assert not (tmp_path / "state").exists()  # piped input keeps no history


def test_chat_text_output_and_bad_turns(dog_video, tiny_clip, tmp_path, monkeypatch, capsys):
    args = [dog_video, "--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "c"), "-q", "--explain"]
    code, out, err = run_chat(monkeypatch, capsys, args, "the one after that\nthe doorbell rings\n")
    assert code == 0
    assert err.count("momentfinder: error:") == 1 and "ask a question first" in err
    assert "00:00:30.0" in out and '"the doorbell rings"' in out


def test_chat_on_a_missing_video_is_one_error_line(tmp_path, monkeypatch, capsys):
    code, out, err = run_chat(monkeypatch, capsys, [str(tmp_path / "nope.mp4"), "--no-visual"], "x\n")
    assert code == 2 and err.startswith("momentfinder: error:") and len(err.strip().splitlines()) == 1


def test_chat_refuses_llm_options_without_the_llm_parser(dog_video, monkeypatch, capsys):
    code, _, err = run_chat(monkeypatch, capsys, [dog_video, "--parser", "rule", "--llm-url", "http://x"], "")
    assert code == 2 and "--parser llm" in err
