"""Query understanding: split a sentence into the sub-queries the grounders match separately, the
decoy queries that measure how much evidence a query has, and which language a query is written
in (to pick the subtitle track that speaks it); the structured form of compositional questions
(:mod:`.structure`) and its parsers (:mod:`.rules` offline, :mod:`.llm` through a chat API)."""

from .decompose import KeyPhraseDecomposer, QueryDecomposer, load_stop_words
from .decoys import content_words, load_decoy_queries, unrelated_decoys
from .language import detect_language, is_language_code, normalize_language, same_language
from .llm import LLMParser, LLMSettings, LLMUnavailable
from .rules import RuleParser
from .structure import JSON_SCHEMA, StructuredQuery, from_json, plain

__all__ = [
    "JSON_SCHEMA",
    "LLMParser",
    "LLMSettings",
    "LLMUnavailable",
    "RuleParser",
    "StructuredQuery",
    "from_json",
    "plain",
    "KeyPhraseDecomposer",
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
