"""Dataset readers, pre-extracted feature directories and the QVHighlights submission writer."""

from .features import FeatureDirectory
from .readers import FORMATS, read_annotations
from .submission import read_submission, write_submission

__all__ = ["FORMATS", "FeatureDirectory", "read_annotations", "read_submission", "write_submission"]
