"""One picture of a video at a time (a thumbnail), as JPEG bytes.

The frame shown at ``seconds`` is the last one that starts at or before it: the decoder seeks to
the keyframe before ``seconds`` and decodes forward. A time past the end gives the last frame;
damaged data is skipped like everywhere else (:func:`~.decode.decode_frames`).
"""

from __future__ import annotations

import io
import math
import os
from contextlib import suppress

import av
import numpy as np

from ..errors import InputError, MediaError
from .decode import check_readable, decode_frames, open_media, to_rgb, video_stream


def frame_at(path: str | os.PathLike, seconds: float) -> np.ndarray:
    """The upright RGB picture ``(H, W, 3)`` shown at ``seconds`` (from the start of the file), at
    its display size. :class:`MediaError` when the file has no video stream."""
    path = check_readable(path)
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"the time must be a number of seconds ≥ 0, got {seconds}")
    with open_media(path) as container:
        stream = video_stream(container)
        if stream is None:
            raise MediaError(f"{path}: no picture (the file has no video stream)")
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        target = origin + seconds
        if seconds > 0:
            with suppress(av.FFmpegError):
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in decode_frames(container, stream):
            if chosen is not None and frame.time is not None and frame.time > target + 1e-6:
                break
            chosen = frame
        if chosen is None:
            raise MediaError(f"{path}: no decodable picture")
        return to_rgb(chosen)


def jpeg_at(path: str | os.PathLike, seconds: float, width: int = 320, quality: int = 80) -> bytes:
    """:func:`frame_at` scaled to ``width`` pixels wide (aspect kept, never enlarged), as a JPEG."""
    from PIL import Image

    if not 8 <= width <= 4096:
        raise InputError(f"the thumbnail width must be 8 to 4096 pixels, got {width}")
    image = Image.fromarray(frame_at(path, seconds))
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
