"""The sound channel: per-clip audio embeddings (CLAP) matched to the query's text.

Each clip of the timeline gets one embedding of its audio (streamed at the encoder's rate, clip
by clip, batched); a query's relevance per clip is its CLAP text embedding's cosine with the
clip's. Decoy queries give the chance level, as for the visual channel, so a moment's confidence
says whether the sound stands out from what any unrelated sound query finds in this video.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from ..encoders.base import AudioTextEncoder
from ..errors import MediaError
from ..query import load_decoy_queries, unrelated_decoys
from ..types import ClipFeatures, Timeline
from ..video.audio import AudioReport, audio_streams, choose_audio_stream, iter_audio_chunks
from .base import ChannelCurve, ChannelUnavailable, Media, Query, fit_to_timeline


class SoundChannel:
    """Clip audio → ``encoder`` (loaded on first use by the callable); ``weight`` in the fusion."""

    name = "sound"

    def __init__(
        self,
        encoder: Callable[[], AudioTextEncoder],
        weight: float = 1.0,
        batch_size: int = 16,
        progress: bool = False,
    ):
        self._encoder = encoder
        self.weight = weight
        self.batch_size = batch_size
        self.progress = progress
        self._decoys: np.ndarray | None = None

    def encoder(self) -> AudioTextEncoder:
        return self._encoder()

    def check(self, media: Media) -> None:
        if media.audio_stream is not None and media.info.has_audio:
            choose_audio_stream(audio_streams(media.path), media.audio_stream, media.path)

    def extract(self, media: Media) -> ClipFeatures:
        """One embedding per clip of ``media.timeline`` ``(n_clips, dim)``; clips past the audio's
        end repeat the last one (as curves do)."""
        if not media.info.has_audio:
            raise ChannelUnavailable("the file has no audio stream")
        encoder = self.encoder()
        timeline = media.timeline
        report = AudioReport()
        rows: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        try:
            chunks = iter_audio_chunks(
                media.path, timeline.clip_len, encoder.sample_rate, media.audio_stream, report
            )
            for chunk in tqdm(
                chunks,
                total=timeline.n_clips,
                unit="clip",
                desc="sound",
                disable=not self.progress,
                leave=False,
            ):
                batch.append(chunk.samples)
                if len(batch) == self.batch_size:
                    rows.append(encoder.encode_audio(batch))
                    batch = []
        except MediaError as err:
            raise ChannelUnavailable(str(err).removeprefix(f"{media.path}: ")) from None
        if batch:
            rows.append(encoder.encode_audio(batch))
        features = (
            np.concatenate(rows)[: timeline.n_clips] if rows else np.zeros((0, encoder.dim), np.float32)
        )
        if len(features) < timeline.n_clips:
            if not len(features):
                raise ChannelUnavailable("no audio could be decoded")
            features = np.concatenate(
                [features, np.repeat(features[-1:], timeline.n_clips - len(features), 0)]
            )
        return ClipFeatures(np.ascontiguousarray(features, dtype=np.float32), timeline, encoder.name)

    def relevance(self, features: ClipFeatures, query: Query, timeline: Timeline) -> ChannelCurve:
        encoder = self.encoder()
        if self.name not in query.encodings:
            query.encodings[self.name] = encoder.encode_texts([query.text])[0]
        values = fit_to_timeline(features.features @ query.encodings[self.name], timeline)
        if self._decoys is None:
            self._decoys = encoder.encode_texts(list(load_decoy_queries()))
        chance = (features.features @ self._decoys.T).max(axis=0)[unrelated_decoys(query.text)]
        return ChannelCurve(self.name, values, self.weight, chance, "peak")
