"""``ground`` and ``search`` with compositional questions end to end (generated video, tiny random
CLIP, real MiniLM on the subtitles), the unchanged path of plain captions, --explain, the LLM
options and their fallback, and the Python API."""

from __future__ import annotations

import json

import pytest

from momentfinder.cli import main
from momentfinder.pipeline import MomentFinder
from momentfinder.pipeline.compose import ParserSettings
from momentfinder.query.structure import Atom, Ordinal, StructuredQuery

from .test_compose_chat import dog_video  # noqa: F401 (the fixture)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def common(tiny_clip, tmp_path):
    return ["--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "cache"), "-q"]


def test_plain_captions_are_grounded_exactly_as_before(dog_video, common, capsys):  # noqa: F811
    queries = ["the doorbell rings", "a woman in a red dress dances on the stage"]
    _, parsed, _ = run(capsys, "ground", dog_video, *queries, *common, "--json")
    _, raw, _ = run(capsys, "ground", dog_video, *queries, *common, "--json", "--parser", "none")
    assert json.loads(parsed) == json.loads(raw)
    assert all("structure" not in r for r in json.loads(parsed))


def test_ground_a_compositional_question(dog_video, common, capsys):  # noqa: F811
    code, out, _ = run(
        capsys,
        "ground",
        dog_video,
        "the second time the dog barks",
        "how many times does the dog bark",
        *common,
        "--json",
    )
    assert code == 0
    second, count = json.loads(out)
    assert second["pred_relevant_windows"][0][:2] == [50.0, 54.0]
    assert second["structure"]["root"] == {
        "op": "ordinal",
        "text": None,
        "n": 2,
        "hint": None,
        "args": [{"op": "atom", "text": "the dog barks", "n": None, "hint": None, "args": []}],
    }
    assert count["count"] == 2


def test_explain_prints_the_structure(dog_video, common, capsys):  # noqa: F811
    code, out, _ = run(
        capsys, "ground", dog_video, "the dog barks after the doorbell rings", *common, "--explain"
    )
    assert code == 0
    assert '"the dog barks after the doorbell rings" parsed as moments (parser: rule)' in out
    assert "AFTER" in out and '"the doorbell rings"' in out and "00:00:50.0" in out
    _, out, _ = run(capsys, "ground", dog_video, "the doorbell rings", *common, "--explain", "--json")
    assert json.loads(out)["structure"]["root"]["op"] == "atom"  # plain ones too, with --explain


def test_an_unreachable_llm_falls_back_to_the_rules(dog_video, tiny_clip, tmp_path, capsys):  # noqa: F811
    args = ["--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "c"), "--json"]
    llm = ["--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--llm-timeout", "2"]
    code, out, err = run(capsys, "ground", dog_video, "the second time the dog barks", *args, *llm)
    assert code == 0 and "LLM parser: cannot reach" in err and "rule-based parser" in err
    assert json.loads(out)["pred_relevant_windows"][0][:2] == [50.0, 54.0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parser", "llm"], "needs --llm-url and --llm-model"),
        (["--parser", "none", "--llm-model", "x"], "need --parser llm"),
    ],
)
def test_bad_parser_options(dog_video, capsys, argv, message):  # noqa: F811
    code, _, err = run(capsys, "ground", dog_video, "x", "--no-visual", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_non_positive_timeout_is_a_usage_error(dog_video, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exit_info:
        main(["ground", dog_video, "x", "--llm-timeout", "0"])
    assert exit_info.value.code == 2 and "must be positive" in capsys.readouterr().err


def test_python_api(dog_video, tiny_clip, tmp_path):  # noqa: F811
    finder = MomentFinder(visual_model=tiny_clip, cache_dir=str(tmp_path / "c"), progress=False)
    result = finder.ground(dog_video, "the last time the dog barks", top_k=3)
    assert result.structure["root"]["n"] == -1 and (result.moments[0].start, result.moments[0].end) == (
        50.0,
        54.0,
    )
    given = finder.ground(dog_video, StructuredQuery(Ordinal(1, Atom("the dog barks"))))
    assert given.moments[0].start == 10.0
    plain = finder.ground(dog_video, "the dog barks again", parser=ParserSettings("none"))
    assert plain.structure is None


def test_library_search_composes_within_each_video(dog_video, common, tmp_path, capsys):  # noqa: F811
    db = str(tmp_path / "lib.db")
    assert run(capsys, "-q", "index", "add", dog_video, "--db", db, *common[:-1])[0] == 0
    code, out, _ = run(capsys, "search", "the second time the dog barks", "--db", db, "--json", "--explain")
    assert code == 0
    data = json.loads(out)
    assert data["structure"]["root"]["op"] == "ordinal"
    assert [(h["start"], h["end"]) for h in data["hits"]][:1] == [(50.0, 54.0)]
    _, text, _ = run(capsys, "search", "the second time the dog barks", "--db", db, "--explain")
    assert "parsed as moments (parser: rule)" in text
