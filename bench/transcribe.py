"""Transcription benchmark: speed (realtime factor) and peak memory of the speech channel.

* pocketsphinx (the offline default) on espeak-ng speech: realtime factor over a few minutes.
* Whisper with the geometry of openai/whisper-small and random weights (no download; the same
  FLOPs, including the 51,865-token output layer): the cost of one 30 s window, split into the
  encoder (fixed per window) and the decoder (per generated token). Random weights never stop
  talking, so generation is bounded (``--tokens``) and a window's cost for real speech is
  projected for ``--speech-tokens`` tokens (about 100 tokens per 30 s of English speech).
* Peak RSS (a fresh process each) of transcribing a long file (2 hours by default: 64×48 video at
  1 fps + espeak speech looped, generated with ffmpeg): the audio is streamed window by window,
  so memory must not grow with the length. The 2-hour run uses a recogniser that hears nothing
  (the decode/resample/window path alone: pocketsphinx would take about an hour of CPU on it);
  pocketsphinx's own peak is measured on the short and on a ``--ps-long-min`` minute file.

    python bench/transcribe.py [--threads 2] [--out bench/results/transcribe.json]

The numbers depend on the machine; on a shared machine (other jobs on the same cores) they are
upper bounds of the cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = [
    "the coach talks about defence before the second half",
    "one two three four five",
    "we will meet again at the station tomorrow morning",
    "the weather is nice today and the team is ready",
]


def make_speech(work: str) -> str:
    """About 20 s of espeak-ng speech with pauses (16 kHz mono WAV)."""
    out = os.path.join(work, "speech.wav")
    if os.path.exists(out):
        return out
    parts = []
    for i, text in enumerate(SENTENCES):
        wav = os.path.join(work, f"s{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", wav, text], check=True)
        parts.append(wav)
    inputs = sum((["-i", p] for p in parts), [])
    pads = "".join(f"[{i}]aresample=16000,apad=pad_dur=1.5[p{i}];" for i in range(len(parts)))
    graph = pads + "".join(f"[p{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[a]"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[a]",
            "-ac",
            "1",
            out,
        ],
        check=True,
    )
    return out


def make_long(work: str, speech: str, seconds: float) -> str:
    """``seconds`` of 64×48 video at 1 fps with ``speech`` looped as AAC audio."""
    out = os.path.join(work, f"long_{int(seconds)}.mp4")
    if os.path.exists(out):
        return out
    t = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:s=64x48:r=1:d={seconds}",
         "-stream_loop", "-1", "-i", speech, "-t", str(seconds), "-map", "0", "-map", "1",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k", out + ".part.mp4"],
        check=True,
    )  # fmt: skip
    os.replace(out + ".part.mp4", out)
    print(f"  generated {out} ({seconds:.0f} s) in {time.perf_counter() - t:.0f} s")
    return out


CHILD = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[3]))
from momentfinder.channels import transcribe_file
from momentfinder.encoders.sphinx import SphinxRecognizer

def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss would keep the parent's peak across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

class Deaf:
    name, fingerprint, sample_rate, window_s, settings = "deaf", "deaf", 16000, 30.0, {}
    def transcribe(self, samples, offset):
        return [], len(samples) / 16000

rec = SphinxRecognizer() if sys.argv[2] == "pocketsphinx" else Deaf()
t = time.perf_counter()
tr = transcribe_file(rec, sys.argv[1])
wall = time.perf_counter() - t
print(json.dumps({"recognizer": sys.argv[2], "audio_s": tr.duration, "wall_s": wall,
                  "lines": len(tr.segments), "words": sum(len(s.text.split()) for s in tr.segments),
                  "peak_rss_mb": peak_mb()}))
"""


def child(path: str, recognizer: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..", "src")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, path, recognizer, str(threads)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["realtime_factor"] = result["wall_s"] / max(result["audio_s"], 1e-9)
    return result


def whisper_small(work: str, threads: int, tokens: int, speech_tokens: int, speech: str) -> dict:
    import numpy as np
    import torch

    from momentfinder.encoders.random_audio_models import save_random_whisper
    from momentfinder.encoders.whisper import WhisperRecognizer
    from momentfinder.video.audio import read_audio

    torch.set_num_threads(threads)
    path = os.path.join(work, "whisper-small-random")
    if not os.path.exists(os.path.join(path, "config.json")):
        t = time.perf_counter()
        save_random_whisper(path, "small")
        print(f"  built random whisper-small geometry in {time.perf_counter() - t:.0f} s")
    audio = read_audio(speech)
    window = np.resize(audio, 16000 * 30).astype(np.float32)  # one full 30 s window of speech

    rec = WhisperRecognizer(path, device="cpu")
    params = sum(p.numel() for p in rec._net.parameters())
    feats = rec._features(window, sampling_rate=16000, return_tensors="pt").input_features
    kwargs = {k: v for k, v in rec.generate_kwargs().items() if k != "max_new_tokens"}

    def timed(n: int, repeat: int = 2) -> tuple[float, int]:
        """Best wall time of one window generating exactly ``n`` tokens (EOS suppressed until then)."""
        best, length = float("inf"), 0
        for _ in range(repeat + 1):  # the first is a warm-up
            t = time.perf_counter()
            with torch.inference_mode():
                out = rec._net.generate(feats, max_new_tokens=n, min_new_tokens=n, **kwargs)
            best, length = min(best, time.perf_counter() - t), int(out.shape[-1])
        return best, length

    with torch.inference_mode():
        rec._net.model.encoder(feats)
        t = time.perf_counter()
        rec._net.model.encoder(feats)
        encoder_s = time.perf_counter() - t
    one, one_len = timed(1)
    many, many_len = timed(tokens)
    per_token = (many - one) / max(many_len - one_len, 1)
    projected = one + (speech_tokens - 1) * per_token
    rec.max_new_tokens = tokens
    t = time.perf_counter()
    segments, done = rec.transcribe(window, 0.0)  # the real path, bounded like the timed runs
    real_path_s = time.perf_counter() - t
    return {
        "parameters": params,
        "encoder_s_per_window": encoder_s,
        "window_s_1_token": one,
        f"window_s_{tokens}_tokens": many,
        "sequence_lengths": [one_len, many_len],
        "recognizer_transcribe_s": real_path_s,
        "recognizer_max_new_tokens": rec.max_new_tokens,
        "decoder_s_per_token": per_token,
        "speech_tokens_per_window": speech_tokens,
        "projected_s_per_30s_window": projected,
        "projected_realtime_factor": projected / 30.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "transcribe.json"))
    ap.add_argument("--work", default=os.path.join(HERE, "results", "work"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ps-min", type=float, default=3.0, help="minutes of speech for pocketsphinx's speed")
    ap.add_argument("--ps-long-min", type=float, default=10.0, help="minutes for pocketsphinx's memory")
    ap.add_argument("--long-hours", type=float, default=2.0, help="the long file for the memory check")
    ap.add_argument("--tokens", type=int, default=33, help="Whisper tokens generated per timed window")
    ap.add_argument("--speech-tokens", type=int, default=100, help="tokens of a real 30 s speech window")
    ap.add_argument("--skip-whisper", action="store_true")
    ap.add_argument("--only-whisper", action="store_true", help="measure Whisper only (JSON to --out)")
    args = ap.parse_args()
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/transcribe.py needs {tool} (apt-get install -y {tool})")
    os.makedirs(args.work, exist_ok=True)
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    results: dict = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "threads": args.threads,
        "note": "shared machine: other jobs ran on the same cores; times are upper bounds",
    }
    if args.only_whisper:
        results["whisper_small_random"] = whisper_small(
            args.work, args.threads, args.tokens, args.speech_tokens, make_speech(args.work)
        )
        print(json.dumps(results["whisper_small_random"], indent=2))
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        return
    speech = make_speech(args.work)
    short = make_long(args.work, speech, args.ps_min * 60)
    print(f"pocketsphinx on {args.ps_min:g} min of espeak-ng speech …")
    results["pocketsphinx"] = child(short, "pocketsphinx", args.threads)
    print(f"  realtime factor {results['pocketsphinx']['realtime_factor']:.3f}")
    if not args.skip_whisper:
        print("whisper-small geometry, random weights, one 30 s window …")
        results["whisper_small_random"] = whisper_small(
            args.work, args.threads, args.tokens, args.speech_tokens, speech
        )
        w = results["whisper_small_random"]
        print(
            f"  encoder {w['encoder_s_per_window']:.2f} s/window, decoder {w['decoder_s_per_token'] * 1000:.0f} ms/token"
            f" → {w['projected_s_per_30s_window']:.1f} s per 30 s window (RTF {w['projected_realtime_factor']:.2f})"
        )
    mid = make_long(args.work, speech, args.ps_long_min * 60)
    print(f"pocketsphinx memory on {args.ps_long_min:g} min …")
    results["pocketsphinx_long"] = child(mid, "pocketsphinx", args.threads)
    long = make_long(args.work, speech, args.long_hours * 3600)
    print(f"streaming path memory on {args.long_hours:g} h (a recogniser that hears nothing) …")
    results["stream_short"] = child(short, "deaf", args.threads)
    results["stream_long"] = child(long, "deaf", args.threads)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print("\nsummary")
    p, pl = results["pocketsphinx"], results["pocketsphinx_long"]
    print(
        f"  pocketsphinx  RTF {p['realtime_factor']:.3f} ({p['audio_s']:.0f} s audio, {p['words']} words), "
        f"peak RSS {p['peak_rss_mb']:.0f} MB; on {pl['audio_s'] / 60:.0f} min {pl['peak_rss_mb']:.0f} MB"
    )
    for key in ("stream_short", "stream_long"):
        r = results[key]
        print(
            f"  stream only   {r['audio_s'] / 60:6.0f} min: {r['wall_s']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
