"""What a user gets back: a table, JSON, a saliency plot, and the moments cut into clips."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from ..atomic import write_atomic
from ..channels import Transcript
from ..errors import MediaError
from ..types import GroundingResult, SearchHit, SubtitleSegment
from ..video.cut import check_output_dir, cut_clip, format_time, parse_time
from ..video.cut import check_output_file as _check_file
from ..video.decode import probe
from ..video.subtitles import format_srt


def format_result(result: GroundingResult) -> str:
    """A table of ranked moments with ``HH:MM:SS`` times, or the "no matching moment" line."""
    head = f'"{result.query}" in {os.path.basename(result.video) or "video"} ({format_time(result.duration)})'
    channels = f"channels: {', '.join(result.channels) or 'none'}"
    if result.subqueries:
        channels += f"; sub-queries: {' | '.join(result.subqueries)}"
    if result.subtitle_source:
        channels += f"; subtitles from {result.subtitle_source}"
    if result.count is not None:
        channels += f"\ncount: {result.count}"
    if not result.moments:
        extra = (
            f" (no-moment score {result.no_moment_score:.3f})" if result.no_moment_score is not None else ""
        )
        return f"{head}\n{channels}\nno matching moment{extra}"
    lines = [
        head,
        channels,
        f"{'rank':>4}  {'start':>10}  {'end':>10}  {'length':>7}  {'confidence':>10}  {'score':>8}  evidence",
    ]
    for rank, m in enumerate(result.moments, 1):
        confidence = f"{m.confidence:.2f}" if m.confidence is not None else "-"
        lines.append(
            f"{rank:>4}  {format_time(m.start):>10}  {format_time(m.end):>10}  {m.length:>6.1f}s  "
            f"{confidence:>10}  {m.score:>8.3f}  {_evidence(m)}"
        )
    return "\n".join(lines)


def _evidence(moment) -> str:
    """``speech (speech 80%, visual 20%)``: the channel the confidence rests on, and the shares."""
    if len(moment.contributions) < 2:
        return moment.evidence
    shares = ", ".join(f"{name} {share:.0%}" for name, share in moment.contributions)
    return f"{moment.evidence} ({shares})" if moment.evidence else shares


def format_transcript(transcript: Transcript) -> str:
    """One line per transcript line: ``start → end  text`` (``HH:MM:SS.s``)."""
    head = f"transcribed by {transcript.model}" + (f" from {transcript.audio}" if transcript.audio else "")
    if not transcript.segments:
        return f"{head}\nno speech heard"
    lines = [f"{format_time(s.start)} → {format_time(s.end)}  {s.text}" for s in transcript.segments]
    return "\n".join([head, *lines])


def write_srt(segments: list[SubtitleSegment], path: str | os.PathLike) -> str:
    """Write timed lines as an SRT file (atomically: a failed write leaves no half file)."""
    write_atomic(path, format_srt(segments).encode("utf-8"))
    return os.fspath(path)


def plot_saliency(result: GroundingResult, out_path: str | os.PathLike, top: int = 3) -> str:
    """PNG of the per-clip saliency curve with the ``top`` moments shaded (darkest = best)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sal = np.asarray(result.saliency, dtype=float)
    centers = (np.arange(len(sal)) + 0.5) * result.clip_len
    fig, ax = plt.subplots(figsize=(10, 3), dpi=100)
    ax.plot(np.minimum(centers, result.duration), sal, color="#1f5fa8", lw=1.5, label="saliency")
    for rank, m in enumerate(result.moments[:top]):
        ax.axvspan(m.start, m.end, color="#e8702a", alpha=0.45 / (rank + 1), lw=0)
        ax.text((m.start + m.end) / 2, 1.02, f"#{rank + 1}", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, result.duration)
    ax.set_ylim(min(0.0, float(sal.min(initial=0))), max(1.1, float(sal.max(initial=1)) * 1.1))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("saliency")
    ax.set_title(f'"{result.query}"' + ("  — no matching moment" if not result.moments else ""), fontsize=10)
    fig.tight_layout()
    out_path = os.fspath(out_path)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path


def results_json(results: Sequence[GroundingResult]) -> str:
    """One JSON object for one result, a list for several (the ``--json`` output)."""
    payload = [r.to_json() for r in results]
    return json.dumps(payload[0] if len(payload) == 1 else payload)


def numbered_path(path: str, index: int, total: int) -> str:
    """``path`` for one of ``total`` outputs: ``plot.png`` → ``plot_2.png`` when there are several."""
    if total == 1:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}_{index + 1}{ext}"


def check_output_file(path: str | os.PathLike) -> str:
    """``path`` once a file can be written there (``--plot``), else a one-line
    :class:`~momentfinder.errors.InputError`: call it before the slow work."""
    return _check_file(path)


def check_export_dir(out_dir: str | os.PathLike) -> str:
    """``out_dir`` once it is a directory that takes new files (created when missing), else a
    one-line :class:`~momentfinder.errors.InputError`: call it before the slow work."""
    return check_output_dir(out_dir)


def export_moments(
    video: str | os.PathLike,
    result: GroundingResult,
    out_dir: str | os.PathLike,
    prefix: str | None = None,
    copy: bool = False,
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """Cut every moment of ``result`` from ``video`` into ``out_dir`` (``PREFIX_RANK_START-END.mp4``,
    ``.m4a`` for a file without video). ``copy``: stream copy (keyframe-aligned starts) instead of
    re-encoding. A moment that cannot be cut from a damaged file is skipped with a ``warn``ing
    (raised without one); the paths written are returned."""
    video = os.fspath(video)
    out_dir = check_output_dir(out_dir)
    prefix = prefix or os.path.splitext(os.path.basename(video))[0]
    ext = ".mp4" if probe(video).has_video else ".m4a"
    paths = []
    for rank, m in enumerate(result.moments, 1):
        out = os.path.join(out_dir, f"{prefix}_{rank:02d}_{m.start:.1f}-{m.end:.1f}{ext}")
        try:
            paths.append(cut_clip(video, m.start, m.end, out, copy=copy, warn=warn))
        except MediaError as err:
            if warn is None:
                raise
            warn(f"moment {rank} ({format_time(m.start)}-{format_time(m.end)}) not exported: {err}")
    return paths


def cut(
    video: str | os.PathLike, start: str | float, end: str | float, out: str | os.PathLike, **options
) -> str:
    """``momentfinder cut``: one clip ``[start, end]`` (seconds or ``HH:MM:SS``) of ``video``;
    ``options``: ``copy`` (stream copy, keyframe-aligned start), ``crf``, ``warn`` (a callable
    that hears where a stream copy really starts)."""
    return cut_clip(os.fspath(video), parse_time(start), parse_time(end), os.fspath(out), **options)


def format_hits(query: str, hits: list[SearchHit]) -> str:
    """A table of ranked library hits with ``HH:MM:SS`` times."""
    if not hits:
        return f'"{query}": no matching moment in the library'
    lines = [
        f'"{query}"',
        f"{'rank':>4}  {'start':>10}  {'end':>10}  {'confidence':>10}  {'score':>8}  video",
    ]
    for rank, h in enumerate(hits, 1):
        confidence = f"{h.confidence:.2f}" if h.confidence is not None else "-"
        lines.append(
            f"{rank:>4}  {format_time(h.start):>10}  {format_time(h.end):>10}  {confidence:>10}  "
            f"{h.score:>8.3f}  {h.video}"
            + (f'  (found by watch for "{h.watch_query}")' if h.watch_query else "")
        )
    return "\n".join(lines)
