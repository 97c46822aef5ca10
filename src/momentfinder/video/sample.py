"""Write real H.264 sample videos (coloured scenes, moving shapes, optional subtitles and audio).

Used by the offline demo, the end-to-end tests and the benchmarks: every byte goes through
the same encoder and container code as a camera file, so decoding is exercised for real.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..types import SubtitleSegment


@dataclass(frozen=True)
class Scene:
    """``duration`` seconds of a background colour ``rgb`` with a moving square."""

    duration: float
    rgb: tuple[int, int, int]


def _scene_at(scenes: Sequence[Scene], t: float) -> int:
    acc = 0.0
    for i, scene in enumerate(scenes):
        acc += scene.duration
        if t < acc:
            return i
    return len(scenes) - 1


def write_sample_video(
    path: str | os.PathLike,
    scenes: Sequence[Scene],
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    subtitles: Sequence[SubtitleSegment] = (),
    audio: bool = False,
    preset: str = "veryfast",
    gop: int | None = None,
) -> str:
    """Encode ``scenes`` into an H.264 file at ``path`` and write ``<stem>.srt`` beside it when
    ``subtitles`` are given. Returns the video path. ``gop``: keyframe interval in frames
    (x264's default of 250 when None).
    """
    path = os.fspath(path)
    width, height = size
    total = sum(s.duration for s in scenes)
    n_frames = int(round(total * fps))
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, size=(height, width, 1), dtype=np.uint8)
    square = max(8, min(width, height) // 6)
    with av.open(path, mode="w") as out:
        vstream = out.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        options = {"preset": preset, "crf": "28"}
        if gop:
            options["g"] = str(gop)
        vstream.options = options
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=16000)
            astream.layout = "mono"
        samples_per_frame = 16000 // fps
        for i in range(n_frames):
            t = i / fps
            scene = scenes[_scene_at(scenes, t)]
            img = np.empty((height, width, 3), dtype=np.uint8)
            img[:] = scene.rgb
            img = np.clip(img.astype(np.int16) + texture - 20, 0, 255).astype(np.uint8)
            x = int((width - square) * (0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0)))
            y = int((height - square) * (0.5 + 0.5 * np.cos(2 * np.pi * t / 5.0)))
            img[y : y + square, x : x + square] = 255 - np.asarray(scene.rgb, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
            if astream is not None:
                tone = 0.1 * np.sin(
                    2 * np.pi * (220 + 40 * _scene_at(scenes, t)) * (np.arange(samples_per_frame) / 16000 + t)
                )
                aframe = av.AudioFrame.from_ndarray(
                    tone.astype(np.float32)[None, :], format="fltp", layout="mono"
                )
                aframe.sample_rate = 16000
                aframe.pts = i * samples_per_frame
                for packet in astream.encode(aframe):
                    out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        if astream is not None:
            for packet in astream.encode():
                out.mux(packet)
    if subtitles:
        write_srt(os.path.splitext(path)[0] + ".srt", subtitles)
    return path


def write_srt(path: str | os.PathLike, segments: Sequence[SubtitleSegment]) -> str:
    """Write ``segments`` as a SubRip file."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for seg in segments:
        subs.append(pysubs2.SSAEvent(start=int(seg.start * 1000), end=int(seg.end * 1000), text=seg.text))
    subs.save(os.fspath(path), format_="srt")
    return os.fspath(path)


def write_sample_audio(path: str | os.PathLike, seconds: float, rate: int = 16000) -> str:
    """An AAC audio-only file of ``seconds`` of a quiet tone (no video stream)."""
    path = os.fspath(path)
    block = rate // 10
    with av.open(path, mode="w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for i in range(int(round(seconds * 10))):
            t = (np.arange(block) + i * block) / rate
            frame = av.AudioFrame.from_ndarray(
                (0.05 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None, :], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, i * block
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
