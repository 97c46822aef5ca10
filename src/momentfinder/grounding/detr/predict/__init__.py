"""Inference with a trained detector."""

from .batch import predict_annotations
from .grounder import DetrGrounder, load_grounder

__all__ = ["DetrGrounder", "load_grounder", "predict_annotations"]
