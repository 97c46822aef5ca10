"""Query understanding: split a sentence into the sub-queries the grounders match separately, the
decoy queries that measure how much evidence a query has, and which language a query is written
in (to pick the subtitle track that speaks it)."""

from .decompose import KeyPhraseDecomposer, QueryDecomposer, load_stop_words
from .decoys import content_words, load_decoy_queries, unrelated_decoys
from .language import detect_language, is_language_code, normalize_language, same_language
from .modality import channel_weight_factors, query_kind

__all__ = [
    "KeyPhraseDecomposer",
    "channel_weight_factors",
    "query_kind",
    "QueryDecomposer",
    "content_words",
    "detect_language",
    "is_language_code",
    "load_decoy_queries",
    "load_stop_words",
    "normalize_language",
    "same_language",
    "unrelated_decoys",
]
