"""Query decomposition into sub-query phrases (RAKE candidate phrases)."""

from __future__ import annotations

import json

import pytest

from momentfinder.query import KeyPhraseDecomposer, QueryDecomposer, load_stop_words

from .conftest import shared_path


def test_phrases_are_split_at_stop_words_and_punctuation():
    k = KeyPhraseDecomposer()
    assert isinstance(k, QueryDecomposer)
    assert k.decompose("a man opens the door") == ["man opens", "door"]
    assert k.decompose("A man in a red shirt opens the door.") == ["man", "red shirt opens", "door"]
    assert k.decompose("dog, cat; dog") == ["dog", "cat"]  # a repeated phrase is one part
    assert k.decompose("a chef's knife cuts tomatoes") == ["chef's knife cuts tomatoes"]
    assert k.decompose("the") == [] and k.decompose("") == [] and k.decompose("  ...  ") == []
    assert k.decompose("Une femme ouvre la porte") == ["Une femme ouvre la porte"]  # English list only


def test_at_most_max_parts_the_longest_in_sentence_order():
    k = KeyPhraseDecomposer(max_parts=3)
    text = "Woman talks to the camera while holding her baby, then walks away"
    assert KeyPhraseDecomposer().decompose(text) == ["Woman talks", "camera", "holding", "walks away"]
    assert k.decompose(text) == ["Woman talks", "camera", "walks away"]
    with pytest.raises(ValueError):
        KeyPhraseDecomposer(max_parts=0)


def test_stop_word_list_is_bundled():
    words = load_stop_words()
    assert {"a", "the", "in", "while", "her"} <= words and "door" not in words and len(words) > 100


def test_real_queries_mostly_have_two_to_four_parts():
    """On the QVHighlights val queries: most split into 2-4 parts and no part is a stop word."""
    path = shared_path("qvhighlights", "highlight_val_release.jsonl")
    with open(path, encoding="utf-8") as f:
        queries = [json.loads(line)["query"] for line in f]
    k, stop = KeyPhraseDecomposer(), load_stop_words()
    counts = [len(k.decompose(q)) for q in queries]
    assert sum(2 <= c <= 4 for c in counts) / len(counts) > 0.8
    assert all(w.lower() not in stop for q in queries[:300] for p in k.decompose(q) for w in p.split())
