"""The models one :class:`~momentfinder.pipeline.finder.MomentFinder` runs, each loaded lazily
and once: the visual encoder, the speech recogniser, the sound (CLAP) encoder and the sentence
encoder of the subtitle/transcript lines.

A model that cannot load is either an error (a model the user named) or a note the finder passes
on (a default model that is missing: the other channels go on) — decided here, once per model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..channels import ChannelUnavailable
from ..encoders.base import (
    DEFAULT_ASR_MODEL,
    DEFAULT_SOUND_MODEL,
    OFFLINE_ASR_MODEL,
    AudioTextEncoder,
    SpeechRecognizer,
    VisionTextEncoder,
)
from ..errors import ModelUnavailableError
from ..store import default_cache_dir

if TYPE_CHECKING:
    from .finder import FinderConfig

log = logging.getLogger(__name__)


class ModelSet:
    """Lazy loaders of a finder's models, configured by its :class:`FinderConfig`.

    ``check_visual`` is called with the visual encoder once it has loaded (the grounder refuses a
    calibration made for another encoder before any decoding)."""

    def __init__(self, config: FinderConfig, check_visual: Callable[[VisionTextEncoder], None]):
        self.config = config
        self._check_visual = check_visual
        self._visual: VisionTextEncoder | None = None
        self._visual_error: str | None = None
        self._text = None
        self._recognizer: SpeechRecognizer | None = None
        self._recognizer_note: str | None = None  # the default Whisper could not load: pocketsphinx
        self._sound: AudioTextEncoder | None = None
        self._sound_error: str | None = None

    def visual_encoder(self) -> VisionTextEncoder | None:
        """The visual encoder, or None (with the reason in :attr:`visual_error`) when it cannot load."""
        cfg = self.config
        if cfg.visual_model is None or self._visual is not None or self._visual_error is not None:
            return self._visual
        from ..encoders.hf import HFVisionTextEncoder

        try:
            self._visual = HFVisionTextEncoder(
                cfg.visual_model,
                device=cfg.device,
                precision=cfg.precision,
                batch_size=cfg.batch_size,
                threads=cfg.threads,
                runtime=cfg.runtime,
                export_dir=os.path.join(cfg.cache_dir or default_cache_dir(), "exported"),
            )
        except ModelUnavailableError as err:
            if cfg.require_visual:
                raise ModelUnavailableError(
                    f"{err} (pass --allow-missing-channels to ground with the other channels)"
                ) from None
            self._visual_error = str(err)
        if self._visual is not None:
            self._check_visual(self._visual)
        return self._visual

    def require_visual(self) -> VisionTextEncoder:
        encoder = self.visual_encoder()
        if encoder is None:
            raise ChannelUnavailable(self._visual_error or "no visual model configured")
        return encoder

    @property
    def visual_error(self) -> str | None:
        return self._visual_error

    def speech_recognizer(self) -> SpeechRecognizer:
        """The speech recogniser: ``asr_model`` (Whisper or pocketsphinx), or the default Whisper,
        falling back to pocketsphinx (with :attr:`recognizer_note`) when that cannot be loaded; a
        named Whisper that cannot be loaded raises :class:`ModelUnavailableError`."""
        if self._recognizer is not None:
            return self._recognizer
        from ..encoders.sphinx import SphinxRecognizer
        from ..encoders.whisper import WhisperRecognizer

        cfg = self.config
        model = cfg.asr_model or DEFAULT_ASR_MODEL
        if model == OFFLINE_ASR_MODEL:
            self._recognizer = SphinxRecognizer()
            return self._recognizer
        try:
            self._recognizer = WhisperRecognizer(
                model,
                device=cfg.device,
                threads=cfg.threads,
                max_new_tokens=cfg.asr_max_new_tokens,
                language=cfg.asr_language,
            )
        except ModelUnavailableError as err:
            if cfg.asr_model is not None and cfg.asr_model != DEFAULT_ASR_MODEL:
                raise
            self._recognizer = SphinxRecognizer()
            self._recognizer_note = (
                f"{err}; transcribing with the offline pocketsphinx model (English only, weaker)"
            )
            log.info("%s", self._recognizer_note)
        return self._recognizer

    def speech_identity(self) -> tuple[str, str, dict] | None:
        """``(name, fingerprint, settings)`` of the Whisper the speech channel asks for, known
        without loading it (None: pocketsphinx, or it is loaded already)."""
        model = self.config.asr_model or DEFAULT_ASR_MODEL
        if self._recognizer is not None or model == OFFLINE_ASR_MODEL:
            return None
        from ..encoders.whisper import WhisperRecognizer

        return WhisperRecognizer.identity(model, self.config.asr_max_new_tokens, self.config.asr_language)

    @property
    def recognizer_note(self) -> str | None:
        return self._recognizer_note

    def sound_encoder(self) -> AudioTextEncoder | None:
        """The CLAP encoder, or None (the reason in :attr:`sound_error`) when the default one cannot
        load; a named one that cannot be loaded raises :class:`ModelUnavailableError`."""
        cfg = self.config
        if self._sound is not None or self._sound_error is not None:
            return self._sound
        from ..encoders.clap import ClapAudioTextEncoder

        try:
            self._sound = ClapAudioTextEncoder(
                cfg.sound_model or DEFAULT_SOUND_MODEL, device=cfg.device, threads=cfg.threads
            )
        except ModelUnavailableError as err:
            if cfg.sound_model is not None:
                raise
            self._sound_error = str(err)
        return self._sound

    def require_sound(self) -> AudioTextEncoder:
        encoder = self.sound_encoder()
        if encoder is None:
            raise ChannelUnavailable(self._sound_error or "no sound model")
        return encoder

    def text_encoder(self):
        """The sentence encoder of subtitle and transcript lines (bundled all-MiniLM-L6-v2 by default)."""
        if self._text is None:
            from ..encoders.text import SentenceEncoder

            self._text = SentenceEncoder(self.config.text_model, device=self.config.device)
        return self._text
