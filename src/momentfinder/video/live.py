"""Live sources: sampled frames from a video of no known duration (a stream, a camera, or a file
played as one), with their stream times, as they arrive.

:class:`LiveSource` opens ``source`` with PyAV: a file (paced at its frame rate with
``realtime``, else as fast as it decodes; ``loop`` plays it again at its end), a network stream
(``rtsp://``, ``rtmp://``, ``http(s)://`` including HLS playlists, ``udp://``, ``srt://``...) or a
capture device (``format="v4l2"`` with ``/dev/video0``, ``avfoundation``, ``dshow``, or ``lavfi``
for FFmpeg's test sources). A network stream that drops is reopened (bounded retries with
exponential backoff): a stream that has a duration and can seek (a file served over HTTP)
resumes where it stopped on the same timeline; a live one continues after a gap as long as the
outage. Frames already yielded are never yielded again.

Stream time starts at 0 at the first frame. Clip ``k`` covers ``[k, k + 1) * clip_len`` seconds; its
``frames_per_clip`` samples are the first frames at or after evenly spaced times inside it; a clip
with no frame at all (the stream paused or was down) is skipped (:attr:`SourceStats.gap_clips`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from ..errors import InputError, MediaError
from .decode import FrameSize, check_readable, to_rgb, video_stream

log = logging.getLogger(__name__)

NETWORK_SCHEMES = (
    "rtsp",
    "rtsps",
    "rtmp",
    "rtmps",
    "http",
    "https",
    "udp",
    "tcp",
    "srt",
    "rtp",
    "mms",
    "hls",
)
DEVICE_FORMATS = ("v4l2", "video4linux2", "avfoundation", "dshow", "gdigrab", "x11grab", "lavfi", "decklink")
_SKIP_NONREF = ("h264", "hevc", "mpeg2video", "mpeg4", "vp8", "vp9", "av1")  # inter codecs: safe to skip


@dataclass
class LiveConfig:
    """How a live source is opened and sampled (seconds unless said)."""

    clip_len: float = 2.0
    frames_per_clip: int = 1
    size: FrameSize = 224  # frames are resized so the short side is this (or exactly (w, h))
    realtime: bool = False  # pace a file at its frame rate (streams and devices pace themselves)
    loop: bool = False  # a file plays again from its start at its end
    max_seconds: float | None = None  # stop after this much stream time
    reconnects: int = 5  # attempts in a row before a dropped network stream counts as lost
    backoff: float = 0.5  # wait before the first retry; doubles up to backoff_max
    backoff_max: float = 8.0
    timeout: float = 10.0  # a network open or read blocking longer than this is a drop
    format: str | None = None  # input format: a capture device (v4l2, avfoundation, dshow, lavfi...)
    options: dict[str, str] = field(default_factory=dict)  # FFmpeg options (e.g. rtsp_transport=tcp)

    def __post_init__(self) -> None:
        if not self.clip_len > 0:
            raise InputError(f"clip length must be positive, got {self.clip_len}")
        if self.frames_per_clip < 1:
            raise InputError(f"frames per clip must be at least 1, got {self.frames_per_clip}")
        if self.reconnects < 0:
            raise InputError(f"reconnect attempts must be >= 0, got {self.reconnects}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InputError(f"--max-seconds must be positive, got {self.max_seconds}")


@dataclass
class LiveClip:
    """The sampled RGB frames of clip ``index`` (``(H, W, 3)`` uint8) and their stream times."""

    index: int
    frames: list[np.ndarray]
    times: list[float]


@dataclass
class SourceStats:
    """What happened while reading: frames decoded, clips yielded, clips with no frame (gaps),
    reconnections, packets that failed to decode, and why reading ended."""

    frames: int = 0
    clips: int = 0
    gap_clips: int = 0
    reconnects: int = 0
    damaged: int = 0
    stream_time: float = 0.0
    ended: str = ""


def source_kind(source: str, format: str | None = None) -> str:
    """``network``, ``device`` or ``file``."""
    if format is not None or source.startswith("/dev/video"):
        return "device"
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in NETWORK_SCHEMES:
        return "network"
    if scheme and scheme != "file":
        raise InputError(
            f"{source}: unsupported source scheme {scheme!r} (a file, {', '.join(NETWORK_SCHEMES)})"
        )
    return "file"


class LiveSource:
    """Sampled clips of ``source`` as they arrive (see module docstring)."""

    def __init__(
        self,
        source: str,
        config: LiveConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config or LiveConfig()
        self.source = source[len("file://") :] if source.startswith("file://") else source
        self.kind = source_kind(source, self.config.format)
        self.stats = SourceStats()
        self._sleep, self._clock = sleep, clock
        if self.kind == "file":
            check_readable(self.source)

    @property
    def live(self) -> bool:
        """Whether frames come at the pace of the world (a stream, a device, a file with realtime):
        then a slow consumer must drop clips rather than hold the source back."""
        return self.kind != "file" or self.config.realtime

    def open(self) -> av.container.InputContainer:
        cfg = self.config
        options = dict(cfg.options)
        try:
            if self.kind == "network":
                return av.open(
                    self.source, options=options, timeout=(cfg.timeout, cfg.timeout), metadata_errors="ignore"
                )
            if self.kind == "device":
                fmt = cfg.format or "v4l2"
                return av.open(self.source, format=fmt, options=options, metadata_errors="ignore")
            return av.open(self.source, options=options, metadata_errors="ignore")
        except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
            text = str(err).strip()
            reason = getattr(err, "strerror", None) or (text.splitlines()[0] if text else type(err).__name__)
            raise MediaError(f"{self.source}: cannot open ({reason})") from None

    def clips(self, stop: threading.Event | None = None) -> Iterator[LiveClip]:
        """The sampled clips, in order, until the source ends, is lost or ``stop`` is set."""
        cfg = self.config
        stop = stop or threading.Event()
        sampler = _Sampler(cfg)
        failures = 0  # failed opens / drops in a row
        opened_once = False
        anchor = 0.0  # native time of the frame that maps to stream time ``base``
        base: float | None = 0.0  # stream time of the next connection's first frame; None: same timeline
        previous_base = 0.0  # stream time of the frame at ``anchor``
        last: float | None = None  # stream time of the last frame used
        lost_at: float | None = None  # wall clock when a live stream dropped
        pace0: float | None = None  # wall clock of stream time 0 (realtime files)
        period = 0.04
        while not stop.is_set():
            try:
                container = self.open()
            except MediaError as err:
                if not opened_once or self.kind != "network":
                    raise
                failures += 1
                if failures > cfg.reconnects:
                    self.stats.ended = f"stream lost after {cfg.reconnects} reconnect attempts ({err})"
                    break
                self._backoff(failures, stop)
                continue
            if opened_once and self.kind == "network":
                self.stats.reconnects += 1
                log.warning("%s: reconnected", self.source)
            opened_once = True
            finished = dropped = False
            with container:
                stream = video_stream(container)
                if stream is None:
                    raise MediaError(f"{self.source}: has no video stream")
                stream.thread_type = "AUTO"
                if stream.codec_context.name in _SKIP_NONREF:
                    stream.codec_context.skip_frame = "NONREF"  # frames no other frame refers to
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                period = 1.0 / float(rate) if rate else period
                duration = container.duration / av.time_base if container.duration else None
                if last is not None and self.kind == "network":
                    base = last + period + (self._clock() - lost_at if lost_at is not None else 0.0)
                    if duration:  # a stream with a length (a file over HTTP): resume where it dropped
                        try:
                            container.seek(int((last - previous_base + anchor) * av.time_base), backward=True)
                            base = None
                        except (av.FFmpegError, OSError):
                            pass
                first = True
                try:
                    for frame in _frames(container, stream, self.stats):
                        if stop.is_set():
                            break
                        native = float(frame.time) if frame.time is not None else self.stats.frames * period
                        if first:
                            first = False
                            if base is not None:
                                anchor, previous_base, base = native, base, None
                        t = native - anchor + previous_base
                        if last is not None and t <= last + 1e-6:
                            continue  # seen before the drop
                        failures = 0
                        if cfg.max_seconds is not None and t >= cfg.max_seconds:
                            self.stats.ended = f"stopped after {cfg.max_seconds:g} s of stream"
                            finished = True
                            break
                        if cfg.realtime:
                            pace0 = self._clock() - t if pace0 is None else pace0
                            wait = pace0 + t - self._clock()
                            if wait > 0:
                                self._sleep(wait)
                        self.stats.frames += 1
                        last = t
                        self.stats.stream_time = t + period
                        yield from sampler.add(to_rgb(frame, cfg.size) if sampler.wants(t) else None, t)
                except _Dropped as err:
                    dropped = True
                    log.warning("%s: stream dropped at %.1f s (%s)", self.source, last or 0.0, err)
            if stop.is_set() or finished:
                break
            if self.kind == "file":
                if cfg.loop and last is not None:
                    base = last + period  # the next pass continues the timeline
                    continue
                self.stats.ended = "end of file" + (" (unreadable data after it)" if dropped else "")
                break
            if self.kind == "device":
                self.stats.ended = "device closed"
                break
            if not dropped and duration and last is not None and last + 1.0 >= duration - 2 * period:
                self.stats.ended = "end of stream"
                break
            lost_at = self._clock()
            failures += 1
            if failures > cfg.reconnects:
                self.stats.ended = f"stream lost after {cfg.reconnects} reconnect attempts"
                break
            self._backoff(failures, stop)
        yield from sampler.flush()
        self.stats.clips, self.stats.gap_clips = sampler.clips, sampler.gaps
        if not self.stats.ended:
            self.stats.ended = "stopped"

    def _backoff(self, failures: int, stop: threading.Event) -> None:
        wait = min(self.config.backoff_max, self.config.backoff * 2 ** (failures - 1))
        log.warning(
            "%s: stream dropped; reconnecting in %.1f s (attempt %d of %d)",
            self.source,
            wait,
            failures,
            self.config.reconnects,
        )
        stop.wait(wait)


class _Dropped(Exception):
    """The demuxer failed: a network stream dropped (or timed out), or a file's data ends unreadably."""


def _frames(container, stream, stats: SourceStats) -> Iterator[av.VideoFrame]:
    """Decoded frames; a packet that fails to decode is skipped (counted), a demuxer failure is a drop."""
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except EOFError:
                continue
            except (av.FFmpegError, ValueError):
                stats.damaged += 1
                continue
            yield from frames
    except (av.FFmpegError, OSError) as err:
        raise _Dropped(getattr(err, "strerror", None) or type(err).__name__) from None


class _Sampler:
    """Frames in (time order), clips out: each of a clip's sample times takes the first frame at or
    after it; a clip left incomplete by a jump in time repeats its last sample, one with no sample
    is a gap (skipped)."""

    def __init__(self, config: LiveConfig):
        self.clip_len, self.n = config.clip_len, config.frames_per_clip
        self.offsets = (np.arange(self.n) + 0.5) / self.n * self.clip_len
        self.index = 0  # the clip being filled
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.clips = self.gaps = 0

    def wants(self, t: float) -> bool:
        """Whether the frame at ``t`` becomes a sample (only those are converted to RGB)."""
        k = int(math.floor(t / self.clip_len + 1e-9))
        if k < self.index:
            return False  # the clip is complete
        if k > self.index:
            return t - k * self.clip_len >= self.offsets[0] - 1e-9
        return len(self.frames) < self.n and t - k * self.clip_len >= self.offsets[len(self.frames)] - 1e-9

    def add(self, image: np.ndarray | None, t: float) -> Iterator[LiveClip]:
        k = int(math.floor(t / self.clip_len + 1e-9))
        if k > self.index:
            yield from self.flush()
            self.gaps += k - self.index
            self.index = k
        if image is None or k < self.index:
            return
        within = t - k * self.clip_len
        while len(self.frames) < self.n and within >= self.offsets[len(self.frames)] - 1e-9:
            self.frames.append(image)
            self.times.append(t)
        if len(self.frames) == self.n:
            yield self._emit()

    def flush(self) -> Iterator[LiveClip]:
        """The clip being filled, if it has any sample (its missing samples repeat the last)."""
        if self.frames:
            while len(self.frames) < self.n:
                self.frames.append(self.frames[-1])
                self.times.append(self.times[-1])
            yield self._emit()

    def _emit(self) -> LiveClip:
        clip = LiveClip(self.index, self.frames, self.times)
        self.frames, self.times = [], []
        self.index += 1
        self.clips += 1
        return clip
