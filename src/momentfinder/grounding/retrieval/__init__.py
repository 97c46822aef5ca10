"""The trained cross-video relevance model (the library's coarse stage, TVR-style VCMR).

:mod:`.model` the bilinear query-token x clip head; :mod:`.config` its settings as data;
:mod:`.train` contrastive training with negatives from other videos and from outside the moment;
:mod:`.ranker` the loaded model for the library; :mod:`.checkpoint` checksummed files.
"""

from __future__ import annotations

from .checkpoint import FORMAT, load_ranker, save_ranker
from .config import RankerConfig
from .model import CrossVideoRanker
from .ranker import PreparedQuery, Ranker
from .train import RankerExample, RankerHistory, train_ranker

__all__ = [
    "FORMAT",
    "CrossVideoRanker",
    "PreparedQuery",
    "Ranker",
    "RankerConfig",
    "RankerExample",
    "RankerHistory",
    "load_ranker",
    "save_ranker",
    "train_ranker",
]
