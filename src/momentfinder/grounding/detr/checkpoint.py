"""Checkpoints: model weights + config + feature specification + no-moment calibration.

A checkpoint is a ``torch.save`` dict of plain Python values and tensors (loadable with
``weights_only=True``)::

    format       "momentfinder-detr/1"
    config       DetrConfig.to_dict()
    spec         FeatureSpec.to_dict(): what inputs the model expects
    calibration  {"no_moment_threshold": float | None, ...val statistics}
    model        state_dict
    train_state  optimizer / scheduler / RNG / epoch / history (last.ckpt; omitted in best.ckpt
                 when ``keep_train_state=False``)
    checksum     "sha256:HEX" over every other entry (:func:`payload_checksum`)

The checksum is verified on load: a damaged file (a flipped bit in the weights, an incomplete
copy) is refused with one line instead of giving wrong answers; a checkpoint written before
checksums loads with a warning. Writes go through a uniquely named temporary file, fsynced,
then renamed, so a killed run never leaves a torn checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from ...atomic import write_atomic
from ...errors import InputError, ModelUnavailableError
from ...types import ClipFeatures, QueryFeatures

FORMAT = "momentfinder-detr/1"
log = logging.getLogger(__name__)


class CheckpointDamagedError(ModelUnavailableError):
    """A checkpoint whose checksum does not match its content."""


@dataclass
class FeatureSpec:
    """The inputs a trained detector expects.

    ``visual_model``: the clip feature channel(s), ``+``-joined (Moment-DETR directory names such
    as ``clip_features+slowfast_features``, or an encoder id from ``momentfinder extract``);
    ``visual_dim``: total clip feature width; ``text_model`` / ``text_dim``: the query encoder;
    ``clip_len``: seconds per clip; ``text_tokens``: trained on per-token text features (the
    pooled vector alone works too, but worse); ``normalize``: rows were L2-normalised per channel;
    ``visual_dirs`` / ``text_dir``: the feature directory layout used in training (for ``predict``).
    """

    visual_model: str
    visual_dim: int
    text_model: str
    text_dim: int
    clip_len: float
    text_tokens: bool = True
    normalize: bool = True
    visual_dirs: list[str] = field(default_factory=list)  # feature sub-directories, in concatenation order
    text_dir: str = ""  # query feature sub-directory

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def check(self, clips: ClipFeatures, query: QueryFeatures) -> None:
        """Raise :class:`InputError` when the features do not fit this checkpoint."""
        if clips.dim != self.visual_dim:
            raise InputError(
                f"clip features have dim {clips.dim} ({clips.model or 'unknown model'}) but the checkpoint "
                f"expects {self.visual_dim} ({self.visual_model})"
            )
        dim = query.tokens.shape[1] if query.tokens is not None else query.pooled.shape[0]
        if dim != self.text_dim:
            raise InputError(
                f"query features have dim {dim} ({query.model or 'unknown model'}) but the checkpoint "
                f"expects {self.text_dim} ({self.text_model})"
            )
        if abs(clips.clip_len - self.clip_len) > 1e-6:
            raise InputError(
                f"clips are {clips.clip_len:g} s long but the checkpoint was trained on {self.clip_len:g} s clips"
            )

    @property
    def encoder_known(self) -> bool:
        """Whether the visual features name an encoder (a ``momentfinder extract`` directory), not just a folder."""
        return bool(self.visual_model) and self.visual_model not in ("unknown", "+".join(self.visual_dirs))

    def check_encoders(self, visual_model: str, visual_dim: int, text_dim: int) -> None:
        """Raise :class:`InputError` unless an encoder producing these features can feed this checkpoint.

        For ``ground VIDEO --model RUN/best.ckpt``: the checkpoint must have been trained on features of
        ``visual_model`` (as recorded by ``momentfinder extract``) with the same widths.
        """
        if not self.encoder_known:
            raise InputError(
                f"this checkpoint was trained on pre-extracted features ({self.visual_model}) of an unrecorded "
                "encoder; use `momentfinder predict --checkpoint` with such features, or train on a "
                "`momentfinder extract` directory to ground raw videos"
            )
        if visual_model != self.visual_model or visual_dim != self.visual_dim or text_dim != self.text_dim:
            raise InputError(
                f"the checkpoint needs {self.visual_model} clip features (dim {self.visual_dim}, text dim "
                f"{self.text_dim}); the available encoder is {visual_model} (dim {visual_dim}, text dim {text_dim})"
            )


def payload_checksum(payload: dict) -> str:
    """``sha256:HEX`` over a checkpoint's entries (all but ``checksum``), tensors by dtype, shape and
    bytes, containers in a fixed order: the same on save and after any ``map_location``."""
    digest = hashlib.sha256()
    _digest({k: v for k, v in payload.items() if k != "checksum"}, digest)
    return "sha256:" + digest.hexdigest()


def _digest(obj, digest) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}:".encode())
        for key in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            _digest(key, digest)
            _digest(obj[key], digest)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}:".encode())
        for item in obj:
            _digest(item, digest)
    elif isinstance(obj, (bytes, bytearray)):
        digest.update(f"B{len(obj)}:".encode() + bytes(obj))
    else:  # str, int, float, bool, None, torch.dtype ...: repr is exact for these
        text = repr(obj).encode("utf-8", "surrogatepass")
        digest.update(f"{type(obj).__name__}{len(text)}:".encode() + text)


def save_checkpoint(path: str | os.PathLike, payload: dict, fmt: str = FORMAT) -> None:
    """Write ``payload`` with its format and checksum atomically (a uniquely named temporary file in
    the same directory, fsynced, then renamed), so a killed process never leaves a torn checkpoint.
    ``fmt``: the format tag (other models, e.g. the cross-video ranker, share this file format)."""
    path = Path(path)
    ckpt = {"format": fmt, **payload}
    ckpt["checksum"] = payload_checksum(ckpt)
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", fmt: str = FORMAT, kind: str = "DETR"
) -> dict:
    """A checkpoint's dict (without its checksum), verified: :class:`CheckpointDamagedError` when the
    checksum does not match; a checkpoint without one (older momentfinder) loads with a warning.
    ``fmt`` / ``kind``: the format tag expected and the model's name in the error of another."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle/zip errors vary by torch version
        raise ModelUnavailableError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise ModelUnavailableError(f"{path}: not a momentfinder {kind} checkpoint")
    stored = ckpt.pop("checksum", None)
    if stored is None:
        log.warning("%s has no checksum (written by an older momentfinder): it cannot be verified", path)
    elif stored != payload_checksum(ckpt):
        raise CheckpointDamagedError(
            f"{path}: checksum mismatch, the checkpoint is damaged (a changed byte or an incomplete copy); "
            "use an intact copy or train again"
        )
    return ckpt


def load_resume_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """``RUN/last.ckpt`` for ``--resume``, verified; a damaged or unreadable one is an :class:`InputError`
    that says how to go on (start over, or use ``best.ckpt``)."""
    path = Path(path)
    try:
        ckpt = load_checkpoint(path, map_location)
        if not isinstance(ckpt.get("train_state"), dict) or "config" not in ckpt:
            raise ModelUnavailableError(f"{path}: holds no training state")
    except ModelUnavailableError as err:
        what = (
            f"{path} is damaged (checksum mismatch)" if isinstance(err, CheckpointDamagedError) else str(err)
        )
        best = path.with_name("best.ckpt")
        raise InputError(
            f"cannot resume: {what}; start the run over (remove {path.parent} or choose another --out)"
            + (f", or use {best} as the trained model" if best.is_file() and best != path else "")
        ) from None
    return ckpt


def feature_spec(path: str | os.PathLike) -> FeatureSpec:
    """The feature specification stored in a checkpoint (what ``ground`` must extract)."""
    return FeatureSpec.from_dict(load_checkpoint(path)["spec"])
