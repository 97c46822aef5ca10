"""Ingest benchmark: decode + sample + encode speed, CPU time, peak memory and exactness.

Full-size ViT-B/32 CLIP geometry with random weights (the FLOPs of openai/clip-vit-base-patch32;
no download needed). For each input video it reports

* bare PyAV decode of every frame, and of keyframes only (the floor for any sampler);
* the sampler alone (``decode=exact``, the default, and ``decode=all``, the reference) and the
  encoder alone (frames/s), then the whole ingest at default settings (exact sparse decode, bf16
  where the CPU has it, the image tower exported and run by OpenVINO), at the reference settings
  (every frame decoded, fp32 torch) and in int8;
* for each run: wall time, realtime factor, CPU seconds (user + sys, ``getrusage`` of the child
  process that ran it) per second of video, peak RSS, and the load average at the time; every run
  is its own child process;
* exactness: whether the default sampler samples the same timestamps as the reference one, and
  the cosine (min / mean) of the default and int8 features to the fp32 reference features.

Inputs: ``generated`` (a 10-minute 720p30 H.264 video of flat coloured scenes, 340 kb/s),
``real`` (``../shared/data/univtg/charades.mp4`` looped and scaled to a 10-minute 720p30 H.264
file, about 800 kb/s: real footage, built here with ffmpeg), ``hevc`` (the same file re-encoded
with x265 veryfast, open GOP), or a path. Then peak RSS on a 2-hour
file (the shared clip looped by stream copy: real footage, no encoding). Prints a table and
writes JSON. The machine is shared: read the CPU seconds beside the wall times.

    python bench/ingest.py                                   # generated + real, then the 2-hour run
    python bench/ingest.py --input real --skip-long
    python bench/ingest.py --input my_recording.mp4 --skip-long
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_CLIP = os.path.join(HERE, "..", "..", "shared", "data", "univtg", "charades.mp4")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_vit_b32(path: str) -> str:
    """Random-weight CLIP with ViT-B/32 geometry, saved with a tokenizer and image processor."""
    from momentfinder.encoders.random_models import save_random_model

    if not os.path.exists(os.path.join(path, "config.json")):
        save_random_model(path, "clip", "vit-b32")
    return path


def make_generated(path: str, seconds: float, size: tuple[int, int], fps: int) -> str:
    if os.path.exists(path):
        return path
    from momentfinder.video.sample import Scene, write_sample_video

    rng = np.random.default_rng(7)
    scenes, total = [], 0.0
    while total < seconds:
        d = float(min(rng.uniform(4, 30), seconds - total))
        scenes.append(Scene(d, tuple(int(c) for c in rng.integers(0, 256, 3))))
        total += d
    write_sample_video(path + ".part.mp4", scenes, size=size, fps=fps, preset="veryfast")
    os.replace(path + ".part.mp4", path)
    return path


def ffmpeg_build(path: str, args: list[str]) -> str:
    """Run ``ffmpeg ARGS OUT`` once into ``path`` (atomically), unless it exists."""
    if os.path.exists(path):
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("bench/ingest.py: ffmpeg is needed to build the real-footage inputs")
    if not os.path.exists(SHARED_CLIP):
        sys.exit(f"bench/ingest.py: {SHARED_CLIP} not found (../shared beside the repo)")
    part = path + ".part.mp4"
    t = time.perf_counter()
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", *args, part], check=True)
    os.replace(part, path)
    print(f"  built {os.path.basename(path)} in {time.perf_counter() - t:.0f} s")
    return path


def make_real720(work: str) -> str:
    """The issue's real-footage file: the shared clip looped to 10 minutes, 720p30, x264 veryfast."""
    args = ["-stream_loop", "19", "-i", SHARED_CLIP, "-an", "-vf", "scale=1280:720,fps=30"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-t", "600"]
    return ffmpeg_build(os.path.join(work, "real720.mp4"), args)


def make_real720_hevc(work: str) -> str:
    """The same footage in HEVC (x265 veryfast, open GOP, as phones and cameras write it)."""
    args = ["-i", make_real720(work), "-an", "-c:v", "libx265", "-preset", "veryfast", "-crf", "26"]
    args += ["-x265-params", "log-level=error"]
    return ffmpeg_build(os.path.join(work, "real720_hevc.mp4"), args)


def make_long(work: str, hours: float) -> str:
    """A cheap long file: the shared clip (480x270, 200 kb/s) looped by stream copy."""
    loops = int(hours * 3600 / 30) + 1
    args = ["-stream_loop", str(loops), "-i", SHARED_CLIP, "-an", "-c", "copy", "-t", str(int(hours * 3600))]
    return ffmpeg_build(os.path.join(work, f"real_{hours:g}h_270p.mp4"), args)


# --- child processes: each measurement in a fresh process (its own CPU time and peak RSS) -------


def child_bare(args) -> dict:
    import av

    t, c = time.perf_counter(), cpu_seconds()
    n = 0
    with av.open(args.video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if args.keyframes:
            stream.codec_context.skip_frame = "NONKEY"
        for _ in container.decode(stream):
            n += 1
    return {"wall_s": time.perf_counter() - t, "cpu_s": cpu_seconds() - c, "frames": n}


def child_sample(args) -> dict:
    """The sampler alone (decode + select + resize to 224), saving the sampled times."""
    from momentfinder.video.decode import DecodeReport, iter_clip_frames

    report = DecodeReport()
    t, c = time.perf_counter(), cpu_seconds()
    times = [
        ts
        for clip in iter_clip_frames(args.video, 2.0, size=224, decode=args.decode, report=report)
        for ts in clip.times
    ]
    out = {
        "wall_s": time.perf_counter() - t,
        "cpu_s": cpu_seconds() - c,
        "frames_decoded": report.frames,
        "standins": report.standins,
    }
    np.save(args.save, np.asarray(times))
    return out | {"samples": len(times)}


def load_encoder(args):
    import torch

    from momentfinder.encoders.hf import HFVisionTextEncoder

    torch.set_num_threads(args.threads)
    return HFVisionTextEncoder(
        args.model,
        device="cpu",
        precision=args.precision,
        batch_size=args.batch_size,
        threads=args.threads,
        runtime=args.runtime,
        export_dir=os.path.join(args.work, "exported"),
    )


def child_encode(args) -> dict:
    """The encoder alone on ``--n`` frames already resized (224 short side)."""
    enc = load_encoder(args)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (224, 398, 3), dtype=np.uint8) for _ in range(args.n)]
    enc.encode_images(frames[: args.batch_size])  # warm up
    t, c = time.perf_counter(), cpu_seconds()
    enc.encode_images(frames)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "frames": args.n,
        "runtime": enc.runtime,
        "precision": enc.precision,
    }


def child_ingest(args) -> dict:
    from momentfinder.channels.visual import SamplingConfig, extract_visual_features
    from momentfinder.video.decode import probe

    enc = load_encoder(args)
    rss_model = peak_rss_mb()
    info = probe(args.video)
    sampling = SamplingConfig(clip_len=2.0, decode=args.decode)
    t, c = time.perf_counter(), cpu_seconds()
    feats = extract_visual_features(args.video, enc, info.duration, sampling, progress=False)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    np.save(args.save, feats.features)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "video_s": info.duration,
        "clips": feats.n_clips,
        "precision": enc.precision,
        "runtime": enc.runtime,
        "decode": args.decode,
        "rss_after_model_load_mb": rss_model,
    }


CHILDREN = {"bare": child_bare, "sample": child_sample, "encode": child_encode, "ingest": child_ingest}


def run_child(kind: str, args: argparse.Namespace, **opts) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--work", args.work, "--threads", str(args.threads)]
    cmd += ["--batch-size", str(args.batch_size)]
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value is not None and value is not False:
            cmd += [flag, str(value)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench child {kind} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out | {"load_avg_1min": round(load, 1)}


def cosine(a: np.ndarray, b: np.ndarray) -> dict:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(cos.min()), "mean": float(cos.mean())}


def measure_video(video: str, model: str, args: argparse.Namespace) -> dict:
    from momentfinder.video.decode import probe

    info = probe(video)
    dur = info.duration
    res: dict = {
        "video": f"{os.path.basename(video)}: {dur:.0f} s, {info.width}x{info.height}@{info.fps:.0f}, "
        f"{8 * os.path.getsize(video) / dur / 1000:.0f} kb/s"
    }
    print(res["video"])

    def show(name: str, r: dict, extra: str = "") -> None:
        rt = dur / r["wall_s"]
        print(
            f"  {name:34s} {r['wall_s']:7.1f} s wall  {rt:6.1f}x realtime  {r['cpu_s']:6.1f} cpu-s"
            f"  ({r['cpu_s'] / dur:.3f} cpu-s per video s)  load {r['load_avg_1min']}{extra}"
        )

    work = args.work
    for name, keyframes in (("bare_decode_every_frame", False), ("bare_decode_keyframes_only", True)):
        res[name] = run_child("bare", args, video=video, keyframes=keyframes)
        show(name, res[name], f"  {res[name]['frames']} frames")
    for decode in ("exact", "all"):
        name = f"sampler_{decode}"
        res[name] = run_child(
            "sample", args, video=video, decode=decode, save=os.path.join(work, f"times_{decode}.npy")
        )
        show(
            name,
            res[name],
            f"  {res[name]['frames_decoded']} frames decoded, {res[name]['standins']} stand-ins",
        )
    same = np.array_equal(
        np.load(os.path.join(work, "times_exact.npy")), np.load(os.path.join(work, "times_all.npy"))
    )
    res["sampled_times_equal_to_reference"] = bool(same)
    print(f"  sampled timestamps equal to the reference sampler's: {same}")

    runs = [
        ("default", "auto", "exact", "auto"),
        ("reference_fp32_torch_every_frame", "fp32", "all", "torch"),
        ("int8", "int8", "exact", "torch"),
    ]
    for name, precision, decode, runtime in runs:
        r = run_child(
            "ingest",
            args,
            video=video,
            model=model,
            precision=precision,
            decode=decode,
            runtime=runtime,
            save=os.path.join(work, f"feats_{name}.npy"),
        )
        r["realtime_factor"] = dur / r["wall_s"]
        r["cpu_s_per_video_s"] = r["cpu_s"] / dur
        res[f"ingest_{name}"] = r
        show(f"ingest {name}", r, f"  peak RSS {r['peak_rss_mb']:.0f} MB  ({r['precision']}, {r['runtime']})")
    ref = np.load(os.path.join(work, "feats_reference_fp32_torch_every_frame.npy"))
    for name in ("default", "int8"):
        res[f"ingest_{name}"]["cosine_to_reference"] = c = cosine(
            np.load(os.path.join(work, f"feats_{name}.npy")), ref
        )
        print(f"  {name} features vs fp32 reference: cosine min {c['min']:.5f} mean {c['mean']:.5f}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ingest.json"))
    ap.add_argument("--work", default=os.path.join(HERE, "results", "work"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--long-hours", type=float, default=2.0)
    ap.add_argument("--skip-long", action="store_true", help="skip the 2-hour memory run")
    ap.add_argument(
        "--input",
        action="append",
        metavar="VIDEO",
        help="generated | real | hevc (real in HEVC) | a path (repeatable; default: generated and real)",
    )
    # child mode
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    for flag in ("--video", "--model", "--save", "--decode", "--runtime"):
        ap.add_argument(flag, help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--keyframes", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=128, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = CHILDREN[args.child](args)
        print(json.dumps(out | {"peak_rss_mb": peak_rss_mb()}))
        return

    os.makedirs(args.work, exist_ok=True)
    print("preparing the model and videos")
    model = make_vit_b32(os.path.join(args.work, "clip-vit-b32-random"))
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "threads": args.threads,
            "batch_size": args.batch_size,
        },
        "inputs": {},
    }
    # the export, once (its own peak RSS), then the encoder alone at each setting
    results["export"] = run_child("encode", args, model=model, precision="auto", runtime="auto", n=32)
    print(f"  export + load + 32 frames: peak RSS {results['export']['peak_rss_mb']:.0f} MB")
    results["encoder_alone"] = {}
    for precision, runtime in (
        ("auto", "auto"),
        ("fp32", "onnxruntime"),
        ("auto", "torch"),
        ("fp32", "torch"),
        ("int8", "torch"),
    ):
        r = run_child("encode", args, model=model, precision=precision, runtime=runtime)
        results["encoder_alone"][f"{r['precision']}_{r['runtime']}"] = r
        print(
            f"  encoder alone {r['precision']:5s} {r['runtime']:12s} {r['frames'] / r['wall_s']:6.1f} frames/s wall"
            f"  {1000 * r['cpu_s'] / r['frames']:6.1f} cpu-ms/frame  load {r['load_avg_1min']}"
        )
    for name in args.input or ["generated", "real"]:
        if name == "generated":
            video = make_generated(os.path.join(args.work, "bench_10min_720p.mp4"), 600, (1280, 720), 30)
        elif name == "real":
            video = make_real720(args.work)
        elif name == "hevc":
            video = make_real720_hevc(args.work)
        else:
            video = name
        results["inputs"][name] = measure_video(video, model, args)

    if not args.skip_long:
        long_video = make_long(args.work, args.long_hours)
        print(f"ingest: {args.long_hours:g}-hour video (default settings)")
        r = run_child(
            "ingest",
            args,
            video=long_video,
            model=model,
            precision="auto",
            decode="exact",
            runtime="auto",
            save=os.path.join(args.work, "feats_long.npy"),
        )
        r["realtime_factor"] = r["video_s"] / r["wall_s"]
        results["ingest_long"] = r
        print(
            f"  {r['wall_s']:.0f} s  {r['realtime_factor']:.1f}x realtime  peak RSS {r['peak_rss_mb']:.0f} MB"
        )

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
