"""Streaming video decoding with PyAV: probe a file, sample frames per clip.

Memory stays constant whatever the length: frames are decoded in order and only the ones
nearest to each sampling time are converted to RGB (already resized by swscale) and yielded.
Two tricks keep decoding cheap without changing which frames are sampled by more than a
couple of frame periods:

* frames nothing else refers to are never decoded; the sample is the decoded frame nearest
  to the target time. ``decode="auto"`` skips every B-frame when a check on the first seconds
  shows that this leaves the other frames bit-identical (x264 and most H.264 encoders: P-frames
  never reference B-frames), and otherwise only non-reference frames (``"nonref"``, always
  safe); ``"all"`` decodes everything;
* when the next sampling time is far ahead (long clips), the demuxer seeks to the keyframe
  before it instead of decoding everything in between.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..errors import InputError, MediaError
from ..types import VideoInfo, n_clips_for

log = logging.getLogger(__name__)

FrameSize = int | tuple[int, int] | None  # short side in pixels, exact (width, height), or native


@dataclass
class ClipFrames:
    """RGB frames sampled from one clip: ``frames`` is a list of ``(H, W, 3)`` uint8 arrays."""

    index: int
    frames: list[np.ndarray]
    times: list[float]  # seconds, the presentation time of each sampled frame


def check_readable(path: str | os.PathLike) -> str:
    """The path as a string, or an :class:`InputError` saying why it cannot be read."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    return path


def open_media(path: str) -> av.container.InputContainer:
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(f"{path}: not a readable video or audio file ({_short(err)})") from None


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def _stream_end(stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time or 0
        return float((stream.duration + start) * stream.time_base)
    return None


def _scan_duration(container: av.container.InputContainer) -> float:
    """Last packet end time over all audio/video streams (demuxing only, no decoding).

    Raw elementary streams carry no timestamps: there the video packet count over the frame
    rate gives the length.
    """
    end = 0.0
    video = container.streams.video[0] if container.streams.video else None
    rate = float(video.average_rate or video.guessed_rate or video.base_rate or 0) if video else 0.0
    video_packets = 0
    streams = [s for s in container.streams if s.type in ("video", "audio")]
    for packet in container.demux(streams):
        if packet.size == 0:
            continue
        if packet.stream is video:
            video_packets += 1
        if packet.pts is None or packet.time_base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    if rate > 0:
        end = max(end, video_packets / rate)
    return end


def probe(path: str | os.PathLike) -> VideoInfo:
    """Duration, frame rate and streams of a media file.

    Duration falls back from the container header to the stream headers to a demux scan, so
    files with missing duration metadata still get one. Raises :class:`MediaError` for files
    that are not media or have no audio/video data.
    """
    path = check_readable(path)
    with open_media(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path}: has no video or audio stream")
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        if not duration:
            ends = [e for e in (_stream_end(s) for s in (video, audio) if s is not None) if e]
            duration = max(ends) if ends else None
        if not duration:
            duration = _scan_duration(container)
        if not duration or not math.isfinite(duration) or duration <= 0:
            raise MediaError(f"{path}: contains no decodable audio or video data (zero length)")
        fps = width = height = None
        vfr = False
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = float(rate) if rate else None
            width, height = video.codec_context.width or None, video.codec_context.height or None
            if video.average_rate and video.base_rate and video.average_rate != 0:
                vfr = abs(float(video.base_rate) / float(video.average_rate) - 1.0) > 0.01
        return VideoInfo(
            path=path,
            duration=float(duration),
            fps=fps,
            width=width,
            height=height,
            has_video=video is not None,
            has_audio=audio is not None,
            subtitle_streams=len(container.streams.subtitles),
            variable_frame_rate=vfr,
        )


def sample_times(duration: float, clip_len: float, frames_per_clip: int = 1) -> np.ndarray:
    """Sampling times, ``(n_clips, frames_per_clip)`` seconds, evenly inside each clip.

    The last clip may be shorter than ``clip_len``; its samples stay inside the video.
    """
    n = n_clips_for(duration, clip_len)
    starts = np.arange(n, dtype=np.float64) * clip_len
    ends = np.minimum(starts + clip_len, duration)
    offsets = (np.arange(frames_per_clip, dtype=np.float64) + 0.5) / frames_per_clip
    return starts[:, None] + (ends - starts)[:, None] * offsets[None, :]


DECODE_MODES = ("auto", "nonref", "all")


def frame_skip_mode(
    path: str, decode: str = "auto", max_gap: float = 0.25, check_seconds: float = 4.0
) -> str:
    """The FFmpeg ``skip_frame`` setting for ``decode`` mode: ``BIDIR``, ``NONREF`` or ``NONE``.

    ``auto`` skips B-frames only when that is exact for the other frames and leaves no gap over
    ``max_gap`` seconds between decoded frames (so samples move by at most ``max_gap / 2``).
    """
    if decode not in DECODE_MODES:
        raise InputError(f"decode mode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    if decode == "all":
        return "NONE"
    if decode == "nonref":
        return "NONREF"
    return "BIDIR" if _bidir_is_exact(path, check_seconds, max_gap) else "NONREF"


def _decoded_frames(path: str, skip: str, seconds: float) -> dict[float, np.ndarray]:
    frames: dict[float, np.ndarray] = {}
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if skip != "NONE":
            stream.codec_context.skip_frame = skip
        for frame in container.decode(stream):
            if frame.pts is None or (frame.time or 0.0) > seconds:
                break
            frames[float(frame.time)] = frame.to_ndarray(format="gray")
    return frames


def _bidir_is_exact(path: str, seconds: float, max_gap: float) -> bool:
    """Whether skipping B-frames leaves every other frame of the first ``seconds`` bit-identical,
    with no more than ``max_gap`` seconds between two of them."""
    try:
        skipped = _decoded_frames(path, "BIDIR", seconds)
        full = _decoded_frames(path, "NONE", seconds)
    except (av.FFmpegError, EOFError, ValueError):
        return False
    if len(skipped) < 2 or len(skipped) == len(full):  # nothing to compare, or nothing to gain
        return False
    if float(np.max(np.diff(sorted(skipped)))) > max_gap:
        return False
    return all(t in full and np.array_equal(img, full[t]) for t, img in skipped.items())


def _target_size(width: int, height: int, size: FrameSize) -> tuple[int, int]:
    if size is None:
        return width, height
    if isinstance(size, tuple):
        return size
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def _frame_time(frame: av.VideoFrame, fallback: float) -> float:
    t = frame.time
    return float(t) if t is not None else fallback


def iter_clip_frames(
    path: str | os.PathLike,
    clip_len: float = 2.0,
    frames_per_clip: int = 1,
    size: FrameSize = 224,
    duration: float | None = None,
    decode: str = "auto",
    seek_gap: float = 12.0,
    threads: int = 0,
) -> Iterator[ClipFrames]:
    """Yield the sampled RGB frames of every clip, in order, decoding as a stream.

    ``size``: resize so the short side is this many pixels (int), to exactly ``(width, height)``
    (tuple), or keep the native size (None). ``decode``: ``auto`` | ``nonref`` | ``all``, which
    frames to decode (see the module docstring). ``seek_gap``: seek instead of decoding when the next
    sample is more than this many seconds ahead. ``threads``: decoder threads (0 = FFmpeg's choice).
    A file that ends early (truncated) yields the last decoded frame for the remaining clips
    after logging a warning; one with no decodable frame raises :class:`MediaError`.
    """
    path = check_readable(path)
    if clip_len <= 0:
        raise InputError(f"clip length must be positive, got {clip_len}")
    if frames_per_clip < 1:
        raise InputError(f"frames per clip must be at least 1, got {frames_per_clip}")
    if duration is None:
        duration = probe(path).duration
    targets = sample_times(duration, clip_len, frames_per_clip).reshape(-1)
    with open_media(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        skip = frame_skip_mode(path, decode, max_gap=clip_len / 8)
        if skip != "NONE":
            stream.codec_context.skip_frame = skip
        frames = _nearest_frames(container, stream, targets, size, seek_gap, path)
        pending: list[np.ndarray] = []
        times: list[float] = []
        for i, (image, t) in enumerate(frames):
            pending.append(image)
            times.append(t)
            if len(pending) == frames_per_clip:
                yield ClipFrames(index=i // frames_per_clip, frames=pending, times=times)
                pending, times = [], []


def _nearest_frames(container, stream, targets: np.ndarray, size: FrameSize, seek_gap: float, path: str):
    """For each target time (sorted), the decoded frame nearest to it, as ``(rgb, time)``."""
    time_base: Fraction = stream.time_base
    start_time = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
    targets = targets + start_time
    ti, n = 0, len(targets)
    prev = prev_t = None
    last_rgb = last_t = None
    counter = 0

    def convert(frame: av.VideoFrame) -> np.ndarray:
        w, h = _target_size(frame.width, frame.height, size)
        return frame.reformat(width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()

    can_seek = True
    seek_from: float | None = None  # where decoding was when it last seeked
    while ti < n:
        restarted = False
        try:
            for frame in container.decode(stream):
                counter += 1
                t = _frame_time(frame, counter / float(stream.average_rate or 25))
                if seek_from is not None:
                    # Landing on a keyframe at or before where we were: seeking cannot skip here.
                    can_seek = can_seek and t > seek_from
                    seek_from = None
                while ti < n and t >= targets[ti]:
                    if prev is not None and targets[ti] - prev_t < t - targets[ti]:
                        pick, pick_t = prev, prev_t
                    else:
                        pick, pick_t = frame, t
                    last_rgb, last_t = convert(pick), pick_t
                    yield last_rgb, last_t - start_time
                    ti += 1
                if ti >= n:
                    break
                prev, prev_t = frame, t
                if can_seek and targets[ti] - t > seek_gap:
                    container.seek(int(targets[ti] / time_base), stream=stream, backward=True)
                    seek_from, restarted = t, True
                    break
        except (av.FFmpegError, EOFError) as err:
            if last_rgb is None and prev is None:
                raise MediaError(f"{path}: video data cannot be decoded ({_short(err)})") from None
            log.warning("%s: decoding stopped early (%s); the file may be truncated", path, _short(err))
            break
        if not restarted:
            break
    if ti < n:
        if prev is not None:
            last_rgb, last_t = convert(prev), prev_t
        if last_rgb is None:
            raise MediaError(f"{path}: no video frame could be decoded")
        if n - ti > 1:
            log.warning(
                "%s: video ends at %.2f s, before its stated duration; repeating the last frame",
                path,
                last_t - start_time,
            )
        for _ in range(n - ti):
            yield last_rgb, last_t - start_time
