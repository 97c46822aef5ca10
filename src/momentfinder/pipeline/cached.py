"""Channel features through the feature cache: visual and sound clip features and speech
transcripts are stored under a key of the file's content, the model's fingerprint and the
settings that change the numbers, so a second run on the same file decodes nothing.

Subtitles are read from their files every time (cheap, and the user may edit them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ..channels import (
    Channel,
    ChannelUnavailable,
    Media,
    SamplingConfig,
    SoundChannel,
    SpeechChannel,
    Transcript,
    VisualChannel,
)
from ..encoders.base import VisionTextEncoder
from ..store import FeatureCache, FeatureKey
from ..types import ClipFeatures

log = logging.getLogger(__name__)


class CachedExtraction:
    """Each channel's features of a file, from ``cache`` when it holds them (``cache`` None:
    always extracted)."""

    def __init__(
        self,
        cache: FeatureCache | None,
        sampling: SamplingConfig,
        speech_identity: Callable[[], tuple[str, str, dict] | None] = lambda: None,
    ):
        self.cache = cache
        self.sampling = sampling
        # the speech recogniser's (name, fingerprint, settings) before it is loaded, when known:
        # a cached transcript is then read without loading the model
        self._speech_identity = speech_identity

    def extract(self, channel: Channel, media: Media):
        """The channel's features of ``media``."""
        if isinstance(channel, SpeechChannel):
            return channel.from_transcript(self.transcript(channel, media))
        if isinstance(channel, SoundChannel):
            return self.sound(channel, media)
        if isinstance(channel, VisualChannel):
            return self.visual(channel, media)
        return channel.extract(media)

    def visual(self, channel: VisualChannel, media: Media) -> ClipFeatures:
        if not media.info.has_video:
            raise ChannelUnavailable("the file has no video stream")
        encoder = channel.encoder()
        key = self.visual_key(media.path, encoder) if self.cache is not None else None
        if key is not None and (cached := self.cache.load(key, dim=encoder.dim)) is not None:
            log.info("features from cache: %s", self.cache.path_for(key))
            cached.video_id = video_id(media.path)
            return cached
        feats = channel.extract(media)
        feats.video_id = video_id(media.path)
        if key is not None:
            self.cache.save(key, feats)  # best effort: a cache that cannot be written warns once
        return feats

    def transcript(self, channel: SpeechChannel, media: Media) -> Transcript:
        if not media.info.has_audio:
            raise ChannelUnavailable("the file has no audio stream")
        if self.cache is not None and (identity := self._speech_identity()) is not None:
            if (
                cached := self._cached_transcript(self._transcript_key(media, *identity), identity[0])
            ) is not None:
                return cached
        recognizer = channel.recognizer()
        key = None
        if self.cache is not None:
            key = self._transcript_key(media, recognizer.name, recognizer.fingerprint, recognizer.settings)
            if (cached := self._cached_transcript(key, recognizer.name)) is not None:
                return cached
        transcript = channel.transcribe(media)
        if key is not None:
            meta = {"audio": transcript.audio, "duration": transcript.duration, "notes": transcript.notes}
            self.cache.save_lines(key, transcript.segments, meta)
        return transcript

    def _transcript_key(self, media: Media, name: str, fingerprint: str, settings: dict) -> FeatureKey:
        return FeatureKey.make(
            content_hash=self.cache.content_hash(media.path),
            model=name,
            model_fingerprint=fingerprint,
            sampling={**settings, "audio_stream": media.audio_stream},
            channel="speech",
        )

    def _cached_transcript(self, key: FeatureKey, name: str) -> Transcript | None:
        if (cached := self.cache.load_lines(key)) is None:
            return None
        segments, meta = cached
        log.info("transcript from cache: %s", self.cache.path_for(key))
        return Transcript(
            segments,
            name,
            str(meta.get("audio", "")),
            float(meta.get("duration", 0.0)),
            list(meta.get("notes", [])),
        )

    def sound(self, channel: SoundChannel, media: Media) -> ClipFeatures:
        if not media.info.has_audio:
            raise ChannelUnavailable("the file has no audio stream")
        encoder = channel.encoder()
        key = None
        if self.cache is not None:
            key = FeatureKey.make(
                content_hash=self.cache.content_hash(media.path),
                model=encoder.name,
                model_fingerprint=encoder.fingerprint,
                sampling={"clip_len": media.timeline.clip_len, "audio_stream": media.audio_stream},
                channel="sound",
            )
            if (cached := self.cache.load(key, dim=encoder.dim)) is not None:
                return cached
        feats = channel.extract(media)
        if key is not None:
            self.cache.save(key, feats)
        return feats

    def visual_key(self, path: str, encoder: VisionTextEncoder) -> FeatureKey:
        """The cache key of ``path``'s visual features with ``encoder`` at these sampling settings."""
        return FeatureKey.make(
            content_hash=self.cache.content_hash(path),
            model=encoder.name,
            model_fingerprint=encoder.fingerprint,
            sampling=self.sampling.as_key(),
            precision=numerics(encoder),
        )


def numerics(encoder: VisionTextEncoder) -> str:
    """What decides the encoder's arithmetic (a feature cache key part): the precision, and the
    runtime when it is not torch (OpenVINO's bf16 is not torch's to the last bit)."""
    runtime = getattr(encoder, "runtime", "torch")
    return encoder.precision if runtime == "torch" else f"{encoder.precision}+{runtime}"


def video_id(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
