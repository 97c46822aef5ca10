"""Pictures of videos (video/thumbnail.py, pipeline/media.py) and grounding in one library video
from its stored features (Library.ground_video)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from momentfinder.errors import InputError, MediaError, NotFoundError
from momentfinder.pipeline.finder import finder_config
from momentfinder.pipeline.library import Library
from momentfinder.pipeline.media import ThumbnailCache, probe_media
from momentfinder.video.sample import write_sample_audio
from momentfinder.video.thumbnail import frame_at, jpeg_at

from .test_library import make_videos


def _colour(image: np.ndarray) -> np.ndarray:
    h, w, _ = image.shape
    return image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3).mean(axis=0)


def test_frame_at_shows_the_scene_at_that_time(colour_video):
    red, green, blue = (_colour(frame_at(colour_video, t)) for t in (3.0, 15.0, 25.0))
    assert red.argmax() == 0 and green.argmax() == 1 and blue.argmax() == 2
    assert frame_at(colour_video, 0).shape == (120, 160, 3)
    assert _colour(frame_at(colour_video, 9999.0)).argmax() == 2  # past the end: the last picture


def test_jpeg_is_scaled_and_decodable(colour_video):
    data = jpeg_at(colour_video, 15.0, width=64)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (64, 48)
    assert _colour(np.asarray(image)).argmax() == 1
    assert Image.open(io.BytesIO(jpeg_at(colour_video, 1.0, width=1000))).size == (160, 120)  # not enlarged


def test_no_picture_and_bad_times(tmp_path, colour_video):
    audio = write_sample_audio(tmp_path / "voice.m4a", 3.0)
    with pytest.raises(MediaError, match="no video stream"):
        frame_at(audio, 1.0)
    with pytest.raises(InputError, match="seconds"):
        frame_at(colour_video, -1.0)
    with pytest.raises(InputError, match="seconds"):
        frame_at(colour_video, float("nan"))
    with pytest.raises(InputError, match="width"):
        jpeg_at(colour_video, 1.0, width=2)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError):
        frame_at(junk, 0.0)
    with pytest.raises(MediaError):
        probe_media(junk)
    with pytest.raises(InputError, match="no such file"):
        probe_media(tmp_path / "missing.mp4")


def test_thumbnail_cache_keeps_pictures_and_notices_changes(tmp_path, colour_video, monkeypatch):
    video = tmp_path / "v.mp4"
    video.write_bytes(open(colour_video, "rb").read())
    cache = ThumbnailCache(tmp_path / "thumbs")
    first = cache.get(video, 15.0, 80)
    assert os.path.exists(cache.path_for(str(video), 15.0, 80))
    import momentfinder.pipeline.media as media

    def decode_again(*args, **kwargs):
        raise AssertionError("decoded again instead of read from the cache")

    monkeypatch.setattr(media, "jpeg_at", decode_again)
    assert cache.get(video, 15.04, 80) == first  # the same tenth of a second
    os.utime(video, ns=(1, 1))  # a changed file is a new key
    with pytest.raises(AssertionError, match="decoded again"):
        cache.get(video, 15.0, 80)


def test_unwritable_cache_still_gives_the_picture(tmp_path, colour_video):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    assert jpeg_at(colour_video, 2.0)[:2] == ThumbnailCache(blocker).get(colour_video, 2.0)[:2] == b"\xff\xd8"


def test_ground_video_uses_the_stored_features(tmp_path, tiny_clip, monkeypatch):
    paths = make_videos(tmp_path / "vids", n=2)
    lib = Library(tmp_path / "lib.db", finder_config(visual_model=tiny_clip, cache_dir=str(tmp_path / "c")))
    lib.add([str(tmp_path / "vids")])
    row = lib.video_at(paths[1])
    assert row is not None and lib.video(row.id).path == paths[1]
    assert [r.path for r in lib.videos()] == paths
    import momentfinder.pipeline.finder as finder

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded the video")

    monkeypatch.setattr(finder, "probe", no_decoding)
    result = lib.ground_video(row.id, "a green frog jumps into the pond", top_k=3)
    assert result.video == paths[1] and len(result.saliency) == row.n_clips
    assert (result.moments[0].start, result.moments[0].end) == (6.5, 11.5)  # the subtitle line
    hit = lib.search("a green frog jumps into the pond", top_k=1)[0]
    assert (hit.video_id, hit.start, hit.end) == (row.id, 6.5, 11.5)  # what search says of it
    with pytest.raises(NotFoundError, match="no video 999"):
        lib.ground_video(999, "a frog")
    with pytest.raises(InputError, match="empty"):
        lib.ground_video(row.id, "   ")
    assert lib.video_at(tmp_path / "nothing.mp4") is None
    lib.close()
