"""The compositional solver on synthetic moment lists (no model): each relation, ordinals,
counting, negation, duration hints, occurrence selection and the GroundingResult it returns."""

from __future__ import annotations

import numpy as np
import pytest

from momentfinder.errors import InputError
from momentfinder.pipeline.compose import ComposeConfig, ParserSettings, Solver, exclude, parse_query, relate
from momentfinder.query.structure import Atom, Given, Not, Ordinal, Relation, StructuredQuery
from momentfinder.types import GroundingResult, Moment, Timeline

TIMELINE = Timeline.of(50, 2.0)  # 100 s


def M(start, end, score=0.9, confidence=None):  # noqa: N802
    return Moment(float(start), float(end), score, confidence)


# A video: the dog jumps three times (10-14, 40-44, 70-72), the bell rings at 30-32 and 60-62,
# the man is in view 0-50 and holds a cup 20-30; "a weak thing" only has noise.
WORLD = {
    "the dog jumps": [M(40, 44, 0.9), M(10, 14, 0.85), M(70, 72, 0.8), M(41, 45, 0.7), M(90, 92, 0.1)],
    "the bell rings": [M(30, 32, 0.8), M(60, 62, 0.7)],
    "the man": [M(0, 50, 0.7)],
    "the man holding a cup": [M(20, 30, 0.8)],
    "a weak thing": [M(5, 7, 0.2), M(50, 52, 0.19)],
}


class Recorder:
    def __init__(self, world=WORLD):
        self.world, self.calls = world, []

    def __call__(self, text: str) -> GroundingResult:
        self.calls.append(text)
        moments = list(self.world.get(text, []))
        return GroundingResult(text, TIMELINE, moments, saliency_of(moments), channels=["visual"])


def saliency_of(moments) -> np.ndarray:
    """A curve that holds each moment's score over its clips (the best where they overlap)."""
    curve = np.zeros(TIMELINE.n_clips)
    for m in moments:
        span = slice(int(m.start // 2), int(np.ceil(m.end / 2)))
        curve[span] = np.maximum(curve[span], m.score)
    return curve


def solve(text: str, world=WORLD):
    return Solver(Recorder(world)).solve(parse_query(text))


def spans(moments):
    return [(m.start, m.end) for m in moments]


def test_ordinals_count_in_time_order_among_occurrences():
    assert spans(solve("the first time the dog jumps").moments) == [(10, 14)]
    assert spans(solve("the second time the dog jumps").moments) == [(40, 44)]
    assert spans(solve("when does the dog jumps again?").moments) == [(40, 44)]
    assert solve("the dog jumps again").moments == []  # a caption: "the dog jumps again" is not in the world
    assert spans(solve("the last time the dog jumps").moments) == [(70, 72)]
    assert solve("the fourth time the dog jumps").moments == []  # only three occurrences


def test_counting_merges_overlaps_and_drops_weak_moments():
    answer = solve("how many times does the dog jumps")
    # 41-45 overlaps 40-44 (one jump, found twice); 90-92 is far below the best score
    assert answer.count == 3 and spans(answer.moments) == [(10, 14), (40, 44), (70, 72)]
    assert answer.to_result().count == 3


def test_after_is_the_first_target_after_each_anchor():
    answer = solve("the dog jumps after the bell rings")
    assert spans(answer.moments) == [(40, 44), (70, 72)]  # after 30-32 → 40-44, after 60-62 → 70-72
    assert answer.moments[0].score == pytest.approx((0.9 + 0.8) / 2)
    assert spans(solve("after the bell rings, the dog jumps").moments) == spans(answer.moments)


def test_before_is_the_last_target_before_each_anchor():
    answer = solve("the dog jumps before the bell rings")
    assert spans(answer.moments) == [(10, 14), (40, 44)]  # before 30 → 10-14 (0.825), before 60 → 40-44 (0.8)


def test_then_spans_the_whole_sequence():
    answer = solve("the bell rings then the dog jumps")
    assert spans(answer.moments) == [(30, 44), (60, 72)]


def test_while_is_the_overlap():
    world = dict(WORLD, **{"the music plays": [M(38, 42, 0.6)]})
    assert spans(solve("the dog jumps while the music plays", world).moments) == [(40, 42)]


def test_negation_is_presence_minus_the_excluded_part():
    answer = solve("when is the man not holding a cup?")
    assert spans(answer.moments) == [(0, 20), (30, 50)]
    assert all(m.score == pytest.approx(0.7) for m in answer.moments)


def test_negation_without_subject_covers_the_video():
    answer = solve("not the bell rings")
    assert spans(answer.moments) == [(62, 100), (0, 30), (32, 60)]  # no subject score: the longest first


def test_duration_hints():
    world = dict(WORLD, **{"the man talks": [M(0, 30, 0.9), M(50, 52, 0.85), M(60, 64, 0.8)]})
    assert spans(solve("the man talks briefly", world).moments) == [(50, 52), (60, 64)]
    assert spans(solve("the man talks for a long time", world).moments) == [(0, 30)]
    only_long = dict(WORLD, **{"the man talks": [M(0, 30, 0.9)]})
    assert spans(solve("the man talks briefly", only_long).moments) == [(0, 30)]  # the shortest there is


def test_each_atom_is_grounded_once():
    ground = Recorder()
    Solver(ground).solve(parse_query("the dog jumps after the dog jumps"))
    assert ground.calls == ["the dog jumps"]


def test_nothing_found_is_an_empty_answer():
    assert solve("the dog jumps after the cat sneezes").moments == []
    assert solve("how many times does the cat sneeze").count == 0


def test_confidences_decide_occurrences_when_known():
    world = {"x": [M(0, 2, 5.0, 0.9), M(10, 12, 4.0, 0.3), M(20, 22, 1.0, 0.6)]}
    answer = Solver(Recorder(world)).solve(StructuredQuery(Atom("x"), "count"))
    assert answer.count == 2 and spans(answer.moments) == [(0, 2), (20, 22)]
    strict = Solver(Recorder(world), ComposeConfig(min_confidence=0.95)).solve(
        StructuredQuery(Atom("x"), "count")
    )
    assert strict.count == 0


def test_composed_confidence_is_the_weaker_part():
    targets = [M(10, 12, 0.8, 0.9)]
    anchors = [M(0, 4, 0.6, 0.7)]
    (m,) = relate("after", targets, anchors)
    assert m.confidence == pytest.approx(0.7) and m.evidence == "composed"


def test_given_moments_come_from_the_caller():
    query = StructuredQuery(Relation("after", Atom("the dog jumps"), Given()))
    answer = Solver(Recorder()).solve(query, given={"previous": [M(15, 16)]})
    assert spans(answer.moments) == [(40, 44)]
    with pytest.raises(InputError):
        Solver(Recorder()).solve(query)


def test_alternatives_are_the_focus_occurrences_in_time_order():
    answer = solve("the second time the dog jumps")
    assert spans(answer.alternatives) == [(10, 14), (40, 44), (70, 72)]


def test_result_carries_the_structure():
    result = solve("the second time the dog jumps").to_result(top_k=5)
    assert result.structure["root"]["op"] == "ordinal" and result.channels == ["visual"]
    assert result.to_json()["structure"]["root"]["n"] == 2
    assert "count" not in result.to_json()


def test_exclude_on_edges():
    t = Timeline.of(5, 2.0, duration=9.0)
    assert spans(exclude(None, [], t)) == [(0, 9.0)]
    assert exclude([M(0, 9)], [M(0, 9)], t) == []
    nested = Ordinal(1, Not(Atom("the man"), Atom("the man holding a cup")))
    assert spans(Solver(Recorder()).solve(StructuredQuery(nested)).moments) == [(0, 20)]


def test_parser_settings_are_checked():
    with pytest.raises(InputError, match="llm-url"):
        ParserSettings("llm")
    with pytest.raises(InputError, match="unknown parser"):
        ParserSettings("magic")
    assert parse_query("the dog jumps again", ParserSettings("none")).is_plain
    with pytest.raises(InputError, match="empty"):
        parse_query("   ")
