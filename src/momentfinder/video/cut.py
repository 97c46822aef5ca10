"""Export a moment of a video to its own file (frame-accurate: re-encodes video, and audio if present)."""

from __future__ import annotations

import math
import os
from fractions import Fraction

import av

from ..errors import InputError, MediaError
from .decode import check_readable, open_media, probe


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


def cut_clip(
    video: str | os.PathLike, start: float, end: float, out: str | os.PathLike, crf: int = 20
) -> str:
    """Write ``[start, end)`` seconds of ``video`` to ``out`` (H.264 + AAC, container from the extension)."""
    path = check_readable(video)
    out = os.fspath(out)
    info = probe(path)
    if end <= start:
        raise InputError(f"end ({end:g} s) must be after start ({start:g} s)")
    if start >= info.duration:
        raise InputError(f"start {start:g} s is past the end of the video ({info.duration:.2f} s)")
    end = min(end, info.duration)
    if not info.has_video:
        raise MediaError(f"{path}: has no video stream to cut")
    if os.path.abspath(out) == os.path.abspath(path):
        raise InputError("the output file must differ from the input video")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".part" + os.path.splitext(out)[1]
    try:
        _reencode(path, start, end, tmp, crf)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _reencode(path: str, start: float, end: float, out_path: str, crf: int) -> None:
    with open_media(path) as src, av.open(out_path, mode="w") as dst:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        rate = vin.average_rate or Fraction(25)
        vout = dst.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": str(crf), "preset": "veryfast"}
        aout = None
        if ain is not None and ain.codec_context.sample_rate:
            aout = dst.add_stream("aac", rate=ain.codec_context.sample_rate)
        vin.thread_type = "AUTO"
        src.seek(int(start / vin.time_base), stream=vin, backward=True)
        streams = [vin] + ([ain] if aout is not None else [])
        video_frames = 0
        audio_resampler = av.AudioResampler(format="fltp", layout="stereo", rate=aout.rate) if aout else None
        audio_pts = 0
        past_end = False  # the video has passed ``end``: stop at the next packet
        for packet in src.demux(streams):
            if past_end:
                break
            for frame in packet.decode():
                t = frame.time
                if t is None or t < start:
                    continue
                if t >= end:
                    past_end = past_end or packet.stream is vin
                    continue
                if packet.stream is vin:
                    frame = frame.reformat(format="yuv420p")
                    frame.pts = video_frames
                    frame.time_base = Fraction(1) / rate
                    video_frames += 1
                    dst.mux(vout.encode(frame))
                else:
                    for resampled in audio_resampler.resample(frame):
                        resampled.pts = audio_pts
                        audio_pts += resampled.samples
                        dst.mux(aout.encode(resampled))
        if video_frames == 0:
            raise MediaError(f"{path}: no video frame between {start:g} s and {end:g} s")
        dst.mux(vout.encode(None))
        if aout is not None:
            dst.mux(aout.encode(None))
