"""The structured form of a question about a video: atomic descriptions joined by temporal
relations, ordinals, counting, negation and duration hints.

A plain caption is one :class:`Atom` (grounded exactly as before). Everything else is a tree:

    "the second time the dog jumps"          Ordinal(2, Atom("the dog jumps"))
    "she comes back after leaving the room"  Relation("after", Atom("she comes back"), Atom("leaving the room"))
    "the person not holding the cup"         Not(Atom("the person"), Atom("the person holding the cup"))
    "how many times does the dog bark"       StructuredQuery(Atom("the dog bark"), ask="count")

The tree is plain data with a JSON form (:meth:`StructuredQuery.to_json` / :func:`from_json`), the
same form the LLM parser is asked to answer in (:data:`JSON_SCHEMA`). What each node *means* on a
video (which moments it selects) is the solver's business: ``pipeline/compose.py`` and
``docs/compositional.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

RELATIONS = ("after", "before", "while", "then")
DURATION_HINTS = ("short", "long")
ASKS = ("moments", "count")
LAST = -1  # Ordinal.n for "the last time"


@dataclass(frozen=True)
class Atom:
    """A description grounded as one caption (a sentence or phrase)."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("an atomic description must be non-empty text")


@dataclass(frozen=True)
class Relation:
    """``target`` related in time to ``anchor``: ``after`` (the first target starting after an
    anchor ends), ``before`` (the last target ending before an anchor starts), ``while`` (the part
    of a target that overlaps an anchor), ``then`` (the anchor followed by the target: the span
    from the anchor's start to the end of the first target after it)."""

    relation: str
    target: Node
    anchor: Node

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r} (one of {', '.join(RELATIONS)})")


@dataclass(frozen=True)
class Ordinal:
    """The ``n``-th occurrence of ``of`` in time order (1 = first, :data:`LAST` = last)."""

    n: int
    of: Node

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n == 0 or self.n < LAST:
            raise ValueError(f"an ordinal is 1, 2, 3... or -1 (last), got {self.n!r}")


@dataclass(frozen=True)
class Not:
    """The stretches where ``subject`` is present but ``excluded`` is not (``subject`` None: the
    whole video)."""

    subject: Node | None
    excluded: Node


@dataclass(frozen=True)
class Duration:
    """``of``'s occurrences that are ``short`` ("briefly") or ``long`` ("for a long time")."""

    hint: str
    of: Node

    def __post_init__(self) -> None:
        if self.hint not in DURATION_HINTS:
            raise ValueError(f"unknown duration hint {self.hint!r} (one of {', '.join(DURATION_HINTS)})")


@dataclass(frozen=True)
class Given:
    """Moments supplied by the caller instead of grounded, e.g. a conversation's last answer
    ("the one after *that*"); ``ref`` names them."""

    ref: str = "previous"


Node = Union[Atom, Relation, Ordinal, Not, Duration, Given]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class StructuredQuery:
    """A parsed question: its tree, what is asked (``moments`` or a ``count``), the text it came
    from and the parser that read it (``rule``, ``llm``, ``none``)."""

    root: Node
    ask: str = "moments"
    text: str = ""
    parser: str = ""

    def __post_init__(self) -> None:
        if self.ask not in ASKS:
            raise ValueError(f"unknown question kind {self.ask!r} (one of {', '.join(ASKS)})")

    @property
    def is_plain(self) -> bool:
        """A single caption asking for moments: grounded exactly like an unparsed query."""
        return isinstance(self.root, Atom) and self.ask == "moments"

    def atoms(self) -> list[str]:
        """The atomic descriptions, in tree order, each once."""
        return list(dict.fromkeys(a.text for a in walk(self.root) if isinstance(a, Atom)))

    def to_json(self) -> dict:
        return {"ask": self.ask, "root": node_to_json(self.root)}

    def explain(self) -> str:
        """An indented, human-readable rendering of the tree."""
        head = f"{self.ask}{f' (parser: {self.parser})' if self.parser else ''}"
        return "\n".join([head, *_explain(self.root, 1)])


def walk(node: Node | None):
    """Every node of the tree, depth first."""
    if node is None:
        return
    yield node
    if isinstance(node, Relation):
        yield from walk(node.target)
        yield from walk(node.anchor)
    elif isinstance(node, (Ordinal, Duration)):
        yield from walk(node.of)
    elif isinstance(node, Not):
        yield from walk(node.subject)
        yield from walk(node.excluded)


def _explain(node: Node | None, depth: int) -> list[str]:
    pad = "  " * depth
    if node is None:
        return [f"{pad}(the whole video)"]
    if isinstance(node, Atom):
        return [f'{pad}"{node.text}"']
    if isinstance(node, Given):
        return [f"{pad}<{node.ref} answer>"]
    if isinstance(node, Relation):
        return [
            f"{pad}{node.relation.upper()}",
            f"{pad}  target:",
            *_explain(node.target, depth + 2),
            f"{pad}  anchor:",
            *_explain(node.anchor, depth + 2),
        ]
    if isinstance(node, Ordinal):
        which = "last" if node.n == LAST else _ordinal_word(node.n)
        return [f"{pad}{which} occurrence of:", *_explain(node.of, depth + 1)]
    if isinstance(node, Duration):
        return [f"{pad}{node.hint} occurrences of:", *_explain(node.of, depth + 1)]
    return [
        f"{pad}NOT",
        f"{pad}  present:",
        *_explain(node.subject, depth + 2),
        f"{pad}  absent:",
        *_explain(node.excluded, depth + 2),
    ]


def _ordinal_word(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- JSON -------------------------------------------------------------------------------------
# One uniform node object (every field present, unused ones null) so the schema is accepted by
# strict structured-output implementations (OpenAI, vLLM, llama.cpp, Ollama), which want every
# property required and no unions of differently shaped objects.
_OPS = ("atom", "after", "before", "while", "then", "ordinal", "not", "duration")

_NODE_SCHEMA = {
    "type": "object",
    "properties": {
        "op": {"type": "string", "enum": list(_OPS)},
        "text": {"type": ["string", "null"]},
        "n": {"type": ["integer", "null"]},
        "hint": {"type": ["string", "null"], "enum": [*DURATION_HINTS, None]},
        "args": {"type": "array", "items": {"$ref": "#/$defs/node"}},
    },
    "required": ["op", "text", "n", "hint", "args"],
    "additionalProperties": False,
}

JSON_SCHEMA: dict = {
    "type": "object",
    "properties": {"ask": {"type": "string", "enum": list(ASKS)}, "root": {"$ref": "#/$defs/node"}},
    "required": ["ask", "root"],
    "additionalProperties": False,
    "$defs": {"node": _NODE_SCHEMA},
}


def node_to_json(node: Node | None) -> dict | None:
    """The uniform JSON node of :data:`JSON_SCHEMA` (``args``: relation → [target, anchor];
    ordinal/duration → [of]; not → [excluded] or [excluded, subject])."""
    if node is None:
        return None
    out: dict = {"op": "", "text": None, "n": None, "hint": None, "args": []}
    if isinstance(node, Atom):
        out.update(op="atom", text=node.text)
    elif isinstance(node, Given):
        out.update(op="given", text=node.ref)
    elif isinstance(node, Relation):
        out.update(op=node.relation, args=[node_to_json(node.target), node_to_json(node.anchor)])
    elif isinstance(node, Ordinal):
        out.update(op="ordinal", n=node.n, args=[node_to_json(node.of)])
    elif isinstance(node, Duration):
        out.update(op="duration", hint=node.hint, args=[node_to_json(node.of)])
    else:
        args = [node_to_json(node.excluded)] + ([node_to_json(node.subject)] if node.subject else [])
        out.update(op="not", args=args)
    return out


def node_from_json(data, depth: int = 0) -> Node:
    """A node from its JSON form; ValueError on anything malformed (the LLM parser's check)."""
    if depth > 12:
        raise ValueError("the query tree is nested too deeply")
    if not isinstance(data, dict):
        raise ValueError(f"a node must be an object, got {type(data).__name__}")
    op = data.get("op")
    args = data.get("args") or []
    if not isinstance(args, list):
        raise ValueError("'args' must be a list")

    def arg(i: int) -> Node:
        if len(args) <= i:
            raise ValueError(f"{op!r} needs {i + 1} argument(s), got {len(args)}")
        return node_from_json(args[i], depth + 1)

    def want(count: int) -> None:
        if len(args) > count:
            raise ValueError(f"{op!r} takes {count} argument(s), got {len(args)}")

    if op == "atom":
        want(0)
        text = data.get("text")
        if not isinstance(text, str):
            raise ValueError("an atom needs its text")
        return Atom(" ".join(text.split()))
    if op in RELATIONS:
        want(2)
        return Relation(op, arg(0), arg(1))
    if op == "ordinal":
        want(1)
        n = data.get("n")
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        return Ordinal(n, arg(0))
    if op == "duration":
        want(1)
        return Duration(data.get("hint"), arg(0))
    if op == "not":
        want(2)
        return Not(arg(1) if len(args) > 1 else None, arg(0))
    if op == "given":
        want(0)
        return Given(str(data.get("text") or "previous"))
    raise ValueError(f"unknown op {op!r} (one of {', '.join(_OPS)})")


def from_json(data, text: str = "", parser: str = "") -> StructuredQuery:
    """A :class:`StructuredQuery` from ``{"ask": ..., "root": {...}}``; ValueError when malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    ask = data.get("ask", "moments")
    return StructuredQuery(node_from_json(data.get("root")), ask, text, parser)


def plain(text: str, parser: str = "none") -> StructuredQuery:
    """The query that grounds ``text`` as one caption."""
    return StructuredQuery(Atom(text), "moments", text, parser)
