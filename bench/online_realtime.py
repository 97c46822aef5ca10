#!/usr/bin/env python3
"""Does ``watch`` keep up with real time? (issue #15)

Watches a video file played as a live stream (``--realtime --loop``: paced at its frame rate, so
a slow encoder must drop clips) through a random-weight CLIP with the geometry (so the FLOPs) of
``openai/clip-vit-base-patch32`` at the default sampling (one frame per 2 s clip), on ``--threads``
CPU threads, and reports the speed against real time, the clips dropped, and the encoder's time
per clip; then the same file as fast as it decodes (no pacing, no drops) for the headroom.
The load average is printed too: on a shared machine other work slows the encoder.

    python bench/online_realtime.py --seconds 120 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = HERE.parent / ".." / "shared" / "data" / "univtg" / "charades.mp4"


def make_vit_b32(path: str) -> str:
    from momentfinder.encoders.random_models import save_random_model

    if not os.path.exists(os.path.join(path, "config.json")):
        save_random_model(path, "clip", "vit-b32")
    return path


def watch(model: str, video: str, seconds: float, threads: int, realtime: bool, queries: list[str]) -> dict:
    from momentfinder.pipeline.finder import MomentFinder, finder_config, quiet_libraries
    from momentfinder.pipeline.online import LiveConfig, WatchConfig, Watcher

    quiet_libraries()
    cfg = finder_config(
        visual_model=model,
        threads=threads,
        use_cache=False,
        use_subtitles=False,
        progress=False,
        device="cpu",
    )
    finder = MomentFinder(config=cfg)
    t0 = time.perf_counter()
    finder.visual_encoder()
    load = time.perf_counter() - t0
    live = LiveConfig(realtime=realtime, loop=True, max_seconds=seconds)
    watcher = Watcher(finder, video, WatchConfig(live=live), queries)
    events: list = []
    watcher.subscribe(events.append)
    summary = watcher.run()
    out = summary.to_json()
    out.update(
        mode="realtime" if realtime else "as fast as possible",
        model_load_s=round(load, 1),
        encode_ms_per_clip=round(1000 * summary.encode_seconds / max(1, summary.clips), 1),
        clips_per_s=round(summary.clips / summary.wall_seconds, 2),
        load_average=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--seconds", type=float, default=120.0, help="stream seconds to watch (the file loops)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--model-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "mf-vit-b32-random")
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not os.path.isfile(args.video):
        sys.exit(f"video not found: {args.video}")
    model = make_vit_b32(args.model_dir)
    queries = ["a person opens a door", "someone is drinking from a cup", "a man sits down on the sofa"]
    rows = []
    for realtime in (True, False):
        row = watch(model, args.video, args.seconds, args.threads, realtime, queries)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
