"""Query understanding: split a sentence into the sub-queries the grounders match separately, and
tell which language it is written in (to pick the subtitle track that speaks it)."""

from .decompose import KeyPhraseDecomposer, QueryDecomposer, load_stop_words
from .language import detect_language, is_language_code, normalize_language, same_language

__all__ = [
    "KeyPhraseDecomposer",
    "QueryDecomposer",
    "detect_language",
    "is_language_code",
    "load_stop_words",
    "normalize_language",
    "same_language",
]
