"""Exact sparse decoding (video/sparse.py): the same frames as decoding every frame, from less.

Every file here is sampled twice, with ``decode="exact"`` and the reference ``decode="all"``: the
sampled times must be equal and the pixels bit-identical. B-frames (with B-pyramid references),
odd and open GOPs, variable frame rate, MPEG-TS (Annex B) and files the sparse path cannot plan
(other codecs, truncated or damaged data, decoding that fails midway) are covered.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momentfinder.video import sparse
from momentfinder.video.decode import DecodeReport, iter_clip_frames
from momentfinder.video.sparse import PacketTable, Unplannable, needed_packets, select_frames, standin_packets


def sample(path: str, decode: str, **kw) -> tuple[list[float], list[np.ndarray], DecodeReport]:
    report = DecodeReport()
    clips = list(iter_clip_frames(path, size=None, decode=decode, report=report, **kw))
    times = [t for c in clips for t in c.times]
    frames = [f for c in clips for f in c.frames]
    return times, frames, report


def assert_same_as_reference(path: str, **kw) -> DecodeReport:
    times, frames, report = sample(path, "exact", **kw)
    ref_times, ref_frames, ref_report = sample(path, "all", **kw)
    assert times == ref_times
    assert len(frames) == len(ref_frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, ref_frames, strict=True))
    assert (report.end, report.unreadable) == (ref_report.end, ref_report.unreadable)
    return report


def moving_frames(n: int, size=(96, 64)) -> list[np.ndarray]:
    """Frames with texture and motion, so the encoder predicts between them (P- and B-frames)."""
    rng = np.random.default_rng(1)
    w, h = size
    base = rng.integers(0, 255, (h, w * 2, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, i % w : i % w + w]) for i in range(n)]


def encode(path, frames, times_ms, codec="libx264", options=None, fmt=None) -> str:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = options or {}
        for img, t in zip(frames, times_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


X264 = {
    "bpyramid": "keyint=250:bframes=3:b-pyramid=normal:scenecut=0",
    "odd_gop": "keyint=17:min-keyint=17:bframes=2:b-pyramid=none:scenecut=0",
    "open_gop": "keyint=23:bframes=3:b-pyramid=normal:open-gop=1:scenecut=0",
    "no_bframes": "keyint=9:bframes=0",
    "intra": "keyint=1",
    # reference lists that stand-in pictures must get right: several references with weighted
    # prediction, strict pyramids of 5 B-frames, CAVLC with three slices per picture
    "multi_ref": "keyint=120:bframes=3:b-pyramid=normal:ref=4:weightb=1:weightp=2:scenecut=0",
    "strict_pyramid": "keyint=90:bframes=5:b-pyramid=strict:ref=3:b-adapt=2:scenecut=0",
    "cavlc_slices": "keyint=60:bframes=3:b-pyramid=normal:cabac=0:slices=3:ref=1:scenecut=0",
}
# B-pyramids whose P-pictures reference one picture: their reference B-pictures are stood in for
# (with ref=4, P-pictures may reference them too: multi_ref has none to stand in, and must not)
STANDINS = ("bpyramid", "open_gop", "strict_pyramid", "cavlc_slices")


@pytest.fixture(scope="module", params=sorted(X264))
def x264_video(request, tmp_path_factory) -> tuple[str, str]:
    path = tmp_path_factory.mktemp("sparse") / f"{request.param}.mp4"
    n = 300  # 10 s at 30 fps
    options = {"preset": "veryfast", "crf": "30", "x264-params": X264[request.param]}
    return request.param, encode(path, moving_frames(n), [i * 1000 / 30 for i in range(n)], options=options)


@pytest.mark.parametrize(
    "kw",
    [dict(clip_len=2.0), dict(clip_len=0.5, frames_per_clip=3), dict(clip_len=0.1), dict(clip_len=7.0)],
    ids=["2s", "dense", "every_frame", "long"],
)
def test_exact_samples_the_reference_frames(x264_video, kw):
    kind, path = x264_video
    report = assert_same_as_reference(path, **kw)
    if kind in ("bpyramid", "odd_gop") and kw["clip_len"] >= 2:
        assert 0 < report.frames < 300  # the sparse path ran, and skipped frames


def test_the_sparse_plan_skips_what_nothing_depends_on(x264_video):
    kind, path = x264_video
    with av.open(path) as container:
        stream = container.streams.video[0]
        table = sparse.scan_packets(container, stream)
    picks = select_frames(table, np.arange(1.0, 10.0, 2.0))
    needed = needed_packets(table, picks)
    assert needed[picks].all()
    assert needed[0] or kind not in ("bpyramid", "open_gop")  # one IDR: everything depends on it
    if kind == "bpyramid":  # the non-reference B-frames are never decoded
        assert (~table.ref).sum() > 50 and not needed[
            ~table.ref & ~np.isin(np.arange(len(table)), picks)
        ].any()
    if kind == "intra":  # every frame is a keyframe: only the picked ones are decoded
        assert needed.sum() == len(np.unique(picks))
    assert table.references is not None  # the reference model reads every one of these streams
    # one-macroblock stand-ins, decoded without error concealment, unless pictures have several
    # slices (FFmpeg then flags every picture as damaged): whole-picture ones, concealment on
    assert table.references.multi_slice == (kind == "cavlc_slices")
    assert table.references.decoder_options == ({} if kind == "cavlc_slices" else {"enable_er": "0"})
    standin = standin_packets(table, picks, needed)
    assert not (standin & (table.idr | ~table.ref)).any() and not standin[picks].any()
    if kind in STANDINS:  # reference B-pictures no picked frame depends on are stood in for
        assert standin.sum() > 10
    if kind in ("no_bframes", "intra", "odd_gop"):  # every reference picture in a span is needed
        assert not standin.any()


def test_the_report_counts_real_decodes_not_stand_ins(x264_video):
    kind, path = x264_video
    with av.open(path) as container:
        table = sparse.scan_packets(container, container.streams.video[0])
    picks = select_frames(table, np.arange(1.0, 10.0, 2.0))
    needed = needed_packets(table, picks)
    standin = standin_packets(table, picks, needed)
    _, _, report = sample(path, "exact", clip_len=2.0)
    assert report.frames == (needed & ~standin).sum()  # the report counts what is decoded for real
    assert report.standins == standin.sum()
    assert (report.standins > 0) == (kind in STANDINS)


def test_streams_the_reference_model_cannot_read_keep_the_previous_plan(tmp_path):
    n = 120
    options = {"preset": "veryfast", "x264-params": "keyint=60:bframes=2:b-pyramid=normal:tff=1"}
    path = encode(
        tmp_path / "interlaced.mp4",
        moving_frames(n, (96, 64)),
        [i * 1000 / 30 for i in range(n)],
        options=options,
    )
    with av.open(path) as container:
        table = sparse.scan_packets(container, container.streams.video[0])
    assert table.references is None  # interlaced coding tools: not modelled
    picks = select_frames(table, np.arange(0.5, 4.0, 1.0))
    assert not standin_packets(table, picks, needed_packets(table, picks)).any()
    assert_same_as_reference(path, clip_len=1.0)


def test_variable_frame_rate(tmp_path):
    times = (
        [i * 200 for i in range(30)]
        + [6000 + i * 1000 / 60 for i in range(360)]
        + [12000 + i * 370 for i in range(9)]
    )
    path = encode(
        tmp_path / "vfr.mp4", moving_frames(len(times)), times, options={"x264-params": "keyint=30:bframes=2"}
    )
    report = assert_same_as_reference(path, clip_len=1.0)
    assert report.frames < len(times)
    assert_same_as_reference(path, clip_len=0.25, frames_per_clip=2)


def test_mpeg_ts_annex_b(tmp_path):
    n = 150
    options = {"preset": "veryfast", "x264-params": X264["bpyramid"]}
    path = encode(
        tmp_path / "v.ts", moving_frames(n), [i * 1000 / 30 for i in range(n)], options=options, fmt="mpegts"
    )
    report = assert_same_as_reference(path, clip_len=1.0)
    assert 0 < report.frames < n


def test_rotated_phone_video(tmp_path, ffmpeg):
    n = 90
    src = encode(
        tmp_path / "src.mp4",
        moving_frames(n),
        [i * 1000 / 30 for i in range(n)],
        options={"x264-params": "bframes=3"},
    )
    rotated = str(tmp_path / "rotated.mp4")
    cmd = [ffmpeg, "-v", "error", "-y", "-i", src, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated]
    subprocess.run(cmd, check=True)
    assert_same_as_reference(rotated, clip_len=1.0)
    times, frames, _ = sample(rotated, "exact", clip_len=1.0)
    assert frames[0].shape == (96, 64, 3)  # upright: portrait


def test_unplannable_files_fall_back_to_every_frame(tmp_path, caplog):
    n = 60
    mpeg4 = encode(tmp_path / "mpeg4.mp4", moving_frames(n), [i * 1000 / 30 for i in range(n)], codec="mpeg4")
    with caplog.at_level(logging.INFO, logger="momentfinder.video.decode"):
        report = assert_same_as_reference(mpeg4, clip_len=0.5)
    assert "decoding every frame (codec mpeg4" in caplog.text
    assert report.frames >= n - 6  # every frame up to the last sample


def test_truncated_and_damaged_files_sample_like_the_reference(tmp_path, caplog):
    n = 300
    options = {"preset": "veryfast", "x264-params": X264["odd_gop"]}
    full = encode(tmp_path / "full.mkv", moving_frames(n), [i * 1000 / 30 for i in range(n)], options=options)
    data = open(full, "rb").read()
    half = tmp_path / "half.mkv"
    half.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.INFO, logger="momentfinder.video.decode"):
        report = assert_same_as_reference(str(half), clip_len=1.0)
    assert report.end is not None and report.end < 7  # clamped to what decodes
    assert "decoding every frame" in caplog.text
    damaged = bytearray(data)
    damaged[len(data) // 3 : len(data) // 3 + 2048] = bytes(2048)
    (tmp_path / "damaged.mkv").write_bytes(bytes(damaged))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="momentfinder.video.decode"):
        assert_same_as_reference(str(tmp_path / "damaged.mkv"), clip_len=1.0)
    assert "decoding every frame (" in caplog.text  # a lost cluster: planned out


def test_failing_midway_resumes_with_the_reference_path(x264_video, monkeypatch):
    _, path = x264_video
    real = sparse.iter_planned_frames

    def fails_after_three(*args, **kw):
        for i, item in enumerate(real(*args, **kw)):
            if i == 3:
                raise Unplannable("simulated decoder failure")
            yield item

    monkeypatch.setattr("momentfinder.video.decode.iter_planned_frames", fails_after_three)
    times, frames, _ = sample(path, "exact", clip_len=1.0)
    monkeypatch.undo()
    ref_times, ref_frames, _ = sample(path, "all", clip_len=1.0)
    assert times == ref_times and all(np.array_equal(a, b) for a, b in zip(frames, ref_frames, strict=True))


def reference_picks(times: list[float], targets: list[float]) -> list[int]:
    """The streaming rule of video.decode._nearest_frames, frame by frame."""
    picks, ti, prev = [], 0, None
    for k, t in enumerate(times):
        while ti < len(targets) and t >= targets[ti]:
            picks.append(prev if prev is not None and targets[ti] - times[prev] < t - targets[ti] else k)
            ti += 1
        prev = k
    picks += [len(times) - 1] * (len(targets) - ti)
    return picks


@settings(max_examples=200, deadline=None)
@given(
    pts=st.lists(st.integers(0, 5000), min_size=1, max_size=60, unique=True),
    targets=st.lists(st.integers(-100, 5200), min_size=1, max_size=30),
    den=st.sampled_from([1000, 90000, 30000]),
)
def test_select_frames_is_the_streaming_rule(pts, targets, den):
    n = len(pts)
    shuffled = np.array(pts, dtype=np.int64)  # decode order differs from presentation order
    table = PacketTable(shuffled, np.ones(n, bool), np.zeros(n, bool), np.ones(n, bool), Fraction(1, den))
    t = sorted(np.array(targets, dtype=np.float64) / 997)
    times = table.times(np.sort(shuffled))
    expected = reference_picks(list(times), list(t))
    assert list(np.sort(shuffled)[expected]) == list(table.pts[select_frames(table, np.array(t))])


X265 = {
    "open_gop": "keyint=250:bframes=4:b-pyramid=1",  # one IDR, then CRA pictures
    "closed_gop": "keyint=30:open-gop=0:bframes=4:b-pyramid=1",
    "temporal_layers": "keyint=60:bframes=4:temporal-layers=3",  # non-reference pictures in two sub-layers
}


@pytest.fixture(scope="module", params=sorted(X265))
def x265_video(request, tmp_path_factory) -> tuple[str, str]:
    path = tmp_path_factory.mktemp("sparse_hevc") / f"{request.param}.mp4"
    n = 300
    options = {"preset": "veryfast", "crf": "30", "x265-params": "log-level=error:" + X265[request.param]}
    frames = moving_frames(n)
    return request.param, encode(
        path, frames, [i * 1000 / 30 for i in range(n)], codec="libx265", options=options
    )


@pytest.mark.parametrize(
    "kw", [dict(clip_len=2.0), dict(clip_len=0.5, frames_per_clip=3)], ids=["2s", "dense"]
)
def test_exact_hevc_samples_the_reference_frames(x265_video, kw):
    kind, path = x265_video
    report = assert_same_as_reference(path, **kw)
    if kw["clip_len"] >= 2:
        assert 0 < report.frames < 300  # the sparse path ran, and skipped frames


def test_hevc_non_reference_pictures_of_lower_sub_layers_are_kept(x265_video):
    """A sub-layer non-reference picture may be referenced from a higher temporal sub-layer: only
    those of the highest sub-layer are skipped."""
    kind, path = x265_video
    with av.open(path) as container:
        stream = container.streams.video[0]
        size = sparse._hevc_layout(stream.codec_context.extradata)
        units = [
            sparse._classify_hevc(memoryview(p), size, p.is_keyframe)
            for p in container.demux(stream)
            if p.size
        ]
    with av.open(path) as container:
        table = sparse.scan_packets(container, container.streams.video[0])
    nonref = np.array([u[0] for u in units])
    tids = np.array([u[2] for u in units])
    assert (~table.ref).sum() > 50
    assert np.array_equal(~table.ref, nonref & (tids == tids.max()))
    if kind == "temporal_layers":
        assert (nonref & (tids < tids.max())).any()  # the case the rule is for: kept as references
        assert table.ref[nonref & (tids < tids.max())].all()


def test_hevc_nal_headers():
    hvcc = bytes(21) + bytes([0xFF]) + bytes(2)  # lengthSizeMinusOne = 3
    assert sparse._hevc_layout(b"\x01" + hvcc[1:]) == 4 and sparse._hevc_layout(b"\x00\x00\x00\x01") == 0
    trail_n_tid2 = b"\x00\x00\x00\x03\x00\x03\xaa"  # type 0 (TRAIL_N), temporal id 2
    assert sparse._classify_hevc(memoryview(trail_n_tid2), 4, False) == (True, False, 2)
    trail_r = b"\x00\x00\x00\x03\x02\x01\xaa"  # type 1 (TRAIL_R)
    assert sparse._classify_hevc(memoryview(trail_r), 4, False) == (False, False, 0)
    idr = b"\x00\x00\x01\x40\x01\x0c\x00\x00\x01\x26\x01\xaf"  # VPS, then IDR_W_RADL, Annex B
    assert sparse._classify_hevc(memoryview(idr), 0, True) == (False, True, 0)
    with pytest.raises(Unplannable, match="parameter sets"):
        sparse._classify_hevc(memoryview(idr), 0, False)
    with pytest.raises(Unplannable, match="layered"):
        sparse._classify_hevc(memoryview(b"\x00\x00\x00\x03\x03\x09\xaa"), 4, False)  # layer id 1


def test_nal_headers_in_both_layouts():
    avcc = b"\x00\x00\x00\x02\x65\x88" + b"\x00\x00\x00\x03\x01\x9a\x00"
    assert [h & 0x1F for h in sparse._nal_headers(memoryview(avcc), 4)] == [5, 1]
    assert sparse._classify(memoryview(b"\x00\x00\x00\x02\x01\x9a"), 4, False) == (False, False)  # non-ref
    assert sparse._classify(memoryview(b"\x00\x00\x00\x02\x41\x9a"), 4, False) == (True, False)
    annexb = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88"
    assert sparse._classify(memoryview(annexb), 0, True) == (True, True)
    with pytest.raises(Unplannable, match="parameter sets"):
        sparse._classify(memoryview(annexb), 0, False)
    with pytest.raises(Unplannable, match="NAL unit length"):
        list(sparse._nal_headers(memoryview(b"\x00\x00\x00\x09\x65"), 4))


def test_closing_a_threaded_decoder_midway_after_stand_ins_does_not_hang(tmp_path):
    """Stand-in packets are owned by FFmpeg: a packet made from Python bytes is freed through a
    callback that takes the GIL, so a decoder thread dropping one while the codec context is
    closed mid-stream (GIL held) deadlocked about one run in ten. Forty interrupted runs with
    frame threads, in a child process with a time limit."""
    options = {"preset": "veryfast", "crf": "30", "x264-params": X264["bpyramid"]}
    path = encode(
        tmp_path / "v.mp4", moving_frames(300), [i * 1000 / 30 for i in range(300)], options=options
    )
    script = f"""
import itertools
import momentfinder.video.decode as decode
from momentfinder.video import sparse

real = sparse.iter_planned_frames

def fails_at(stop):
    def planned(*args, **kw):
        for i, item in enumerate(real(*args, **kw)):
            if i == stop:
                raise sparse.Unplannable("simulated decoder failure")
            yield item
    return planned

for stop in itertools.islice(itertools.cycle([1, 2, 3, 5]), 40):
    decode.iter_planned_frames = fails_at(stop)
    for _ in decode.iter_clip_frames({str(path)!r}, clip_len=1.0, size=None, threads=2):
        pass
print("done")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
