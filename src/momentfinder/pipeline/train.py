"""Training a detector on a feature directory: ``momentfinder train`` and the Python API.

Joins the stages training needs: the feature directory (``store``), the annotation readers
(``data``), the official metrics for validation (``eval``) and the detector's training loop
(``grounding.detr``), which itself imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.readers import read_annotations
from ..data.submission import submission_record
from ..errors import InputError
from ..store import FeatureDirectory, check_sample_ids
from ..types import GroundingResult, GroundingSample


@dataclass
class TrainRequest:
    """``momentfinder train``: what to train on and where the run goes.

    ``clip_len``: only for a feature directory without a manifest (a released feature set).
    ``config``: a YAML path or built-in config name; None = the default, or a resumed run's own.
    """

    features: str
    train: str
    val: str
    out: str
    val_negative: str | None = None
    config: str | None = None
    supervision: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    visual_dirs: Sequence[str] = ("clip_features",)
    text_dir: str = "clip_text_features"
    normalize: bool = True
    clip_len: float | None = None
    seed: int = 2018
    device: str | None = None
    resume: bool = False
    progress: bool = True


def official_metrics(results: list[GroundingResult], samples: list[GroundingSample]) -> dict:
    """The official QVHighlights metrics of ``results`` (what ``momentfinder eval`` prints)."""
    from ..eval.qvhighlights import evaluate

    return evaluate([submission_record(r) for r in results], samples)


def training_config(request: TrainRequest):
    """The :class:`DetrConfig` of a request: the named config (or a resumed run's) plus overrides."""
    from ..grounding.detr.checkpoint import load_resume_checkpoint
    from ..grounding.detr.config import DetrConfig, load_config

    last = Path(request.out) / "last.ckpt"
    if request.resume and request.config is None and last.exists():
        cfg = DetrConfig.from_dict(load_resume_checkpoint(last)["config"], str(last))
    else:
        cfg = load_config(request.config)
    if request.supervision:
        cfg.supervision.mode = request.supervision
    if request.epochs is not None:
        if request.epochs < 1:
            raise InputError("--epochs must be at least 1")
        cfg.train.epochs = request.epochs
    if request.batch_size is not None:
        if request.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        cfg.train.batch_size = request.batch_size
    return cfg


def train(request: TrainRequest, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train a detector (see :class:`TrainRequest`); returns the run summary."""
    import torch

    from ..grounding.detr.train import train_detector

    cfg = training_config(request)
    features = FeatureDirectory(
        request.features,
        clip_feat_dirs=[d for d in request.visual_dirs if d],
        text_feat_dir=request.text_dir,
        normalize=request.normalize,
        clip_len=request.clip_len,
    )
    val_negative = read_annotations(request.val_negative) if request.val_negative else None
    samples = {path: read_annotations(path) for path in (request.train, request.val)}
    for path, rows in [*samples.items(), (request.val_negative, val_negative or [])]:
        check_sample_ids(rows, path or "")  # ids name feature files: none may leave the directory
    return train_detector(
        cfg,
        features,
        samples[request.train],
        samples[request.val],
        request.out,
        evaluate=official_metrics,
        seed=request.seed,
        device=request.device or ("cuda" if torch.cuda.is_available() else "cpu"),
        resume=request.resume,
        val_negatives=val_negative,
        progress=request.progress,
        on_epoch=on_epoch,
    )
