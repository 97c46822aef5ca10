"""Query decomposition: a sentence → the phrases a moment must match together (sub-queries).

"a man in a red shirt opens the door" names a person, what he wears and what he does; the
zero-shot grounder asks that a moment matches several of these parts, not only the strongest
one. Each part is embedded on its own with the encoder's text tower, so it lies in the joint
space like any sentence (per-token hidden states of a text encoder other than the pooled one are
not trained to align with images).

:class:`KeyPhraseDecomposer` is the training-free default: the candidate phrases of RAKE (Rose
et al., "Automatic keyword extraction from individual documents", 2010), i.e. the maximal runs of
words between stop words and punctuation. Another decomposer (an LLM that rewrites the query into
sub-events) only has to implement :class:`QueryDecomposer`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Protocol, runtime_checkable

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”/|]+")


@runtime_checkable
class QueryDecomposer(Protocol):
    def decompose(self, text: str) -> list[str]:
        """The sub-query phrases of ``text``, in order (empty when it has no separable parts)."""
        ...


@cache
def load_stop_words() -> frozenset[str]:
    """The bundled English stop-word list (``configs/stopwords_en.txt``)."""
    text = resources.files("momentfinder").joinpath("configs/stopwords_en.txt").read_text("utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


class KeyPhraseDecomposer:
    """RAKE candidate phrases: runs of words between stop words and punctuation.

    ``max_parts``: at most this many phrases, the longest (most words) first when there are more,
    returned in sentence order. ``stop_words``: None = the bundled English list.
    """

    def __init__(self, max_parts: int = 4, stop_words: frozenset[str] | None = None):
        if max_parts < 1:
            raise ValueError("max_parts must be at least 1")
        self.max_parts = max_parts
        self.stop_words = load_stop_words() if stop_words is None else stop_words

    def decompose(self, text: str) -> list[str]:
        phrases: list[str] = []
        for chunk in _BREAK.split(text):
            run: list[str] = []
            for word in _WORD.findall(chunk):
                if word.lower() in self.stop_words:
                    if run:
                        phrases.append(" ".join(run))
                    run = []
                else:
                    run.append(word)
            if run:
                phrases.append(" ".join(run))
        unique = list(dict.fromkeys(phrases))  # the same phrase twice is one part
        if len(unique) > self.max_parts:
            keep = sorted(range(len(unique)), key=lambda i: (-len(unique[i].split()), i))[: self.max_parts]
            unique = [unique[i] for i in sorted(keep)]
        return unique
