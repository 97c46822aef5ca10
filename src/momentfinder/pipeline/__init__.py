"""The pipeline: the one place that joins the stages. Every face (the CLI, the Python API, later
the library, the server and the stream watcher) calls these functions and presents what they return.

* :mod:`.finder` — one video: probe → channels → fuse → ground (``MomentFinder``)
* :mod:`.batch` — predict and calibrate over a feature directory, for every grounder
* :mod:`.extract` — videos → a Moment-DETR-layout feature directory
* :mod:`.train` — train a detector on a feature directory
* :mod:`.output` — table, JSON, plot, export
"""

from .finder import (
    FinderConfig,
    MomentFinder,
    VideoFeatures,
    finder_config,
    resolve_checkpoint,
    validate_query,
)

__all__ = [
    "FinderConfig",
    "MomentFinder",
    "VideoFeatures",
    "finder_config",
    "resolve_checkpoint",
    "validate_query",
]
