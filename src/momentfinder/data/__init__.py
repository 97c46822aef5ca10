"""Dataset readers (annotations of every supported benchmark) and the QVHighlights submission writer.

Feature directories live in :mod:`momentfinder.store`."""

from .readers import FORMATS, read_annotations
from .submission import read_submission, write_submission

__all__ = ["FORMATS", "read_annotations", "read_submission", "write_submission"]
