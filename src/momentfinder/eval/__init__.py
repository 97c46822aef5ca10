"""Evaluation exactly like the papers: QVHighlights (Moment-DETR), R@n IoU=m (Charades-STA), TVR."""

from .qvhighlights import evaluate, evaluate_files

__all__ = ["evaluate", "evaluate_files"]
