"""``momentfinder extract``: videos → a Moment-DETR-layout feature directory, for research code.

The finder extracts each video (through the feature cache); the store's writer lays the
features out and records every video's clip length, duration and encoder in the manifest
(``videos.jsonl``), which ``predict`` and ``train`` read back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import ModelUnavailableError
from ..store import FeatureDirectoryWriter
from .finder import MomentFinder


@dataclass
class ExtractReport:
    videos: list[str] = field(default_factory=list)  # vids written
    skipped: list[str] = field(default_factory=list)  # "VIDEO: reason" lines
    queries: int = 0


def extract_directory(
    finder: MomentFinder,
    videos: Sequence[str],
    out: str,
    queries: Sequence[tuple[int | str, str]] = (),
    warn: Callable[[str], None] | None = None,
) -> ExtractReport:
    """Write the visual features of ``videos`` and the query features of ``queries`` (``(qid, text)``)
    to ``out``; videos without a visual channel are skipped (with a warning)."""
    encoder = finder.visual_encoder()
    if encoder is None:
        raise ModelUnavailableError(finder.visual_error or "no visual model")
    report = ExtractReport()
    with FeatureDirectoryWriter(out) as writer:
        for video in videos:
            feats = finder.extract(video)
            if feats.visual is None:
                report.skipped.append(f"{video}: skipped ({'; '.join(feats.notes)})")
                if warn is not None:
                    warn(report.skipped[-1])
                continue
            # queries are embedded with the same model's text tower
            writer.add_video(feats.visual, os.fspath(video), encoder.name, encoder.fingerprint)
            report.videos.append(feats.visual.video_id)
        for qid, text in queries:
            writer.add_query(qid, finder.encode_query(text))
            report.queries += 1
    return report
