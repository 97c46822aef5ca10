"""Compositional questions: parse a sentence into a :class:`~momentfinder.query.StructuredQuery`,
ground each atomic description once, and compose the moment lists.

    finder = MomentFinder(...)
    feats = finder.extract("movie.mp4")
    answer = solve(finder, feats, parse_query("the second time the dog jumps"))
    answer.moments[0]  # the second occurrence, in seconds

Semantics (``docs/compositional.md`` has worked examples). An atom's **occurrences** are its
grounded moments that pass :class:`ComposeConfig`'s presence test (confidence, or score relative
to the best moment's), overlapping ones merged into the better-ranked one. Then:

* ``Y after X``: for each X occurrence, the first Y occurrence starting at or after its end
  (``tolerance`` seconds of overlap allowed); the pairs are ranked by the mean of their scores.
* ``Y before X``: for each X, the last Y ending at or before its start.
* ``Y while X``: each Y occurrence's overlap with an X occurrence (the overlap is the answer).
* ``X then Y``: the span from an X to the end of the first Y after it (the whole sequence).
* ``the n-th X``: X's occurrences in time order, the n-th (``-1``: the last); none when fewer.
* ``how many times X``: the number of X occurrences.
* ``S not P``: the clips where S occurs (the whole video for no S) and P does not, as runs of
  clips; ranked by the S score they lie in, then by length.
* ``X briefly`` / ``for a long time``: X's occurrences no longer than ``short_s`` / at least
  ``long_s`` seconds; when none is, the shortest / longest one.

The solver never calls a model itself: it receives a function text → GroundingResult (the finder
on cached features, a grounder on a feature directory in ``bench/compositional_synth.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError
from ..query import (
    LLMParser,
    LLMSettings,
    RuleParser,
    StructuredQuery,
    plain,
)
from ..query.structure import Atom, Duration, Given, Node, Not, Ordinal, Relation
from ..types import GroundingResult, Moment, Timeline

log = logging.getLogger(__name__)

PARSERS = ("rule", "llm", "none")
DEFAULT_PARSER = "rule"


@dataclass(frozen=True)
class ComposeConfig:
    """How the solver decides which grounded moments are occurrences, and its duration limits.

    ``min_confidence``: a moment with a confidence (the finder's decoy yardstick) occurs when its
    confidence is at least this. ``min_relative_score``: a moment without one occurs when its score
    is at least this share of the best moment's (0.5: chosen on the synthetic val split by
    ``bench/compositional_synth.py``).
    ``tolerance``: seconds an "after"/"before" pair may overlap (a clip's edge). ``atom_top_k``:
    moments grounded per atom."""

    min_confidence: float = 0.5
    min_relative_score: float = 0.5
    tolerance: float = 1.0
    short_s: float = 4.0
    long_s: float = 10.0
    atom_top_k: int = 20


@dataclass
class ComposedAnswer:
    """What a structured question selects: ``moments`` ranked best first (the answer), ``count``
    for a counting question, ``alternatives`` (other moments matching the question's main
    description, time order: what a conversation steps through), and every atom's grounding."""

    query: StructuredQuery
    moments: list[Moment]
    timeline: Timeline
    count: int | None = None
    alternatives: list[Moment] = field(default_factory=list)
    atoms: dict[str, GroundingResult] = field(default_factory=dict)

    def to_result(self, top_k: int | None = None) -> GroundingResult:
        """A :class:`GroundingResult` (the faces' common currency): the answer's moments, the main
        atom's saliency, the parsed structure and the count."""
        focus = _focus_atom(self.query.root)
        base = self.atoms.get(focus) if focus else None
        saliency = base.saliency if base is not None else np.zeros(self.timeline.n_clips)
        channels = list(dict.fromkeys(c for r in self.atoms.values() for c in r.channels))
        video = next((r.video for r in self.atoms.values() if r.video), "")
        return GroundingResult(
            self.query.text,
            self.timeline,
            list(self.moments[:top_k] if top_k else self.moments),
            saliency,
            channels=channels,
            video=video,
            structure=self.query.to_json(),
            count=self.count,
        )


AtomGrounder = Callable[[str], GroundingResult]


class Solver:
    """Evaluates structured queries against one video (see module docstring). Each atom is grounded
    once per solver, however often it appears (a conversation keeps one solver per video)."""

    def __init__(self, ground_atom: AtomGrounder, config: ComposeConfig | None = None):
        self._ground = ground_atom
        self.config = config or ComposeConfig()
        self.grounded: dict[str, GroundingResult] = {}
        self.timeline: Timeline | None = None

    def solve(self, query: StructuredQuery, given: dict[str, list[Moment]] | None = None) -> ComposedAnswer:
        given = given or {}
        used: dict[str, GroundingResult] = {}
        moments = self._eval(query.root, given, used)
        if self.timeline is None:  # a tree of Given nodes only
            raise InputError("the question names nothing to look for")
        focus = _focus(query.root)
        alternatives = sorted(self._eval(focus, given, used), key=lambda m: m.start) if focus else []
        count = len(moments) if query.ask == "count" else None
        if query.ask == "count":
            moments = sorted(moments, key=lambda m: m.start)
        return ComposedAnswer(query, moments, self.timeline, count, alternatives, used)

    # -- nodes ---------------------------------------------------------------------------------
    def atom(self, text: str) -> GroundingResult:
        if text not in self.grounded:
            result = self._ground(text)
            self.grounded[text] = result
            if self.timeline is None:
                self.timeline = result.timeline
        return self.grounded[text]

    def occurrences(self, result: GroundingResult) -> list[Moment]:
        """The moments of one grounding that count as occurrences, best first, no two overlapping
        by more than half the shorter one."""
        cfg = self.config
        moments = result.moments
        if not moments:
            return []
        if all(m.confidence is not None for m in moments):
            present = [m for m in moments if m.confidence >= cfg.min_confidence]
        else:  # the grounder's scores: a share of the best one (from 0, or the worst when negative)
            best = max(m.score for m in moments)
            low = min(0.0, min(m.score for m in moments))
            threshold = low + cfg.min_relative_score * (best - low)
            present = [m for m in moments if m.score >= threshold - 1e-12]
        kept: list[Moment] = []
        for m in present:
            if all(_overlap(m, k) <= 0.5 * min(m.length, k.length) for k in kept):
                kept.append(m)
        return kept

    def _eval(self, node: Node | None, given: dict, used: dict) -> list[Moment]:
        cfg = self.config
        if isinstance(node, Atom):
            result = self.atom(node.text)
            used[node.text] = result
            return self.occurrences(result)
        if isinstance(node, Given):
            if node.ref not in given:
                raise InputError(f"nothing to refer to as the {node.ref} answer")
            return list(given[node.ref])
        if isinstance(node, Ordinal):
            found = sorted(self._eval(node.of, given, used), key=lambda m: m.start)
            index = node.n - 1 if node.n > 0 else len(found) + node.n
            return [found[index]] if 0 <= index < len(found) else []
        if isinstance(node, Duration):
            found = self._eval(node.of, given, used)
            if node.hint == "short":
                fit = [m for m in found if m.length <= cfg.short_s + 1e-9]
                return fit or sorted(found, key=lambda m: m.length)[:1]
            fit = [m for m in found if m.length >= cfg.long_s - 1e-9]
            return fit or sorted(found, key=lambda m: -m.length)[:1]
        if isinstance(node, Relation):
            targets = self._eval(node.target, given, used)
            anchors = self._eval(node.anchor, given, used)
            return relate(node.relation, targets, anchors, cfg.tolerance)
        if isinstance(node, Not):
            subject = self._eval(node.subject, given, used) if node.subject is not None else None
            excluded = self._eval(node.excluded, given, used)
            if self.timeline is None:
                raise InputError("the question names nothing to look for")
            return exclude(subject, excluded, self.timeline)
        raise TypeError(f"not a query node: {node!r}")


def relate(
    relation: str, targets: list[Moment], anchors: list[Moment], tolerance: float = 1.0
) -> list[Moment]:
    """Compose two moment lists by a temporal relation (module docstring); best first."""
    pairs: list[tuple[float, Moment]] = []
    by_start = sorted(targets, key=lambda m: m.start)
    for a in anchors:
        if relation in ("after", "then"):
            t = next((t for t in by_start if t.start >= a.end - tolerance and t.start >= a.start), None)
            if t is None:
                continue
            moment = _joined(t, a) if relation == "after" else _joined(t, a, a.start, max(t.end, a.end))
            pairs.append((_mean(t.score, a.score), moment))
        elif relation == "before":
            t = next((t for t in reversed(by_start) if t.end <= a.start + tolerance and t.end <= a.end), None)
            if t is not None:
                pairs.append((_mean(t.score, a.score), _joined(t, a)))
        else:  # while: the overlaps
            for t in by_start:
                start, end = max(t.start, a.start), min(t.end, a.end)
                if end > start:
                    pairs.append((_mean(t.score, a.score), _joined(t, a, start, end)))
    pairs.sort(key=lambda p: -p[0])
    out: list[Moment] = []
    for _, m in pairs:  # the same moment reached from two anchors is one answer
        if not any(abs(m.start - o.start) < 1e-6 and abs(m.end - o.end) < 1e-6 for o in out):
            out.append(m)
    return out


def exclude(subject: list[Moment] | None, excluded: list[Moment], timeline: Timeline) -> list[Moment]:
    """The runs of clips inside ``subject`` (None: everywhere) and outside ``excluded``, seconds;
    ranked by the score of the subject moment they lie in, then by length."""
    n, clip = timeline.n_clips, timeline.clip_len
    starts = np.arange(n) * clip
    centres = np.minimum(starts + clip / 2, timeline.duration)
    inside = np.ones(n, bool) if subject is None else _mask(subject, centres)
    keep = inside & ~_mask(excluded, centres)
    out = []
    for s, e in _runs(keep):
        start, end = float(starts[s]), float(min(e * clip, timeline.duration))
        if subject is None:
            score, confidence = 0.0, None
        else:
            host = max(
                (m for m in subject if m.start <= centres[s] < m.end), key=lambda m: m.score, default=None
            )
            score = host.score if host is not None else 0.0
            confidence = host.confidence if host is not None else None
        out.append(Moment(start, end, score, confidence, "composed"))
    return sorted(out, key=lambda m: (-m.score, -m.length, m.start))


def _mask(moments: list[Moment], centres: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(centres), bool)
    for m in moments:
        mask |= (centres >= m.start) & (centres < m.end)
    return mask


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _joined(t: Moment, a: Moment, start: float | None = None, end: float | None = None) -> Moment:
    confidences = [c for c in (t.confidence, a.confidence) if c is not None]
    return Moment(
        t.start if start is None else start,
        t.end if end is None else end,
        _mean(t.score, a.score),
        min(confidences) if len(confidences) == 2 else None,
        "composed",
    )


def _mean(a: float, b: float) -> float:
    return 0.5 * (float(a) + float(b))


def _overlap(a: Moment, b: Moment) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))


def _focus(node: Node | None) -> Node | None:
    """The node whose occurrences the answer is chosen among (the "main" description)."""
    if isinstance(node, (Ordinal, Duration)):
        return _focus(node.of)
    if isinstance(node, Relation):
        return _focus(node.target)
    return node


def focus_text(query: StructuredQuery) -> str:
    """The main description of a question (what a library search retrieves videos by)."""
    return _focus_atom(query.root) or (query.atoms() or [query.text])[0]


def _focus_atom(node: Node | None) -> str | None:
    node = _focus(node)
    if isinstance(node, Not):
        return _focus_atom(node.subject) if node.subject is not None else _focus_atom(node.excluded)
    return node.text if isinstance(node, Atom) else None


# -- parsing (the faces' way in: they do not import query/) ------------------------------------
@dataclass(frozen=True)
class ParserSettings:
    """Which parser reads questions: ``rule`` (offline, default), ``llm`` (an OpenAI-compatible
    chat API at ``llm_url`` serving ``llm_model``; the rule parser on any failure) or ``none``
    (every question is one caption)."""

    parser: str = DEFAULT_PARSER
    llm_url: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 20.0
    llm_api_key: str | None = None  # None: $MOMENTFINDER_LLM_API_KEY, then $OPENAI_API_KEY

    def __post_init__(self) -> None:
        if self.parser not in PARSERS:
            raise InputError(f"unknown parser {self.parser!r} (one of {', '.join(PARSERS)})")
        if self.parser == "llm" and not (self.llm_url and self.llm_model):
            raise InputError("the llm parser needs --llm-url and --llm-model")


class QueryReader:
    """Text → :class:`StructuredQuery` with the configured parser (see :class:`ParserSettings`)."""

    def __init__(self, settings: ParserSettings | None = None):
        self.settings = settings or ParserSettings()
        s = self.settings
        self._rules = RuleParser()
        self._llm = (
            LLMParser(LLMSettings(s.llm_url, s.llm_model, s.llm_timeout, s.llm_api_key), fallback=self._rules)
            if s.parser == "llm"
            else None
        )

    def parse(self, text: str) -> StructuredQuery:
        text = " ".join(str(text).split())
        if not text:
            raise InputError('the query is empty: say what happens, e.g. "a man opens the door"')
        if self.settings.parser == "none":
            return plain(text)
        if self._llm is not None:
            return self._llm.parse(text)
        return self._rules.parse(text)


def parse_query(text: str, settings: ParserSettings | None = None) -> StructuredQuery:
    """Parse one question (the rule parser by default)."""
    return QueryReader(settings).parse(text)


def read_query(query: str | StructuredQuery, settings: ParserSettings | None = None) -> StructuredQuery:
    """A query as the faces pass it: a :class:`StructuredQuery` as given, text checked and parsed."""
    from .finder import validate_query

    if isinstance(query, StructuredQuery):
        return query
    return parse_query(validate_query(query), settings)


def solve(finder, feats, query: StructuredQuery, config: ComposeConfig | None = None) -> ComposedAnswer:
    """Answer a structured query on one video's extracted features (``finder.ground_features``
    per atom, so the video is decoded once)."""
    cfg = config or ComposeConfig()
    return Solver(lambda text: finder.ground_features(feats, text, top_k=cfg.atom_top_k), cfg).solve(query)


def answer_result(finder, feats, query: StructuredQuery, top_k: int, config: ComposeConfig | None = None):
    """A :class:`GroundingResult` for any parsed query: a plain caption takes the unchanged
    single-query path (``finder.ground_features``), anything else the solver."""
    if query.is_plain:
        return finder.ground_features(feats, query.root.text, top_k=top_k)
    answer = solve(finder, feats, query, config)
    result = answer.to_result(top_k)
    result.video = feats.info.path
    return result


def with_moments(answer: ComposedAnswer, moments: list[Moment]) -> ComposedAnswer:
    """The same answer with other moments (a conversation's refinement)."""
    return replace(answer, moments=list(moments))
