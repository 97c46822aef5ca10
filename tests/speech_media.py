"""Media with speech and sounds at known times, generated with espeak-ng and ffmpeg for the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it)")
    return exe


def speak(text: str, out: Path) -> Path:
    """``text`` spoken by espeak-ng's US-English voice at 140 words a minute, as a WAV file."""
    subprocess.run(
        [espeak(), "-v", "en-us", "-s", "140", "-w", str(out), text], check=True, capture_output=True
    )
    return out


def video_with_speech(
    out: Path, utterances: list[tuple[float, str]], seconds: float, video: bool = True, rate: int = 22050
) -> Path:
    """An MP4 (or M4A without ``video``) of ``seconds``: blue frames, silence, and each text spoken
    from its start time (seconds)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    cmd = [ffmpeg, "-loglevel", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i", f"color=c=blue:s=64x48:r=10:d={seconds}"]
    cmd += ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono:d={seconds}"]
    first = 2 if video else 1
    for i, (_, text) in enumerate(utterances):
        cmd += ["-i", str(speak(text, out.with_name(f"{out.stem}_{i}.wav")))]
    silence = first - 1
    delays = "".join(
        f"[{first + i}]adelay={int(start * 1000)}:all=1[s{i}];" for i, (start, _) in enumerate(utterances)
    )
    mix = "".join(f"[s{i}]" for i in range(len(utterances)))
    graph = f"{delays}[{silence}]{mix}amix=inputs={len(utterances) + 1}:duration=first:normalize=0[a]"
    cmd += ["-filter_complex", graph]
    cmd += (["-map", "0"] if video else []) + ["-map", "[a]"]
    cmd += (["-c:v", "libx264"] if video else []) + ["-c:a", "aac", "-t", str(seconds), str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def ffmpeg_run(*args: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", *args], check=True, capture_output=True)
