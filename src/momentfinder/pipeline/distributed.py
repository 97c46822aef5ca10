"""Where a library's videos are read: here, or on the workers of a Ray cluster.

Indexing splits in two. The slow part (probe, decode, encode, subtitle embedding:
:meth:`MomentFinder.extract <momentfinder.pipeline.finder.MomentFinder.extract>` of one file,
through the feature cache) runs in an *extractor*; deciding which files need it and writing the
catalog stay with the caller, the single writer (:meth:`Library.add
<momentfinder.pipeline.library.Library.add>`). Extractors return :class:`ExtractedVideo`, plain
data that crosses process and machine boundaries.

* :class:`LocalExtractor` reads each file when it is submitted, with the caller's finder.
* :class:`RayExtractor` keeps one actor per worker, each holding a loaded finder (the encoder is
  loaded once per worker, not per file), submits files to the least busy one and hands results
  back as they arrive (``ray.wait``), so the caller commits each video as soon as it is read.

    with RayExtractor(config, address="auto") as ex:     # or address=None: a local Ray
        ex.submit("a.mp4"); ex.submit("b.mp4")
        for path, video in ex.drain(): ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError, MomentFinderError
from ..types import SubtitleSegment
from .finder import FinderConfig, MomentFinder

log = logging.getLogger(__name__)


@dataclass
class ExtractedVideo:
    """What indexing keeps of one read video, or why it could not be read (``error``)."""

    duration: float = 0.0
    n_clips: int = 0
    features: np.ndarray | None = None  # (n_clips, dim) float32
    unreadable: list[list[float]] = field(default_factory=list)  # [start, end] seconds skipped
    lines: list[SubtitleSegment] | None = None
    line_embeddings: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the reason, without the path


def extract_video(finder: MomentFinder, path: str) -> ExtractedVideo:
    """Read ``path`` with ``finder``; a file that cannot be read gives ``error``, never raises."""
    try:
        feats = finder.extract(path)
        if feats.visual is None:
            raise InputError("; ".join(feats.notes) or "no visual features")
    except MomentFinderError as err:
        return ExtractedVideo(
            error=str(err).removeprefix(f"{path}: ")
        )  # the path is said once, by the caller
    visual = feats.visual
    track = _searchable_lines(feats.channel_features)
    return ExtractedVideo(
        duration=visual.duration,
        n_clips=visual.n_clips,
        features=np.asarray(visual.features, dtype=np.float32),
        unreadable=[list(span) for span in getattr(visual, "unreadable", ())],
        lines=track.segments if track is not None else None,
        line_embeddings=track.embeddings if track is not None else None,
        notes=list(feats.notes),
    )


def _searchable_lines(channel_features: dict):
    """The subtitle lines and the transcript's, in time order, as one track: the library stores and
    text-searches them alike (both are embedded by the same text model)."""
    tracks = [t for name in ("subtitles", "speech") if (t := channel_features.get(name)) is not None]
    if len(tracks) <= 1:
        return tracks[0] if tracks else None
    pairs = sorted(
        ((seg, row) for t in tracks for seg, row in zip(t.segments, t.embeddings, strict=True)),
        key=lambda pair: (pair[0].start, pair[0].end),
    )
    return replace(
        tracks[0], segments=[seg for seg, _ in pairs], embeddings=np.stack([row for _, row in pairs])
    )


class LocalExtractor:
    """Reads each file in this process when it is submitted (the plain ``index add``)."""

    def __init__(self, finder: MomentFinder):
        self.finder = finder
        self._done: list[tuple[str, ExtractedVideo]] = []

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, path: str) -> None:
        self._done.append((path, extract_video(self.finder, path)))

    def next_done(self) -> tuple[str, ExtractedVideo]:
        return self._done.pop(0)

    def in_flight(self) -> int:
        return len(self._done)

    def drain(self) -> Iterator[tuple[str, ExtractedVideo]]:
        while self.in_flight():
            yield self.next_done()

    def __enter__(self) -> LocalExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self._done.clear()


class _Worker:
    """A Ray actor's body: one finder, loaded once, reading one file at a time."""

    def __init__(self, config: FinderConfig):
        self.finder = MomentFinder(config=config)

    def encoder(self) -> tuple[str, int, str] | str:
        """(name, dim, fingerprint) of the loaded encoder, or why it could not be loaded."""
        encoder = self.finder.visual_encoder()
        if encoder is None:
            return self.finder.visual_error or "the encoder cannot be loaded"
        return encoder.name, encoder.dim, encoder.fingerprint

    def extract(self, path: str) -> ExtractedVideo:
        return extract_video(self.finder, path)


def _import_path() -> str:
    """PYTHONPATH for local workers: where this momentfinder is imported from, first (a checkout)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rest = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys([here, *rest]))


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'momentfinder[ray]'") from None
    return ray


class RayExtractor:
    """Reads files on Ray workers (see module docstring).

    ``address``: None (or True) starts a local Ray with ``workers`` CPUs; ``"auto"`` joins the
    cluster this machine is part of (``ray start``); ``"ray://host:10001"`` connects to a remote
    one. When Ray is already initialised in this process it is used as it is and left running.
    ``workers``: actors to start (default: one per ``cpus_per_worker`` CPUs of the cluster);
    ``cpus_per_worker``: the CPUs each reserves, also its torch threads unless ``config.threads``.
    Each actor may hold ``queue`` files (one being read, the rest waiting), so a worker never idles
    while the caller commits; a killed run loses at most those.
    """

    def __init__(
        self,
        config: FinderConfig,
        address: str | bool | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1,
        queue: int = 2,
    ):
        if workers is not None and workers < 1:
            raise InputError(f"the number of Ray workers must be at least 1, got {workers}")
        self.ray = ray = _ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            local = address is None or address is True
            kwargs = {"include_dashboard": False, "log_to_driver": False}
            if local:
                cpus = max(1, int(workers * cpus_per_worker) if workers else min(os.cpu_count() or 1, 8))
                ray.init(num_cpus=cpus, runtime_env={"env_vars": {"PYTHONPATH": _import_path()}}, **kwargs)
            else:
                ray.init(address=str(address), **kwargs)
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_worker))
        config = replace(config, progress=False)
        if config.threads is None:
            config.threads = max(1, int(cpus_per_worker))
        actor = ray.remote(num_cpus=cpus_per_worker, max_restarts=-1, max_task_retries=0)(_Worker)
        self.actors = [actor.remote(config) for _ in range(workers)]
        self.queue = max(1, queue)
        self._load = {i: 0 for i in range(workers)}
        self._refs: dict = {}  # ObjectRef -> (path, actor index)
        log.info("Ray: %d workers, %s CPUs in the cluster", workers, ray.cluster_resources().get("CPU"))

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.queue

    def check_encoder(self, name: str, dim: int, fingerprint: str) -> None:
        """Every worker loads the encoder the library holds (its name and width), or InputError."""
        for answer in self.ray.get([a.encoder.remote() for a in self.actors]):
            if isinstance(answer, str):
                raise InputError(f"a Ray worker cannot load the encoder: {answer}")
            if answer[:2] != (name, dim):
                raise InputError(
                    f"a Ray worker loads {answer[0]} (dim {answer[1]}), the library holds {name} (dim {dim})"
                )
            if answer[2] != fingerprint:
                log.warning("a Ray worker's weights of %s differ from the driver's (%s)", name, answer[2])

    def submit(self, path: str) -> None:
        index = min(self._load, key=self._load.get)
        self._load[index] += 1
        self._refs[self.actors[index].extract.remote(path)] = (path, index)

    def in_flight(self) -> int:
        return len(self._refs)

    def next_done(self) -> tuple[str, ExtractedVideo]:
        """The next file read (whichever finishes first); a worker that died reading it gives an
        ``error`` (Ray restarts the worker for the files to come)."""
        [ref], _ = self.ray.wait(list(self._refs), num_returns=1)
        path, index = self._refs.pop(ref)
        self._load[index] -= 1
        try:
            return path, self.ray.get(ref)
        except self.ray.exceptions.RayError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return path, ExtractedVideo(error=f"the Ray worker reading it failed: {reason}")

    def drain(self) -> Iterator[tuple[str, ExtractedVideo]]:
        while self.in_flight():
            yield self.next_done()

    def close(self) -> None:
        self._refs.clear()  # what was being read is lost with its worker
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._owns_ray:
            self.ray.shutdown()

    def __enter__(self) -> RayExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ExtractedVideo", "LocalExtractor", "RayExtractor", "extract_video"]
