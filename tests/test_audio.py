"""video/audio.py: mono chunks at a fixed rate from any container, stream choice, silence, damage."""

from __future__ import annotations

import numpy as np
import pytest

from momentfinder.errors import InputError, MediaError
from momentfinder.video.audio import audio_streams, iter_audio_chunks, read_audio
from momentfinder.video.sample import Scene, write_sample_video

from .speech_media import ffmpeg_run


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory) -> str:
    """5 s of video; audio track 0: a 440 Hz tone (stereo), track 1: silence (mono), track 1 flagged default."""
    out = tmp_path_factory.mktemp("audio") / "two.mkv"
    ffmpeg_run(
        "-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=5",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=5:sample_rate=44100",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono:d=5",
        "-map", "0", "-map", "1", "-map", "2", "-ac:a:0", "2",
        "-c:v", "libx264", "-c:a", "aac",
        "-disposition:a:0", "0", "-disposition:a:1", "default",
        str(out),
    )  # fmt: skip
    return str(out)


def test_streams_are_listed_and_the_default_one_is_read(two_tracks):
    streams = audio_streams(two_tracks)
    assert [s.number for s in streams] == [0, 1]
    assert streams[0].channels == 2 and streams[1].default
    default = read_audio(two_tracks)  # the stream flagged default: silence
    tone = read_audio(two_tracks, stream=0)
    assert abs(len(tone) / 16000 - 5.0) < 0.1 and abs(len(default) / 16000 - 5.0) < 0.1
    assert np.abs(default).max() < 1e-3
    assert np.sqrt(np.mean(tone**2)) > 0.05  # downmixed stereo tone, not silence
    # the tone is still 440 Hz after resampling 44.1 kHz → 16 kHz
    spectrum = np.abs(np.fft.rfft(tone[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 2


def test_a_missing_stream_number_says_what_there_is(two_tracks):
    with pytest.raises(InputError, match=r"no audio track 2 \(tracks count from 0; it has: audio track 0"):
        list(iter_audio_chunks(two_tracks, stream=2))


def test_chunks_are_consecutive_and_cover_the_file(two_tracks):
    chunks = list(iter_audio_chunks(two_tracks, chunk_s=2.0, sample_rate=8000, stream=0))
    assert [c.start for c in chunks] == [0.0, 2.0, 4.0]
    assert [len(c.samples) for c in chunks[:2]] == [16000, 16000]
    assert all(c.samples.dtype == np.float32 for c in chunks)
    whole = read_audio(two_tracks, sample_rate=8000, stream=0)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), whole)


def test_a_video_without_audio_is_a_media_error(tmp_path):
    path = write_sample_video(str(tmp_path / "mute.mp4"), [Scene(2, (10, 10, 10))], size=(64, 48), fps=10)
    assert audio_streams(path) == []
    with pytest.raises(MediaError, match="has no audio stream"):
        list(iter_audio_chunks(path))


def test_a_late_audio_start_is_silence_before_it(tmp_path):
    """Audio that starts 2 s into the file: its samples sit 2 s in, silence before."""
    out = tmp_path / "late.mkv"
    ffmpeg_run(
        "-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=5",
        "-itsoffset", "2", "-f", "lavfi", "-i", "sine=frequency=300:duration=3",
        "-map", "0", "-map", "1", "-c:v", "libx264", "-c:a", "flac", str(out),
    )  # fmt: skip
    audio = read_audio(str(out))
    assert np.abs(audio[: int(1.8 * 16000)]).max() < 1e-3
    assert np.sqrt(np.mean(audio[int(2.2 * 16000) : int(4.5 * 16000)] ** 2)) > 0.05


def test_truncated_and_garbage_files(tmp_path, two_tracks):
    data = open(two_tracks, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    audio = read_audio(str(cut), stream=0)  # what is there is read; the rest is missing
    assert 0 < len(audio) / 16000 <= 5.1
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(MediaError):
        list(iter_audio_chunks(str(junk)))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        list(iter_audio_chunks(str(empty)))
