"""Query understanding: split a sentence into the sub-queries the grounders match separately, and
the decoy queries that measure how much evidence a query has."""

from .decompose import KeyPhraseDecomposer, QueryDecomposer, load_stop_words
from .decoys import content_words, load_decoy_queries, unrelated_decoys

__all__ = [
    "KeyPhraseDecomposer",
    "QueryDecomposer",
    "content_words",
    "load_decoy_queries",
    "load_stop_words",
    "unrelated_decoys",
]
