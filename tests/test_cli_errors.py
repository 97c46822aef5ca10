"""Bad input: one clear line on stderr, a non-zero exit, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from momentfinder.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("momentfinder: error: ")
    return lines[0]


@pytest.fixture
def audio_file(tmp_path) -> str:
    from momentfinder.video.sample import write_sample_audio

    return write_sample_audio(tmp_path / "voice.m4a", 20.0)


def test_missing_file(capsys, tiny_clip):
    rc, out, err = run_cli(
        capsys, "ground", "/no/such/video.mp4", "a door opens", "--visual-model", tiny_clip
    )
    assert rc != 0 and out == ""
    assert "no such file" in error_line(err)


def test_not_a_video(capsys, tmp_path, tiny_clip):
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(os.urandom(4096))
    rc, _, err = run_cli(capsys, "ground", str(fake), "a door opens", "--visual-model", tiny_clip)
    assert rc != 0 and "not a readable video" in error_line(err)


def test_zero_length_file(capsys, tmp_path, tiny_clip):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    rc, _, err = run_cli(capsys, "ground", str(empty), "a door opens", "--visual-model", tiny_clip)
    assert rc != 0 and "empty" in error_line(err)


def test_truncated_mp4_without_index(capsys, tmp_path, colour_video, tiny_clip):
    """MP4 keeps its index (moov) at the end: cut in half, nothing is decodable."""
    data = open(colour_video, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    rc, _, err = run_cli(
        capsys, "ground", str(cut), "a door opens", "--visual-model", tiny_clip, "--no-cache"
    )
    assert rc != 0 and str(cut) in error_line(err)


def test_empty_query(capsys, colour_video, tiny_clip):
    rc, _, err = run_cli(capsys, "ground", colour_video, "   ", "--visual-model", tiny_clip)
    assert rc != 0 and "query is empty" in error_line(err)


def test_audio_only_without_subtitles(capsys, audio_file, tiny_clip):
    rc, _, err = run_cli(capsys, "ground", audio_file, "someone talks", "--visual-model", tiny_clip)
    assert rc != 0
    line = error_line(err)
    assert "no video stream" in line and "no subtitles" in line


def test_audio_only_with_subtitles_uses_them(capsys, audio_file, tiny_clip):
    with open(audio_file[:-4] + ".srt", "w") as f:
        f.write("1\n00:00:05,000 --> 00:00:08,000\nthe train is leaving the station\n\n")
    rc, out, err = run_cli(
        capsys, "ground", audio_file, "a train departs", "--visual-model", tiny_clip, "--json"
    )
    assert rc == 0
    assert "no video stream" in err
    assert '"channels": ["subtitles"]' in out


def test_unloadable_model_without_subtitles(capsys, tmp_path, colour_video):
    rc, _, err = run_cli(
        capsys,
        "ground",
        colour_video,
        "a red room",
        "--visual-model",
        str(tmp_path / "nope"),
        "--no-subtitles",
    )
    assert rc == 3 and "cannot load visual model" in error_line(err)


def test_cut_errors(capsys, colour_video, tmp_path):
    rc, _, err = run_cli(
        capsys, "cut", colour_video, "--start", "10", "--end", "5", "-o", str(tmp_path / "o.mp4")
    )
    assert rc != 0 and "must be after start" in error_line(err)
    rc, _, err = run_cli(
        capsys, "cut", colour_video, "--start", "noon", "--end", "5", "-o", str(tmp_path / "o.mp4")
    )
    assert rc != 0 and "not a time" in error_line(err)


def test_real_process_exit_code_and_single_line(tmp_path):
    """Through a real interpreter: the console entry point exits non-zero with one stderr line."""
    proc = subprocess.run(
        [sys.executable, "-m", "momentfinder", "ground", str(tmp_path / "missing.mp4"), "a query"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"momentfinder: error: {tmp_path / 'missing.mp4'}: no such file"
