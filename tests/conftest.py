"""Shared fixtures: tiny random CLIP/SigLIP models saved to disk, and real generated videos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# ../shared beside the repo, or wherever $MOMENTFINDER_SHARED points (a clone elsewhere)
SHARED = os.path.abspath(
    os.environ.get("MOMENTFINDER_SHARED") or os.path.join(os.path.dirname(__file__), "..", "..", "shared")
)
SHARED_DATA = os.path.join(SHARED, "data")


def shared_path(*parts: str) -> str:
    """A file under ../shared/data, or skip the test with a clear message when it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (set MOMENTFINDER_SHARED to the shared folder)")
    return path


def generate_synthetic(out: Path, seed: int, n_videos: int, dim: int | None = None) -> Path:
    """Write ../shared/bench/synth_qvh.py's data set to ``out``, or skip when the generator is absent."""
    generator = Path(SHARED) / "bench" / "synth_qvh.py"
    if not generator.is_file():
        pytest.skip(
            f"synthetic generator not found: {generator} (set MOMENTFINDER_SHARED to the shared folder)"
        )
    cmd = [sys.executable, str(generator), str(out), "--seed", str(seed), "--n-videos", str(n_videos)]
    subprocess.run(cmd + (["--dim", str(dim)] if dim else []), check=True, capture_output=True)
    return Path(out)


def build_tiny_clip(path: str) -> str:
    """A random CLIP (2 layers, 32 wide, 32 px images), saved like a hub checkpoint."""
    from momentfinder.encoders.random_models import save_random_model

    return save_random_model(path, "clip", "tiny")


def build_tiny_siglip(path: str) -> str:
    """A random SigLIP (2 layers, 32 wide, 32×32 images, no centre crop), saved like a hub checkpoint."""
    from momentfinder.encoders.random_models import save_random_model

    return save_random_model(path, "siglip", "tiny")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    return build_tiny_clip(str(tmp_path_factory.mktemp("tiny-clip")))


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> str:
    return build_tiny_siglip(str(tmp_path_factory.mktemp("tiny-siglip")))


@pytest.fixture(scope="session")
def colour_video(tmp_path_factory) -> str:
    """30 s, 3 scenes of 10 s (red, green, blue), 160×120 @ 25 fps, AAC audio, sidecar .srt."""
    from momentfinder.types import SubtitleSegment
    from momentfinder.video.sample import Scene, write_sample_video

    path = str(tmp_path_factory.mktemp("video") / "colours.mp4")
    return write_sample_video(
        path,
        [Scene(10, (220, 20, 20)), Scene(10, (20, 220, 20)), Scene(10, (20, 20, 220))],
        size=(160, 120),
        fps=25,
        subtitles=[SubtitleSegment(12.0, 15.0, "the weather is sunny today")],
        audio=True,
    )


@pytest.fixture
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg is not installed (make test installs it in CI)")
    return exe


# -- PostgreSQL (the library's server backend) -------------------------------------------------
# One server per session (pgserver in a temporary directory, or $MOMENTFINDER_TEST_PG_URL), started
# only when a test asks for it; a fresh database per test. No skipping: see tests/pg_server.py.


@pytest.fixture(scope="session")
def pg_server():
    from . import pg_server as pg

    try:
        server = pg.start()
    except pg.ServerUnavailable as err:
        pytest.fail(f"PostgreSQL tests need a server: {err}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_database(pg_server) -> str:
    """The URL of a new, empty database on the session's server (dropped after the test)."""
    url = pg_server.new_database()
    yield url
    pg_server.drop_database(url)
