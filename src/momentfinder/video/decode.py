"""Streaming video decoding with PyAV: probe a file, sample frames per clip.

Memory stays constant whatever the length: frames are decoded in order and only the ones
nearest to each sampling time are converted to RGB (already resized by swscale) and yielded.

``decode="exact"`` (the default) samples exactly the frames that decoding every frame
(``"all"``) samples, decoding only what they depend on (:mod:`momentfinder.video.sparse`); a file
it cannot plan, or whose sparse decoding fails midway, is decoded by the in-order path below. That
path has two tricks that keep decoding cheap without changing which frames are sampled by more
than a couple of frame periods:

* frames nothing else refers to are never decoded; the sample is the decoded frame nearest
  to the target time. ``decode="auto"`` skips every B-frame when a check on the first seconds
  shows that this leaves the other frames bit-identical (x264 and most H.264 encoders: P-frames
  never reference B-frames), and otherwise only non-reference frames (``"nonref"``, always
  safe); ``"all"`` decodes everything;
* when the next sampling time is far ahead (long clips), the demuxer seeks to the keyframe
  before it instead of decoding everything in between.

Files as they really come:

* times are the frames' own timestamps, so variable-frame-rate video samples the right frames;
* frames are turned upright as players show them (the stream's display matrix: phone video);
* damaged data is skipped as FFmpeg's own tools skip it (a packet that fails to demux or decode
  is dropped and decoding resumes at the next readable one); the spans that could not be read
  are reported (:class:`DecodeReport`), and a file that ends early (truncated) yields no clip
  after the last decodable frame, instead of repeating it;
* an attached picture (cover art of an audio file) is not video, and a still image (a single
  frame) or data that no decoder can read is refused by :func:`probe`.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.logging
import numpy as np

from ..errors import InputError, MediaError
from ..types import VideoInfo, n_clips_for
from .sparse import (
    Unplannable,
    iter_planned_frames,
    longest_gap,
    needed_packets,
    scan_packets,
    select_frames,
    standin_packets,
)

log = logging.getLogger(__name__)

# FFmpeg prints every decoding error of a damaged file to the terminal (hundreds of lines);
# momentfinder reports damage itself (one warning per unreadable span), so only fatal ones pass.
if av.logging.get_level() is None:
    av.logging.set_libav_level(av.logging.FATAL)

FrameSize = int | tuple[int, int] | None  # short side in pixels, exact (width, height), or native

# A video that decodes to less than its stated duration by more than this (seconds, or two frame
# periods when longer) ends early: a truncated file, whose missing part yields no clip.
TRUNCATION_SLACK = 1.0
_MAX_DEMUX_ERRORS = 32  # demuxer errors in a row before the rest of a file counts as unreadable
# Matroska stores packets one after another, with only element headers (tens of bytes) between
# them; more bytes than this passed over between two packets is a broken cluster the demuxer
# skipped without an error (it resyncs at the next cluster).
RESYNC_BYTES = 4096


@dataclass
class ClipFrames:
    """RGB frames sampled from one clip: ``frames`` is a list of ``(H, W, 3)`` uint8 arrays."""

    index: int
    frames: list[np.ndarray]
    times: list[float]  # seconds, the presentation time of each sampled frame


@dataclass
class DecodeReport:
    """What :func:`iter_clip_frames` found besides the frames, complete once the iteration ends.

    ``frames``: frames decoded; ``standins``: reference pictures sent as cheap stand-ins instead
    (exact sparse decoding of H.264, :func:`momentfinder.video.sparse.standin_packets`); ``skipped``: packets that could not be read (demuxer or decoder
    errors); ``unreadable``: ``(start, end)`` seconds of video that could not be decoded and were
    skipped; ``end``: where decodable video ends when that is before the stated duration (a
    truncated file: no clip after it was yielded), else None.
    """

    frames: int = 0
    standins: int = 0
    skipped: int = 0
    unreadable: list[tuple[float, float]] = field(default_factory=list)
    end: float | None = None


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
    """The reason of an error in a few words: FFmpeg's own (without the errno and the file name
    PyAV adds, which the caller says already), else the first line."""
    if isinstance(err, av.FFmpegError) and getattr(err, "strerror", None):
        return str(err.strerror)[:200]
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is moving pictures: cover art (an attached picture) is not."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _stream_end(stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time or 0
        return float((stream.duration + start) * stream.time_base)
    return None


def _scan_duration(container: av.container.InputContainer, video: av.stream.Stream | None) -> float:
    """Last packet end time over all audio/video streams (demuxing only, no decoding).

    Raw elementary streams carry no timestamps: there the video packet count over the frame
    rate gives the length.
    """
    end = 0.0
    rate = float(video.average_rate or video.guessed_rate or video.base_rate or 0) if video else 0.0
    video_packets = 0
    streams = [s for s in (video, *container.streams.audio) if s is not None]
    try:
        for packet in container.demux(streams):
            if packet.size == 0:
                continue
            if packet.stream is video:
                video_packets += 1
            if packet.pts is None or packet.time_base is None:
                continue
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except av.FFmpegError:
        pass  # damaged data: what was read so far is what there is
    if rate > 0:
        end = max(end, video_packets / rate)
    return end


def _frame_period(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1.0 / float(rate) if rate else 0.04


def _decodable_frames(path: str, limit: int) -> int:
    """How many frames of the video stream decode, counting up to ``limit``."""
    with open_media(path) as container:
        stream = video_stream(container)
        n = 0
        for _ in decode_frames(container, stream):
            n += 1
            if n >= limit:
                break
        return n


MIN_AUDIO_SECONDS = 0.1  # an audio-only file shorter than this is noise, not a recording


def probe(path: str | os.PathLike) -> VideoInfo:
    """Duration, frame rate and streams of a media file.

    Duration falls back from the container header to the stream headers to a demux scan, so
    files with missing duration metadata still get one. Raises :class:`MediaError` for files
    that are not media, have no audio/video data, or are a still image (one frame, no audio);
    a still picture beside audio (cover art) is not counted as video.
    """
    path = check_readable(path)
    with open_media(path) as container:
        video = video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is not None and not (video.codec_context.width and video.codec_context.height):
            video = None  # no picture size: a decoder could not make sense of it (random bytes)
        if video is None and audio is None:
            raise MediaError(
                f"{path}: not a readable video or audio file (no decodable audio or video stream)"
            )
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        if not duration:
            ends = [e for e in (_stream_end(s) for s in (video, audio) if s is not None) if e]
            duration = max(ends) if ends else None
        if not duration:
            duration = _scan_duration(container, video)
        if not duration or not math.isfinite(duration) or duration <= 0:
            raise MediaError(f"{path}: contains no decodable audio or video data (zero length)")
        still = False
        if video is not None and duration < max(0.2, 2.5 * _frame_period(video)):
            # A frame or two long: a still image (PNG, JPEG, one-frame file) or noise that a demuxer
            # took for video. Count the frames that really decode.
            frames = _decodable_frames(path, 2)
            if frames == 0 and audio is None:
                raise MediaError(f"{path}: not a readable video file (its video data cannot be decoded)")
            still = frames < 2
        if still and audio is None:
            raise MediaError(f"{path}: is a still image (a single frame), not a video")
        if still:
            video = None  # a picture beside audio: an audio file
        if video is None and duration < MIN_AUDIO_SECONDS:
            # a few milliseconds of "audio" is what a demuxer makes of random bytes, not a recording
            raise MediaError(f"{path}: not a readable media file ({duration * 1000:.0f} ms of audio data)")
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


def _packet_time(packet: av.Packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float(ts * packet.time_base)


def read_packets(
    container: av.container.InputContainer,
    streams: av.stream.Stream | Sequence[av.stream.Stream],
    on_error: Callable[[float | None], None] | None = None,
    on_resync: Callable[[float | None], None] | None = None,
) -> Iterator[av.Packet]:
    """The packets of ``streams`` in file order (then the empty packets that flush decoders),
    skipping what the demuxer cannot read: after an error demuxing resumes where it stopped, up
    to a few dozen errors in a row (then the rest counts as unreadable); ``on_error(None)``
    hears of each. In Matroska, where packets lie one after another, ``on_resync(time)`` hears
    of data the demuxer passed over without an error (over :data:`RESYNC_BYTES` between two
    packets of any stream), with the time of the next packet of ``streams``."""
    wanted = {s.index for s in ([streams] if isinstance(streams, av.stream.Stream) else streams)}
    watch = on_resync is not None and "matroska" in (container.format.name or "")
    block_pos = block_end = -1  # the last block read (laced packets share its position)
    passed_over = False
    failures = 0
    while True:
        try:
            for packet in container.demux() if watch else container.demux(streams):
                failures = 0
                if watch and packet.size and packet.pos >= 0:
                    if packet.pos == block_pos:
                        block_end += packet.size
                    else:
                        passed_over |= block_end >= 0 and packet.pos - block_end > RESYNC_BYTES
                        block_pos, block_end = packet.pos, packet.pos + packet.size
                if packet.stream.index not in wanted:
                    continue
                if passed_over and packet.size:
                    on_resync(_packet_time(packet))
                    passed_over = False
                yield packet
            return
        except av.FFmpegError:  # from the demuxer (the consumer's exceptions never reach here)
            failures += 1
            if on_error is not None:
                on_error(None)
            if failures >= _MAX_DEMUX_ERRORS:
                return


def decode_frames(
    container: av.container.InputContainer,
    streams: av.stream.Stream | Sequence[av.stream.Stream],
    on_error: Callable[[float | None], None] | None = None,
    on_resync: Callable[[float | None], None] | None = None,
) -> Iterator[av.frame.Frame]:
    """Decoded frames of ``streams`` in order, skipping what cannot be read.

    A packet that fails to decode is dropped, as FFmpeg's own tools drop it (the decoder
    resyncs at the next decodable packet, at the latest the next keyframe); demuxer errors are
    skipped by :func:`read_packets`. ``on_error(time)`` hears of every dropped packet (seconds,
    or None when the demuxer could not even say where); ``on_resync(time)`` of data the demuxer
    passed over silently (:func:`read_packets`). After such a gap the packets up to the next
    keyframe are dropped too (each heard of by ``on_error``): they refer to pictures that were
    lost, and the decoder would conceal them with whatever it still holds, without an error.
    """
    awaiting_key = False

    def resynced(t: float | None) -> None:
        nonlocal awaiting_key
        awaiting_key = True
        on_resync(t)

    for packet in read_packets(container, streams, on_error, resynced if on_resync else None):
        if awaiting_key and packet.size:
            if not packet.is_keyframe:
                if on_error is not None:
                    on_error(_packet_time(packet))
                continue
            awaiting_key = False
        try:
            frames = packet.decode()
        except EOFError:  # this decoder is drained: nothing more will come from it
            continue
        except (av.FFmpegError, ValueError):
            if on_error is not None:
                on_error(_packet_time(packet))
            continue
        yield from frames


DECODE_MODES = ("exact", "auto", "nonref", "all")


def frame_skip_mode(
    path: str, decode: str = "auto", max_gap: float = 0.25, check_seconds: float = 4.0
) -> str:
    """The FFmpeg ``skip_frame`` setting for ``decode`` mode: ``BIDIR``, ``NONREF`` or ``NONE``.

    ``auto`` skips B-frames only when that is exact for the other frames and leaves no gap over
    ``max_gap`` seconds between decoded frames (so samples move by at most ``max_gap / 2``).
    """
    if decode not in DECODE_MODES:
        raise InputError(f"decode mode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    if decode in ("all", "exact"):
        return "NONE"
    if decode == "nonref":
        return "NONREF"
    return "BIDIR" if _bidir_is_exact(path, check_seconds, max_gap) else "NONREF"


def _decoded_frames(path: str, skip: str, seconds: float) -> dict[float, np.ndarray]:
    frames: dict[float, np.ndarray] = {}
    with open_media(path) as container:
        stream = video_stream(container)
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


# --- orientation ------------------------------------------------------------------------------


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (FFmpeg's 3×3 ``int32`` layout, 16.16 fixed point), or None."""
    data = frame.side_data.get("DISPLAYMATRIX")
    if data is None:
        return None
    values = np.frombuffer(bytes(data), dtype="<i4")
    return tuple(int(v) for v in values) if len(values) == 9 else None


def display_rotation(matrix: tuple[int, ...] | None) -> float:
    """Degrees the picture turns clockwise on display (FFmpeg's ``get_rotation``), in [0, 360)."""
    if matrix is None:
        return 0.0
    a, b, c, d = (v / 65536.0 for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    scale0, scale1 = math.hypot(a, c), math.hypot(b, d)
    if scale0 == 0 or scale1 == 0:
        return 0.0
    theta = -round(-math.degrees(math.atan2(b / scale1, a / scale0)))
    return theta - 360 * math.floor(theta / 360 + 0.9 / 360)


def _swaps_axes(matrix: tuple[int, ...] | None) -> bool:
    theta = display_rotation(matrix)
    return abs(theta - 90) < 1 or abs(theta - 270) < 1


def upright(image: np.ndarray, matrix: tuple[int, ...] | None) -> np.ndarray:
    """``image`` ``(H, W, C)`` as players show it: FFmpeg's autorotate for the display matrix
    (quarter turns and flips; other angles are left as stored)."""
    if matrix is None:
        return image
    theta = display_rotation(matrix)
    if abs(theta - 90) < 1:  # transpose=cclock_flip (a plain transpose) or clock
        out = image.transpose(1, 0, 2) if matrix[3] > 0 else np.rot90(image, -1)
    elif abs(theta - 270) < 1:  # transpose=clock_flip (the anti-transpose) or cclock
        out = image[::-1, ::-1].transpose(1, 0, 2) if matrix[3] < 0 else np.rot90(image, 1)
    elif abs(theta - 180) < 1:
        out = image[:, ::-1] if matrix[0] < 0 else image
        out = out[::-1] if matrix[4] < 0 else out
    elif abs(theta) < 1:
        out = image[::-1] if matrix[4] < 0 else image
    else:
        return image
    return np.ascontiguousarray(out)


# --- sampling ---------------------------------------------------------------------------------


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


def to_rgb(frame: av.VideoFrame, size: FrameSize = None) -> np.ndarray:
    """``frame`` as an upright RGB ``(H, W, 3)`` array, resized to ``size`` as players show it
    (an exact ``(width, height)`` is the size after turning the picture upright)."""
    matrix = display_matrix(frame)
    if isinstance(size, tuple) and _swaps_axes(matrix):
        size = (size[1], size[0])
    w, h = _target_size(frame.width, frame.height, size)
    image = frame.reformat(width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()
    return upright(image, matrix)


def _timestamped(path: str) -> bool:
    """Whether the video packets carry timestamps (raw elementary streams do not)."""
    with open_media(path) as container:
        try:
            for packet in container.demux(video_stream(container)):
                if packet.size:
                    return packet.pts is not None or packet.dts is not None
        except av.FFmpegError:
            pass
    return True


def iter_clip_frames(
    path: str | os.PathLike,
    clip_len: float = 2.0,
    frames_per_clip: int = 1,
    size: FrameSize = 224,
    duration: float | None = None,
    decode: str = "exact",
    seek_gap: float = 12.0,
    threads: int = 0,
    report: DecodeReport | None = None,
) -> Iterator[ClipFrames]:
    """Yield the sampled RGB frames of every clip, in order, decoding as a stream.

    ``size``: resize so the short side is this many pixels (int), to exactly ``(width, height)``
    (tuple), or keep the native size (None); frames are upright as players show them.
    ``decode``: ``exact`` | ``auto`` | ``nonref`` | ``all``, which frames to decode (see the
    module docstring). ``seek_gap``: seek instead of decoding when the next sample is more than
    this many seconds ahead. ``threads``: decoder threads (0 = FFmpeg's choice).

    Damaged data is skipped; ``report`` (a :class:`DecodeReport`, when given) says which spans
    could not be read. A file that ends early (truncated) yields the clips up to its last
    decodable frame and sets ``report.end``; one with no decodable frame raises
    :class:`MediaError`.
    """
    path = check_readable(path)
    if clip_len <= 0:
        raise InputError(f"clip length must be positive, got {clip_len}")
    if frames_per_clip < 1:
        raise InputError(f"frames per clip must be at least 1, got {frames_per_clip}")
    if decode not in DECODE_MODES:
        raise InputError(f"decode mode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    if duration is None:
        duration = probe(path).duration
    report = report if report is not None else DecodeReport()
    targets = sample_times(duration, clip_len, frames_per_clip).reshape(-1)
    frames = _sampled_frames(
        path, targets, size, duration, decode, clip_len, frames_per_clip, seek_gap, threads, report
    )
    pending: list[np.ndarray] = []
    times: list[float] = []
    for i, (image, t) in enumerate(frames):
        pending.append(image)
        times.append(t)
        if len(pending) == frames_per_clip:
            yield ClipFrames(index=i // frames_per_clip, frames=pending, times=times)
            pending, times = [], []
    # The caller turns the report into what people read (the finder: notes printed as warnings).
    if report.end is not None:
        log.info(
            "%s: video ends at %.2f s, before its stated %.2f s (truncated?)", path, report.end, duration
        )
    for a, b in report.unreadable:
        log.info("%s: video unreadable from %.2f s to %.2f s (damaged data skipped)", path, a, b)


def _sampled_frames(
    path: str,
    targets: np.ndarray,
    size: FrameSize,
    duration: float,
    decode: str,
    clip_len: float,
    frames_per_clip: int,
    seek_gap: float,
    threads: int,
    report: DecodeReport,
) -> Iterator[tuple[np.ndarray, float]]:
    """``(rgb, seconds)`` for every target: sparsely (``exact``) where the file allows, else (or
    for the rest of a file whose sparse decoding failed midway) by decoding in order."""
    done = 0  # targets already served
    if decode == "exact":
        try:
            for item in _sparse_frames(path, targets, size, duration, threads, report):
                yield item
                done += 1
            return
        except Unplannable as why:
            # the reference path samples the same frames; it also skips and reports damage
            log.info("%s: decoding every frame (%s)", path, why)
            report.frames = report.standins = 0
            decode = "all"
    frames = _reference_frames(
        path, targets, size, duration, decode, clip_len, frames_per_clip, seek_gap, threads, report
    )
    for i, item in enumerate(frames):
        if i >= done:
            yield item


def _sparse_frames(
    path: str, targets: np.ndarray, size: FrameSize, duration: float, threads: int, report: DecodeReport
) -> Iterator[tuple[np.ndarray, float]]:
    """The reference path's sampled frames (``(rgb, seconds)`` per target) by exact sparse
    decoding (:mod:`momentfinder.video.sparse`); raises :class:`Unplannable` when it cannot."""
    with open_media(path) as container:  # 1. plan: demux only
        stream = video_stream(container)
        if stream is None:
            raise MediaError(f"{path}: has no video stream")
        table = scan_packets(container, stream)
        start_time = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        period = _frame_period(stream)
    if not table.shown.any():
        raise Unplannable("no frame is shown")
    absolute = targets + start_time
    last = float(table.times(table.pts[table.shown]).max())
    if absolute[-1] > last and duration - (last - start_time + period) > max(TRUNCATION_SLACK, 2 * period):
        raise Unplannable("video ends before its stated duration")
    if longest_gap(table) > max(0.5, 8 * period):  # the reference path tells pause from damage
        raise Unplannable("a long gap between frames")
    picks = select_frames(table, absolute)
    with open_media(path) as container:  # 2. decode what the picked frames need, from the start
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        previous: tuple[int, np.ndarray] | None = None
        tb = stream.time_base
        needed = needed_packets(table, picks)
        standin = standin_packets(table, picks, needed)
        for _, frame in iter_planned_frames(container, stream, table, picks, needed, standin):
            if previous is None or previous[0] != frame.pts:
                previous = (frame.pts, to_rgb(frame, size))
            # the time as Frame.time computes it (drained frames come without a time base)
            yield previous[1], float(frame.pts) * tb.numerator / tb.denominator - start_time
    report.frames, report.standins = int((needed & ~standin).sum()), int(standin.sum())


def _reference_frames(
    path: str,
    targets: np.ndarray,
    size: FrameSize,
    duration: float,
    decode: str,
    clip_len: float,
    frames_per_clip: int,
    seek_gap: float,
    threads: int,
    report: DecodeReport,
) -> Iterator[tuple[np.ndarray, float]]:
    """The frame nearest to each target, decoding in order (every frame, or all but the skipped
    kinds of ``decode``), seeking across gaps over ``seek_gap`` seconds."""
    with open_media(path) as container:
        stream = video_stream(container)
        if stream is None:
            raise MediaError(f"{path}: has no video stream")
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        # Frames without timestamps (raw elementary streams) are timed by counting them: every one
        # must be decoded then.
        skip = frame_skip_mode(path, decode, max_gap=clip_len / 8) if _timestamped(path) else "NONE"
        if skip != "NONE":
            stream.codec_context.skip_frame = skip

        def kept(end: float) -> int:
            """How many targets to sample when decodable video ends at ``end`` seconds."""
            if duration - end <= max(TRUNCATION_SLACK, 2 * _frame_period(stream)):
                return len(targets)
            report.end = end
            return min(len(targets), n_clips_for(end, clip_len) * frames_per_clip)

        yield from _nearest_frames(container, stream, targets, size, seek_gap, path, report, kept)


class _DamageLog:
    """Turns dropped packets and decoded frames into the unreadable spans of a report (seconds
    from the start of the stream).

    A packet that fails to decode says which time it held; a span is a run of such times with no
    decoded frame among them (decoders hand out frames late, so spans are found in presentation
    order at the end, not as events arrive). A demuxer error says no time: the span runs from the
    last decoded frame to the next one. A demuxer that resyncs silently (Matroska skips a broken
    cluster) leaves a gap in the decoded frames: a long one that ends at a failure, or where the
    demuxer passed over data (:func:`read_packets`), is unreadable too. (A long gap alone is not:
    variable-frame-rate video pauses at will.)
    """

    def __init__(self, report: DecodeReport, start_time: float, period: float):
        self.report, self.start_time, self.period = report, start_time, period
        self.seeks: set[float] = set()  # the last decoded frame before each seek: gaps, not damage
        self.failed: list[float] = []  # times of the packets that could not be decoded
        self.resyncs: list[float] = []  # times where the demuxer went on after passing over data
        self.decoded: list[float] = []  # times of the frames that were
        self.spans: list[tuple[float, float]] = []
        self.last_good: float | None = None  # the last decoded frame, since the last seek
        self.lost_since: float | None = None  # after a demuxer error: where the lost data began

    def error(self, t: float | None) -> None:
        self.report.skipped += 1
        if t is not None:
            self.failed.append(t - self.start_time)
        elif self.lost_since is None:
            self.lost_since = self.last_good + self.period if self.last_good is not None else 0.0

    def resynced(self, t: float | None) -> None:
        self.report.skipped += 1
        if t is not None:
            self.resyncs.append(t - self.start_time)

    def good(self, t: float) -> None:
        self.report.frames += 1
        self.decoded.append(t)
        if self.lost_since is not None:
            if t > self.lost_since:
                self.spans.append((self.lost_since, t))
            self.lost_since = None
        self.last_good = t if self.last_good is None else max(self.last_good, t)

    def seeked(self) -> None:
        if self.last_good is not None:
            self.seeks.add(self.last_good)
        self.last_good = None

    def finish(self, end: float) -> None:
        """The spans into the report (a span still open runs to ``end``), neighbours (up to two
        decoded frames apart) merged."""
        decoded = sorted(self.decoded)
        spans = list(self.spans)
        if self.lost_since is not None and end > self.lost_since:
            spans.append((self.lost_since, end))
        run: list[float] = []
        for t in sorted(self.failed):
            if run and bisect.bisect_right(decoded, t) != bisect.bisect_right(decoded, run[-1]):
                spans.append(self._span(run, decoded))  # a decoded frame between: a new run
                run = []
            run.append(t)
        if run:
            spans.append(self._span(run, decoded))
        lost = sorted(self.failed + self.resyncs)
        long_gap = max(0.5, 8 * self.period)
        for a, b in zip(decoded, decoded[1:], strict=False):
            if b - a <= long_gap or a in self.seeks:
                continue
            near = bisect.bisect_left(lost, a)
            if near < len(lost) and lost[near] <= b + long_gap:
                spans.append((a + self.period, b))
        merged: list[tuple[float, float]] = []
        for a, b in sorted(spans):
            # a frame or two that decode amid damage (error concealment) do not split a span
            if merged and a <= merged[-1][1] + 3 * self.period + 1e-6:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.report.unreadable = [(round(max(0.0, a), 3), round(b, 3)) for a, b in merged if b > a]

    def _span(self, run: list[float], decoded: list[float]) -> tuple[float, float]:
        """The gap between decoded frames around a run of failed times. (Threaded decoders report
        an error a few packets late: the decoded frames, not the failed times, mark the edges.)"""
        before = bisect.bisect_left(decoded, run[0])
        start = min(run[0], decoded[before - 1] + self.period) if before else run[0]
        after = bisect.bisect_right(decoded, run[-1])
        stop = run[-1] + self.period
        return start, min(stop, decoded[after]) if after < len(decoded) else stop


def _nearest_frames(
    container,
    stream,
    targets: np.ndarray,
    size: FrameSize,
    seek_gap: float,
    path: str,
    report: DecodeReport,
    kept: Callable[[float], int],
):
    """For each target time (sorted), the decoded frame nearest to it, as ``(rgb, time)``.

    When decodable video ends before the last target, ``kept(end)`` says how many targets to
    serve (with the last frame) in all.
    """
    time_base: Fraction = stream.time_base
    start_time = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
    period = _frame_period(stream)
    damage = _DamageLog(report, start_time, period)
    targets = targets + start_time
    ti, n = 0, len(targets)
    prev = prev_t = None
    last_rgb = last_t = None
    counter = 0

    can_seek = True
    seek_from: float | None = None  # where decoding was when it last seeked
    while ti < n:
        restarted = False
        for frame in decode_frames(container, stream, damage.error, damage.resynced):
            counter += 1
            t = _frame_time(frame, start_time + counter * period)
            damage.good(t - start_time)
            if seek_from is not None:
                # Landing on a keyframe at or before where we were: seeking cannot skip here.
                can_seek = can_seek and t > seek_from
                seek_from = None
            while ti < n and t >= targets[ti]:
                if prev is not None and targets[ti] - prev_t < t - targets[ti]:
                    pick, pick_t = prev, prev_t
                else:
                    pick, pick_t = frame, t
                last_rgb, last_t = to_rgb(pick, size), pick_t
                yield last_rgb, last_t - start_time
                ti += 1
            if ti >= n:
                break
            prev, prev_t = frame, t
            if can_seek and targets[ti] - t > seek_gap:
                try:
                    container.seek(int(targets[ti] / time_base), stream=stream, backward=True)
                except av.FFmpegError:
                    can_seek = False  # decode through instead
                    continue
                damage.seeked()
                seek_from, restarted = t, True
                break
        if not restarted:
            break
    if prev is not None and (last_t is None or prev_t > last_t):
        last_rgb, last_t = None, prev_t
    if last_t is None:
        raise MediaError(f"{path}: no video frame could be decoded")
    end = last_t - start_time + period
    total = kept(end) if ti < n else n
    damage.finish(end if report.end is None else report.end)
    if report.end is not None:  # truncated: damage at the very end is the truncation itself
        report.unreadable = [(a, min(b, report.end)) for a, b in report.unreadable if a < report.end - 1e-6]
    if ti < total and last_rgb is None:
        last_rgb = to_rgb(prev, size)
    for _ in range(total - ti):
        yield last_rgb, last_t - start_time
