"""Options shared by the commands that read videos (ground, extract)."""

from __future__ import annotations

import argparse
import math
import sys

from ..errors import InputError, UsageError
from ..pipeline.choices import (
    CHANNEL_NAMES,
    DECODE_MODES,
    DEFAULT_ASR_MODEL,
    DEFAULT_GROUNDER,
    DEFAULT_SOUND_MODEL,
    DEFAULT_VISUAL_MODEL,
    GROUNDER_NAMES,
    OFFLINE_ASR_MODEL,
    PRECISIONS,
    RUNTIMES,
)

MIN_CLIP_LEN, MAX_CLIP_LEN = 0.1, 600.0  # seconds: below a tenth of a second a clip is no moment


def finite_float(text: str) -> float:
    """A finite number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


ZEROSHOT_RERANK_HELP = (
    "with a trained checkpoint: weight of the zero-shot re-ranking of its moments (the zero-shot "
    "grounder's look-alike contrast; 0 = off; default: the checkpoint's own, 0.2 for point and weak "
    "labels, off for full labels)"
)


def clip_seconds(text: str) -> float:
    """A clip length in seconds, between :data:`MIN_CLIP_LEN` and :data:`MAX_CLIP_LEN`."""
    value = finite_float(text)
    if not MIN_CLIP_LEN <= value <= MAX_CLIP_LEN:
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_CLIP_LEN:g} and {MAX_CLIP_LEN:g} seconds, got {text}"
        )
    return value


def share(text: str) -> float:
    """A share strictly between 0 and 1."""
    value = finite_float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def any_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def non_negative_int(text: str) -> int:
    value = any_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def key_values(items: list[str] | None) -> dict:
    """``["KEY=VALUE", ...]`` → dict; values are read as YAML (numbers, lists, null, strings)."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as err:
            raise InputError(f"{item!r}: unreadable value ({str(err).splitlines()[0]})") from None
    return out


def add_training_data_options(p: argparse.ArgumentParser) -> None:
    """What a trainer reads: a Moment-DETR-layout feature directory and its training annotations
    (``--features``, ``--train``, ``--visual-dirs``, ``--text-dir``, ``--clip-len``), and its
    ``--threads`` and ``-q``."""
    p.add_argument(
        "--features", required=True, help="feature directory (clip_features/, clip_text_features/)"
    )
    p.add_argument(
        "--train", required=True, help="training annotations (QVHighlights jsonl or any `data` format)"
    )
    p.add_argument(
        "--visual-dirs",
        default="clip_features",
        help="comma-separated visual sub-directories, concatenated (e.g. slowfast_features,clip_features)",
    )
    p.add_argument("--text-dir", default="clip_text_features", help="query feature sub-directory")
    p.add_argument(
        "--clip-len",
        type=clip_seconds,
        default=None,
        help="seconds per clip of a directory without videos.jsonl (default 2); `momentfinder extract` "
        "directories record their own",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-epoch lines")


def visual_dirs(args: argparse.Namespace) -> list[str]:
    """``--visual-dirs`` as a list of sub-directory names."""
    return [d.strip() for d in args.visual_dirs.split(",") if d.strip()]


def set_torch_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (torch's intra-op threads) when given."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models and sampling")
    g.add_argument(
        "--visual-model",
        default=None,
        help=f"CLIP/SigLIP hub id or local directory (default {DEFAULT_VISUAL_MODEL}, or the one a --model was trained on)",
    )
    g.add_argument("--no-visual", action="store_true", help="turn the visual channel off")
    g.add_argument(
        "--allow-missing-channels",
        action="store_true",
        help="continue with the other channels when an explicitly named --visual-model cannot be loaded",
    )
    g.add_argument(
        "--text-model", default=None, help="sentence-transformers directory (default: bundled MiniLM)"
    )
    g.add_argument(
        "--clip-len",
        type=clip_seconds,
        default=None,
        help=f"seconds per clip, {MIN_CLIP_LEN:g} to {MAX_CLIP_LEN:g} (default 2, or a --model's)",
    )
    g.add_argument(
        "--frames-per-clip", type=positive_int, default=1, help="frames sampled per clip, mean-pooled"
    )
    g.add_argument(
        "--decode",
        choices=DECODE_MODES,
        default="exact",
        help="frames to decode: exact (the frames 'all' samples, decoding only what they depend on),"
        " auto (also skip B-frames; samples may move by a frame or two), nonref, all (default exact)",
    )
    g.add_argument("--precision", choices=PRECISIONS, default="auto", help="encoder precision (default auto)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    g.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="what runs the image encoder on CPU (fp32/bf16): the model exported once to ONNX and run"
        " by openvino or onnxruntime, or torch (default auto: the fastest installed)",
    )
    g.add_argument("--batch-size", type=positive_int, default=32, help="frames per encoder batch")
    g.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/momentfinder)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")


def add_grounding_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grounding")
    g.add_argument("--grounder", choices=GROUNDER_NAMES, default=DEFAULT_GROUNDER, help="zero-shot method")
    g.add_argument(
        "--calibration",
        metavar="CAL.json",
        default=None,
        help="zero-shot no-moment calibration for this encoder (momentfinder predict --calibrate-on); "
        "without one, queries are never rejected",
    )
    g.add_argument(
        "--model",
        metavar="CKPT",
        default=None,
        help="a trained model (RUN/best.ckpt from momentfinder train)",
    )
    g.add_argument(
        "--zeroshot-rerank", type=non_negative_float, metavar="W", default=None, help=ZEROSHOT_RERANK_HELP
    )
    g.add_argument("--top-k", type=positive_int, default=5, help="moments to return (default 5)")
    g.add_argument(
        "--subtitles", default=None, help="subtitle/transcript file (default: sidecar or embedded)"
    )
    g.add_argument("--no-subtitles", action="store_true", help="turn the subtitle channel off")
    # which subtitles (the subtitle channel chooses; see README "Subtitles")
    g.add_argument(
        "--subtitle-encoding",
        metavar="ENC",
        default=None,
        help="encoding of subtitle files, e.g. cp1252, utf-16, shift_jis (default: detected)",
    )
    g.add_argument(
        "--subtitle-lang",
        metavar="LANG",
        default=None,
        help="use the subtitles in this language: ISO 639 code as in the stream metadata or "
        "movie.LANG.srt (en, eng, fr, fre, fra...) (default: the query's language, else the first)",
    )
    g.add_argument(
        "--subtitle-track",
        metavar="N",
        type=non_negative_int,
        default=None,
        help="use embedded subtitle stream N, counted from 0 as ffmpeg's -map 0:s:N",
    )


def channel_list(text: str) -> dict[str, float | None]:
    """``visual,speech=3,sound`` → ``{"visual": None, "speech": 3.0, "sound": None}`` (None: the
    channel's default weight)."""
    out: dict[str, float | None] = {}
    for item in text.split(","):
        name, sep, weight = item.strip().partition("=")
        if name not in CHANNEL_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown channel {name!r}; choose from {', '.join(CHANNEL_NAMES)} (NAME or NAME=WEIGHT)"
            )
        value = None
        if sep:
            value = finite_float(weight)
            if value < 0:
                raise argparse.ArgumentTypeError(f"channel weight must be 0 or more, got {weight}")
        out[name] = value
    return out


def add_asr_options(g) -> None:
    """The speech recogniser and the audio stream (ground, index add, transcribe)."""
    g.add_argument(
        "--asr-model",
        metavar="MODEL",
        default=None,
        help=f"speech recogniser: a Whisper hub id or local directory, or '{OFFLINE_ASR_MODEL}' (offline "
        f"English, weaker); turns the speech channel on (default with --channels ...speech: "
        f"{DEFAULT_ASR_MODEL}, falling back to {OFFLINE_ASR_MODEL} when it cannot be loaded)",
    )
    g.add_argument(
        "--audio-stream",
        metavar="N",
        type=non_negative_int,
        default=None,
        help="read audio stream N, counted from 0 as ffmpeg's -map 0:a:N (default: the default stream, else the first)",
    )


def add_channel_options(p: argparse.ArgumentParser) -> None:
    """Speech, sound and which channels are fused (ground, index add)."""
    g = p.add_argument_group("speech and sound")
    g.add_argument(
        "--channels",
        type=channel_list,
        default=None,
        metavar="LIST",
        help=f"exactly these channels, comma-separated, optionally NAME=WEIGHT ({', '.join(CHANNEL_NAMES)}); "
        "default: visual and subtitles, plus speech/sound when --asr-model/--sound-model is given, "
        "weighted by what the query asks (words said, a sound)",
    )
    add_asr_options(g)
    g.add_argument(
        "--sound-model",
        metavar="MODEL",
        default=None,
        help=f"CLAP hub id or local directory for sound queries; turns the sound channel on "
        f"(default with --channels ...sound: {DEFAULT_SOUND_MODEL})",
    )


def channel_settings(args: argparse.Namespace) -> dict:
    """The FinderConfig fields of the speech/sound/--channels options (absent ones: {})."""
    chosen = getattr(args, "channels", None)
    settings: dict = {}
    for field in ("asr_model", "sound_model", "audio_stream"):
        if getattr(args, field, None) is not None:
            settings[field] = getattr(args, field)
    if chosen is not None:
        if args.no_visual and "visual" in chosen:
            raise UsageError("--no-visual and --channels visual contradict each other")
        if getattr(args, "no_subtitles", False) and "subtitles" in chosen:
            raise UsageError("--no-subtitles and --channels subtitles contradict each other")
        settings["channels"] = tuple(chosen)
        weights = {k: v for k, v in chosen.items() if v is not None}
        if weights:
            from ..pipeline.finder import FinderConfig

            settings["channel_weights"] = {**FinderConfig().channel_weights, **weights}
    return settings


def show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def finder_from_args(args: argparse.Namespace, use_subtitles: bool = True):
    """The :class:`MomentFinder` the options describe (a ``--model``'s encoder and clip length
    are resolved by the pipeline)."""
    from ..pipeline.finder import MomentFinder

    return MomentFinder(config=finder_config_from_args(args, use_subtitles))


def finder_config_from_args(args: argparse.Namespace, use_subtitles: bool = True):
    """The :class:`FinderConfig` the options describe (quietens the model libraries' own output)."""
    from ..pipeline.finder import finder_config, quiet_libraries

    use_subtitles = use_subtitles and not getattr(args, "no_subtitles", False)
    channels = channel_settings(args)
    if "channels" in channels:
        use_subtitles = "subtitles" in channels["channels"]
    audio_only = any(k in channels for k in ("channels", "asr_model", "sound_model"))
    if args.no_visual and not use_subtitles and not audio_only:
        raise UsageError("--no-visual and --no-subtitles together leave no channel to ground with")
    if getattr(args, "no_subtitles", False):
        chosen = [
            flag
            for flag, value in (
                ("--subtitles", getattr(args, "subtitles", None)),
                ("--subtitle-encoding", getattr(args, "subtitle_encoding", None)),
                ("--subtitle-lang", getattr(args, "subtitle_lang", None)),
                ("--subtitle-track", getattr(args, "subtitle_track", None)),
            )
            if value is not None
        ]
        if chosen:
            raise UsageError(f"{', '.join(chosen)} and --no-subtitles contradict each other")
    cfg = finder_config(
        visual_model=args.visual_model,
        checkpoint=getattr(args, "model", None),
        zeroshot_rerank=getattr(args, "zeroshot_rerank", None),
        clip_len=args.clip_len,
        no_visual=args.no_visual or ("channels" in channels and "visual" not in channels["channels"]),
        frames_per_clip=args.frames_per_clip,
        decode=args.decode,
        text_model=args.text_model,
        grounder=getattr(args, "grounder", DEFAULT_GROUNDER),
        calibration=getattr(args, "calibration", None),
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        runtime=getattr(args, "runtime", "auto"),
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        use_subtitles=use_subtitles,
        # a model the user named must load, unless they accept grounding without it
        require_visual=args.visual_model is not None and not args.allow_missing_channels,
        subtitle_encoding=getattr(args, "subtitle_encoding", None),
        subtitle_lang=getattr(args, "subtitle_lang", None),
        subtitle_track=getattr(args, "subtitle_track", None),
        progress=show_progress(args),
        **channels,
    )
    quiet_libraries()
    return cfg


def warn(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"momentfinder: warning: {message}", file=sys.stderr)


def add_question_options(p: argparse.ArgumentParser) -> None:
    """How questions are read (compositional queries; README "Compositional questions and chat")."""
    g = p.add_argument_group("questions")
    g.add_argument(
        "--parser",
        choices=("rule", "llm", "none"),
        default=None,
        help="read questions with the offline rules (default), an LLM (needs --llm-url and "
        "--llm-model) or not at all (every query is one caption)",
    )
    g.add_argument(
        "--llm-url",
        metavar="URL",
        default=None,
        help="OpenAI-compatible chat API, e.g. http://localhost:11434/v1 (Ollama), "
        "http://localhost:8000/v1 (vLLM, llama.cpp); key from $MOMENTFINDER_LLM_API_KEY or $OPENAI_API_KEY",
    )
    g.add_argument("--llm-model", metavar="NAME", default=None, help="the chat model's name on that server")
    g.add_argument(
        "--llm-timeout",
        type=positive_float,
        default=20.0,
        help="seconds before the rules take over (default 20)",
    )
    g.add_argument("--explain", action="store_true", help="print how each question was parsed")


def parser_settings_from_args(args: argparse.Namespace):
    """The :class:`~momentfinder.pipeline.compose.ParserSettings` the options describe (``--llm-url``
    alone selects the LLM parser)."""
    from ..pipeline.compose import ParserSettings

    kind = args.parser or ("llm" if args.llm_url or args.llm_model else "rule")
    if kind != "llm" and (args.llm_url or args.llm_model):
        raise UsageError(f"--llm-url and --llm-model need --parser llm, not --parser {kind}")
    return ParserSettings(kind, args.llm_url, args.llm_model, args.llm_timeout)
