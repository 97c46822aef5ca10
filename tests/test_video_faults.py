"""Video as it really comes: a generated corpus of odd and damaged files, through the real code paths.

Variable frame rate, rotation metadata, odd frame sizes (161×121, 1×1), a zeroed block mid-file, a
truncated file, random bytes, still images, audio only, and a ``cut`` killed with SIGKILL. Each case
checks what a user gets: the probe, the sampled frames, the features and their timeline, the cut
clip (measured with the probe), and the CLI (one line on stderr, the exit code, no traceback).
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest

import momentfinder
from momentfinder.channels.visual import SamplingConfig, extract_visual_features
from momentfinder.cli import main
from momentfinder.errors import InputError, MediaError
from momentfinder.pipeline.finder import MomentFinder
from momentfinder.types import SubtitleSegment
from momentfinder.video.cut import cut_clip
from momentfinder.video.decode import DecodeReport, iter_clip_frames, probe
from momentfinder.video.sample import Scene, write_sample_audio, write_sample_video, write_srt

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


def dominant(image: np.ndarray) -> int:
    return int(np.argmax(image.reshape(-1, 3).mean(axis=0)))


def decoded_frames(path: str) -> list[av.VideoFrame]:
    """Every frame that decodes (a packet that does not is skipped, as players do)."""
    frames = []
    with av.open(path) as container:
        for packet in container.demux(video=0):
            try:
                frames.extend(packet.decode())
            except av.FFmpegError:
                continue
    return frames


def write_frames(path, times, colour_of, size=(64, 48), pix_fmt="yuv420p", gop=None) -> str:
    """H.264 frames at explicit timestamps (ms): any frame rate, varying at will."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", **({"g": str(gop)} if gop else {})}
        for t in times:
            img = np.zeros((height, width, 3), np.uint8)
            img[:] = colour_of(t)
            if height >= 4:
                img[: height // 4, : int(width * (t % 1))] = 255  # something that moves
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


def remux_video(source: str, out) -> str:
    """The video stream of ``source`` copied into ``out`` (the container from its extension)."""
    with av.open(source) as src, av.open(str(out), "w") as dst:
        video_out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video_out
                dst.mux(packet)
    return str(out)


def cli(capfd, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; stdout and stderr as the terminal gets them (FFmpeg's own output too)."""
    rc = main(list(args))
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    # everything on stderr is momentfinder's own one-line messages (no FFmpeg chatter)
    assert all(line.startswith("momentfinder: ") for line in err.splitlines() if line.strip()), err
    return rc, out, err


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("momentfinder: error: "), err
    return lines[0]


# --- variable frame rate ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory) -> str:
    """6 s at 5 fps (red), then 6 s at 60 fps (blue): 30 + 360 frames, keyframes every 30."""
    times = [i / 5 for i in range(30)] + [6 + i / 60 for i in range(360)]
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    return write_frames(path, times, lambda t: RED if t < 6 else BLUE, gop=30)


def test_vfr_probe_and_sampling_follow_timestamps(vfr_video):
    info = probe(vfr_video)
    assert info.variable_frame_rate and info.duration == pytest.approx(12.0, abs=0.05)
    clips = list(iter_clip_frames(vfr_video, clip_len=2.0, size=None))
    colours = [dominant(c.frames[0]) for c in clips]
    assert colours[:6] == [0, 0, 0, 2, 2, 2] and set(colours[6:]) <= {2}  # (the last frame ends past 12 s)
    for c in clips[:6]:  # the frame nearest the clip centre, whatever the rate
        assert abs(c.times[0] - (2 * c.index + 1)) <= 0.1 + 1e-6


@pytest.mark.parametrize("section", [(0.0, 6.0, 30, 0), (6.0, 12.0, 360, 2)])
def test_vfr_cut_keeps_source_timing(vfr_video, tmp_path, section):
    # before: frames were re-timed at the average rate (32.5 fps): the 5 fps half became a 0.95 s
    # clip and the 60 fps half an 11.4 s one
    start, end, n_frames, colour = section
    out = cut_clip(vfr_video, start, end, tmp_path / "moment.mp4")
    assert probe(out).duration == pytest.approx(end - start, abs=0.005)
    frames = decoded_frames(out)
    assert abs(len(frames) - n_frames) <= 1
    assert all(dominant(f.to_ndarray(format="rgb24")) == colour for f in frames)
    times = [float(f.time) for f in frames]
    np.testing.assert_allclose(np.diff(times), 1 / (5 if colour == 0 else 60), atol=2e-3)


def test_vfr_stream_copy_starts_on_a_keyframe(vfr_video, tmp_path, capfd):
    # keyframes every 30 frames: at 6.0, 6.5, 7.0, ... in the 60 fps part
    rc, out, err = cli(
        capfd, "cut", vfr_video, "--start", "7.2", "--end", "10", "-o", str(tmp_path / "c.mkv"), "--copy"
    )
    assert rc == 0 and out.strip() == str(tmp_path / "c.mkv")
    assert "starts at the keyframe at 00:00:07.0" in err  # said, not hidden
    duration = probe(tmp_path / "c.mkv").duration
    assert 3.0 <= duration <= 3.0 + 0.1  # from the keyframe at 7.0 to 10 s (+ a reordered frame or two)
    frames = decoded_frames(str(tmp_path / "c.mkv"))
    assert float(frames[0].time) == pytest.approx(0.0, abs=1e-3)
    assert all(dominant(f.to_ndarray(format="rgb24")) == 2 for f in frames)


# --- rotation metadata ------------------------------------------------------------------------


def _quadrants(height: int, width: int) -> np.ndarray:
    """Red left half, green top right, blue bottom right: every turn and flip looks different."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = RED
    img[: height // 2, width // 2 :] = GREEN
    img[height // 2 :, width // 2 :] = BLUE
    return img


@pytest.fixture(scope="module")
def upright_video(tmp_path_factory) -> str:
    """2 s of the quadrant picture, 64×48 @ 10 fps, with AAC audio."""
    path = str(tmp_path_factory.mktemp("rot") / "upright.mp4")
    with av.open(path, "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "10"}
        a = out.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(_quadrants(48, 64), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
            tone = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.float32), format="fltp", layout="mono")
            tone.sample_rate, tone.pts = 16000, i * 1600
            out.mux(a.encode(tone))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    return path


def rotated_copy(ffmpeg: str, source: str, degrees: int, out: str) -> str:
    """The phone way: the pixels as stored, a display matrix saying how to turn them."""
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            source,
            "-c",
            "copy",
            "-metadata:s:v:0",
            f"rotate={degrees}",
            out,
        ],
        check=True,
    )
    return out


def ffmpeg_first_frame(ffmpeg: str, path: str) -> np.ndarray:
    """The first frame as FFmpeg's player logic shows it (autorotate), RGB."""
    from PIL import Image

    png = subprocess.run(
        [ffmpeg, "-v", "error", "-i", path, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_video_is_decoded_as_players_show_it(upright_video, tmp_path, ffmpeg, degrees):
    path = rotated_copy(ffmpeg, upright_video, degrees, str(tmp_path / f"rot{degrees}.mp4"))
    shown = ffmpeg_first_frame(ffmpeg, path)
    first = next(iter_clip_frames(path, clip_len=1.0, size=None)).frames[0]
    assert first.shape == shown.shape == ((64, 48, 3) if degrees != 180 else (48, 64, 3))
    assert np.abs(first.astype(int) - shown.astype(int)).mean() < 2  # the same picture, the same way up
    # an exact size is the size as shown
    small = next(iter_clip_frames(path, clip_len=1.0, size=(12, 16)))
    assert small.frames[0].shape == (16, 12, 3)


def test_the_encoder_sees_upright_frames(upright_video, tmp_path, ffmpeg):
    path = rotated_copy(ffmpeg, upright_video, 90, str(tmp_path / "phone.mp4"))
    shown = ffmpeg_first_frame(ffmpeg, path)

    class Recorder:  # an encoder that keeps what it is shown
        name, dim, frame_size, batch_size = "recorder", 2, None, 8
        seen: list[np.ndarray] = []

        def encode_images(self, images):
            self.seen.extend(images)
            return np.tile(np.float32([1, 0]), (len(images), 1))

    feats = extract_visual_features(
        path, Recorder(), probe(path).duration, SamplingConfig(1.0), progress=False
    )
    assert feats.n_clips == 2 and len(Recorder.seen) == 2
    for image in Recorder.seen:
        assert image.shape == shown.shape and np.abs(image.astype(int) - shown.astype(int)).mean() < 2


@pytest.mark.parametrize("copy", [False, True])
def test_cut_clips_keep_the_rotation(upright_video, tmp_path, ffmpeg, copy):
    path = rotated_copy(ffmpeg, upright_video, 90, str(tmp_path / "phone.mp4"))
    out = cut_clip(path, 0.5, 1.5, tmp_path / "clip.mp4", copy=copy)
    assert decoded_frames(out)[0].rotation == decoded_frames(path)[0].rotation == 90
    shown = ffmpeg_first_frame(ffmpeg, out)
    assert shown.shape == (64, 48, 3)
    assert np.abs(shown.astype(int) - ffmpeg_first_frame(ffmpeg, path).astype(int)).mean() < 4
    ours = next(iter_clip_frames(out, clip_len=1.0, size=None)).frames[0]
    assert np.abs(ours.astype(int) - shown.astype(int)).mean() < 2


def test_upright_turns_and_flips_like_ffmpeg():
    from momentfinder.video.decode import display_rotation, upright

    img = _quadrants(4, 6)
    one, zero = 65536, 0
    ccw90 = (zero, -one, 0, one, zero, 0, 0, 0, 1 << 30)  # what ffmpeg writes for rotate=90
    assert display_rotation(ccw90) == 270
    np.testing.assert_array_equal(upright(img, ccw90), np.rot90(img, 1))
    half = (-one, zero, 0, zero, -one, 0, 0, 0, 1 << 30)
    np.testing.assert_array_equal(upright(img, half), img[::-1, ::-1])
    vflip = (one, zero, 0, zero, -one, 0, 0, 0, 1 << 30)
    np.testing.assert_array_equal(upright(img, vflip), img[::-1])
    assert upright(img, None) is img


# --- odd frame sizes --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[(161, 121), (1, 1)], ids=["161x121", "1x1"])
def odd_video(request, tmp_path_factory) -> str:
    """2 s @ 10 fps at an odd size (H.264 in 4:4:4 takes it; 4:2:0 would not)."""
    w, h = request.param
    path = tmp_path_factory.mktemp("odd") / f"odd{w}x{h}.mp4"
    return write_frames(
        path, [i / 10 for i in range(20)], lambda t: RED if t < 1 else BLUE, (w, h), "yuv444p"
    )


@pytest.mark.parametrize("copy", [False, True])
def test_odd_sizes_cut(odd_video, tmp_path, capfd, copy):
    info = probe(odd_video)
    out = str(tmp_path / "clip.mp4")
    rc, _, _ = cli(
        capfd, "cut", odd_video, "--start", "0.5", "--end", "1.5", "-o", out, *(["--copy"] if copy else [])
    )
    assert rc == 0
    clip = probe(out)
    assert clip.duration == pytest.approx(1.0, abs=0.55 if copy else 0.02)
    if copy:
        assert (clip.width, clip.height) == (info.width, info.height)
    else:  # H.264 4:2:0 needs even sizes: padded by the last row/column
        assert (clip.width, clip.height) == (info.width + info.width % 2, info.height + info.height % 2)
        colours = [dominant(f.to_ndarray(format="rgb24")) for f in decoded_frames(out)]
        assert colours == [0] * 5 + [2] * 5


def test_odd_sizes_decode(odd_video):
    clips = list(iter_clip_frames(odd_video, clip_len=1.0, size=8))
    assert [dominant(c.frames[0]) for c in clips] == [0, 2]
    assert min(clips[0].frames[0].shape[:2]) == 8


# --- damaged data mid-file --------------------------------------------------------------------


def zero_block(path: str, out, share: float, size: int = 4096) -> str:
    """A copy of ``path`` with ``size`` bytes zeroed at ``share`` of the file."""
    data = bytearray(open(path, "rb").read())
    at = int(len(data) * share)
    data[at : at + size] = bytes(size)
    with open(out, "wb") as f:
        f.write(bytes(data))
    return str(out)


@pytest.fixture(scope="module")
def intact_and_damaged(tmp_path_factory) -> tuple[str, str]:
    """30 s (red, green, blue scenes of 10 s), 160×120 @ 25 fps = 750 frames, and a copy with one
    4 KB block zeroed at 20 % of the file."""
    root = tmp_path_factory.mktemp("damaged")
    intact = write_sample_video(
        root / "intact.mp4", [Scene(10, RED), Scene(10, GREEN), Scene(10, BLUE)], (160, 120)
    )
    return intact, zero_block(intact, root / "damaged.mp4", 0.2)


def test_damage_is_skipped_and_reported(intact_and_damaged):
    intact, damaged = intact_and_damaged
    report, intact_report = DecodeReport(), DecodeReport()
    clips = list(iter_clip_frames(damaged, clip_len=2.0, size=16, decode="all", report=report))
    good = list(iter_clip_frames(intact, clip_len=2.0, size=16, decode="all", report=intact_report))
    # before: decoding stopped at the damage and the last frame was repeated to the end
    assert len(clips) == len(good) == 15
    assert report.skipped > 0 and report.end is None
    assert len(report.unreadable) == 1
    start, end = report.unreadable[0]
    assert 3.0 < start < end < 12.0 and end - start < 5.0
    assert report.frames >= intact_report.frames - 25 * (end - start) - 2  # decoding went on after it
    assert np.all(np.diff([c.times[0] for c in clips]) > 0.5)  # no frame repeated to the end
    after = [i for i, c in enumerate(good) if c.times[0] > end + 0.5]
    assert after and [dominant(clips[i].frames[0]) for i in after] == [
        dominant(good[i].frames[0]) for i in after
    ]


def same_where_readable(clips, good, report: DecodeReport) -> list[int]:
    """Indices of the clips sampled away from every reported loss; asserts they show what the
    intact file shows (no picture concealed from lost references passed off as video)."""
    lost = list(report.unreadable) + ([(report.end, math.inf)] if report.end is not None else [])
    readable = [i for i, c in enumerate(clips) if not any(a - 0.5 <= c.times[0] <= b + 0.5 for a, b in lost)]
    assert [dominant(clips[i].frames[0]) for i in readable] == [dominant(good[i].frames[0]) for i in readable]
    return readable


@pytest.mark.parametrize("share", [0.4, 0.5, 0.7])
def test_damaged_matroska_resyncs_and_reports_the_lost_cluster(intact_and_damaged, tmp_path, share):
    """Matroska's demuxer skips a broken cluster without an error and the decoder may conceal
    what follows without one either (before: nothing was reported on such machines); the bytes
    passed over between two packets mark it, and the video up to the next keyframe is reported."""
    intact, _ = intact_and_damaged
    mkv = remux_video(intact, tmp_path / "intact.mkv")
    damaged = zero_block(mkv, tmp_path / "damaged.mkv", share)
    report = DecodeReport()
    clips = list(iter_clip_frames(damaged, clip_len=2.0, size=16, report=report))
    good = list(iter_clip_frames(mkv, clip_len=2.0, size=16))
    assert report.skipped > 0 and len(report.unreadable) + (report.end is not None) == 1
    start, end = report.unreadable[0] if report.unreadable else (report.end, 30.0)
    assert 10.0 < start < end and end - start > 2.0  # the lost cluster, not just one frame
    readable = same_where_readable(clips, good, report)
    assert len(readable) >= 8


@pytest.fixture(scope="module")
def matroska_with_audio(tmp_path_factory) -> str:
    """20 s of H.264 and Opus in Matroska: audio blocks between the video ones in every cluster."""
    root = tmp_path_factory.mktemp("mkv_audio")
    mp4 = write_sample_video(root / "av.mp4", [Scene(10, RED), Scene(10, BLUE)], (160, 120), audio=True)
    out = root / "av.mkv"
    with av.open(mp4) as src, av.open(str(out), "w") as dst:
        v_out = dst.add_stream_from_template(src.streams.video[0])
        a_out = dst.add_stream("libopus", rate=48000)
        for packet in src.demux():
            if packet.stream.type == "video" and packet.dts is not None:
                packet.stream = v_out
                dst.mux(packet)
            elif packet.stream.type == "audio":
                for frame in packet.decode():
                    frame.pts = None
                    dst.mux(a_out.encode(frame))
        dst.mux(a_out.encode(None))
    return str(out)


def test_intact_matroska_with_audio_reports_nothing(matroska_with_audio):
    report = DecodeReport()
    clips = list(iter_clip_frames(matroska_with_audio, clip_len=2.0, size=16, decode="all", report=report))
    assert len(clips) >= 10 and report.skipped == 0 and report.unreadable == [] and report.end is None


def test_damaged_matroska_with_audio_reports_the_lost_video(matroska_with_audio, tmp_path):
    damaged = zero_block(matroska_with_audio, tmp_path / "damaged.mkv", 0.3)
    report = DecodeReport()
    clips = list(iter_clip_frames(damaged, clip_len=2.0, size=16, decode="all", report=report))
    good = list(iter_clip_frames(matroska_with_audio, clip_len=2.0, size=16, decode="all"))
    assert report.skipped > 0 and len(report.unreadable) == 1
    start, end = report.unreadable[0]
    assert 0.0 < start < end < 18.0 and end - start > 1.0
    assert len(same_where_readable(clips, good, report)) >= 4


def test_damage_note_survives_the_feature_cache(intact_and_damaged, tiny_clip, tmp_path):
    _, damaged = intact_and_damaged
    finder = MomentFinder(
        visual_model=tiny_clip, cache_dir=str(tmp_path / "cache"), use_subtitles=False, progress=False
    )
    first = finder.extract(damaged)
    spans = first.visual.unreadable
    assert len(spans) == 1
    notes = [n for n in first.notes if n.startswith("video unreadable")]
    assert len(notes) == 1 and "(damaged data skipped)" in notes[0]
    again = finder.extract(damaged)  # from the cache
    assert again.visual.unreadable == spans and again.notes == first.notes


def test_damaged_file_grounds_with_a_warning(intact_and_damaged, tiny_clip, capfd):
    _, damaged = intact_and_damaged
    rc, out, err = cli(
        capfd,
        "ground",
        damaged,
        "a green screen",
        "--visual-model",
        tiny_clip,
        "--no-cache",
        "--no-subtitles",
    )
    assert rc == 0 and "rank" in out
    warnings = [line for line in err.splitlines() if "video unreadable" in line]
    assert len(warnings) == 1 and warnings[0].startswith("momentfinder: warning: video unreadable 00:00:")


@pytest.mark.parametrize("copy", [False, True])
def test_damaged_file_cuts_across_the_damage(intact_and_damaged, tmp_path, copy):
    _, damaged = intact_and_damaged
    out = cut_clip(damaged, 4.0, 14.0, tmp_path / "across.mp4", copy=copy)
    duration = probe(out).duration
    if copy:  # from the keyframe at 0 s (one every 10 s)
        assert 14.0 <= duration <= 14.1
    else:
        assert duration == pytest.approx(10.0, abs=0.02)
    assert dominant(decoded_frames(out)[-1].to_ndarray(format="rgb24")) == 1  # reaches the green scene


# --- truncated file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def truncated(intact_and_damaged, tmp_path_factory) -> str:
    """The first half of the bytes of a Matroska file (headers in front: it still opens, and its
    header still promises all 30 s)."""
    intact, _ = intact_and_damaged
    root = tmp_path_factory.mktemp("truncated")
    data = open(remux_video(intact, root / "full.mkv"), "rb").read()
    path = root / "half.mkv"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def test_truncated_file_is_clamped_to_what_decodes(truncated, tiny_clip):
    info = probe(truncated)
    assert info.duration == pytest.approx(30.0, abs=0.1)
    finder = MomentFinder(visual_model=tiny_clip, use_cache=False, use_subtitles=False, progress=False)
    feats = finder.extract(truncated)
    end = feats.visual.duration
    assert 8.0 < end < 22.0  # where decodable video ends, not where the header said
    assert feats.timeline.duration == pytest.approx(end) and feats.timeline.n_clips == feats.visual.n_clips
    assert any(n.startswith("video ends at") for n in feats.notes)
    result = finder.ground_features(feats, "a blue screen", top_k=10)
    assert result.moments and all(m.end <= end + 1e-6 for m in result.moments)
    assert len(result.saliency) == feats.visual.n_clips


def test_truncated_file_grounds_and_exports(truncated, tiny_clip, tmp_path, capfd):
    export = tmp_path / "clips"
    args = [
        "ground",
        truncated,
        "a green screen",
        "--visual-model",
        tiny_clip,
        "--no-cache",
        "--no-subtitles",
    ]
    rc, out, err = cli(capfd, *args, "--export", str(export), "--top-k", "3", "--json")
    assert rc == 0
    assert "warning: video ends at" in err
    windows = json.loads(out)["pred_relevant_windows"]
    clips = sorted(os.listdir(export))
    assert windows and len(clips) == len(windows)
    lengths = sorted(probe(export / name).duration for name in clips)
    np.testing.assert_allclose(lengths, sorted(end - start for start, end, _ in windows), atol=0.05)


def test_cut_past_the_decodable_end_is_one_line(truncated, tmp_path, capfd):
    rc, _, err = cli(
        capfd, "cut", truncated, "--start", "25", "--end", "28", "-o", str(tmp_path / "late.mp4")
    )
    assert rc == 2 and "no video frame could be decoded" in one_error(err)
    assert os.listdir(tmp_path) == []  # no clip, no temporary file


# --- not videos -------------------------------------------------------------------------------


def random_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.bytes(int(rng.integers(100, 200_000)))


def test_random_bytes_are_refused(tmp_path, tiny_clip, capfd):
    # seed 242 passed as a 0.04 s H.263 video before; none may pass as video now
    for seed in [242, *range(20)]:
        path = tmp_path / f"noise{seed}.mp4"
        path.write_bytes(random_bytes(seed))
        with pytest.raises(MediaError):
            probe(path)
    # 4 KB of noise once passed as 5 ms of ADPCM audio: too short to be a recording
    for seed in range(1000, 1100):
        path = tmp_path / "noise.bin"
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(MediaError):
            probe(path)
    rc, out, err = cli(
        capfd, "ground", str(tmp_path / "noise242.mp4"), "a door opens", "--visual-model", tiny_clip
    )
    assert rc == 2 and out == "" and "not a readable video" in one_error(err)


@pytest.fixture
def stills(tmp_path) -> list[str]:
    from PIL import Image

    picture = Image.fromarray(_quadrants(48, 64))
    picture.save(tmp_path / "photo.png")
    picture.save(tmp_path / "photo.jpg")
    one = write_frames(tmp_path / "one_frame.mp4", [0.0], lambda t: RED)
    return [str(tmp_path / "photo.png"), str(tmp_path / "photo.jpg"), one]


def test_still_images_are_refused(stills, tiny_clip, capfd):
    for path in stills:
        with pytest.raises(MediaError, match="still image"):
            probe(path)
        rc, out, err = cli(capfd, "ground", path, "a red wall", "--visual-model", tiny_clip, "--no-cache")
        assert rc == 2 and out == "" and "is a still image" in one_error(err)


def test_cover_art_is_not_video(tmp_path, ffmpeg):
    song = write_sample_audio(tmp_path / "song.m4a", 3.0)
    from PIL import Image

    Image.fromarray(_quadrants(48, 64)).save(tmp_path / "cover.png")
    out = str(tmp_path / "song_with_cover.m4a")
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            song,
            "-i",
            str(tmp_path / "cover.png"),
            "-map",
            "0",
            "-map",
            "1",
            "-c:a",
            "copy",
            "-c:v",
            "png",
            "-disposition:v",
            "attached_pic",
            out,
        ],
        check=True,
    )
    with av.open(out) as container:
        assert len(container.streams.video) == 1  # FFmpeg sees a video stream...
    info = probe(out)
    assert not info.has_video and info.has_audio  # ...which is a picture, not video


# --- audio only -------------------------------------------------------------------------------


@pytest.fixture
def talk(tmp_path) -> str:
    path = write_sample_audio(tmp_path / "talk.m4a", 12.0)
    write_srt(
        tmp_path / "talk.srt",
        [
            SubtitleSegment(1.0, 3.0, "welcome to the show"),
            SubtitleSegment(6.0, 9.0, "the train leaves the station"),
        ],
    )
    return path


@pytest.mark.parametrize("copy", [False, True])
def test_audio_only_export_cuts_audio(talk, tiny_clip, tmp_path, capfd, copy):
    # before: "has no video stream to cut" ended the run after all the work
    export = tmp_path / "clips"
    args = ["ground", talk, "a train departs", "--visual-model", tiny_clip, "--top-k", "1"]
    rc, out, err = cli(capfd, *args, "--export", str(export), *(["--export-copy"] if copy else []))
    assert rc == 0 and "exported " in out
    (clip,) = os.listdir(export)
    assert clip.endswith(".m4a")
    info = probe(export / clip)
    assert info.has_audio and not info.has_video and 0.5 < info.duration < 12.0


def test_audio_only_cut(talk, tmp_path):
    out = cut_clip(talk, 2.0, 5.0, tmp_path / "part.m4a")
    info = probe(out)
    assert not info.has_video and info.duration == pytest.approx(3.0, abs=0.1)


# --- output paths and temporary files ---------------------------------------------------------


def test_cut_output_is_checked_before_the_work(upright_video, tmp_path, capfd, monkeypatch):
    import momentfinder.video.cut as cut_module

    def no_work(*args, **kwargs):
        raise AssertionError("encoding started before the output was checked")

    monkeypatch.setattr(cut_module, "_reencode", no_work)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = cli(
        capfd, "cut", upright_video, "--start", "0", "--end", "1", "-o", str(blocker / "clip.mp4")
    )
    assert rc == 2 and out == "" and str(blocker) in one_error(err)
    rc, _, err = cli(capfd, "cut", upright_video, "--start", "0", "--end", "1", "-o", str(tmp_path))
    assert rc == 2 and "is a directory" in one_error(err)
    with pytest.raises(InputError, match="unknown kind of file"):
        cut_clip(upright_video, 0, 1, tmp_path / "clip.xyz")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_export_dir_is_checked_before_the_work(upright_video, tmp_path, capfd, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("extraction started before the export directory was checked")

    monkeypatch.setattr(MomentFinder, "extract", no_work)
    blocker = tmp_path / "clips"
    blocker.write_text("not a directory")
    rc, out, err = cli(capfd, "ground", upright_video, "red", "--no-visual", "--export", str(blocker))
    assert rc == 2 and out == "" and "is not a directory" in one_error(err)
    rc, _, err = cli(capfd, "ground", upright_video, "red", "--no-visual", "--export-copy")
    assert rc == 2 and "--export-copy needs --export" in one_error(err)


SLOW_CUT = """
import sys, time
import momentfinder.video.cut as cut
add = cut._VideoOut.add
cut._VideoOut.add = lambda self, *a: (time.sleep(0.02), add(self, *a))[1]
from momentfinder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_leaves_nothing_a_later_run_trusts(intact_and_damaged, tmp_path):
    intact, _ = intact_and_damaged
    out = tmp_path / "clip.mp4"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(momentfinder.__file__))}
    cmd = [sys.executable, "-c", SLOW_CUT, "cut", intact, "--start", "0", "--end", "20", "-o", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not [n for n in os.listdir(tmp_path) if n.endswith(".part.mp4")]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # well into the encoding
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    (part,) = os.listdir(tmp_path)
    assert part.startswith(".clip.mp4.") and part.endswith(".part.mp4")  # hidden, never the output name
    assert not out.exists()
    assert main(["cut", intact, "--start", "0", "--end", "2", "-o", str(out)]) == 0
    assert os.listdir(tmp_path) == ["clip.mp4"]  # the dead run's temporary file is gone too
    assert probe(out).duration == pytest.approx(2.0, abs=0.05)
