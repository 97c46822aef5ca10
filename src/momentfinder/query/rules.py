"""The offline rule-based parser: common English patterns → :class:`StructuredQuery`.

Read in this order, each rule handing its parts back to the parser (so they nest):

1. counting: "how many times does X", "how often X", "count the times X"; then a leading
   ordinal, which governs the rest ("the second time X after Y" = the second of the Xs after a Y)
2. sequences and temporal relations, split at the first connector outside the atoms:
   "first X, then Y" / "X and then Y" / "X followed by Y" / "X then the Y..." (then; a bare
   "then" before a verb only in a question: in a caption "the man then begins" is an adverb); "after X, Y" / "Y after X" /
   "Y once X" (after); "before X, Y" / "Y before X" (before); "while X, Y" / "Y while X" /
   "Y during X" (while)
3. ordinals: "the second time X", "X for the last time", "the 3rd occurrence of X", "X again"
   (the second time; in a question only: in a caption "again" refers to an earlier sentence), "the second X" (X of at most three words: "the second goal")
4. duration hints: "briefly", "for a short time", "for a long time", "for a while"...
5. negation: "S is not P" / "S isn't P" / "S not P" (present: S, absent: "S P"), "S without P"
   (absent: "S with P"), "S but not P" / "S except (when) P" (absent: P)

A sentence that no rule matches is returned **unchanged** as one atom (the query text exactly as
given), so plain captions are grounded as before. Inside a composed question the atoms lose
question words ("when does", "show me") and trailing punctuation.
"""

from __future__ import annotations

import re

from .structure import LAST, Atom, Duration, Node, Not, Ordinal, Relation, StructuredQuery

_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "last": LAST, "final": LAST,
}  # fmt: skip
_ORD = (
    r"(?P<ord>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final|\d+(?:st|nd|rd|th))"
)
_QUESTION = re.compile(
    r"^(?:(?:and|so|ok|okay|now|please|hey)\b[,\s]*)*"
    r"(?:(?:can you |could you |please )?(?:show me|find me|find|show|give me|tell me|locate|search for|look for)\s+)?"
    r"(?:(?:exactly |precisely )?(?:when|at what (?:point|time|moment)|what time|where in the video|where)\s+"
    r"(?:exactly\s+)?(?:(?:do|does|did|is|are|was|were|will|has|have|had)\s+)?)?"
    r"(?:(?:the )?(?:moments?|parts?|times?|scenes?|clips?|segments?)\s+(?:when|where|that|in which)\s+)?",
    re.IGNORECASE,
)
_COUNT = re.compile(
    r"^(?:how many times|how often|count (?:the )?(?:times|number of times)(?: that| when)?|"
    r"(?:the )?number of times|how many occurrences of)\s+(?:(?:do|does|did|is|are|was|were|has|have)\s+)?(?P<rest>.+)$",
    re.IGNORECASE,
)
# leading connectors: "after X, Y" (the comma separates the anchor from the target)
_LEADING = re.compile(
    r"^(?P<conn>right after|just after|soon after|after|once|as soon as|right before|just before|"
    r"shortly before|before|while|during|whilst|first)\s+(?P<a>[^,]+?),\s*(?:and\s+)?(?:then\s+)?(?P<b>.+)$",
    re.IGNORECASE,
)
_LEAD_RELATION = {
    "right after": "after", "just after": "after", "soon after": "after", "after": "after", "once": "after",
    "as soon as": "after", "right before": "before", "just before": "before", "shortly before": "before",
    "before": "before", "while": "while", "during": "while", "whilst": "while", "first": "then",
}  # fmt: skip
# a bare "X then Y" is a sequence only when Y names its subject ("the man then begins..." in a
# caption is an adverb): "the dog jumps then the cat runs"
_SUBJECT_WORD = r"(?:the|a|an|his|her|their|its|my|our|he|she|they|it|we|i|you|someone|somebody|people|everyone|everybody)\b"
# infix connectors, by priority: the sequence words split first ("X then Y after Z" = (X then Y) after Z
# is rarer than X then (Y after Z); splitting at "then" first gives the latter).
_INFIX = [
    ("then", re.compile(r"(?:,?\s+and then\s+|,\s*then\s+|\s+then\s+(?=" + _SUBJECT_WORD + r")|\.\s+then\s+|,?\s+followed by\s+|,?\s+and afterwards\s+|,?\s+and later\s+)", re.I)),
    ("after", re.compile(r"(?:,?\s+(?:right |just |soon |shortly |immediately )?after\s+|,?\s+as soon as\s+|\s+once\s+)", re.I)),
    ("before", re.compile(r",?\s+(?:right |just |shortly |immediately )?before\s+", re.I)),
    ("while", re.compile(r",?\s+(?:while|whilst|during|as long as)\s+", re.I)),
]  # fmt: skip
# in a question ("when does she wave then leave?") a bare "then" is a sequence
_THEN_IN_QUESTION = re.compile(
    r"(?:,?\s+and then\s+|,\s*then\s+|\s+then\s+|\.\s+then\s+|,?\s+followed by\s+|,?\s+and afterwards\s+|"
    r",?\s+and later\s+)",
    re.I,
)
_ORDINAL_PATTERNS = [
    re.compile(rf"^(?:the\s+|for the\s+)?{_ORD}\s+(?:time|occurrence|instance|appearance)s?\s+(?:(?:that|when|where|of)\s+)?(?P<rest>.+)$", re.I),
    re.compile(rf"^(?P<rest>.+?),?\s+(?:for\s+)?the\s+{_ORD}\s+(?:time|occurrence)$", re.I),
]  # fmt: skip
_AGAIN = re.compile(r"^(?P<rest>.+?)\s+again$", re.I)
_ORD_NOUN = re.compile(rf"^the\s+{_ORD}\s+(?P<rest>\S+(?:\s+\S+){{0,2}})$", re.I)
_DURATION = [
    ("short", re.compile(r"\b(?:briefly|momentarily|for a (?:short|brief) (?:time|while|moment)|for a (?:moment|second|few seconds)|for a bit)\b", re.I)),
    ("long", re.compile(r"\b(?:for (?:a|quite a) long (?:time|while)|for ages|for a while|for long|at length|for an extended (?:time|period))\b", re.I)),
]  # fmt: skip
_AUX = r"(?:is|are|was|were|does|do|did|has|have|can|will)"
_NEG = [
    # "S is not P", "S isn't P", "S doesn't P", "S not P"
    re.compile(
        rf"^(?P<s>.+?)\s+(?:(?:{_AUX})\s+not|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|hasn't|haven't|"
        r"can't|cannot|won't|not|no longer|never)\s+(?P<p>.+)$",
        re.I,
    ),
]
_WITHOUT = re.compile(r"^(?P<s>.+?)\s+without\s+(?P<p>.+)$", re.I)
_EXCEPT = re.compile(
    r"^(?P<s>.+?),?\s+(?:but not|and not|except when|except while|except)\s+(?P<p>.+)$", re.I
)
_NOT_LEADING = re.compile(r"^(?:not|never)\s+(?P<p>.+)$", re.I)


class RuleParser:
    """Parse English questions into :class:`StructuredQuery` with the rules of the module docstring."""

    name = "rule"

    def parse(self, text: str) -> StructuredQuery:
        original = " ".join(text.split())
        body = _strip_question(original)
        count = _COUNT.match(body)
        if count:
            root = self._node(_strip_question(count.group("rest")), question=True)
            return StructuredQuery(root, "count", original, self.name)
        question = _QUESTION.match(original).end() > 0 or original.endswith("?")
        root = self._node(body, question=question)
        if isinstance(root, Atom):  # no rule matched: the caption exactly as given
            return StructuredQuery(Atom(original), "moments", original, self.name)
        return StructuredQuery(root, "moments", original, self.name)

    def _node(self, text: str, question: bool = False) -> Node:
        text = _clean(text)
        lead = _LEADING.match(text)
        if lead:
            relation = _LEAD_RELATION[lead.group("conn").lower()]
            a, b = self._node(lead.group("a"), question), self._node(lead.group("b"), question)
            return Relation(
                relation, b, a
            )  # "after A, B": target B, anchor A; "first A, then B": B follows A
        m = _ORDINAL_PATTERNS[0].match(text)  # "the second time X after Y": the ordinal governs
        if m:
            return Ordinal(_ordinal(m.group("ord")), self._node(m.group("rest"), question))
        for relation, pattern in _INFIX:
            parts = _split(_THEN_IN_QUESTION if relation == "then" and question else pattern, text)
            if parts is not None:
                left, right = parts
                if relation == "then":
                    return Relation("then", self._node(right, question), self._node(left, question))
                return Relation(relation, self._node(left, question), self._node(right, question))
        m = _ORDINAL_PATTERNS[1].match(text)
        if m:
            return Ordinal(_ordinal(m.group("ord")), self._node(m.group("rest"), question))
        m = _AGAIN.match(text) if question else None  # in a caption "again" refers to an earlier sentence
        if m:
            return Ordinal(2, self._node(m.group("rest"), question))
        m = _ORD_NOUN.match(text)
        if m:
            return Ordinal(_ordinal(m.group("ord")), Atom(_clean(m.group("rest"))))
        for hint, pattern in _DURATION:
            if pattern.search(text):
                rest = _clean(pattern.sub(" ", text))
                if rest:
                    return Duration(hint, self._node(rest, question))
        return self._negation(text, question)

    def _negation(self, text: str, question: bool) -> Node:
        m = _EXCEPT.match(text)
        if m:
            return Not(
                self._node(m.group("s"), question), self._node(_strip_question(m.group("p")), question)
            )
        m = _WITHOUT.match(text)
        if m:
            subject = _clean(m.group("s"))
            return Not(Atom(subject), Atom(f"{subject} with {_clean(m.group('p'))}"))
        m = _NOT_LEADING.match(text)
        if m:
            return Not(None, Atom(_clean(m.group("p"))))
        m = _NEG[0].match(text)
        if m and _is_subject(m.group("s")):
            subject, predicate = _clean(m.group("s")), _clean(m.group("p"))
            return Not(Atom(subject), Atom(f"{subject} {predicate}"))
        return Atom(text)


def _split(pattern: re.Pattern, text: str) -> tuple[str, str] | None:
    """``text`` split at the first match of ``pattern`` with words on both sides, or None."""
    for m in pattern.finditer(text):
        left, right = _clean(text[: m.start()]), _clean(text[m.end() :])
        if left and right:
            return left, right
    return None


def _ordinal(word: str) -> int:
    word = word.lower()
    return _ORDINALS[word] if word in _ORDINALS else int(re.sub(r"\D", "", word))


def _strip_question(text: str) -> str:
    text = _clean(text)
    stripped = _QUESTION.sub("", text, count=1)
    return _clean(stripped) or text


def _clean(text: str) -> str:
    """Words without surrounding spaces, commas, "and"/"then" left over by a split, or end punctuation."""
    text = " ".join(text.split())
    text = re.sub(r"^(?:and|then|but|so|,)\s+", "", text, flags=re.I)
    return text.strip(" ,;:.?!\"'")


_NOT_SUBJECTS = {"do", "does", "did", "is", "are", "was", "were", "when", "why", "what", "it", "there"}


def _is_subject(text: str) -> bool:
    """A plausible subject for "S is not P": a few words, not a bare auxiliary or question word."""
    words = text.lower().split()
    return 0 < len(words) <= 6 and words[-1] not in _NOT_SUBJECTS
