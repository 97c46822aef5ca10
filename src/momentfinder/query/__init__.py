"""Query understanding: split a sentence into the sub-queries the grounders match separately."""

from .decompose import KeyPhraseDecomposer, QueryDecomposer, load_stop_words

__all__ = ["KeyPhraseDecomposer", "QueryDecomposer", "load_stop_words"]
