"""Decoy queries: the yardstick for how much evidence a real query has in one video.

A channel grounds every decoy (an everyday sentence about something else, ``configs/
decoy_queries.txt``) in the video like a real query; a moment's confidence is the share of
decoys whose *best* evidence anywhere in the video it beats. It needs no labels and no
calibration file, works for any encoder, and means the same in every channel and video: a
confidence of 0.9 says that fewer than one unrelated sentence in ten finds anything as strong in
this video. Decoys that share a content word with the query are left out (they may not be
unrelated).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from .decompose import load_stop_words

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@cache
def load_decoy_queries() -> tuple[str, ...]:
    """The bundled decoy sentences."""
    text = resources.files("momentfinder").joinpath("configs/decoy_queries.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def content_words(text: str) -> set[str]:
    """Lower-case words of ``text`` that are not stop words, crudely singularised."""
    stop = load_stop_words()
    words = (w.lower() for w in _WORD.findall(text))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in stop}


def unrelated_decoys(query: str, decoys: tuple[str, ...] | None = None) -> list[bool]:
    """One flag per decoy: True when it shares no content word with ``query``."""
    words = content_words(query)
    return [not (content_words(d) & words) for d in (decoys or load_decoy_queries())]
