"""Frames at chosen times, and the same frames numbered for a vision-language model.

:func:`frames_at` decodes the frame shown at each of a few times (seeking to the keyframe before
each run of nearby times); :func:`numbered` draws each frame's number in its corner, as "Number it"
(Wu et al., "Number it: Temporal Grounding Videos like Flipping Manga", CVPR 2025) does, so a
model can answer with frame numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import av
import numpy as np

from ..errors import MediaError
from .decode import FrameSize, check_readable, decode_frames, open_media, to_rgb, video_stream

SEEK_GAP = 4.0  # seconds: a later time further than this from the last decoded frame is sought


def frames_at(path: str | os.PathLike, times: Sequence[float], size: FrameSize = 336) -> list[np.ndarray]:
    """The upright RGB ``(H, W, 3)`` uint8 frame shown at each time (seconds): the last frame
    starting at or before it (the first frame for earlier times, the last one for later times).
    Damaged data is skipped."""
    path = check_readable(path)
    times = [float(t) for t in times]
    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[np.ndarray | None] = [None] * len(times)
    k = 0  # the next time (in ``order``) without a frame
    with open_media(path) as container:
        stream = video_stream(container)
        if stream is None:
            raise MediaError(f"{path}: no video stream to take frames from")
        while k < len(order):
            sought = k
            _seek(container, stream, times[order[k]])
            previous = None
            for frame in decode_frames(container, stream):
                t = frame.time if frame.time is not None else 0.0
                while k < len(order) and times[order[k]] < t - 1e-6:
                    out[order[k]] = to_rgb(previous if previous is not None else frame, size)
                    k += 1
                if k == len(order):
                    break
                previous = frame
                if k != sought and times[order[k]] - t > SEEK_GAP:
                    break  # the next time is far ahead: seek there
            else:  # the end of the stream: later times show the last frame
                if previous is None:
                    break
                while k < len(order):
                    out[order[k]] = to_rgb(previous, size)
                    k += 1
    if any(f is None for f in out):
        raise MediaError(f"{path}: no decodable frame at the times asked for")
    return out  # type: ignore[return-value]


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, t: float) -> None:
    """To the keyframe at or before ``t`` seconds (the start when the file cannot seek)."""
    try:
        offset = int(max(0.0, t) / stream.time_base) + (stream.start_time or 0) if stream.time_base else 0
        container.seek(offset, stream=stream, backward=True, any_frame=False)
    except (av.FFmpegError, OverflowError):
        container.seek(0)


def numbered(frames: Sequence[np.ndarray], first: int = 1) -> list[np.ndarray]:
    """Copies of ``frames`` with their number (from ``first``) drawn large in the top-left corner,
    white on a black box, so it reads on any picture."""
    from PIL import Image, ImageDraw, ImageFont

    out = []
    for i, frame in enumerate(frames):
        image = Image.fromarray(np.ascontiguousarray(frame))
        draw = ImageDraw.Draw(image)
        height = max(12, image.height // 8)
        try:
            font = ImageFont.load_default(size=height)
        except TypeError:  # Pillow < 10.1: one bitmap size
            font = ImageFont.load_default()
        text = str(first + i)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = max(2, height // 6)
        draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad), fill=(0, 0, 0))
        draw.text((pad - left, pad - top), text, fill=(255, 255, 255), font=font)
        out.append(np.asarray(image))
    return out
