"""Video → per-clip visual features: decoding and encoding run concurrently.

A background thread decodes and samples frames (PyAV releases the GIL while decoding) into a
small bounded queue; the calling thread encodes full batches. Memory stays constant: at most
``queue_batches`` batches of resized frames are alive at once.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .encoders.base import VisionTextEncoder, l2_normalize
from .types import ClipFeatures, n_clips_for
from .video.decode import ClipFrames, iter_clip_frames


@dataclass
class SamplingConfig:
    """How clips are sampled from a video."""

    clip_len: float = 2.0  # seconds per clip
    frames_per_clip: int = 1  # frames sampled evenly inside each clip, mean-pooled
    decode: str = "auto"  # auto | nonref | all: which frames are decoded (see video.decode)
    seek_gap: float = 12.0  # seconds; seek instead of decoding across larger gaps
    decoder_threads: int = 0  # 0 = FFmpeg's choice


_DONE = object()


def extract_visual_features(
    path: str,
    encoder: VisionTextEncoder,
    duration: float,
    sampling: SamplingConfig | None = None,
    progress: bool = True,
    queue_batches: int = 2,
) -> ClipFeatures:
    """Encode the sampled frames of every clip: ``(n_clips, dim)`` L2-normalised features."""
    sampling = sampling or SamplingConfig()
    n_clips = n_clips_for(duration, sampling.clip_len)
    batch_clips = max(1, getattr(encoder, "batch_size", 32) // sampling.frames_per_clip)
    batches: queue.Queue = queue.Queue(maxsize=queue_batches)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        batch: list[ClipFrames] = []
        try:
            for clip in iter_clip_frames(
                path,
                clip_len=sampling.clip_len,
                frames_per_clip=sampling.frames_per_clip,
                size=encoder.frame_size,
                duration=duration,
                decode=sampling.decode,
                seek_gap=sampling.seek_gap,
                threads=sampling.decoder_threads,
            ):
                batch.append(clip)
                if len(batch) == batch_clips:
                    _put(batches, batch, stop)
                    batch = []
            if batch:
                _put(batches, batch, stop)
        except BaseException as err:  # handed to the consumer, re-raised there
            failure.append(err)
        finally:
            _put(batches, _DONE, stop)

    worker = threading.Thread(target=produce, name="momentfinder-decode", daemon=True)
    worker.start()
    rows: list[np.ndarray] = []
    bar = tqdm(total=n_clips, unit="clip", desc="decode+encode", disable=not progress, leave=False)
    try:
        while (item := batches.get()) is not _DONE:
            frames = [f for clip in item for f in clip.frames]
            emb = encoder.encode_images(frames)
            if sampling.frames_per_clip > 1:
                emb = l2_normalize(emb.reshape(len(item), sampling.frames_per_clip, -1).mean(axis=1))
            rows.append(emb)
            bar.update(len(item))
    finally:
        stop.set()
        bar.close()
        worker.join(timeout=5)
    if failure:
        raise failure[0]
    features = np.concatenate(rows) if rows else np.zeros((0, encoder.dim), dtype=np.float32)
    return ClipFeatures(features=features, clip_len=sampling.clip_len, duration=duration, model=encoder.name)


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """Put unless the consumer has gone away (then drop the item)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
