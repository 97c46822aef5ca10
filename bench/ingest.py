"""Ingest benchmark: decode + encode speed and peak memory on generated (or your own) videos.

Full-size ViT-B/32 CLIP geometry with random weights (the FLOPs of openai/clip-vit-base-patch32;
no download needed). Reports, for a 10-minute 720p30 video: bare PyAV decode of every frame,
momentfinder's ingest at default settings and at the reference settings (fp32, every frame
decoded), the realtime factor, peak RSS, and whether the fast path changes which moments are
found; then peak RSS for a 2-hour video. Prints a table and writes JSON.

    python bench/ingest.py [--out bench/results/ingest.json] [--work bench/results/work]
    python bench/ingest.py --input my_recording.mp4 --skip-long    # the same numbers on your own file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_vit_b32(path: str) -> str:
    """Random-weight CLIP with ViT-B/32 geometry, saved with a tokenizer and image processor."""
    from momentfinder.encoders.random_models import save_random_model

    if not os.path.exists(os.path.join(path, "config.json")):
        save_random_model(path, "clip", "vit-b32")
    return path


def make_video(path: str, seconds: float, size: tuple[int, int], fps: int) -> str:
    if os.path.exists(path):
        return path
    from momentfinder.video.sample import Scene, write_sample_video

    rng = np.random.default_rng(7)
    scenes, total = [], 0.0
    while total < seconds:
        d = float(min(rng.uniform(4, 30), seconds - total))
        scenes.append(Scene(d, tuple(int(c) for c in rng.integers(0, 256, 3))))
        total += d
    t = time.perf_counter()
    write_sample_video(path + ".part.mp4", scenes, size=size, fps=fps, preset="veryfast")
    os.replace(path + ".part.mp4", path)
    print(
        f"  generated {path} ({seconds:.0f} s, {size[0]}x{size[1]}@{fps}) in {time.perf_counter() - t:.0f} s"
    )
    return path


def bare_decode(path: str) -> dict:
    import av

    t = time.perf_counter()
    n = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return {"seconds": time.perf_counter() - t, "frames": n}


def ingest_child(args: argparse.Namespace) -> None:
    """Run one ingest in this (child) process and print a JSON line: time, RSS, features file."""
    import torch

    from momentfinder.channels.visual import SamplingConfig, extract_visual_features
    from momentfinder.encoders.hf import HFVisionTextEncoder
    from momentfinder.video.decode import probe

    torch.set_num_threads(args.threads)
    enc = HFVisionTextEncoder(args.model, device="cpu", precision=args.precision, batch_size=32)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info = probe(args.video)
    sampling = SamplingConfig(clip_len=2.0, decode="all" if args.full_decode else "auto")
    t = time.perf_counter()
    feats = extract_visual_features(args.video, enc, info.duration, sampling, progress=False)
    dt = time.perf_counter() - t
    np.save(args.save, feats.features)
    print(
        json.dumps(
            {
                "ingest_seconds": dt,
                "video_seconds": info.duration,
                "clips": feats.n_clips,
                "precision": enc.precision,
                "full_decode": args.full_decode,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_model_load_mb": rss_model,
            }
        )
    )


def run_child(video: str, model: str, precision: str, full_decode: bool, save: str, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--video", video, "--model", model, "--precision", precision]
    cmd += ["--save", save, "--threads", str(threads)] + (["--full-decode"] if full_decode else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def moments_agreement(
    ref: np.ndarray, fast: np.ndarray, clip_len: float, duration: float, n_queries: int = 50
) -> dict:
    """Same grounder on both feature sets with random query directions: how often the top moment matches."""
    from momentfinder.grounding import make_grounder
    from momentfinder.types import Timeline

    g = make_grounder()
    rng = np.random.default_rng(0)
    same_top, ious = 0, []
    for _ in range(n_queries):
        # a query direction close to a random clip, as a real matching query would be
        q = ref[rng.integers(len(ref))] + 0.5 * rng.standard_normal(ref.shape[1]) / np.sqrt(ref.shape[1])
        a = g.ground_curve(ref @ q, Timeline.of(len(ref), clip_len, duration), top_k=1).moments[0]
        b = g.ground_curve(fast @ q, Timeline.of(len(fast), clip_len, duration), top_k=1).moments[0]
        inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
        iou = inter / (max(a.end, b.end) - min(a.start, b.start))
        ious.append(iou)
        same_top += (a.start, a.end) == (b.start, b.end)
    cos = np.sum(ref * fast, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(fast, axis=1))
    return {
        "top1_identical": same_top / n_queries,
        "top1_mean_iou": float(np.mean(ious)),
        "feature_cosine_min": float(cos.min()),
        "feature_cosine_mean": float(cos.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ingest.json"))
    ap.add_argument("--work", default=os.path.join(HERE, "results", "work"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-hours", type=float, default=2.0)
    ap.add_argument("--skip-long", action="store_true", help="skip the 2-hour memory run")
    ap.add_argument(
        "--input", metavar="VIDEO", help="measure on this video instead of the generated 10-minute one"
    )
    # child mode
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--full-decode", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return ingest_child(args)

    os.makedirs(args.work, exist_ok=True)
    print("preparing model and videos")
    model = make_vit_b32(os.path.join(args.work, "clip-vit-b32-random"))
    video = args.input or make_video(os.path.join(args.work, "bench_10min_720p.mp4"), 600, (1280, 720), 30)
    from momentfinder.video.decode import probe

    info = probe(video)
    label = f"{os.path.basename(video)}: {info.duration:.0f} s, {info.width}x{info.height}@{info.fps:.0f}"
    label += f", {8 * os.path.getsize(video) / info.duration / 1000:.0f} kb/s"
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "threads": args.threads}
    }

    print("bare decode (every frame, PyAV, threaded)")
    results["bare_decode"] = bare_decode(video)
    print(f"  {results['bare_decode']['seconds']:.1f} s for {results['bare_decode']['frames']} frames")

    runs = {}
    for name, precision, full in [
        ("default", "auto", False),
        ("reference_fp32_full_decode", "fp32", True),
        ("int8", "int8", False),
    ]:
        print(f"ingest: {name}")
        save = os.path.join(args.work, f"feats_{name}.npy")
        runs[name] = run_child(video, model, precision, full, save, args.threads)
        runs[name]["realtime_factor"] = runs[name]["video_seconds"] / runs[name]["ingest_seconds"]
        r = runs[name]
        print(
            f"  {r['ingest_seconds']:.1f} s  {r['realtime_factor']:.1f}x realtime  peak RSS {r['peak_rss_mb']:.0f} MB ({r['precision']})"
        )
    results["video"] = label
    results["ingest"] = runs
    ref = np.load(os.path.join(args.work, "feats_reference_fp32_full_decode.npy"))
    for name in ("default", "int8"):
        fast = np.load(os.path.join(args.work, f"feats_{name}.npy"))
        runs[name]["vs_reference"] = moments_agreement(ref, fast, 2.0, runs[name]["video_seconds"])
        print(f"  {name} vs reference: {runs[name]['vs_reference']}")

    if not args.skip_long:
        hours = args.long_hours
        long_video = make_video(
            os.path.join(args.work, f"bench_{hours:g}h_320p.mp4"), hours * 3600, (320, 180), 15
        )
        print(f"ingest: {hours:g}-hour video (default settings)")
        r = run_child(
            long_video, model, "auto", False, os.path.join(args.work, "feats_long.npy"), args.threads
        )
        r["realtime_factor"] = r["video_seconds"] / r["ingest_seconds"]
        results["ingest_long"] = r
        print(
            f"  {r['ingest_seconds']:.0f} s  {r['realtime_factor']:.1f}x realtime  peak RSS {r['peak_rss_mb']:.0f} MB"
        )

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    d = results["ingest"]["default"]
    print(f"\nsummary ({label}; ViT-B/32 geometry, {args.threads} threads)")
    print(
        f"  bare decode          {results['bare_decode']['seconds']:7.1f} s  ({info.duration / results['bare_decode']['seconds']:.1f}x realtime)"
    )
    for name, r in runs.items():
        print(
            f"  ingest {name:28s} {r['ingest_seconds']:7.1f} s  {r['realtime_factor']:5.1f}x  peak RSS {r['peak_rss_mb']:5.0f} MB"
        )
    if "ingest_long" in results:
        print(f"  {args.long_hours:g}-hour video peak RSS {results['ingest_long']['peak_rss_mb']:.0f} MB")
    print(f"  default vs reference: {d['vs_reference']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
