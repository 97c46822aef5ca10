"""Trainable DETR-style grounder (Moment-DETR / QD-DETR / CG-DETR line).

``load_grounder("RUN/best.ckpt")`` gives a :class:`~momentfinder.grounding.base.Grounder`;
``feature_spec("RUN/best.ckpt")`` says which features it needs. Training: :func:`train_detector`
or ``momentfinder train``.
"""

from .checkpoint import FeatureSpec, feature_spec, load_checkpoint
from .config import DetrConfig, load_config
from .model import MomentDetr
from .predict import DetrGrounder, load_grounder

__all__ = [
    "DetrConfig",
    "DetrGrounder",
    "FeatureSpec",
    "MomentDetr",
    "feature_spec",
    "load_checkpoint",
    "load_config",
    "load_grounder",
]
