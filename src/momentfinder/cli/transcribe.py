"""``momentfinder transcribe VIDEO [--srt OUT.srt] [--json]``: what is said, with times."""

from __future__ import annotations

import argparse

from .options import add_asr_options, positive_int, show_progress, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transcribe",
        help="transcribe the speech of a video or audio file (times in seconds, SRT)",
        description="Transcribe what is said in VIDEO, line by line with start and end times. The "
        "transcript is cached like the features, so grounding with the speech channel afterwards "
        "does not transcribe again.",
    )
    p.add_argument("video", help="video or audio file")
    g = p.add_argument_group("speech")
    add_asr_options(g)
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    g.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=200,
        help="Whisper tokens per 30 s window at most (default 200)",
    )
    g.add_argument("--language", default=None, help="force Whisper's language (ISO code; default: detected)")
    g.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/momentfinder)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    out = p.add_argument_group("output")
    out.add_argument(
        "--srt", metavar="OUT.srt", default=None, help="also write the transcript as SRT subtitles"
    )
    out.add_argument("--json", action="store_true", help="print JSON (model, audio stream, segments)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..pipeline.finder import FinderConfig, MomentFinder, quiet_libraries
    from ..pipeline.output import check_output_file, format_transcript, write_srt

    if args.srt:
        check_output_file(args.srt)
    quiet_libraries()
    config = FinderConfig(
        visual_model=None,
        channels=("speech",),
        asr_model=args.asr_model,
        audio_stream=args.audio_stream,
        asr_max_new_tokens=args.max_new_tokens,
        asr_language=args.language,
        device=args.device,
        threads=args.threads,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=show_progress(args),
    )
    transcript = MomentFinder(config=config).transcribe(args.video)
    for note in transcript.notes:
        warn(args, note)
    if args.json:
        print(json.dumps({"video": args.video, **transcript.to_json()}), flush=True)
    else:
        print(format_transcript(transcript), flush=True)
    if args.srt:
        write_srt(transcript.segments, args.srt)
        if not args.quiet and not args.json:
            print(f"wrote {args.srt}")
    return 0
