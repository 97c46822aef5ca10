"""The language of a query, and ISO 639 codes as subtitle streams and file names spell them.

:func:`detect_language` answers one narrow question offline: which of a few *candidate*
languages (those of a video's subtitle tracks) a query is written in. Restricted to the
candidates, ``py3langid``'s naive Bayes model (bundled, ~5 MB, no network) is right even on
three-word queries ("il pleut", "the dog barks"), where an open-ended detector is not; with fewer
than two candidates there is nothing to decide and it answers None.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence

log = logging.getLogger(__name__)

# ISO 639-1 code -> its ISO 639-2 codes (terminology first, then the bibliographic one where it
# differs), for the languages py3langid knows and a few more.
_ISO_639 = {
    "af": ("afr",), "am": ("amh",), "an": ("arg",), "ar": ("ara",), "as": ("asm",), "az": ("aze",),
    "ba": ("bak",), "be": ("bel",), "bg": ("bul",), "bn": ("ben",), "br": ("bre",), "bs": ("bos",),
    "ca": ("cat",), "cs": ("ces", "cze"), "cy": ("cym", "wel"), "da": ("dan",), "de": ("deu", "ger"),
    "dz": ("dzo",), "el": ("ell", "gre"), "en": ("eng",), "eo": ("epo",), "es": ("spa",), "et": ("est",),
    "eu": ("eus", "baq"), "fa": ("fas", "per"), "fi": ("fin",), "fo": ("fao",), "fr": ("fra", "fre"),
    "fy": ("fry",), "ga": ("gle",), "gd": ("gla",), "gl": ("glg",), "gu": ("guj",), "ha": ("hau",),
    "he": ("heb",), "hi": ("hin",), "hr": ("hrv",), "ht": ("hat",), "hu": ("hun",), "hy": ("hye", "arm"),
    "id": ("ind",), "ig": ("ibo",), "is": ("isl", "ice"), "it": ("ita",), "ja": ("jpn",), "jv": ("jav",),
    "ka": ("kat", "geo"), "kk": ("kaz",), "km": ("khm",), "kn": ("kan",), "ko": ("kor",), "ku": ("kur",),
    "ky": ("kir",), "la": ("lat",), "lb": ("ltz",), "lg": ("lug",), "ln": ("lin",), "lo": ("lao",),
    "lt": ("lit",), "lv": ("lav",), "mg": ("mlg",), "mk": ("mkd", "mac"), "ml": ("mal",), "mn": ("mon",),
    "mr": ("mar",), "ms": ("msa", "may"), "mt": ("mlt",), "my": ("mya", "bur"), "nb": ("nob",),
    "ne": ("nep",), "nl": ("nld", "dut"), "nn": ("nno",), "no": ("nor",), "oc": ("oci",), "om": ("orm",),
    "or": ("ori",), "pa": ("pan",), "pl": ("pol",), "ps": ("pus",), "pt": ("por",), "qu": ("que",),
    "ro": ("ron", "rum"), "ru": ("rus",), "rw": ("kin",), "sa": ("san",), "se": ("sme",), "si": ("sin",),
    "sk": ("slk", "slo"), "sl": ("slv",), "sn": ("sna",), "so": ("som",), "sq": ("sqi", "alb"),
    "sr": ("srp",), "st": ("sot",), "sv": ("swe",), "sw": ("swa",), "ta": ("tam",), "te": ("tel",),
    "tg": ("tgk",), "th": ("tha",), "tk": ("tuk",), "tl": ("tgl", "fil"), "tr": ("tur",), "tt": ("tat",),
    "ug": ("uig",), "uk": ("ukr",), "ur": ("urd",), "uz": ("uzb",), "vi": ("vie",), "vo": ("vol",),
    "wa": ("wln",), "xh": ("xho",), "yo": ("yor",), "zh": ("zho", "chi"), "zu": ("zul",),
}  # fmt: skip
_TO_639_1 = {three: two for two, threes in _ISO_639.items() for three in threes}
# Codes that say nothing about the language.
_NO_LANGUAGE = {"und", "mul", "zxx", "mis", "qaa", "unknown", "none"}
# py3langid has one label for Norwegian.
_LANGID_LABEL = {"nb": "no"}


def normalize_language(code: str | None) -> str | None:
    """``eng``, ``en``, ``en-US``, ``EN_gb`` → ``en``; ``fre``/``fra`` → ``fr``; a code without a
    two-letter form stays as given (lower case); None for no code, ``und`` and the like."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    if not primary.isalpha() or not 2 <= len(primary) <= 3 or primary in _NO_LANGUAGE:
        return None
    return _TO_639_1.get(primary, primary)


def is_language_code(tag: str) -> bool:
    """Whether a file-name tag (``en``, ``eng``, ``pt-BR``) is a language code we know."""
    return normalize_language(tag) in _ISO_639


def same_language(a: str | None, b: str | None) -> bool:
    """Whether two ISO 639 codes (any of 639-1, 639-2/T, 639-2/B, with a region) name one language."""
    na, nb = normalize_language(a), normalize_language(b)
    return na is not None and na == nb


def detect_language(texts: Sequence[str], candidates: Iterable[str]) -> str | None:
    """Which of ``candidates`` (ISO 639 codes, as given) ``texts`` are written in; None when fewer
    than two candidates are known to the detector, the texts carry no letters, or py3langid is
    missing. The texts are judged together (the queries asked of one video)."""
    text = " ".join(t for t in texts if t and t.strip())
    labels: dict[str, str] = {}  # detector label -> the first candidate spelled that way
    for code in candidates:
        norm = normalize_language(code)
        if norm is not None:
            labels.setdefault(_LANGID_LABEL.get(norm, norm), code)
    identifier = _identifier()
    if identifier is None or not text:
        return None
    known = {label: code for label, code in labels.items() if label in identifier.labels}
    if len(known) < 2:
        return None
    scores = {lang: score for lang, score in identifier.rank(text) if lang in known}
    best = max(scores.values())
    winners = [lang for lang, score in scores.items() if score == best]
    if len(winners) != 1:  # no n-gram of the text is in the model (digits, punctuation)
        return None
    log.debug("query language among %s: %s", sorted(known), winners[0])
    return known[winners[0]]


@functools.cache
def _identifier():
    """py3langid's model (loaded once, ~0.5 s); None when the package is not installed."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        log.warning("py3langid is not installed: subtitle tracks are not chosen by the query's language")
        return None
    return LanguageIdentifier.from_model_file(MODEL_FILE)
