"""Ranker checkpoints: the DETR checkpoint file format (checksummed, written atomically; see
:mod:`momentfinder.grounding.detr.checkpoint`) with its own format tag::

    format   "momentfinder-ranker/1"
    config   RankerConfig.to_dict()
    spec     FeatureSpec.to_dict(): the clip and query features it was trained on
    model    state_dict (bilinear map, gate, whitening)
    history  per-epoch losses and validation recall, training CPU seconds
    checksum "sha256:HEX"
"""

from __future__ import annotations

import os

from ...errors import InputError, ModelUnavailableError
from ..detr.checkpoint import FeatureSpec, load_checkpoint, save_checkpoint
from .config import RankerConfig
from .model import CrossVideoRanker
from .ranker import Ranker
from .train import RankerHistory

FORMAT = "momentfinder-ranker/1"


def save_ranker(path: str | os.PathLike, ranker: Ranker, history: RankerHistory | None = None) -> None:
    payload = {
        "config": ranker.model.config.to_dict(),
        "spec": ranker.spec.to_dict(),
        "model": ranker.model.state_dict(),
        "history": history.to_dict() if history is not None else {},
    }
    save_checkpoint(path, payload, fmt=FORMAT)


def load_ranker(path: str | os.PathLike) -> Ranker:
    """A trained ranker from ``path``; :class:`InputError` (one line) for a missing file,
    :class:`ModelUnavailableError` for a damaged or foreign one."""
    ckpt = load_checkpoint(path, fmt=FORMAT, kind="ranker")
    try:
        config = RankerConfig.from_dict(ckpt["config"])
        spec = FeatureSpec.from_dict(ckpt["spec"])
        model = CrossVideoRanker(config, spec.visual_dim, spec.text_dim)
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError, InputError) as err:
        raise ModelUnavailableError(
            f"{path}: not a usable ranker checkpoint ({type(err).__name__})"
        ) from None
    model.eval()
    return Ranker(model, spec, history=ckpt.get("history") or {}, source=str(path))


__all__ = ["FORMAT", "load_ranker", "save_ranker"]
