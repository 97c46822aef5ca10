"""Options shared by the commands that read videos (ground, extract)."""

from __future__ import annotations

import argparse
import os
import sys

from ..encoders.base import DEFAULT_VISUAL_MODEL, PRECISIONS
from ..errors import InputError
from ..grounding import DEFAULT_GROUNDER, GROUNDERS
from ..video.decode import DECODE_MODES


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
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


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models and sampling")
    g.add_argument(
        "--visual-model",
        default=None,
        help=f"CLIP/SigLIP hub id or local directory (default {DEFAULT_VISUAL_MODEL}, or the one a --model was trained on)",
    )
    g.add_argument("--no-visual", action="store_true", help="turn the visual channel off")
    g.add_argument(
        "--text-model", default=None, help="sentence-transformers directory (default: bundled MiniLM)"
    )
    g.add_argument(
        "--clip-len", type=positive_float, default=None, help="seconds per clip (default 2, or a --model's)"
    )
    g.add_argument(
        "--frames-per-clip", type=positive_int, default=1, help="frames sampled per clip, mean-pooled"
    )
    g.add_argument(
        "--decode",
        choices=DECODE_MODES,
        default="auto",
        help="frames to decode: auto (skip B-frames where that is exact), nonref, all (default auto)",
    )
    g.add_argument("--precision", choices=PRECISIONS, default="auto", help="encoder precision (default auto)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    g.add_argument("--batch-size", type=positive_int, default=32, help="frames per encoder batch")
    g.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/momentfinder)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or warnings")


def add_grounding_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grounding")
    g.add_argument("--grounder", choices=sorted(GROUNDERS), default=DEFAULT_GROUNDER, help="zero-shot method")
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
    g.add_argument("--top-k", type=positive_int, default=5, help="moments to return (default 5)")
    g.add_argument(
        "--subtitles", default=None, help="subtitle/transcript file (default: sidecar or embedded)"
    )
    g.add_argument("--no-subtitles", action="store_true", help="turn the subtitle channel off")


def show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def finder_from_args(args: argparse.Namespace):
    from ..finder import FinderConfig, MomentFinder
    from ..ingest import SamplingConfig

    checkpoint = getattr(args, "model", None)
    visual_model, clip_len = args.visual_model, args.clip_len
    if checkpoint is not None:
        from ..grounding.detr import feature_spec

        spec = feature_spec(checkpoint)
        # Trained on `momentfinder extract` features, the spec names the encoder to use again;
        # trained on a research feature directory ("clip_features"), the user names it and the
        # feature widths are checked when grounding.
        if spec.encoder_known and visual_model is None:
            visual_model = spec.visual_model
        elif spec.encoder_known and visual_model != spec.visual_model:
            raise InputError(
                f"{checkpoint} was trained on features of {spec.visual_model!r}, not {visual_model!r}; "
                "leave --visual-model out to use the checkpoint's encoder"
            )
        elif visual_model is None:
            raise InputError(
                f"{checkpoint} was trained on pre-extracted features ({spec.visual_model}) of an unrecorded "
                "encoder: name the encoder that made them with --visual-model (e.g. "
                "openai/clip-vit-base-patch32 for Moment-DETR's CLIP features)"
            )
        clip_len = clip_len or spec.clip_len
    cfg = FinderConfig(
        visual_model=None if args.no_visual else (visual_model or DEFAULT_VISUAL_MODEL),
        text_model=args.text_model,
        grounder=getattr(args, "grounder", DEFAULT_GROUNDER),
        checkpoint=checkpoint,
        calibration=getattr(args, "calibration", None),
        sampling=SamplingConfig(
            clip_len=clip_len or 2.0, frames_per_clip=args.frames_per_clip, decode=args.decode
        ),
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        use_subtitles=not getattr(args, "no_subtitles", False) and checkpoint is None,
        progress=show_progress(args),
    )
    quiet_libraries()
    return MomentFinder(config=cfg)


def quiet_libraries() -> None:
    """transformers and sentence-transformers print load bars and notices on every model load."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def warn(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"momentfinder: warning: {message}", file=sys.stderr)
