"""What kind of evidence a query asks for: words said, a sound heard, or anything (sights).

The cue words and the channel weight factors per kind are data (``configs/modality_cues.yaml``):
"when does the coach talk about defence" is speech, "applause" and "a dog barks" are sound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

_WORDS = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class ModalityCues:
    """Cue phrases of speech and of sound queries (lower case), and weight factors per kind."""

    speech: tuple[str, ...]
    sound: tuple[str, ...]
    factors: dict[str, dict[str, float]]

    def kind(self, query: str) -> str:
        """``"speech"``, ``"sound"`` or ``"any"`` (both or neither kind of cue)."""
        text = " " + " ".join(_WORDS.findall(query.lower())) + " "
        speech = any(f" {cue} " in text for cue in self.speech) or _quoted(query)
        sound = any(f" {cue} " in text for cue in self.sound)
        if speech == sound:
            return "any"
        return "speech" if speech else "sound"

    def weight_factors(self, query: str) -> dict[str, float]:
        """Channel name → factor on its fusion weight (a channel not named keeps 1)."""
        return dict(self.factors.get(self.kind(query), {}))


def _quoted(query: str) -> bool:
    """Words in quotation marks are words said."""
    return bool(re.search(r"[\"“«„].+?[\"”»“]", query))


@lru_cache(maxsize=1)
def load_modality_cues() -> ModalityCues:
    text = resources.files("momentfinder").joinpath("configs/modality_cues.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    factors = {k: {c: float(f) for c, f in (v or {}).items()} for k, v in (data.get("factors") or {}).items()}
    return ModalityCues(
        tuple(str(c).lower() for c in data["speech"]), tuple(str(c).lower() for c in data["sound"]), factors
    )


def query_kind(query: str) -> str:
    return load_modality_cues().kind(query)


def channel_weight_factors(query: str) -> dict[str, float]:
    return load_modality_cues().weight_factors(query)
