"""The visual channel: video frames → per-clip image-text features → query relevance.

Extraction: a background thread decodes and samples frames (PyAV releases the GIL while decoding) into a
small bounded queue; the calling thread encodes full batches (with an encoder that runs several
streams, one thread per stream, each on whole batches). Memory stays constant: at most
``queue_batches`` batches (or one per encoding thread) of resized frames are alive at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from ..encoders.base import VisionTextEncoder, l2_normalize
from ..query import QueryDecomposer, load_decoy_queries, unrelated_decoys
from ..types import ClipFeatures, QueryFeatures, Timeline
from ..video.decode import ClipFrames, DecodeReport, iter_clip_frames
from .base import ChannelCurve, ChannelUnavailable, Media, Query, best_statistic, fit_to_timeline

log = logging.getLogger(__name__)
CHANCE_CACHE_VIDEOS = 4096  # videos whose decoy evidence is kept (64 floats each)
CPU_BATCH = 8  # frames per batch for an encoder on the CPU (bench/ingest.py: 47-49 ms/frame from 4 to 32)


@dataclass
class SamplingConfig:
    """How clips are sampled from a video."""

    clip_len: float = 2.0  # seconds per clip
    frames_per_clip: int = 1  # frames sampled evenly inside each clip, mean-pooled
    decode: str = "exact"  # exact | auto | nonref | all: which frames are decoded (see video.decode)
    seek_gap: float = 12.0  # seconds; seek instead of decoding across larger gaps
    # 0 = auto: one decoding thread when the encoder runs on the CPU (it keeps the other cores busy,
    # and FFmpeg's frame threading costs a third more CPU time: bench/ingest.py), else FFmpeg's choice
    decoder_threads: int = 0

    def __post_init__(self) -> None:
        if not self.clip_len > 0:
            raise ValueError(f"clip length must be positive, got {self.clip_len}")
        if self.frames_per_clip < 1:
            raise ValueError(f"frames per clip must be at least 1, got {self.frames_per_clip}")

    def as_key(self) -> dict:
        """Every setting that can change which frames are sampled (the feature cache key)."""
        key = asdict(self)
        key.pop("decoder_threads")  # how many threads decode, not which frames
        if key["decode"] == "exact":  # samples exactly the frames "all" does (video.sparse)
            key["decode"] = "all"
        return key


_DONE = object()


def extract_visual_features(
    path: str,
    encoder: VisionTextEncoder,
    duration: float,
    sampling: SamplingConfig | None = None,
    progress: bool = True,
    queue_batches: int = 2,
) -> ClipFeatures:
    """Encode the sampled frames of every clip: ``(n_clips, dim)`` L2-normalised features.

    Damaged data is skipped and reported (``unreadable``); a file that ends early (truncated) has
    features, and a timeline, only up to its last decodable frame.
    """
    sampling = sampling or SamplingConfig()
    n_clips = Timeline.covering(duration, sampling.clip_len).n_clips
    batch = getattr(encoder, "batch_size", 32)
    if _on_cpu(encoder):  # a CPU encoder costs the same per frame from 4 frames a batch up: small
        batch = min(batch, CPU_BATCH)  # batches start encoding sooner and leave less at the end
    batch_clips = max(1, batch // sampling.frames_per_clip)
    # encoders that run several streams (OpenVINO on the CPU) get one encoding thread per stream
    encoders = list(getattr(encoder, "image_encoders", lambda: [encoder.encode_images])())
    batches: queue.Queue = queue.Queue(maxsize=max(queue_batches, len(encoders)))
    stop = threading.Event()
    failure: list[BaseException] = []
    report = DecodeReport()

    def produce() -> None:
        batch: list[ClipFrames] = []
        count = 0
        try:
            for clip in iter_clip_frames(
                path,
                clip_len=sampling.clip_len,
                frames_per_clip=sampling.frames_per_clip,
                size=encoder.frame_size,
                duration=duration,
                decode=sampling.decode,
                seek_gap=sampling.seek_gap,
                threads=decoder_threads(sampling, encoder),
                report=report,
            ):
                batch.append(clip)
                if len(batch) == batch_clips:
                    _put(batches, (count, batch), stop)
                    batch, count = [], count + 1
            if batch:
                _put(batches, (count, batch), stop)
        except BaseException as err:  # handed to the consumer, re-raised there
            failure.append(err)
        finally:
            _put(batches, _DONE, stop)

    rows: dict[int, np.ndarray] = {}
    bar = tqdm(total=n_clips, unit="clip", desc="decode+encode", disable=not progress, leave=False)
    lock = threading.Lock()

    def consume(encode: Callable[[list[np.ndarray]], np.ndarray]) -> None:
        try:
            while (item := _get(batches, stop)) is not _DONE:
                count, clips = item
                emb = encode([f for clip in clips for f in clip.frames])
                if sampling.frames_per_clip > 1:
                    emb = l2_normalize(emb.reshape(len(clips), sampling.frames_per_clip, -1).mean(axis=1))
                with lock:
                    rows[count] = emb
                    bar.update(len(clips))
            _put(batches, _DONE, stop)  # for the other encoding threads
        except BaseException as err:
            failure.append(err)
            stop.set()

    worker = threading.Thread(target=produce, name="momentfinder-decode", daemon=True)
    worker.start()
    helpers = [
        threading.Thread(target=consume, args=(encode,), name="momentfinder-encode", daemon=True)
        for encode in encoders[1:]
    ]
    try:
        for helper in helpers:
            helper.start()
        consume(encoders[0])
        for helper in helpers:
            helper.join()
    finally:
        stop.set()
        bar.close()
        worker.join(timeout=5)
    if failure:
        raise failure[0]
    features = (
        np.concatenate([rows[k] for k in sorted(rows)])
        if rows
        else np.zeros((0, encoder.dim), dtype=np.float32)
    )
    return ClipFeatures(
        features=features,
        timeline=Timeline.of(
            len(features), sampling.clip_len, report.end if report.end is not None else duration
        ),
        model=encoder.name,
        unreadable=tuple(report.unreadable),
    )


def decoder_threads(sampling: SamplingConfig, encoder: VisionTextEncoder) -> int:
    """Threads for the decoder (0: FFmpeg's choice): see :attr:`SamplingConfig.decoder_threads`."""
    if sampling.decoder_threads:
        return sampling.decoder_threads
    return 1 if _on_cpu(encoder) else 0


def _on_cpu(encoder: VisionTextEncoder) -> bool:
    return str(getattr(encoder, "device", "cpu")).startswith("cpu")


def _get(q: queue.Queue, stop: threading.Event):
    """The next item, or ``_DONE`` once ``stop`` is set (another thread failed)."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _DONE


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """Put unless the consumer has gone away (then drop the item)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


class VisualChannel:
    """Frames through a CLIP/SigLIP image tower; queries through its text tower.

    ``encoder`` is a callable that loads the encoder on first use (raising
    :class:`~momentfinder.errors.ModelUnavailableError` when it cannot); ``decomposer`` splits a
    query into its sub-query phrases (``max_parts`` at most; 0 = off); ``relevance_curves`` turns
    clip features and queries into per-clip relevance curves, one per query (the zero-shot
    grounder's, which matches the pooled query and its sub-queries together; several queries at
    once share the work on the clips); without it the pooled cosine is used.
    ``decoys``: decoy query features for the confidence (default: the bundled decoy sentences
    through this encoder; research code passes features of its own, e.g. other queries').
    """

    name = "visual"

    def __init__(
        self,
        encoder: Callable[[], VisionTextEncoder],
        sampling: SamplingConfig,
        decomposer: QueryDecomposer | None = None,
        relevance_curves: Callable[[ClipFeatures, Sequence[QueryFeatures]], list[np.ndarray]] | None = None,
        weight: float = 1.0,
        progress: bool = True,
        decoys: list[QueryFeatures] | None = None,
    ):
        self._encoder = encoder
        self.sampling = sampling
        self.decomposer = decomposer
        self.relevance_curves = relevance_curves
        self.weight = weight
        self.progress = progress
        self.statistic = "excess" if relevance_curves is not None else "peak"  # noise units, or cosines
        self._decoys = decoys  # None: the bundled decoy sentences, encoded on first use
        # decoy evidence per video, computed once: keyed by the features' identity (video id, shape,
        # a checksum of the values), so a library search reuses it across queries
        self._chance: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def encoder(self) -> VisionTextEncoder:
        return self._encoder()

    def extract(self, media: Media) -> ClipFeatures:
        if not media.info.has_video:
            raise ChannelUnavailable("the file has no video stream")
        return extract_visual_features(
            media.path, self.encoder(), media.info.duration, self.sampling, progress=self.progress
        )

    def encode_query(self, query: Query) -> QueryFeatures:
        """Joint-space embedding of the query (pooled, tokens, and its phrases), computed once."""
        if self.name in query.encodings:
            return query.encodings[self.name]
        encoder = self.encoder()
        pooled, tokens = encoder.encode_query(query.text)
        features = QueryFeatures(text=query.text, pooled=pooled, tokens=tokens, model=encoder.name)
        phrases = self.decomposer.decompose(query.text) if self.decomposer is not None else []
        if len(phrases) >= 2:  # one phrase is the query itself: no sub-queries
            features.parts, features.part_texts = encoder.encode_texts(phrases), tuple(phrases)
            log.info("sub-queries of %r: %s", query.text, " | ".join(phrases))
        query.encodings[self.name] = features
        return features

    def relevance(self, features: ClipFeatures, query: Query, timeline: Timeline) -> ChannelCurve:
        values = self._curve(features, self.encode_query(query))
        chance = self.chance(features)[self.unrelated_decoys(query.text)]
        return ChannelCurve(self.name, fit_to_timeline(values, timeline), self.weight, chance, self.statistic)

    def evidence(self, features: ClipFeatures, query: Query) -> float:
        """The query's best evidence anywhere in this video (the statistic confidence is measured
        on), without the decoys: a cheap score to rank whole videos by."""
        return best_statistic(self._curve(features, self.encode_query(query)), self.statistic)

    def _curve(self, features: ClipFeatures, q: QueryFeatures) -> np.ndarray:
        return self._curves(features, [q])[0]

    def _curves(self, features: ClipFeatures, queries: list[QueryFeatures]) -> list[np.ndarray]:
        if self.relevance_curves is not None:
            return self.relevance_curves(features, queries)
        return list((features.features @ np.stack([q.pooled for q in queries]).T).T)

    def use_decoys(self, decoys: list[QueryFeatures]) -> None:
        """Measure confidence against these decoy query features (research feature sets)."""
        self._decoys = list(decoys)
        self._chance.clear()

    def decoy_queries(self) -> list[QueryFeatures]:
        """The decoy queries (:mod:`momentfinder.query.decoys`) encoded like real ones, once."""
        if self._decoys is None:
            self._decoys = [self.encode_query(Query(text)) for text in load_decoy_queries()]
        return self._decoys

    def unrelated_decoys(self, text: str) -> list[bool]:
        """One flag per decoy query of :meth:`decoy_queries` (the bundled ones or those given with
        ``decoys`` / :meth:`use_decoys`): True when it shares no content word with ``text``."""
        return unrelated_decoys(text, tuple(d.text for d in self.decoy_queries()))

    def chance(self, features: ClipFeatures) -> np.ndarray:
        """The best evidence of every decoy query in this video ``(n_decoys,)``, computed once per video."""
        key = (features.video_id, features.features.shape, float(np.sum(features.features, dtype=np.float64)))
        if key in self._chance:
            self._chance.move_to_end(key)
        else:
            curves = self._curves(features, self.decoy_queries())
            best = [best_statistic(curve, self.statistic) for curve in curves]
            self._chance[key] = np.asarray(best)
            if len(self._chance) > CHANCE_CACHE_VIDEOS:
                self._chance.popitem(last=False)
        return self._chance[key]
