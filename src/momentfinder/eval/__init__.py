"""Evaluation exactly like the papers: QVHighlights (Moment-DETR), R@n IoU=m, TVR, TVSum/YouTube."""

from .highlights import highlight_map
from .qvhighlights import evaluate, evaluate_files
from .recall import recall_at_iou
from .tvr import evaluate_tvr, evaluate_tvr_files, tvr_submission

__all__ = [
    "evaluate",
    "evaluate_files",
    "evaluate_tvr",
    "evaluate_tvr_files",
    "highlight_map",
    "recall_at_iou",
    "tvr_submission",
]
