"""``momentfinder extract``: videos → a Moment-DETR-layout feature directory, for research code.

The finder extracts each video (through the feature cache); the store's writer lays the
features out and records every video's clip length, duration and encoder in the manifest
(``videos.jsonl``), which ``predict`` and ``train`` read back, and every query's text in
``queries.jsonl``. The writer stages the features and commits them with the manifests, so a
re-run, a parallel run or a killed run never leaves features that disagree with their rows, and
two videos with the same file name get distinct ids (with a warning).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import InputError, ModelUnavailableError
from ..store import FeatureDirectoryWriter, check_id
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
    queries = _unique_queries(queries)
    encoder = finder.visual_encoder()
    if encoder is None:
        raise ModelUnavailableError(finder.visual_error or "no visual model")
    report = ExtractReport()
    with FeatureDirectoryWriter(out, warn=warn) as writer:
        for video in videos:
            feats = finder.extract(video)
            if feats.visual is None:
                report.skipped.append(f"{video}: skipped ({'; '.join(feats.notes)})")
                if warn is not None:
                    warn(report.skipped[-1])
                continue
            # queries are embedded with the same model's text tower
            writer.add_video(feats.visual, os.fspath(video), encoder.name, encoder.fingerprint)
        for qid, text in queries:
            writer.add_query(qid, finder.encode_query(text))
            report.queries += 1
    report.videos = [e.vid for e in writer.committed]
    return report


def _unique_queries(queries: Sequence[tuple[int | str, str]]) -> list[tuple[int | str, str]]:
    """Queries with safe ids, each once; one qid given two different texts is an error."""
    texts: dict[str, str] = {}
    out = []
    for qid, text in queries:
        key = check_id(qid, "query id")
        if key in texts:
            if " ".join(texts[key].split()) != " ".join(text.split()):
                raise InputError(
                    f"query id {qid} is given twice, as {texts[key]!r} and {text!r} (--query numbers its "
                    "queries 0, 1, ...: give the others in an annotation file with their own qids)"
                )
            continue
        texts[key] = text
        out.append((qid, text))
    return out
