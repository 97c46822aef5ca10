#!/usr/bin/env python3
"""Load on ``momentfinder serve`` over loopback: many searches at once against a library of a few
hundred generated videos; latency per request (p50 / p95 / max) and errors.

A library of ``--videos`` generated videos (``--seconds`` each, 2 s clips; a subtitle line in
every other one) is indexed with a tiny random CLIP (no real model is downloadable here: the
numbers measure the server, the catalog and the grounder, with a text tower far cheaper than
CLIP-B/32's), then ``momentfinder serve`` runs in its own process and ``--concurrency`` clients
send ``--requests`` searches through ``POST /api/search`` all at once (httpx, asyncio). The library
answers one search at a time on its own thread (SQLite and the models are not shared between
threads), so the latency of the last requests is the queue: p95 ≈ requests × one search.

    python bench/serve_load.py                      # 300 videos, 100 concurrent searches
    python bench/serve_load.py --videos 50 --requests 40

Results: printed, and ``bench/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, SRC)

from momentfinder.encoders.random_models import save_random_model  # noqa: E402
from momentfinder.types import SubtitleSegment  # noqa: E402
from momentfinder.video.sample import Scene, write_sample_video  # noqa: E402

SUBJECTS = ["a red car", "a green frog", "blue water", "a yellow taxi", "a white dog", "a black cat"]
ACTIONS = ["stops at the corner", "jumps into the pond", "flows over the dam", "runs in the park"]
COLOURS = [(220, 20, 20), (20, 220, 20), (20, 20, 220), (230, 220, 30), (240, 240, 240), (15, 15, 15)]


def make_library(work: str, n_videos: int, seconds: float) -> tuple[str, str, float]:
    """Generate the videos and index them (momentfinder index add); returns (db, model, seconds)."""
    model = save_random_model(os.path.join(work, "tiny-clip"), "clip", "tiny")
    folder = os.path.join(work, "videos")
    os.makedirs(folder, exist_ok=True)
    for i in range(n_videos):
        path = os.path.join(folder, f"video{i:04d}.mp4")
        if os.path.exists(path):
            continue
        third = seconds / 3
        # every file different (the same content would be indexed once, as a copy)
        first = (60 + i % 150, 60 + 40 * (i // 150) % 160, 80)
        scenes = [Scene(third, first), Scene(third, COLOURS[i % 6]), Scene(third, (90, 90, 90))]
        line = f"{SUBJECTS[i % 6]} {ACTIONS[i % 4]}"
        subs = [SubtitleSegment(third + 0.2, 2 * third - 0.2, line)] if i % 2 == 0 else []
        write_sample_video(path, scenes, size=(64, 48), fps=5, subtitles=subs)
    db = os.path.join(work, "library.db")
    started = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "momentfinder",
        "-q",
        "index",
        "add",
        folder,
        "--db",
        db,
        "--visual-model",
        model,
    ]
    cmd += ["--cache-dir", os.path.join(work, "cache")]
    subprocess.run(cmd, check=True, env=_env())
    return db, model, time.perf_counter() - started


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
    }


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, work: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    cmd = [sys.executable, "-m", "momentfinder", "-q", "serve", "--db", db, "--port", str(port)]
    cmd += ["--state-dir", os.path.join(work, "state")]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/api/library", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("serve did not start")


async def one(client: httpx.AsyncClient, query: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    r = await client.post("/api/search", json={"query": query, "top_k": 10})
    hits = len(r.json().get("hits", [])) if r.status_code == 200 else 0
    return time.perf_counter() - started, r.status_code, hits


async def load(url: str, requests: int, concurrency: int) -> list[tuple[float, int, int]]:
    queries = [f"{SUBJECTS[i % 6]} {ACTIONS[(i // 6) % 4]}" for i in range(requests)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await one(client, "warm up the models")  # model loading is not the load test
        gate = asyncio.Semaphore(concurrency)

        async def gated(q: str):
            async with gate:
                return await one(client, q)

        return await asyncio.gather(*(gated(q) for q in queries))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each video")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=100, help="searches in flight at once")
    ap.add_argument(
        "--work", default=None, help="keep the videos and library here (default: a temporary folder)"
    )
    ap.add_argument("--out", default=os.path.join(HERE, "results", "serve_load.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        db, _, index_s = make_library(work, args.videos, args.seconds)
        proc, url = start_server(db, work)
        try:
            status = httpx.get(url + "/api/library").json()
            started = time.perf_counter()
            results = asyncio.run(load(url, args.requests, args.concurrency))
            wall = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    latency = np.array([r[0] for r in results])
    errors = sum(1 for r in results if r[1] != 200)
    report = {
        "videos": status["videos"],
        "clips": status["clips"],
        "requests": args.requests,
        "concurrency": args.concurrency,
        "errors": errors,
        "statuses": sorted({r[1] for r in results}),
        "empty_results": sum(1 for r in results if r[1] == 200 and r[2] == 0),
        "p50_s": round(float(np.percentile(latency, 50)), 3),
        "p95_s": round(float(np.percentile(latency, 95)), 3),
        "max_s": round(float(latency.max()), 3),
        "wall_s": round(wall, 2),
        "searches_per_s": round(args.requests / wall, 2),
        "index_s": round(index_s, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "model": "tiny random CLIP (2 layers, 32 wide)",
    }
    print(json.dumps(report, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    if errors:
        raise SystemExit(f"{errors} of {args.requests} searches failed")


if __name__ == "__main__":
    main()
