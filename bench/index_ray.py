#!/usr/bin/env python3
"""Indexing throughput of ``index add --ray`` (issue #13): 1 and 2 local Ray workers vs the plain path.

Generates ``--videos`` videos of ``--seconds`` s (``--size`` pixels at ``--fps``, three colour
scenes, a subtitle line each) and a tiny random CLIP (so decoding dominates, as it does for
ViT-B/32 on a GPU; on a CPU a real encoder would dominate instead), then indexes them into a fresh
library, without the feature cache, once per mode: ``local`` (``Library.add``), ``ray1`` and
``ray2`` (``Library.add(ray=True, workers=N)``: a local Ray started and stopped by the run).
Reports per mode the wall time (including Ray's start and the workers' loading the encoder), the
steady throughput (videos after the first, between the first and the last commit), videos/s and
the realtime factor (seconds of video indexed per second). Prints and writes (``--out``) JSON.

    python bench/index_ray.py --videos 16 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import build_tiny_clip  # noqa: E402
from momentfinder.pipeline import FinderConfig  # noqa: E402
from momentfinder.pipeline.library import Library  # noqa: E402
from momentfinder.types import SubtitleSegment  # noqa: E402
from momentfinder.video.sample import Scene, write_sample_video  # noqa: E402


def make_videos(folder: Path, n: int, seconds: float, size: tuple[int, int], fps: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        colours = [
            ((37 * i + 60 * k) % 256, (91 * i + 17 * k) % 256, (13 * i + 120 * k) % 256) for k in range(3)
        ]
        scenes = [Scene(seconds / 3, c) for c in colours]
        subs = [SubtitleSegment(seconds / 3, seconds / 3 + 3, f"line {i} of the benchmark")]
        write_sample_video(str(folder / f"video{i:03d}.mp4"), scenes, size=size, fps=fps, subtitles=subs)


def index(folder: Path, db: Path, model: str, ray: bool, workers: int | None) -> dict:
    commits: list[float] = []
    start = time.perf_counter()
    lib = Library(db, FinderConfig(visual_model=model, use_cache=False, threads=1), progress=False)
    report = lib.add(
        [str(folder)],
        on_video=lambda path, outcome: commits.append(time.perf_counter()),
        ray=True if ray else None,
        workers=workers,
    )
    wall = time.perf_counter() - start
    hours = lib.status().hours
    lib.close()
    n = len(report.added)
    assert n == len(commits) and not report.failed, report.summary()
    steady = commits[-1] - commits[0]
    seconds = hours * 3600
    return {
        "videos": n,
        "video_seconds": round(seconds, 1),
        "wall_s": round(wall, 2),
        "videos_per_s": round(n / wall, 3),
        "realtime_factor": round(seconds / wall, 1),
        "steady_s": round(steady, 2),
        "steady_videos_per_s": round((n - 1) / steady, 3) if steady > 0 else None,
        "steady_realtime_factor": round(seconds * (n - 1) / n / steady, 1) if steady > 0 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--modes", nargs="+", default=["local", "ray1", "ray2"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    load = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        make_videos(folder, args.videos, args.seconds, tuple(args.size), args.fps)
        model = build_tiny_clip(str(Path(tmp) / "tiny-clip"))
        results = {}
        for mode in args.modes:
            workers = int(mode.removeprefix("ray")) if mode.startswith("ray") else None
            results[mode] = index(folder, Path(tmp) / f"{mode}.db", model, mode != "local", workers)
            print(mode, json.dumps(results[mode]), flush=True)
    out = {
        "setup": {
            "videos": args.videos,
            "seconds_each": args.seconds,
            "size": list(args.size),
            "fps": args.fps,
            "encoder": "tiny random CLIP (decode-bound)",
            "cpus": os.cpu_count(),
            "load_average_before": round(load, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "results": results,
    }
    print(json.dumps(out, indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
