"""Optional re-ranking of the top moments by a vision-language chat model, "Number it" style
(Wu et al., "Number it: Temporal Grounding Videos like Flipping Manga", CVPR 2025).

For each of the ``top`` first moments, ``frames`` frames are taken evenly across the moment and a
margin around it (half its length on each side, at least ``min_margin`` seconds), each frame's
number drawn in its corner, and the model is asked which numbered frames show the query. Its
answer decides:

* ``START-END`` (two frame numbers, in range): the moment is **confirmed** and its span becomes
  those frames' span (it may grow into the margin or shrink);
* ``none``: the moment is **rejected**;
* anything else (no numbers, numbers out of range, an error or a timeout): no opinion, the moment
  keeps its place and span, and a log line says why.

New order: confirmed moments (in their old order), then those without an opinion, then the
moments that were not asked, then the rejected ones. Nothing is dropped. Off by default
(``ground --rerank-vlm MODEL``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace

import numpy as np

from ..chat_api import ChatEndpoint, ChatUnavailable
from ..encoders.vlm import APIVisionChat, VisionChat
from ..errors import InputError
from ..types import GroundingResult, Moment
from ..video.frames import frames_at, numbered

log = logging.getLogger(__name__)

PROMPT = (
    "These are {n} frames of a video, in time order, {step:.1f} seconds apart; each has its number "
    '(1 to {n}) in the top-left corner. In which frames does this happen: "{query}"? Answer with '
    'the first and the last frame number as START-END (for example 3-7), or "none" if it does not '
    "happen in these frames."
)
_NONE = re.compile(
    r"^\W*(?:none|no|nothing|never)\b|\b(?:does|did)(?:n't| not) (?:happen|appear|occur)|\bnot (?:shown|visible|present)",
    re.I,
)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class RerankSettings:
    """``model``: a local image-text-to-text directory, or the model's name on ``url`` (an
    OpenAI-compatible vision chat API); ``top`` moments asked about, ``frames`` per moment."""

    model: str
    url: str | None = None
    top: int = 3
    frames: int = 12
    min_margin: float = 2.0
    timeout: float = 60.0
    frame_size: int = 336  # short side in pixels

    def __post_init__(self) -> None:
        if self.top < 1 or self.frames < 2:
            raise InputError("VLM re-ranking needs at least 1 moment and 2 frames")


def read_answer(text: str, n_frames: int) -> tuple[int, int] | None | str:
    """``(first, last)`` frame numbers (1-based, ordered), None for "does not happen", or the
    string ``"malformed"`` when the answer says neither within range."""
    numbers = [int(x) for x in _NUMBER.findall(text)]
    if not numbers:
        return None if _NONE.search(text) else "malformed"
    first, last = (numbers[0], numbers[1]) if len(numbers) >= 2 else (numbers[0], numbers[0])
    first, last = min(first, last), max(first, last)
    if first < 1 or last > n_frames:
        return "malformed"
    return first, last


class VLMReranker:
    """See module docstring. ``model``: any :class:`~momentfinder.encoders.vlm.VisionChat`."""

    def __init__(self, model: VisionChat, settings: RerankSettings):
        self.model = model
        self.settings = settings

    def rerank(self, video: str | os.PathLike, result: GroundingResult) -> GroundingResult:
        s = self.settings
        asked = result.moments[: s.top]
        confirmed, unknown, rejected = [], [], []
        for rank, moment in enumerate(asked, 1):
            verdict = self._ask(video, result, moment, rank)
            if verdict is None:
                rejected.append(moment)
            elif isinstance(verdict, Moment):
                confirmed.append(verdict)
            else:
                unknown.append(moment)
                if verdict == "unavailable":  # the model is down: asking again only waits again
                    unknown += asked[rank:]
                    break
        moments = confirmed + unknown + result.moments[s.top :] + rejected
        return replace(result, moments=moments)

    def _ask(self, video, result: GroundingResult, moment: Moment, rank: int):
        s = self.settings
        margin = max(s.min_margin, 0.5 * moment.length)
        start, end = max(0.0, moment.start - margin), min(result.duration, moment.end + margin)
        edges = np.linspace(start, end, s.frames + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        images = numbered(frames_at(video, centres, size=s.frame_size))
        prompt = PROMPT.format(n=s.frames, step=float(edges[1] - edges[0]), query=result.query)
        try:
            answer = self.model.answer(images, prompt)
        except ChatUnavailable as err:
            log.warning("VLM re-ranking: %s; the moments keep their ranking", err)
            return "unavailable"
        verdict = read_answer(answer, s.frames)
        if verdict == "malformed":
            log.warning("VLM re-ranking: answer %r for moment %d names no frames in 1-%d; kept as ranked",
                        answer[:60], rank, s.frames)  # fmt: skip
            return "malformed"
        if verdict is None:
            return None
        first, last = verdict
        evidence = f"{moment.evidence}+vlm" if moment.evidence else "vlm"
        return replace(moment, start=float(edges[first - 1]), end=float(edges[last]), evidence=evidence)


def build_reranker(settings: RerankSettings, device: str | None = None) -> VLMReranker:
    """The re-ranker for ``settings``: an API model when ``url`` is given, else a local directory."""
    if settings.url:
        model: VisionChat = APIVisionChat(ChatEndpoint(settings.url, settings.model, settings.timeout))
    else:
        from ..encoders.vlm_hf import HFVisionChat

        model = HFVisionChat(settings.model, device=device)
    return VLMReranker(model, settings)
