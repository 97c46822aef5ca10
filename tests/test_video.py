"""Video stage: probing odd files, streaming frame sampling, subtitles, cutting."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from momentfinder.errors import InputError, MediaError
from momentfinder.types import SubtitleSegment
from momentfinder.video.cut import cut_clip, format_time, parse_time
from momentfinder.video.decode import DecodeReport, iter_clip_frames, probe, sample_times
from momentfinder.video.subtitles import (
    find_sidecar,
    load_subtitles,
    read_embedded_subtitles,
    read_subtitle_file,
)


def dominant_channel(image: np.ndarray) -> int:
    return int(np.argmax(image.reshape(-1, 3).mean(axis=0)))


def test_probe_reports_duration_fps_and_streams(colour_video):
    info = probe(colour_video)
    assert info.duration == pytest.approx(30.0, abs=0.1)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (160, 120)
    assert info.has_video and info.has_audio


def test_sample_times_stay_inside_each_clip_and_the_video():
    t = sample_times(5.0, 2.0, frames_per_clip=2)
    assert t.shape == (3, 2)
    np.testing.assert_allclose(t[0], [0.5, 1.5])
    assert t[-1, 0] >= 4.0 and t[-1, -1] < 5.0  # the last, partial clip [4, 5)


@pytest.mark.parametrize("decode", ["auto", "nonref", "all"])
def test_frames_follow_the_scenes(colour_video, decode):
    clips = list(iter_clip_frames(colour_video, clip_len=2.0, size=32, decode=decode))
    assert [c.index for c in clips] == list(range(15))
    assert clips[0].frames[0].shape == (32, 43, 3)  # short side 32, aspect 4:3 kept
    colours = [dominant_channel(c.frames[0]) for c in clips]
    assert colours == [0] * 5 + [1] * 5 + [2] * 5
    for c in clips:  # the sampled frame is within two frame periods of the clip centre
        assert abs(c.times[0] - (c.index * 2.0 + 1.0)) <= 2 / 25 + 1e-6


def test_skipping_b_frames_only_when_exact(colour_video, tmp_path):
    from momentfinder.video.decode import frame_skip_mode
    from momentfinder.video.sample import Scene, write_sample_video

    assert frame_skip_mode(colour_video, "auto") == "BIDIR"  # x264: P-frames never reference B-frames
    assert frame_skip_mode(colour_video, "nonref") == "NONREF"
    assert frame_skip_mode(colour_video, "all") == "NONE"
    intra = write_sample_video(tmp_path / "intra.mp4", [Scene(3, (9, 9, 9))], size=(32, 32), fps=10, gop=1)
    assert frame_skip_mode(intra, "auto") == "NONREF"  # no B-frames: nothing to gain
    with pytest.raises(InputError, match="decode mode"):
        frame_skip_mode(colour_video, "fast")
    # skipping B-frames samples frames within two frame periods of the exact decode
    exact = list(iter_clip_frames(colour_video, clip_len=2.0, size=None, decode="all"))
    fast = list(iter_clip_frames(colour_video, clip_len=2.0, size=None, decode="auto"))
    for a, b in zip(exact, fast, strict=True):
        assert abs(a.times[0] - b.times[0]) <= 2 / 25 + 1e-6


def test_several_frames_per_clip_and_exact_size(colour_video):
    clips = list(iter_clip_frames(colour_video, clip_len=10.0, frames_per_clip=3, size=(24, 24)))
    assert len(clips) == 3
    assert all(len(c.frames) == 3 and c.frames[0].shape == (24, 24, 3) for c in clips)
    np.testing.assert_allclose(clips[1].times, [10 + 10 / 6, 15, 20 - 10 / 6], atol=2 / 25 + 1e-6)


def test_seeking_across_long_gaps_samples_the_same_frames(tmp_path):
    from momentfinder.video.sample import Scene, write_sample_video

    path = write_sample_video(
        tmp_path / "gop.mp4",
        [Scene(8, (200, 0, 0)), Scene(8, (0, 200, 0)), Scene(8, (0, 0, 200))],
        size=(64, 48),
        fps=10,
        gop=20,
    )
    seek = list(iter_clip_frames(path, clip_len=8.0, size=None, seek_gap=3.0))
    stream = list(iter_clip_frames(path, clip_len=8.0, size=None, seek_gap=1e9))
    assert [c.times for c in seek] == [c.times for c in stream]
    for a, b in zip(seek, stream, strict=True):
        np.testing.assert_array_equal(a.frames[0], b.frames[0])


def _write_vfr(path: str) -> str:
    """Frames at irregular times (0.0, 0.1, ... then a 3 s gap), a variable-frame-rate file."""
    times = [i * 0.1 for i in range(30)] + [6.0 + i * 0.5 for i in range(8)]
    with av.open(path, "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        for t in times:
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0 if t < 5 else 2] = 200
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = int(t * 1000), Fraction(1, 1000)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def test_variable_frame_rate_uses_timestamps(tmp_path):
    path = _write_vfr(str(tmp_path / "vfr.mkv"))
    info = probe(path)
    assert 9.0 < info.duration < 10.5
    clips = list(iter_clip_frames(path, clip_len=2.0, size=None))
    assert len(clips) == 5
    # clip [4, 6) has no frame: its centre (5 s) is nearest to the blue frame at 6 s, not the red one at 2.9 s
    assert [dominant_channel(c.frames[0]) for c in clips] == [0, 0, 2, 2, 2]
    assert [round(c.times[0], 1) for c in clips[:4]] == [1.0, 2.9, 6.0, 7.0]
    assert 8.0 <= clips[4].times[0] <= info.duration


def test_missing_duration_metadata_is_measured(tmp_path):
    """A raw H.264 elementary stream has no duration header: the probe scans the packets."""
    src = tmp_path / "raw.h264"
    with av.open(str(src), "w", format="h264") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(100):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="rgb24")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    info = probe(str(src))
    assert info.duration == pytest.approx(4.0, abs=0.3)
    assert len(list(iter_clip_frames(str(src), clip_len=1.0, size=None))) == round(info.duration)


def test_audio_only_file(tmp_path):
    from momentfinder.video.sample import write_sample_audio

    path = write_sample_audio(tmp_path / "speech.m4a", 10.0)
    info = probe(path)
    assert not info.has_video and info.has_audio
    assert info.duration == pytest.approx(10.0, abs=0.2)
    with pytest.raises(MediaError, match="no video stream"):
        list(iter_clip_frames(path))


def test_bad_files_give_clear_errors(tmp_path, colour_video):
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a readable video"):
        probe(text)
    with pytest.raises(InputError, match="directory"):
        probe(tmp_path)


def test_truncated_file_ends_where_decoding_ends(tmp_path, colour_video):
    # Matroska keeps its headers at the front, so the first half of the bytes is a truncated file
    # whose header still promises the full duration.
    full = tmp_path / "full.mkv"
    with av.open(colour_video) as src, av.open(str(full), "w") as dst:
        video_in = src.streams.video[0]
        video_out = dst.add_stream_from_template(video_in)
        for packet in src.demux(video_in):
            if packet.dts is not None:
                packet.stream = video_out
                dst.mux(packet)
    data = full.read_bytes()
    cut = tmp_path / "truncated.mkv"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(str(cut))
    assert info.duration == pytest.approx(30.0, abs=0.1)  # the header still promises everything
    report = DecodeReport()
    clips = list(iter_clip_frames(str(cut), clip_len=2.0, size=32, duration=info.duration, report=report))
    # no clip after the last decodable frame (the last frame is not repeated to the stated end)
    assert report.end is not None and 10.0 < report.end < 20.0
    assert len(clips) == len(sample_times(report.end, 2.0)) < len(sample_times(info.duration, 2.0))
    assert max(c.times[-1] for c in clips) < report.end
    assert dominant_channel(clips[0].frames[0]) == 0


def test_sidecar_srt_and_vtt(tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    (tmp_path / "talk.en.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<b>Hello</b> there\n\n")
    assert find_sidecar(video) == str(tmp_path / "talk.en.vtt")
    assert read_subtitle_file(tmp_path / "talk.en.vtt") == [SubtitleSegment(1.0, 2.5, "Hello there")]
    (tmp_path / "talk.srt").write_text("1\n00:00:03,000 --> 00:00:04,000\nfirst line\nsecond line\n\n")
    segs, source = load_subtitles(video)
    assert source.endswith("talk.srt") and segs == [SubtitleSegment(3.0, 4.0, "first line second line")]
    with pytest.raises(InputError):
        read_subtitle_file(tmp_path / "none.srt")


def test_embedded_subtitle_stream(tmp_path, colour_video, ffmpeg):
    out = str(tmp_path / "embedded.mkv")
    srt = os.path.splitext(colour_video)[0] + ".srt"
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-i",
            colour_video,
            "-i",
            srt,
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            out,
        ],
        check=True,
    )
    assert probe(out).subtitle_streams == 1
    segs = read_embedded_subtitles(out)
    assert len(segs) == 1 and segs[0].text == "the weather is sunny today"
    assert segs[0].start == pytest.approx(12.0, abs=0.1) and segs[0].end == pytest.approx(15.0, abs=0.1)
    found, source = load_subtitles(out)
    assert source == "embedded" and found == segs


def test_cut_exports_the_moment(tmp_path, colour_video):
    out = cut_clip(colour_video, 11.0, 14.5, tmp_path / "moment.mp4")
    info = probe(out)
    assert info.duration == pytest.approx(3.5, abs=0.15)
    assert info.has_audio
    first = next(iter_clip_frames(out, clip_len=1.0, size=16))
    assert dominant_channel(first.frames[0]) == 1  # the green scene
    with pytest.raises(InputError, match="after start"):
        cut_clip(colour_video, 5, 5, tmp_path / "x.mp4")
    with pytest.raises(InputError, match="past the end"):
        cut_clip(colour_video, 99, 100, tmp_path / "x.mp4")


def test_time_parsing_and_formatting():
    assert parse_time("75.5") == 75.5
    assert parse_time("01:15.5") == 75.5
    assert parse_time("1:01:15") == 3675
    with pytest.raises(InputError):
        parse_time("soon")
    assert format_time(3675.25) == "01:01:15.2"
