#!/usr/bin/env python3
"""Crash test of ``momentfinder index add`` (issue #13): kill -9 at random points, restart, compare.

Generates ``--videos`` short videos (real encoding, subtitles) and a tiny random CLIP, then
indexes them into a library ``--kills`` times, each run SIGKILLed at a random moment while it
writes: after it reports 0 to 2 newly indexed videos, plus a random part of one video's time (so
kills land during decoding, encoding and the commit, and the library grows a little per run);
then once more to completion. The final library must equal a
clean run's: the same videos, no failed or duplicated rows, identical features and lines, a
healthy ``index verify``. Prints and writes (``--out``) what it saw.

    python bench/index_crash.py --videos 30 --kills 20
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import build_tiny_clip  # noqa: E402
from momentfinder.pipeline.library import Library  # noqa: E402
from momentfinder.types import SubtitleSegment  # noqa: E402
from momentfinder.video.sample import Scene, write_sample_video  # noqa: E402

INDEXER = [sys.executable, "-m", "momentfinder", "-q", "index", "add"]
# the same indexing through the Python API, telling each finished video on stdout (to kill by)
CHILD = """
import sys
from momentfinder.pipeline import FinderConfig
from momentfinder.pipeline.library import Library
cfg = FinderConfig(visual_model=sys.argv[2], use_cache=False)
library = Library(sys.argv[1], cfg, progress=False)
library.finder().visual_encoder()
print("ready", flush=True)
library.add([sys.argv[3]], on_video=lambda p, o: print(o, flush=True))
"""


def make_videos(folder: Path, n: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(3)]
        scenes = [Scene(4.0, c) for c in colours]
        subs = [SubtitleSegment(4.5, 7.5, f"line number {i} about scene {i % 7}")]
        write_sample_video(str(folder / f"video{i:03d}.mp4"), scenes, size=(64, 48), fps=5, subtitles=subs)


def snapshot(db: Path) -> dict:
    lib = Library(db, progress=False, create=False)
    out = {}
    for row in lib.catalog.videos():
        lines, _ = lib.catalog.lines(row.id)
        feats = lib.catalog.features(row.id) if row.status == "ok" else None
        out[row.path] = (
            row.status,
            row.n_clips,
            None if feats is None else feats.tobytes(),
            [line.text for line in lines],
        )
    problems = lib.verify()
    lib.close()
    return {"rows": out, "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_clip(str(tmp / "model"))
        make_videos(tmp / "videos", args.videos, rng)
        base = [str(tmp / "videos"), "--visual-model", model, "--no-cache"]
        first = sorted((tmp / "videos").glob("*.mp4"))[0]
        t0 = time.perf_counter()
        one = [str(first), *base[1:], "--db", str(tmp / "one.db")]
        subprocess.run([*INDEXER, *one], check=True, capture_output=True)
        startup_s = time.perf_counter() - t0  # start-up + one video
        t0 = time.perf_counter()
        subprocess.run([*INDEXER, *base, "--db", str(tmp / "clean.db")], check=True, capture_output=True)
        clean_s = time.perf_counter() - t0
        per_video = max(clean_s - startup_s, 0.1) / max(args.videos - 1, 1)
        db = tmp / "crashed.db"
        kills, states = [], []
        child = [sys.executable, "-c", CHILD, str(db), model, str(tmp / "videos")]
        for _ in range(args.kills):
            wait_for, delay = int(rng.integers(0, 3)), float(rng.uniform(0.0, per_video))
            proc = subprocess.Popen(child, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            proc.stdout.readline()  # "ready": the encoder is loaded, indexing starts
            added = 0
            while added < wait_for and (line := proc.stdout.readline()):
                added += line.startswith("added")
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            state = snapshot(db) if db.exists() else {"rows": {}, "problems": []}
            kills.append({"after": wait_for, "delay_s": round(delay, 2), "videos": len(state["rows"])})
            states.append(state["problems"])
        subprocess.run([*INDEXER, *base, "--db", str(db)], check=True, capture_output=True)
        final, clean = snapshot(db), snapshot(tmp / "clean.db")
    same = final["rows"] == clean["rows"]
    result = {
        "videos": args.videos,
        "kills": args.kills,
        "clean_run_s": round(clean_s, 1),
        "seconds_per_video": round(per_video, 2),
        "videos_after_each_kill": [k["videos"] for k in kills],
        "problems_after_kills": sum(len(p) for p in states),
        "final_equals_clean": same,
        "final_videos": len(final["rows"]),
        "final_problems": final["problems"],
        "failed_rows": sum(1 for r in final["rows"].values() if r[0] != "ok"),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if same and not final["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
