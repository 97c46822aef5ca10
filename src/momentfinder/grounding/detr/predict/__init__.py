"""Inference with a trained detector."""

from .grounder import DetrGrounder, load_grounder

__all__ = ["DetrGrounder", "load_grounder"]
