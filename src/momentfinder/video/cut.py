"""Export a moment of a video to its own file.

Two ways to cut:

* **re-encoding** (the default) is frame-exact: video to H.264 (odd sizes padded by a pixel to
  the even size H.264 needs), audio to AAC. Every frame keeps its source timestamp, so a
  variable-frame-rate video keeps its timing, and the display matrix (rotation of phone video)
  is kept, so the clip shows as the source does;
* **stream copy** (``copy=True``) copies the packets as they are: fast and lossless, but it can
  only start on a keyframe, so the clip starts at the keyframe at or before ``start`` (up to a
  GOP early) and may run a frame or two past ``end`` (frames that later ones refer to).

Damaged data is skipped; a file that ends early (truncated) is cut up to its last decodable
frame; a file with audio only is cut as audio. The clip is written to a hidden, unique temporary
file beside the output (``.NAME.HOST-PID-RANDOM.part.EXT``) and renamed into place only once
complete and synced, so a killed process never leaves a file under the output name; a later
cut removes the temporary files that dead processes of this machine left for the same output.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
import secrets
import socket
from collections.abc import Callable
from contextlib import suppress
from fractions import Fraction

import av
import numpy as np

from ..errors import InputError, MediaError
from .decode import (
    check_readable,
    decode_frames,
    display_matrix,
    open_media,
    probe,
    read_packets,
    video_stream,
)

log = logging.getLogger(__name__)


def parse_time(text: str | float) -> float:
    """Seconds from ``"75.5"``, ``"01:15.5"`` or ``"00:01:15.5"``."""
    if isinstance(text, int | float):
        return float(text)
    parts = str(text).strip().split(":")
    try:
        if not 1 <= len(parts) <= 3:
            raise ValueError
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
    except ValueError:
        raise InputError(f"not a time: {text!r} (use seconds or HH:MM:SS)") from None
    if not math.isfinite(seconds):
        raise InputError(f"not a time: {text!r} (must be a finite number of seconds)")
    if seconds < 0:
        raise InputError(f"time must not be negative: {text!r}")
    return seconds


def format_time(seconds: float) -> str:
    """``HH:MM:SS.s`` for tables (rounded to a tenth first, so 119.96 s is 00:02:00.0, never 00:01:60.0)."""
    seconds = round(max(0.0, float(seconds)), 1)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:04.1f}"


# --- output paths -----------------------------------------------------------------------------


def check_output_dir(path: str | os.PathLike) -> str:
    """``path`` as a string once it is a directory that takes new files (created when missing);
    otherwise an :class:`InputError` saying why, before any slow work."""
    path = os.fspath(path)
    if not path:
        raise InputError("the output directory name is empty")
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{path}: exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InputError(f"{path}: cannot create the directory ({err.strerror or err})") from None
    probe_file = os.path.join(path, f".momentfinder-write-test-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(probe_file, "xb"):
            pass
    except OSError as err:
        raise InputError(f"{path}: cannot write files there ({err.strerror or err})") from None
    finally:
        with suppress(OSError):
            os.unlink(probe_file)
    return path


def check_output_file(path: str | os.PathLike) -> str:
    """``path`` as a string once a file can be written there (its directory is created when
    missing); otherwise an :class:`InputError` saying why, before any slow work."""
    path = os.fspath(path)
    if not path or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise InputError(f"{path or repr(path)}: is a directory; give the output a file name (e.g. clip.mp4)")
    check_output_dir(os.path.dirname(os.path.abspath(path)))
    return path


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def _temp_path(out: str) -> str:
    """A unique hidden temporary file beside ``out``, with ``out``'s extension (it names the format)."""
    directory, name = os.path.split(os.path.abspath(out))
    ext = os.path.splitext(name)[1]
    return os.path.join(directory, f".{name}.{_host()}-{os.getpid()}-{secrets.token_hex(4)}.part{ext}")


def _remove_stale_parts(out: str) -> None:
    """Remove the temporary files of ``out`` that processes of this machine, no longer running,
    left behind (a kill -9): nothing reads them, this only tidies up."""
    directory, name = os.path.split(os.path.abspath(out))
    pattern = re.compile(
        re.escape(f".{name}.{_host()}-") + r"(\d+)-[0-9a-f]+\.part" + re.escape(os.path.splitext(name)[1])
    )
    for candidate in glob.glob(os.path.join(glob.escape(directory), glob.escape(f".{name}.") + "*.part*")):
        match = pattern.fullmatch(os.path.basename(candidate))
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        with suppress(OSError):
            os.unlink(candidate)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours
        return True
    return True


# --- cutting ----------------------------------------------------------------------------------


def cut_clip(
    video: str | os.PathLike,
    start: float,
    end: float,
    out: str | os.PathLike,
    crf: int = 20,
    copy: bool = False,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Write ``[start, end)`` seconds of ``video`` to ``out`` (container from the extension).

    Re-encodes (H.264 + AAC, frame-exact, source timestamps and rotation kept) or, with
    ``copy``, copies the packets (keyframe-aligned start: ``warn`` hears where the clip really
    starts when that is earlier; logged without it). A file without video is cut as audio.
    """
    path = check_readable(video)
    out = os.fspath(out)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InputError(f"start and end must be finite times, got {start:g} and {end:g}")
    if end <= start:
        raise InputError(f"end ({end:g} s) must be after start ({start:g} s)")
    if os.path.abspath(out) == os.path.abspath(path):
        raise InputError("the output file must differ from the input video")
    check_output_file(out)
    info = probe(path)
    if start >= info.duration:
        raise InputError(f"start {start:g} s is past the end of the video ({info.duration:.2f} s)")
    end = min(end, info.duration)
    _remove_stale_parts(out)
    tmp = _temp_path(out)
    try:
        try:
            dst = av.open(tmp, mode="w")
        except ValueError:  # PyAV: no container format for this extension
            ext = os.path.splitext(out)[1] or "(none)"
            raise InputError(
                f"{out}: unknown kind of file {ext}; use .mp4, .mkv, .mov (or .m4a for audio)"
            ) from None
        try:
            with dst:
                if copy:
                    copied_from = _stream_copy(path, info.has_video, start, end, dst)
                else:
                    _reencode(path, info.has_video, start, end, dst, crf)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, out)
            if copy and start - copied_from > 0.05:
                (warn or log.warning)(
                    f"stream copy: {out} starts at the keyframe at {format_time(copied_from)}, "
                    f"{start - copied_from:.2f} s before the requested start (re-encode for an exact start)"
                )
        except av.FFmpegError as err:
            raise MediaError(f"{out}: cannot write the clip ({_short(err)})") from None
        except OSError as err:
            raise InputError(f"{out}: cannot write the clip ({err.strerror or err})") from None
    finally:
        with suppress(OSError):
            os.unlink(tmp)
    return out


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def _origin(stream: av.stream.Stream | None) -> float:
    if stream is None or stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, seconds: float) -> None:
    """To the keyframe at or before ``seconds`` (stream time); stays at the start when it cannot."""
    if seconds <= 0:
        return
    with suppress(av.FFmpegError):
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)


def _first_display_matrix(path: str) -> tuple[int, ...] | None:
    with open_media(path) as container:
        for frame in decode_frames(container, video_stream(container)):
            return display_matrix(frame)
    return None


class _VideoOut:
    """Frames to an H.264 stream at their source timestamps: each frame lasts until the next one
    (the last one until ``end``, or as long as the one before it where the data ends)."""

    def __init__(self, dst, vin, matrix, crf: int):
        self.dst, self.tb = dst, vin.time_base or Fraction(1, 90000)
        self.width, self.height = vin.codec_context.width, vin.codec_context.height
        # H.264 in 4:2:0 needs even sizes: odd ones get a copy of their last row/column.
        self.even = (self.width + (self.width & 1), self.height + (self.height & 1))
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        self.period = 1 / float(rate)
        self.stream = dst.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = self.even
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = self.tb
        self.stream.codec_context.time_base = self.tb
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}
        if matrix is not None:
            self.stream.set_display_matrix(matrix)
        self.pending: av.VideoFrame | None = None
        self.frames = 0
        self.durations: dict[int, int] = {}  # pts -> duration, for the packets (the encoder drops them)
        self.step: int | None = None  # the duration of the last frame written (time base units)

    def _encodable(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self.even == (self.width, self.height):
            return frame.reformat(width=self.width, height=self.height, format="yuv420p")
        rgb = frame.to_ndarray(width=self.width, height=self.height, format="rgb24")
        pad = ((0, self.even[1] - self.height), (0, self.even[0] - self.width), (0, 0))
        padded = av.VideoFrame.from_ndarray(np.pad(rgb, pad, mode="edge"), format="rgb24")
        return padded.reformat(format="yuv420p")

    def add(self, frame: av.VideoFrame, seconds: float) -> None:
        """``frame`` shown from ``seconds`` (from the clip start) until the next one."""
        pts = max(0, round(seconds / self.tb))
        if self.pending is not None:
            if pts <= self.pending.pts:
                return  # not after the previous frame (damaged timestamps): drop it
            self.step = pts - self.pending.pts
            self._write(self.step)
        out = self._encodable(frame)
        out.pts, out.time_base = pts, self.tb
        self.pending = out

    def _write(self, duration: int) -> None:
        self.pending.duration = self.durations[self.pending.pts] = max(1, duration)
        self._mux(self.stream.encode(self.pending))
        self.frames += 1
        self.pending = None

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None and packet.pts in self.durations:
                packet.duration = self.durations.pop(packet.pts)
            self.dst.mux(packet)

    def close(self, end: float | None) -> None:
        """Flush; ``end``: where the last frame stops (seconds), None where the data ends."""
        if self.pending is not None:
            if end is not None:
                self._write(round(end / self.tb) - self.pending.pts)
            else:
                self._write(self.step or round(self.period / self.tb))
        self._mux(self.stream.encode(None))


def _reencode(
    path: str, has_video: bool, start: float, end: float, dst: av.container.OutputContainer, crf: int
) -> None:
    """``[start, end)`` re-encoded; every time is relative to ``start`` (the clip's 0)."""
    matrix = _first_display_matrix(path) if has_video else None
    with open_media(path) as src:
        vin = video_stream(src) if has_video else None
        ain = src.streams.audio[0] if src.streams.audio else None
        if ain is not None and not ain.codec_context.sample_rate:
            ain = None
        if vin is None and ain is None:
            raise MediaError(f"{path}: has no video or audio stream to cut")
        main = vin if vin is not None else ain
        video = _VideoOut(dst, vin, matrix, crf) if vin is not None else None
        if vin is not None:
            vin.thread_type = "AUTO"
        aout = dst.add_stream("aac", rate=ain.codec_context.sample_rate) if ain is not None else None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=aout.rate) if aout else None
        _seek(src, main, start + _origin(main))
        held: av.VideoFrame | None = None  # the last frame before ``start``: on screen at ``start``
        held_t = 0.0
        audio_pts: int | None = None
        clip_end: float | None = None  # ``end``, once a frame at or after it showed where the last one stops
        count = 0
        for frame in decode_frames(src, [s for s in (vin, ain) if s is not None]):
            if isinstance(frame, av.VideoFrame):
                count += 1  # frames without timestamps (raw streams) are timed by counting
                t = float(frame.time) - _origin(vin) if frame.time is not None else count * video.period
                if t >= end:
                    clip_end = end
                    break
                if t < start - 1e-6:
                    held, held_t = frame, t
                    continue
                if held is not None:
                    if t > start + 1e-6:
                        video.add(held, 0.0)
                    held = None
                video.add(frame, t - start)
            elif frame.time is not None:
                t = float(frame.time) - _origin(ain)
                if t >= end:
                    if vin is None:
                        clip_end = end
                        break
                    continue
                if t < start - 1e-6:
                    continue
                if audio_pts is None:
                    audio_pts = max(0, round((t - start) * aout.rate))
                for resampled in resampler.resample(frame):
                    resampled.pts = audio_pts
                    audio_pts += resampled.samples
                    dst.mux(aout.encode(resampled))
        if video is not None:
            if (
                held is not None and start < held_t + video.period
            ):  # the data ends with the frame at ``start``
                video.add(held, 0.0)
            if video.pending is None and video.frames == 0:
                raise MediaError(f"{path}: no video frame could be decoded between {start:g} s and {end:g} s")
            video.close(None if clip_end is None else clip_end - start)
        elif audio_pts is None:
            raise MediaError(f"{path}: no audio could be decoded between {start:g} s and {end:g} s")
        if aout is not None:
            for resampled in resampler.resample(None):
                resampled.pts = audio_pts or 0
                audio_pts = (audio_pts or 0) + resampled.samples
                dst.mux(aout.encode(resampled))
            dst.mux(aout.encode(None))


def _stream_copy(
    path: str, has_video: bool, start: float, end: float, dst: av.container.OutputContainer
) -> float:
    """The packets of ``[keyframe, end)`` as they are, the keyframe being the last at or before
    ``start``; returns the keyframe's time."""
    with open_media(path) as src:
        vin = video_stream(src) if has_video else None
        ain = src.streams.audio[0] if src.streams.audio else None
        inputs = [s for s in (vin, ain) if s is not None]
        if not inputs:
            raise MediaError(f"{path}: has no video or audio stream to cut")
        outputs = {s.index: dst.add_stream_from_template(s) for s in inputs}
        main = inputs[0]
        _seek(src, main, start + _origin(main))
        t0: float | None = None  # source seconds (from the origin) where the clip starts: a keyframe
        pending: list[tuple[av.Packet, float]] = []  # from the last keyframe before ``start`` on
        written = 0

        def write(packet: av.Packet, t: float) -> None:
            nonlocal written
            if packet.stream is not main and not t0 <= t < end:
                return
            offset = round((t0 + _origin(packet.stream)) / packet.time_base)
            packet.pts -= offset
            if packet.dts is not None:
                packet.dts -= offset
            written += packet.stream is main
            packet.stream = outputs[packet.stream.index]
            dst.mux(packet)

        for packet in read_packets(src, inputs):
            if packet.size == 0 or packet.pts is None or packet.time_base is None:
                continue
            t = float(packet.pts * packet.time_base) - _origin(packet.stream)
            if packet.stream is main:
                if packet.dts is not None and float(packet.dts * packet.time_base) - _origin(main) >= end:
                    break  # every later packet shows at or after ``end``
                if t0 is None:
                    if packet.is_keyframe and (t <= start + 1e-6 or not pending):
                        pending = []  # a later keyframe, still at or before ``start``: begin there
                    if not pending and not packet.is_keyframe:
                        continue  # a clip begins with a keyframe
                    pending.append((packet, t))
                    if t < start - 1e-6:
                        continue
                    t0 = pending[0][1]  # ``start`` is reached: the clip begins at the keyframe
                    for held, held_t in pending:
                        write(held, held_t)
                    pending = []
                    continue
            elif t0 is None:
                if pending:
                    pending.append((packet, t))
                continue
            write(packet, t)
        if written == 0:
            kind = "video" if vin is not None else "audio"
            raise MediaError(f"{path}: no {kind} data to copy between {start:g} s and {end:g} s")
        return t0
