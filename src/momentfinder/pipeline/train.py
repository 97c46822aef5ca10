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
from ..data.submission import read_submission, submission_record
from ..errors import InputError, UsageError
from ..store import FeatureDirectory, check_sample_ids
from ..types import GroundingResult, GroundingSample


@dataclass
class TrainRequest:
    """``momentfinder train``: what to train on and where the run goes.

    ``clip_len``: only for a feature directory without a manifest (a released feature set).
    ``config``: a YAML path or built-in config name; None = the one for the label type
    (``grounding.detr.config.default_config_name``), or a resumed run's own.
    ``pseudo_labels``: a ``momentfinder predict`` submission on the training queries (e.g. by the
    zero-shot grounder) whose windows train the detector (self-training; weak supervision unless
    ``supervision`` is point).
    """

    features: str
    train: str
    val: str
    out: str
    val_negative: str | None = None
    pseudo_labels: str | None = None
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
    from ..grounding.detr.config import DetrConfig, default_config_name, load_config

    last = Path(request.out) / "last.ckpt"
    if request.resume and request.config is None and last.exists():
        cfg = DetrConfig.from_dict(load_resume_checkpoint(last)["config"], str(last))
    else:
        cfg = load_config(
            request.config or default_config_name(request.supervision, bool(request.pseudo_labels))
        )
    if request.supervision:
        cfg.supervision.mode = request.supervision
    if request.pseudo_labels and cfg.supervision.mode == "full":
        if request.supervision == "full":
            raise UsageError(
                "--pseudo-labels replaces the training windows: use --supervision weak or point, not full"
            )
        cfg.supervision.mode = "weak"
    if request.epochs is not None:
        if request.epochs < 1:
            raise InputError("--epochs must be at least 1")
        cfg.train.epochs = request.epochs
    if request.batch_size is not None:
        if request.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        cfg.train.batch_size = request.batch_size
    return cfg


def read_pseudo_labels(path: str, train_samples: list[GroundingSample]) -> dict:
    """qid -> :class:`PseudoLabel` from a submission file; every training query must have one."""
    import numpy as np

    from ..grounding.detr.supervision import PseudoLabel

    if not Path(path).is_file():
        raise InputError(f"pseudo-label file not found: {path}")
    labels = {}
    for rec in read_submission(path):  # validated: one clear line for a malformed record
        windows = sorted(rec.get("pred_relevant_windows") or [], key=lambda w: -w[2])
        saliency = rec.get("pred_saliency_scores")
        labels[rec["qid"]] = PseudoLabel(
            [list(map(float, w)) for w in windows],
            np.asarray(saliency, dtype=np.float32) if saliency else None,
        )
    missing = [s.qid for s in train_samples if s.qid not in labels]
    if missing:
        raise InputError(
            f"{path}: no pseudo label for {len(missing)} of the {len(train_samples)} training queries "
            f"(first: qid {missing[0]!r}); make it with `momentfinder predict --annotations` on the training file"
        )
    return labels


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
    pseudo = (
        read_pseudo_labels(request.pseudo_labels, samples[request.train]) if request.pseudo_labels else None
    )
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
        pseudo_labels=pseudo,
    )
