"""A library of videos: index once, then search a sentence across all of them.

    lib = Library("library.db")
    lib.add(["~/videos"])                          # incremental, resumable, crash-safe
    for hit in lib.search("a man opens the door", top_k=20):
        print(hit.video, hit.start, hit.end, hit.confidence)

Indexing runs every file through the same :class:`~momentfinder.pipeline.finder.MomentFinder`
as ``ground`` (feature cache, channels) and commits each video with its clip features and
subtitle lines in one transaction of the catalog (``store/``). Searching is coarse to fine: the
query's nearest clips in the vector index (and its words in the subtitle text) pick candidate
videos; each candidate is grounded like a single video; the moments of all candidates are ranked
together by their confidence, which means the same in every video.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from ..channels import Query, SubtitleTrack
from ..errors import InputError, NotFoundError
from ..query import StructuredQuery
from ..store.cache import file_hash
from ..store.catalog import Catalog, FoundMoment, LibraryInfo, VideoFilter, VideoRow, open_catalog
from ..types import ClipFeatures, GroundingResult, SearchHit, Timeline, VideoInfo
from .distributed import ExtractedVideo, LocalExtractor, RayExtractor
from .finder import FinderConfig, MomentFinder, VideoFeatures, moment_clips

log = logging.getLogger(__name__)

MEDIA_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .mov .avi .webm .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv .vob .m4a .mp3 .wav .flac"
    " .ogg .opus".split()
)


def default_library() -> str:
    """``$MOMENTFINDER_DB``, else ``$XDG_DATA_HOME/momentfinder/library.db`` (``~/.local/share``)."""
    if os.environ.get("MOMENTFINDER_DB"):
        return os.environ["MOMENTFINDER_DB"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "momentfinder", "library.db")


@dataclass
class IndexReport:
    """What ``index add`` did, one list of paths per outcome."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # a known file under a new name: features kept
    copied: list[str] = field(default_factory=list)  # the same content as an indexed file
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.moved)} moved",
            f"{len(self.copied)} copies",
            f"{len(self.failed)} failed",
        ]
        return ", ".join(parts)

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "copied": self.copied,
            "failed": [{"path": p, "error": e} for p, e in self.failed],
        }


@dataclass
class LibraryStatus:
    location: str
    info: LibraryInfo | None
    videos: int
    failed: int
    clips: int
    hours: float
    found_moments: int = 0  # moments `watch --library` recorded

    def to_json(self) -> dict:
        info = self.info.__dict__ if self.info is not None else None
        return {
            "location": self.location,
            "library": info,
            "videos": self.videos,
            "failed": self.failed,
            "clips": self.clips,
            "hours": round(self.hours, 3),
            "found_moments": self.found_moments,
        }


def expand_paths(paths: Iterable[str], recursive: bool = True) -> list[str]:
    """Absolute media file paths from files, folders (media extensions only) and glob patterns."""
    out: list[str] = []
    for raw in paths:
        path = os.path.expanduser(os.fspath(raw))
        matches = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path]
        if not matches:
            raise InputError(f"{raw}: no such file or folder (and no file matches it)")
        for match in matches:
            if os.path.isdir(match):
                walker = os.walk(match) if recursive else [(match, [], os.listdir(match))]
                for folder, dirs, files in walker:
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    out += [
                        os.path.join(folder, f)
                        for f in sorted(files)
                        if not f.startswith(".") and os.path.splitext(f)[1].lower() in MEDIA_EXTENSIONS
                    ]
            elif os.path.exists(match):
                out.append(match)
            else:
                raise InputError(f"{raw}: no such file or folder")
    return list(dict.fromkeys(os.path.abspath(p) for p in out))


class Library:
    """A searchable collection of videos (see module docstring).

    ``db``: a SQLite file path (default :func:`default_library`) or a ``postgresql://`` URL.
    ``config``: how videos are read and grounded (encoder, clip length, grounder...); by default
    the library's own encoder and clip length once it has one, else the finder's defaults. A
    config whose encoder or clip length differs from the library's is refused, unless
    ``adopt_encoder``: then the library's replace them and the rest of ``config`` applies.

    ``ranker``: a trained cross-video ranker (a ``momentfinder train-ranker`` checkpoint path, or
    a loaded :class:`~momentfinder.grounding.retrieval.Ranker`) for the coarse stage of a search:
    the nearest clips of the query (and of the ranker's own query vector) gather a pool of videos,
    the ranker scores each of them and the best ``candidates`` are grounded; the moments are ranked
    by their video's ranker score, then by the ranker's relevance of their best clip (each hit's
    ``relevance``), then by confidence. A ranker trained on
    another encoder or feature width is refused (:class:`InputError`). Without one, a search
    ranks candidates by the grounder's evidence and moments by confidence.
    """

    def __init__(
        self,
        db: str | os.PathLike | None = None,
        config: FinderConfig | None = None,
        progress: bool = True,
        create: bool = True,
        adopt_encoder: bool = False,
        ranker=None,
    ):
        if isinstance(ranker, (str, os.PathLike)):
            from ..grounding.retrieval import load_ranker

            ranker = load_ranker(ranker)
        self.ranker = ranker
        self.catalog: Catalog = open_catalog(db or default_library(), create=create)
        info = self.catalog.info()
        if ranker is not None and info is not None:
            try:
                ranker.check(info.dim, None, info.model)
            except InputError:
                self.catalog.close()
                raise
        self.progress = progress
        self._config = config
        self._adopt_encoder = adopt_encoder
        self._finder: MomentFinder | None = None

    # -- the finder --------------------------------------------------------------------------------
    def finder(self) -> MomentFinder:
        """The finder for this library: its encoder and clip length (a different one is refused)."""
        if self._finder is None:
            info = self.catalog.info()
            cfg = self._config or FinderConfig()
            if info is not None:
                if self._config is None or self._adopt_encoder:
                    sampling = type(cfg.sampling)
                    cfg = replace(
                        cfg,
                        visual_model=info.model,
                        sampling=sampling(**info.sampling)
                        if info.sampling
                        else sampling(clip_len=info.clip_len),
                    )
                elif cfg.visual_model != info.model or abs(cfg.sampling.clip_len - info.clip_len) > 1e-9:
                    raise InputError(
                        f"{self.catalog.location} was made with {info.model} at {info.clip_len:g} s clips; "
                        f"this asks for {cfg.visual_model} at {cfg.sampling.clip_len:g} s (leave --visual-model "
                        "and --clip-len out to use the library's)"
                    )
            # a library is searched by its clips: the encoder must load
            self._finder = MomentFinder(config=replace(cfg, progress=False, require_visual=True))
        return self._finder

    def _encoder_matches(self, info: LibraryInfo) -> None:
        encoder = self.finder().visual_encoder()
        if encoder is None:
            raise InputError(f"the library's encoder {info.model} cannot be loaded")
        if encoder.name != info.model or encoder.dim != info.dim:
            raise InputError(
                f"{self.catalog.location} holds features of {info.model} (dim {info.dim}); "
                f"the encoder here is {encoder.name} (dim {encoder.dim})"
            )
        if encoder.fingerprint != info.model_fingerprint:
            log.warning(
                "the weights of %s differ from those the library was made with (%s, now %s); "
                "results may be off until the videos are indexed again",
                info.model,
                info.model_fingerprint,
                encoder.fingerprint,
            )

    # -- indexing ------------------------------------------------------------------------------
    def add(
        self,
        paths: Sequence[str],
        recursive: bool = True,
        retry_failed: bool = False,
        on_video: Callable[[str, str], None] | None = None,
        ray: bool | str | None = None,
        workers: int | None = None,
    ) -> IndexReport:
        """Index media files (files, folders, globs). Unchanged files are skipped, moved or renamed
        files keep their features, unreadable ones are recorded as failed and skipped.
        ``on_video(path, outcome)`` is called after each file.

        ``ray``: read the files on Ray workers (:class:`~.distributed.RayExtractor`): True starts a
        local Ray, ``"auto"`` or ``"ray://host:port"`` joins a cluster; ``workers`` of them (default:
        one per CPU). This process stays the only writer: it decides which files need reading and
        commits each one as it comes back."""
        files = expand_paths(paths, recursive)
        finder = self.finder()
        encoder = finder.visual_encoder()
        if encoder is None:
            raise InputError(f"cannot index: {finder.visual_error}")
        info = self.catalog.info()
        mine = LibraryInfo(
            model=encoder.name,
            model_fingerprint=encoder.fingerprint,
            dim=encoder.dim,
            clip_len=finder.config.sampling.clip_len,
            sampling=finder.config.sampling.as_key(),
            text_model=finder.config.text_model or "",
        )
        if info is None:
            self.catalog.set_info(mine)
        else:
            self._encoder_matches(info)
        hasher = finder.cache.content_hash if finder.cache is not None else file_hash
        report = IndexReport()
        sizes = {p: _size(p) for p in files}
        if ray is None or ray is False:
            extractor: LocalExtractor | RayExtractor = LocalExtractor(finder)
        else:
            extractor = RayExtractor(finder.config, address=ray, workers=workers)
            try:
                extractor.check_encoder(mine.model, mine.dim, mine.model_fingerprint)
            except BaseException:
                extractor.close()
                raise
        bar = tqdm(
            total=sum(sizes.values()), unit="B", unit_scale=True, disable=not self.progress, desc="index"
        )
        reading: dict[str, _Pending] = {}  # submitted, not yet committed

        def done(path: str, outcome: str) -> None:
            bar.update(sizes[path])
            if on_video is not None:
                on_video(path, outcome)

        def commit_next() -> None:
            path, video = extractor.next_done()
            done(path, self._commit(reading.pop(path), video, report))

        try:
            with extractor:
                for path in files:
                    bar.set_postfix_str(os.path.basename(path)[-40:], refresh=False)
                    decided = self._decide(path, hasher, report, retry_failed)
                    while isinstance(decided, _Pending) and decided.content in {
                        p.content for p in reading.values()
                    }:  # the same content is being read: once it is in, this one is a copy
                        commit_next()
                        decided = self._decide(path, hasher, report, retry_failed)
                    if isinstance(decided, str):
                        done(path, decided)
                        continue
                    reading[path] = decided
                    extractor.submit(path)
                    while extractor.in_flight() >= extractor.capacity:
                        commit_next()
                while extractor.in_flight():
                    commit_next()
        finally:
            bar.close()
        return report

    def _decide(self, path: str, hasher, report: IndexReport, retry_failed: bool) -> str | _Pending:
        """What ``path`` needs: an outcome when nothing is to be read (unchanged, moved, copied, or
        failed to stat or hash), else the file to read."""
        try:
            st = os.stat(path)
        except OSError as err:
            report.failed.append((path, err.strerror or str(err)))
            return "failed"
        known = self.catalog.video_by_path(path)
        if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
            if known.status == "ok" or not retry_failed:
                report.unchanged.append(path)
                return "unchanged"
        try:
            content = hasher(path)
        except OSError as err:
            report.failed.append((path, err.strerror or str(err)))
            return "failed"
        same = [r for r in self.catalog.videos_by_hash(content) if r.status == "ok" and r.path != path]
        if known is not None and known.status == "ok" and known.content_hash == content:
            self.catalog.move_video(known.id, path, st.st_size, st.st_mtime_ns)  # touched, same content
            report.unchanged.append(path)
            return "unchanged"
        if same:
            source = same[0]
            if not os.path.exists(source.path):  # renamed or moved: the row follows the file
                if known is not None:
                    self.catalog.remove_video(known.id)
                self.catalog.move_video(source.id, path, st.st_size, st.st_mtime_ns)
                report.moved.append(path)
                return "moved"
            lines, embeddings = self.catalog.lines(source.id)
            row = VideoRow(path, content, st.st_size, st.st_mtime_ns, source.duration, source.n_clips)
            self.catalog.add_video(row, self.catalog.features(source.id), lines, embeddings)
            report.copied.append(path)
            return "copied"
        return _Pending(path, content, st.st_size, st.st_mtime_ns)

    def _commit(self, file: _Pending, video: ExtractedVideo, report: IndexReport) -> str:
        """Write one read file (or why it could not be read) to the catalog, in one transaction."""
        if video.error is not None:
            row = VideoRow(
                file.path, file.content, file.size, file.mtime_ns, status="failed", error=video.error
            )
            self.catalog.add_video(row, None)
            report.failed.append((file.path, video.error))
            log.info("%s: %s; skipped", file.path, video.error)
            return "failed"
        row = VideoRow(
            file.path,
            file.content,
            file.size,
            file.mtime_ns,
            duration=video.duration,
            n_clips=video.n_clips,
            unreadable=video.unreadable,
        )
        self.catalog.add_video(row, video.features, video.lines, video.line_embeddings)
        report.added.append(file.path)
        return "added"

    def remove(self, paths: Sequence[str]) -> list[str]:
        """Forget the videos at ``paths`` (files, or folders: everything below them); returns them."""
        removed = []
        for raw in paths:
            path = os.path.abspath(os.path.expanduser(raw))
            for row in self.catalog.videos():
                if row.path == path or row.path.startswith(path.rstrip(os.sep) + os.sep):
                    self.catalog.remove_video(row.id)
                    removed.append(row.path)
        if not removed:
            raise InputError(f"nothing in {self.catalog.location} matches {', '.join(paths)}")
        return removed

    def status(self) -> LibraryStatus:
        rows = self.catalog.videos()
        ok = [r for r in rows if r.status == "ok"]
        return LibraryStatus(
            self.catalog.location,
            self.catalog.info(),
            videos=len(ok),
            failed=len(rows) - len(ok),
            clips=sum(r.n_clips for r in ok),
            hours=sum(r.duration for r in ok) / 3600.0,
            found_moments=self.catalog.count_found_moments(),
        )

    def video(self, video_id: int) -> VideoRow:
        """The library's record of one file (indexed or failed); :class:`NotFoundError` when the
        library has no video ``video_id``."""
        row = self.catalog.video(video_id)
        if row is None:
            raise NotFoundError(f"no video {video_id} in the library")
        return row

    def video_at(self, path: str | os.PathLike) -> VideoRow | None:
        """The library's record of the file at ``path`` (absolute after ``~``), None when unknown."""
        return self.catalog.video_by_path(os.path.abspath(os.path.expanduser(os.fspath(path))))

    def videos(self, status: str | None = None, where: VideoFilter | None = None) -> list[VideoRow]:
        """The library's files (``status``: ``ok``, ``failed`` or both), in the catalog's order."""
        return self.catalog.videos(status, where)

    def verify(self) -> list[str]:
        """The catalog's own check, plus files that are gone or changed since they were indexed."""
        problems = self.catalog.verify()
        for row in self.catalog.videos("ok"):
            try:
                st = os.stat(row.path)
            except OSError:
                problems.append(f"{row.path}: the file is gone (index add its new place, or index rm it)")
                continue
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                problems.append(f"{row.path}: changed since it was indexed (index add it again)")
        return problems

    # -- search --------------------------------------------------------------------------------
    def search(
        self,
        query: str | StructuredQuery,
        top_k: int = 20,
        where: VideoFilter | None = None,
        candidates: int = 10,
        per_video: int = 3,
        coarse_clips: int = 256,
        coarse_videos: int = 100,
        parser=None,
    ) -> list[SearchHit]:
        """Moments of ``query`` across the library, best first (see module docstring).

        ``coarse_clips``: nearest clips fetched for the query and for each of its sub-queries; the
        ``coarse_videos`` videos they come from (and those whose subtitles hold the query's words)
        are ranked by the query's evidence in them; the best ``candidates`` are grounded in full,
        ``per_video`` moments each.

        The query is parsed first (``parser``: :class:`~momentfinder.pipeline.compose.ParserSettings`,
        default the rule parser). A plain caption is searched exactly as above. A compositional
        question is composed within each video: the candidate videos are those of its main
        description (e.g. "the dog jumps" for "the second time the dog jumps"), and in each the
        solver answers the whole question on the stored features; answers across videos are
        ranked like any hits. Relations between different videos are not searched."""
        from .compose import focus_text, read_query

        parsed = read_query(query, parser)
        info = self.catalog.info()
        if info is None:
            return []
        self._encoder_matches(info)
        if parsed.is_plain:
            return self.search_encoded(Query(parsed.text), top_k, where, candidates, per_video, coarse_clips)
        focus = focus_text(parsed)
        return self._search_composed(
            parsed, Query(focus), top_k, where, candidates, per_video, coarse_clips, coarse_videos
        )

    def search_encoded(
        self,
        q: Query,
        top_k: int = 20,
        where: VideoFilter | None = None,
        candidates: int = 10,
        per_video: int = 3,
        coarse_clips: int = 256,
        coarse_videos: int = 100,
    ) -> list[SearchHit]:
        """:meth:`search` for a query whose encodings are given (``q.encodings["visual"]``: its
        :class:`~momentfinder.types.QueryFeatures`), e.g. a research feature set's query features."""
        finder = self.finder()
        hits: list[SearchHit] = []
        chosen = self._candidates(q, where, top_k, candidates, coarse_clips, coarse_videos)
        ranked = {c.video_id: c.ranker_score for c in chosen if c.ranker_score is not None}
        for c in chosen:
            result = finder.ground_features(c.features, q, top_k=per_video)
            relevance = c.clip_relevance
            hits += [
                SearchHit(
                    c.features.info.path,
                    m.start,
                    m.end,
                    m.score,
                    m.confidence,
                    m.evidence,
                    c.video_id,
                    relevance=None
                    if relevance is None
                    else _moment_relevance(relevance, c.features.timeline, m),
                )
                for m in result.moments
            ]
        if ranked:  # the ranker's best video first, in it the moments it finds most relevant
            hits.sort(key=lambda h: (-ranked[h.video_id], -h.relevance, -(h.confidence or 0.0), -h.score))
            return hits[:top_k]
        return _ranked(hits, top_k)

    def _search_composed(self, parsed, q, top_k, where, candidates, per_video, coarse_clips, coarse_videos):
        from .compose import solve

        finder = self.finder()
        hits: list[SearchHit] = []
        for c in self._candidates(q, where, top_k, candidates, coarse_clips, coarse_videos):
            answer = solve(finder, c.features, parsed)
            hits += [
                SearchHit(c.features.info.path, m.start, m.end, m.score, m.confidence, m.evidence, c.video_id)
                for m in answer.moments[:per_video]
            ]
        return _ranked(hits, top_k)

    def _candidates(
        self, q: Query, where, top_k, candidates, coarse_clips, coarse_videos
    ) -> list[_Candidate]:
        """The candidate videos of ``q`` (coarse and middle stages), best first."""
        if top_k < 1 or candidates < 1:
            raise InputError("top-k and the number of candidate videos must be at least 1")
        info = self.catalog.info()
        if info is None:
            return []
        finder = self.finder()
        visual = finder.channel("visual")
        encoded = visual.encode_query(q)
        vectors = getattr(finder.grounder, "query_vectors", None)
        pooled, parts = vectors(encoded) if vectors is not None else (encoded.pooled, None)
        prepared = None
        extra = []
        if self.ranker is not None:
            self.ranker.check(info.dim, None, info.model)
            prepared = self.ranker.query(encoded)
            extra = [self.ranker.coarse_vector(prepared)]
        # coarse: the videos of the clips nearest to the query, to any of its sub-queries (and to
        # the ranker's query vector)
        best: dict[int, float] = {}
        for vector in [pooled, *([] if parts is None else list(parts)), *extra]:
            for hit in self.catalog.search_clips(vector, coarse_clips, where):
                best[hit.video_id] = max(best.get(hit.video_id, -1.0), hit.score)
        pool = sorted(best, key=lambda v: -best[v])[:coarse_videos]
        text = list(dict.fromkeys(h.video_id for h in self.catalog.search_lines(q.text, candidates, where)))
        pool += [v for v in text if v not in pool]  # words said in the video
        # middle: the query's evidence in each of them (the grounder's relevance, no decoys)
        loaded = {v: f for v in pool if (f := self._video_features(v, info)) is not None}
        if prepared is not None:  # the trained ranker's video scores
            ids = list(loaded)
            scores = self.ranker.video_scores(prepared, [loaded[v].visual.features for v in ids])
            evidence = dict(zip(ids, scores.tolist(), strict=True))
        else:
            evidence = {v: visual.evidence(f.visual, q) for v, f in loaded.items()}
        chosen = sorted(loaded, key=lambda v: -evidence[v])[:candidates]
        chosen += [v for v in text if v in loaded and v not in chosen]
        if prepared is None:
            return [_Candidate(v, loaded[v]) for v in chosen]
        return [
            _Candidate(
                v,
                loaded[v],
                float(evidence[v]),
                self.ranker.clip_relevance(prepared, loaded[v].visual.features),
            )
            for v in chosen
        ]

    # -- moments found by `watch` ----------------------------------------------------------------
    def add_found_moment(self, moment: FoundMoment) -> int:
        """Record a moment ``watch`` found (committed when this returns); returns its id."""
        return self.catalog.add_found_moment(moment)

    def found(self, query: str, top_k: int = 20) -> list[SearchHit]:
        """The moments ``watch`` found whose standing query shares words with ``query`` (full-text
        search of the catalog, stop words left out, no stemming), best match first; as hits with
        ``evidence="watch"``, the source as ``video`` and ``confidence`` None (the watch score is
        the online grounder's, not comparable with a search's confidence)."""
        from ..query.decompose import load_stop_words

        stop = load_stop_words()
        words = "".join(c if c.isalnum() else " " for c in str(query)).split()
        content = [w for w in words if w.lower() not in stop] or words
        return [
            SearchHit(
                m.source,
                m.start,
                m.end,
                m.score,
                None,
                "watch",
                None,
                watch_query=m.query,
                found_at=m.found_at,
            )
            for m in self.catalog.found_moments(" ".join(content), top_k)
        ]

    def ground_video(
        self, video_id: int, query: str | StructuredQuery, top_k: int = 10, parser=None
    ) -> GroundingResult:
        """Ground ``query`` in one indexed video from its stored features (nothing is decoded):
        its moments and saliency curve, as ``ground`` gives them for the file (a compositional
        question answered by the solver, as :meth:`MomentFinder.ground` does)."""
        from .compose import answer_result, read_query

        parsed = read_query(query, parser)
        return answer_result(self.finder(), self._indexed_features(video_id), parsed, top_k)

    def conversation(self, video_id: int, parser=None):
        """A :class:`~momentfinder.pipeline.conversation.Conversation` about one indexed video, on
        its stored features (nothing is decoded)."""
        from .conversation import Conversation

        feats = self._indexed_features(video_id)
        return Conversation(self.finder(), feats.info.path, parser=parser, features=feats)

    def _indexed_features(self, video_id: int) -> VideoFeatures:
        """The stored features of an indexed video (404 unknown, 400 failed or no features)."""
        row = self.video(video_id)
        info = self.catalog.info()
        if row.status != "ok" or info is None:
            raise InputError(f"{row.path} was not indexed ({row.error or 'no features'})")
        self._encoder_matches(info)
        feats = self._video_features(video_id, info)
        if feats is None:
            raise NotFoundError(f"no video {video_id} in the library")
        return feats

    def _video_features(self, video_id: int, info: LibraryInfo) -> VideoFeatures | None:
        row = self.catalog.video(video_id)
        if row is None or row.status != "ok":
            return None
        features = self.catalog.features(video_id)
        timeline = Timeline.of(len(features), info.clip_len, row.duration)
        clips = ClipFeatures(features, timeline, info.model, os.path.splitext(os.path.basename(row.path))[0])
        channel_features: dict = {"visual": clips}
        lines, embeddings = self.catalog.lines(video_id)
        if lines and embeddings is not None and self.finder().channel("subtitles") is not None:
            channel_features["subtitles"] = SubtitleTrack(lines, embeddings, "library")
        media = VideoInfo(row.path, row.duration, None, None, None, has_video=True, has_audio=False)
        return VideoFeatures(media, timeline, channel_features)

    def close(self) -> None:
        self.catalog.close()


def _ranked(hits: list[SearchHit], top_k: int) -> list[SearchHit]:
    """Hits of all candidates ranked by confidence, then score."""
    hits.sort(key=lambda h: (-(h.confidence if h.confidence is not None else -1.0), -h.score))
    return hits[:top_k]


def _moment_relevance(relevance, timeline: Timeline, moment) -> float:
    """The ranker's relevance of a moment: its best clip's (the clips the moment covers)."""
    span = moment_clips(moment, timeline)
    first = min(span.start, len(relevance) - 1)
    return float(relevance[first : max(first + 1, span.stop)].max())


@dataclass(frozen=True)
class _Candidate:
    """A video a search grounds: its features and, with a trained ranker, the ranker's score of
    the video and relevance of each clip."""

    video_id: int
    features: VideoFeatures
    ranker_score: float | None = None
    clip_relevance: np.ndarray | None = None


@dataclass(frozen=True)
class _Pending:
    """A file to read: what the catalog will record of it besides its features."""

    path: str
    content: str
    size: int
    mtime_ns: int


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


__all__ = [
    "IndexReport",
    "Library",
    "LibraryStatus",
    "VideoFilter",
    "VideoRow",
    "default_library",
    "expand_paths",
]
