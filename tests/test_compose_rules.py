"""The rule-based parser on a table of phrasings with the structures they must parse to
(tests/data/compositional_phrasings.tsv), and the structured form's JSON round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from momentfinder.query import RuleParser, StructuredQuery, from_json
from momentfinder.query.structure import (
    JSON_SCHEMA,
    LAST,
    Atom,
    Duration,
    Given,
    Not,
    Ordinal,
    Relation,
    node_from_json,
)

TABLE = Path(__file__).parent / "data" / "compositional_phrasings.tsv"

# The table's notation: Then(first, second) reads in the order events happen.
_NOTATION = {
    "A": Atom,
    "After": lambda t, a: Relation("after", t, a),
    "Before": lambda t, a: Relation("before", t, a),
    "While": lambda t, a: Relation("while", t, a),
    "Then": lambda first, second: Relation("then", second, first),
    "Ord": Ordinal,
    "Not": Not,
    "Short": lambda x: Duration("short", x),
    "Long": lambda x: Duration("long", x),
    "Count": lambda x: ("count", x),
}


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in TABLE.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, expected = line.split("\t")
            rows.append((text, expected))
    return rows


ROWS = _rows()


def test_the_table_is_large_enough():
    assert len(ROWS) >= 150
    assert len({t for t, _ in ROWS}) == len(ROWS)  # no phrasing twice


@pytest.mark.parametrize(("text", "expected"), ROWS, ids=[t[:50] for t, _ in ROWS])
def test_rule_parser_table(text, expected):
    parsed = RuleParser().parse(text)
    assert parsed.parser == "rule" and parsed.text == " ".join(text.split())
    if expected == "Plain":
        assert parsed.is_plain
        assert parsed.root == Atom(" ".join(text.split()))  # the caption exactly as given
        return
    want = eval(expected, {"__builtins__": {}}, _NOTATION)  # noqa: S307 (the test table)
    ask, root = want if isinstance(want, tuple) else ("moments", want)
    assert (parsed.ask, parsed.root) == (ask, root)


@pytest.mark.parametrize(("text", "_"), ROWS[::7])
def test_json_round_trip(text, _):
    parsed = RuleParser().parse(text)
    again = from_json(parsed.to_json(), parsed.text, parsed.parser)
    assert again == parsed


def test_given_round_trips_and_explain_names_every_part():
    q = StructuredQuery(Relation("after", Atom("the cat runs"), Given()), text="x")
    assert from_json(q.to_json(), "x") == q
    text = StructuredQuery(Ordinal(LAST, Not(Atom("a"), Atom("b"))), "count").explain()
    assert "last occurrence" in text and '"a"' in text and '"b"' in text and text.startswith("count")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"op": "atom"},
        {"op": "atom", "text": "  "},
        {"op": "atom", "text": 3},
        {"op": "jump", "text": "x"},
        {"op": "after", "args": [{"op": "atom", "text": "x"}]},
        {"op": "after", "args": [{"op": "atom", "text": "x"}] * 3},
        {"op": "ordinal", "n": 0, "args": [{"op": "atom", "text": "x"}]},
        {"op": "ordinal", "n": "2", "args": [{"op": "atom", "text": "x"}]},
        {"op": "ordinal", "n": True, "args": [{"op": "atom", "text": "x"}]},
        {"op": "duration", "hint": "medium", "args": [{"op": "atom", "text": "x"}]},
        {"op": "not", "args": []},
        {"op": "atom", "text": "x", "args": "y"},
    ],
)
def test_malformed_nodes_are_refused(bad):
    with pytest.raises(ValueError):
        node_from_json(bad)


def test_deep_nesting_is_refused():
    node = {"op": "atom", "text": "x"}
    for _ in range(40):
        node = {"op": "ordinal", "n": 1, "args": [node]}
    with pytest.raises(ValueError, match="deeply"):
        node_from_json(node)


def test_unknown_question_kind_is_refused():
    with pytest.raises(ValueError):
        from_json({"ask": "why", "root": {"op": "atom", "text": "x"}})


def test_schema_lists_every_field_as_required():
    node = JSON_SCHEMA["$defs"]["node"]
    assert set(node["required"]) == set(node["properties"])
    assert node["additionalProperties"] is False
