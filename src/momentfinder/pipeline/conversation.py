"""A conversation about one video: questions in turn, each able to refine the last answer.

    chat = Conversation(finder, "movie.mp4")
    chat.ask("the second time the dog jumps").moment     # Moment(40.0, 44.0, ...)
    chat.ask("the one after that").moment                # the dog's next jump
    chat.ask("not in the kitchen")                       # the last question, minus the kitchen

The video is read once; every atomic description is grounded once per conversation (the solver
keeps them). What a turn can say about the last answer (:meth:`Conversation.ask`):

* ``the one after that`` / ``next`` / ``later``: the next occurrence in time of the last answer's
  main description; ``the one before that`` / ``previous`` / ``earlier``: the one before;
* ``show the other one`` / ``another one``: the next-best answer not shown yet;
* ``shorter`` / ``longer``: a shorter (longer) candidate, preferably overlapping the shown one;
* ``the first one`` / ``the second one`` / ``the last one``: that occurrence in time order;
* ``not in the kitchen`` / ``without the dog`` / ``but not X`` / ``except X``: the last question
  with the stretches showing X removed;
* ``X after that`` / ``X before that``: X relative to the moment shown;
* ``how many times?``: the count of the last question;
* anything else is a new question, parsed like ``ground``'s queries.

A face (``momentfinder chat``, later a server's chat endpoint) sends text and presents the typed
:class:`ChatAnswer`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import InputError
from ..query.structure import Atom, Given, Not, Relation, StructuredQuery
from ..types import Moment
from ..video.cut import format_time
from .compose import ComposeConfig, ComposedAnswer, ParserSettings, QueryReader, Solver

ACTIONS = ("new", "next", "previous", "other", "shorter", "longer", "pick", "refine", "count")

_LEAD = (
    r"^(?:(?:and|ok|okay|now|so|then|please|hmm|what about|how about|show me|show|give me|go to)\b[,\s]*)*"
)
_TAIL = r"\s*[?.!]*$"
_NEXT = re.compile(
    _LEAD
    + r"(?:the\s+)?(?:one\s+after\s+(?:that|this|it)|next(?:\s+one|\s+time)?|after\s+that|later(?:\s+one)?|"
    r"the\s+following\s+one|following\s+one)" + _TAIL,
    re.I,
)
_PREVIOUS = re.compile(
    _LEAD + r"(?:the\s+)?(?:one\s+before\s+(?:that|this|it)|previous(?:\s+one|\s+time)?|before\s+that|"
    r"earlier(?:\s+one)?|one\s+before)" + _TAIL,
    re.I,
)
_OTHER = re.compile(
    _LEAD + r"(?:the\s+)?(?:other\s+one|other|another(?:\s+one)?|a\s+different\s+one|different\s+one|"
    r"not\s+(?:that|this)\s+one|something\s+else|the\s+other\s+moment)" + _TAIL,
    re.I,
)
_SHORTER = re.compile(
    _LEAD + r"(?:make\s+it\s+|a\s+|something\s+|one\s+)?(?:shorter|briefer)(?:\s+one)?" + _TAIL, re.I
)
_LONGER = re.compile(_LEAD + r"(?:make\s+it\s+|a\s+|something\s+|one\s+)?longer(?:\s+one)?" + _TAIL, re.I)
_PICK = re.compile(
    _LEAD + r"the\s+(?P<ord>first|second|third|fourth|fifth|last|\d+(?:st|nd|rd|th))\s+(?:one|time)" + _TAIL,
    re.I,
)
_COUNT = re.compile(_LEAD + r"how\s+(?:many(?:\s+times)?|often)" + _TAIL, re.I)
_REFINE = re.compile(_LEAD + r"(?:but\s+)?(?:not|without|except|excluding)\s+(?P<rest>.+?)" + _TAIL, re.I)
_RELATIVE = re.compile(
    r"^(?P<rest>.+?)\s+(?P<rel>after|before|while|during)\s+(?:that|this|it)" + _TAIL, re.I
)
_ORD_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}


@dataclass
class ChatAnswer:
    """One turn's answer: ``moment`` (the one shown, seconds; None when nothing matches),
    ``moments`` (the question's answers, ranked), ``count`` for a counting question, the question
    as solved (``query``), which ``action`` the turn was (:data:`ACTIONS`) and ``text`` for people."""

    text: str
    moment: Moment | None
    moments: list[Moment]
    query: StructuredQuery
    action: str
    count: int | None = None
    alternatives: list[Moment] = field(default_factory=list)

    def to_json(self) -> dict:
        out: dict = {
            "action": self.action,
            "text": self.text,
            "moment": self.moment.to_json() if self.moment is not None else None,
            "moments": [m.to_json() for m in self.moments],
            "structure": self.query.to_json(),
        }
        if self.count is not None:
            out["count"] = self.count
        return out


class Conversation:
    """Questions about one video in turn (see module docstring)."""

    def __init__(
        self,
        finder,
        video: str | os.PathLike,
        subtitles: str | os.PathLike | None = None,
        parser: ParserSettings | None = None,
        config: ComposeConfig | None = None,
        features=None,
    ):
        self.finder = finder
        self.features = features if features is not None else finder.extract(video, subtitles)
        cfg = config or ComposeConfig()
        self.solver = Solver(
            lambda text: finder.ground_features(self.features, text, top_k=cfg.atom_top_k), cfg
        )
        self.reader = QueryReader(parser)
        self.history: list[ChatAnswer] = []
        self._last: ComposedAnswer | None = None
        self._shown: Moment | None = None
        self._seen: list[Moment] = []

    @property
    def notes(self) -> list[str]:
        """Why a channel is missing for this video (for people)."""
        return list(self.features.notes)

    def ask(self, text: str) -> ChatAnswer:
        """Answer one turn; the context of earlier turns decides what "that", "shorter"... mean."""
        text = " ".join(str(text).split())
        if not text:
            raise InputError("say what to look for, or refine the last answer (e.g. 'the one after that')")
        if self._last is None and _refers_back(text):
            raise InputError(
                f"{text!r} refines an earlier answer, and there is none yet: ask a question first"
            )
        answer = self._refinement(text) if self._last is not None else None
        if answer is None:
            answer = self._new(self.reader.parse(text), "new")
        self.history.append(answer)
        return answer

    # -- turns ---------------------------------------------------------------------------------
    def _new(self, query: StructuredQuery, action: str, given: dict | None = None) -> ChatAnswer:
        solved = self.solver.solve(query, given)
        self._last, self._seen = solved, []
        moment = solved.moments[0] if solved.moments else None
        return self._show(moment, action)

    def _refinement(self, text: str) -> ChatAnswer | None:
        last, shown = self._last, self._shown
        if _NEXT.match(text) or _PREVIOUS.match(text):
            forward = bool(_NEXT.match(text))
            return self._show(_step(self._pool(), shown, forward), "next" if forward else "previous")
        if _OTHER.match(text):
            unseen = [
                m for m in [*last.moments, *_by_score(last.alternatives)] if not _seen_in(m, self._seen)
            ]
            return self._show(unseen[0] if unseen else None, "other")
        if _SHORTER.match(text) or _LONGER.match(text):
            return self._show(
                _resized(self._pool(), shown, shorter=bool(_SHORTER.match(text))),
                "shorter" if _SHORTER.match(text) else "longer",
            )
        if m := _PICK.match(text):
            word = m.group("ord").lower()
            n = _ORD_WORDS.get(word) or int(re.sub(r"\D", "", word))
            pool = sorted(self._pool(), key=lambda x: x.start)
            index = n - 1 if n > 0 else len(pool) + n
            return self._show(pool[index] if 0 <= index < len(pool) else None, "pick")
        if _COUNT.match(text):
            return self._new(StructuredQuery(last.query.root, "count", text, last.query.parser), "count")
        if m := _REFINE.match(text):
            excluded = Atom(m.group("rest"))
            root = Not(last.query.root, excluded)
            return self._new(StructuredQuery(root, "moments", text, "context"), "refine")
        if (m := _RELATIVE.match(text)) and shown is not None:
            relation = {"during": "while"}.get(m.group("rel").lower(), m.group("rel").lower())
            target = self.reader.parse(m.group("rest")).root
            query = StructuredQuery(Relation(relation, target, Given()), "moments", text, "context")
            return self._new(query, "new", given={"previous": [shown]})
        return None

    def _pool(self) -> list[Moment]:
        """The last question's candidates: its answers and its main description's occurrences."""
        last = self._last
        pool = list(last.alternatives)
        pool += [m for m in last.moments if not any(_same(m, p) for p in pool)]
        return pool

    def _show(self, moment: Moment | None, action: str) -> ChatAnswer:
        last = self._last
        if moment is not None:
            self._shown = moment
            self._seen.append(moment)
        count = last.count if action in ("new", "count", "refine") else None
        return ChatAnswer(
            _reply(last, moment, action, count),
            moment,
            list(last.moments),
            last.query,
            action,
            count,
            list(last.alternatives),
        )


def _refers_back(text: str) -> bool:
    simple = (_NEXT, _PREVIOUS, _OTHER, _SHORTER, _LONGER, _PICK, _COUNT)
    return any(p.match(text) for p in simple) or bool(_RELATIVE.match(text))


def _step(pool: list[Moment], shown: Moment | None, forward: bool) -> Moment | None:
    if shown is None:
        return None
    ordered = sorted(pool, key=lambda m: m.start)
    if forward:
        return next((m for m in ordered if m.start > shown.start + 1e-6 and not _same(m, shown)), None)
    return next((m for m in reversed(ordered) if m.start < shown.start - 1e-6 and not _same(m, shown)), None)


def _resized(pool: list[Moment], shown: Moment | None, shorter: bool) -> Moment | None:
    if shown is None:
        return None
    fits = [
        m for m in pool if (m.length < shown.length - 1e-6 if shorter else m.length > shown.length + 1e-6)
    ]
    overlapping = [m for m in fits if min(m.end, shown.end) > max(m.start, shown.start)]
    return max(overlapping or fits, key=lambda m: m.score, default=None)


def _by_score(moments: list[Moment]) -> list[Moment]:
    return sorted(moments, key=lambda m: -m.score)


def _same(a: Moment, b: Moment) -> bool:
    return abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6


def _seen_in(m: Moment, seen: list[Moment]) -> bool:
    return any(_same(m, s) for s in seen)


def _span(m: Moment) -> str:
    confidence = f", confidence {m.confidence:.2f}" if m.confidence is not None else ""
    return f"{format_time(m.start)}–{format_time(m.end)} ({m.length:.1f} s{confidence})"


_NONE = {
    "next": "there is no later one",
    "previous": "there is no earlier one",
    "other": "there is no other one",
    "shorter": "there is no shorter one",
    "longer": "there is no longer one",
    "pick": "there are not that many",
}


def _reply(answer: ComposedAnswer, moment: Moment | None, action: str, count: int | None) -> str:
    if count is not None:
        times = "time" if count == 1 else "times"
        found = sorted(answer.moments, key=lambda m: m.start)
        listed = ", ".join(f"{format_time(m.start)}–{format_time(m.end)}" for m in found[:10])
        return f"{count} {times}" + (f": {listed}" if listed else "")
    if moment is None:
        return _NONE.get(action, "no matching moment")
    return _span(moment)
