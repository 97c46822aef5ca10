"""The cross-video ranker's settings, as data (a YAML file or a dict; missing fields keep defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from ...errors import InputError

POOLS = ("max", "topk")


@dataclass
class RankerConfig:
    """How the ranker scores and how it is trained.

    Model: each query token is mapped into the clip space by a learned bilinear map
    (``<A t, v>`` with ``v`` the L2-normalised clip feature); a learned gate weighs the tokens
    (filler words toward 0); a clip's relevance is the gate-weighted soft minimum over the tokens
    at temperature ``token_temperature`` (every important word must be seen in the clip: "the man
    opens" is not "the man closes" nor "the woman opens"); a video's score is the max
    (``pool="max"``) or the mean of the ``pool_k`` best clips (``pool="topk"``).

    Training: per batch of ``batch_size`` queries, their videos plus ``negatives`` other videos
    (random, and ``hard_negatives`` per query mined with the model every ``mine_every`` epochs
    among all training videos) are scored; a cross-entropy over videos at ``video_temperature``
    (``video_weight``) and one over the clips of the query's own video, clips inside its moments
    being the positives (``clip_weight``, at ``clip_temperature``).
    """

    token_temperature: float = 0.1
    whiten: bool = True  # whiten clip and token features (fitted on the training set) before the map
    whiten_shrink: float = 0.5  # covariance shrinkage toward the identity: 0 full whitening, 1 centring
    pool: str = "topk"
    pool_k: int = 3
    epochs: int = 10
    batch_size: int = 32
    negatives: int = 96
    hard_negatives: int = 16
    mine_every: int = 2
    lr: float = 5e-3
    weight_decay: float = 1e-4
    video_temperature: float = 0.05
    clip_temperature: float = 0.05
    video_weight: float = 1.0
    clip_weight: float = 1.0
    feature_noise: float = 0.0  # Gaussian noise (norm) added to each training clip row, then renormalised
    token_noise: float = 0.0  # the same for query tokens
    patience: int = 5  # epochs without a better validation R@1 before stopping (0: never)

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise InputError(f"ranker pool must be one of {', '.join(POOLS)}, not {self.pool!r}")
        for name in ("token_temperature", "video_temperature", "clip_temperature", "lr"):
            if not getattr(self, name) > 0:
                raise InputError(f"ranker {name} must be positive, not {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "pool_k"):
            if getattr(self, name) < 1:
                raise InputError(f"ranker {name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("negatives", "hard_negatives", "mine_every", "patience", "feature_noise", "token_noise"):
            if getattr(self, name) < 0:
                raise InputError(f"ranker {name} must not be negative, not {getattr(self, name)!r}")
        if not 0 <= self.whiten_shrink <= 1:
            raise InputError(f"ranker whiten_shrink must be within 0..1, not {self.whiten_shrink!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RankerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown ranker setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> RankerConfig:
        """A YAML file of any subset of the fields."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read the ranker config ({err})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: a ranker config is a mapping of settings")
        return cls.from_dict(data)
