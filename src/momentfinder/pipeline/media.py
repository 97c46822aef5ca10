"""What a face shows of a media file besides its moments: what it is (a probe) and a picture of
it at a time (a thumbnail, cached on disk).

    thumbs = ThumbnailCache("~/.cache/momentfinder/thumbs")
    jpeg = thumbs.get("movie.mp4", 12.5, width=320)
"""

from __future__ import annotations

import hashlib
import os

from ..atomic import write_atomic
from ..errors import InputError
from ..types import VideoInfo
from ..video.decode import check_readable, probe
from ..video.thumbnail import jpeg_at


def probe_media(path: str | os.PathLike) -> VideoInfo:
    """What ``path`` holds (duration, streams), or a one-line :class:`~momentfinder.errors.MediaError`
    when it is not a readable video or audio file."""
    return probe(check_readable(path))


class ThumbnailCache:
    """JPEG pictures of videos at given times, kept in ``folder``.

    An entry is keyed by the file (absolute path, size, modification time), the time (rounded to
    0.1 s) and the width, so a changed file gets new pictures; entries are written atomically."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))

    def path_for(self, path: str, seconds: float, width: int) -> str:
        st = os.stat(path)
        key = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{seconds:.1f}\0{width}"
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.folder, digest[:2], f"{digest}.jpg")

    def get(self, path: str | os.PathLike, seconds: float, width: int = 320) -> bytes:
        """The picture shown at ``seconds`` of ``path``, ``width`` pixels wide at most, as JPEG."""
        path = check_readable(path)
        seconds = round(float(seconds), 1)
        try:
            cached = self.path_for(path, seconds, width)
        except OSError as err:
            raise InputError(f"{path}: {err.strerror or err}") from None
        try:
            with open(cached, "rb") as f:
                return f.read()
        except OSError:
            pass
        data = jpeg_at(path, seconds, width)
        try:
            write_atomic(cached, data)
        except OSError:  # a cache that cannot be written costs time, not the picture
            pass
        return data
