"""The one place that builds a grounder: from a name and options, a calibration, or a checkpoint.

Every face (``ground``, ``predict``, the Python API, later the library and the server) describes
the grounder it wants as a :class:`GrounderSpec`; :func:`build_grounder` turns it into an object
with ``ground(clips, query, top_k)`` (and ``ground_curve`` for the zero-shot kinds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

DEFAULT_GROUNDER = "zero-shot"
GROUNDER_NAMES = ("zero-shot", "windows")  # the training-free grounders, the default first


@dataclass
class GrounderSpec:
    """What grounder to build.

    ``name``: a training-free grounder (:data:`GROUNDER_NAMES`); ``options``: its settings
    (``ZeroShotConfig`` keys for ``zero-shot``); ``calibration``: a no-moment calibration file made
    for the user's encoder (zero-shot only; without one nothing is rejected); ``checkpoint``: a
    trained detector (``momentfinder train``), which replaces ``name``; ``reject``: False never
    rejects a query (the checkpoint's calibrated threshold, or a calibration, is ignored);
    ``zeroshot_rerank``: with a checkpoint, the weight of the zero-shot re-ranking of its moments
    (``inference.zeroshot_rerank``; None keeps the checkpoint's own, 0 turns it off).
    """

    name: str = DEFAULT_GROUNDER
    options: dict = field(default_factory=dict)
    calibration: str | None = None
    checkpoint: str | None = None
    device: str | None = None
    reject: bool = True
    zeroshot_rerank: float | None = None

    def __post_init__(self) -> None:
        if self.zeroshot_rerank is not None:
            if self.checkpoint is None:
                raise InputError(
                    "zero-shot re-ranking (--zeroshot-rerank) applies to a trained checkpoint only"
                )
            if not self.zeroshot_rerank >= 0 or self.zeroshot_rerank == float("inf"):
                raise InputError(f"--zeroshot-rerank must be 0 or more, got {self.zeroshot_rerank}")
        if self.checkpoint is None and self.name not in GROUNDER_NAMES:
            raise InputError(f"unknown grounder {self.name!r}; choose one of: {', '.join(GROUNDER_NAMES)}")
        if self.checkpoint is not None or self.name != "zero-shot":
            kind = "a trained checkpoint" if self.checkpoint is not None else f"the {self.name!r} grounder"
            if self.options:
                raise InputError(f"grounder options (--set) configure the zero-shot grounder, not {kind}")
            if self.calibration is not None:
                raise InputError(f"a zero-shot calibration does not apply to {kind}")

    @property
    def kind(self) -> str:
        return "detr" if self.checkpoint is not None else self.name


def build_grounder(spec: GrounderSpec | None = None):
    """The grounder ``spec`` describes (see :class:`GrounderSpec`)."""
    spec = spec or GrounderSpec()
    if spec.checkpoint is not None:
        from .detr import load_grounder

        grounder = load_grounder(
            spec.checkpoint, device=spec.device or _default_device(), zeroshot_rerank=spec.zeroshot_rerank
        )
        if not spec.reject:
            grounder.no_moment_threshold = None
        return grounder
    if spec.name == "windows":
        from .windows import WindowGrounder

        return WindowGrounder()
    from .zeroshot import NoMomentCalibration, ZeroShotConfig, ZeroShotGrounder

    config = ZeroShotConfig.from_dict(spec.options)
    calibration = NoMomentCalibration()
    if spec.calibration is not None and spec.reject:
        calibration = NoMomentCalibration.load(spec.calibration)
    return ZeroShotGrounder(config, calibration)


def make_grounder(name: str = DEFAULT_GROUNDER):
    """A training-free grounder by name, with its default settings."""
    return build_grounder(GrounderSpec(name))


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
