"""``MomentFinder``: the three-line API over the pipeline stages.

    finder = MomentFinder(visual_model="openai/clip-vit-base-patch32")
    result = finder.ground("movie.mp4", "a man opens the door")
    for m in result.moments: print(m.start, m.end, m.score)

The finder owns no algorithm: it probes the video, gets per-clip features from the cache or
the ingest stage, builds one relevance curve per available channel, fuses them and hands the
curve to the grounder.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

import numpy as np

from .encoders.base import VisionTextEncoder
from .encoders.cache import FeatureCache, FeatureKey
from .encoders.hf import DEFAULT_VISUAL_MODEL, HFVisionTextEncoder
from .errors import InputError, ModelUnavailableError
from .fusion import ChannelCurve, fuse_curves, subtitle_evidence_weight, subtitle_relevance
from .grounding import DEFAULT_GROUNDER, make_grounder
from .ingest import SamplingConfig, extract_visual_features
from .query import KeyPhraseDecomposer
from .types import ClipFeatures, GroundingResult, QueryFeatures, SubtitleSegment, VideoInfo, n_clips_for
from .video.decode import probe
from .video.subtitles import load_subtitles

log = logging.getLogger(__name__)


@dataclass
class FinderConfig:
    """Everything that configures a :class:`MomentFinder` (all optional)."""

    visual_model: str | None = DEFAULT_VISUAL_MODEL  # HF hub id or local dir; None = visual channel off
    text_model: str | None = None  # sentence-transformers dir; None = bundled all-MiniLM-L6-v2
    grounder: str = DEFAULT_GROUNDER
    checkpoint: str | None = None  # a trained model (momentfinder train): replaces the zero-shot grounder
    calibration: str | None = (
        None  # zero-shot no-moment calibration JSON (momentfinder predict --calibrate-on)
    )
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 | int8
    device: str | None = None  # cpu | cuda[:N]; None = CUDA when available
    threads: int | None = None  # torch intra-op threads; None = torch's default
    batch_size: int = 32
    cache_dir: str | None = None  # None = ~/.cache/momentfinder
    use_cache: bool = True
    use_subtitles: bool = True
    subquery_parts: int = 4  # split queries into at most this many phrases (sub-queries); 0 = off
    # A line that paraphrases the query is explicit evidence, so subtitles count double a
    # visual similarity; the subtitle weight is further scaled by how well the best line matches.
    channel_weights: dict[str, float] = field(default_factory=lambda: {"visual": 1.0, "subtitles": 2.0})
    progress: bool = True


@dataclass
class VideoFeatures:
    """What the finder knows about one video: its probe, visual features and subtitle lines."""

    info: VideoInfo
    visual: ClipFeatures | None
    subtitles: list[SubtitleSegment]
    subtitle_embeddings: np.ndarray | None
    subtitle_source: str = ""
    notes: list[str] = field(default_factory=list)  # why a channel is missing, for people
    clip_len: float = 2.0  # seconds; equals visual.clip_len when there are visual features

    @property
    def channels(self) -> list[str]:
        names = ["visual"] if self.visual is not None else []
        return names + (["subtitles"] if self.subtitles else [])

    @property
    def n_clips(self) -> int:
        return n_clips_for(self.info.duration, self.clip_len)


class MomentFinder:
    """Ground sentences in video files (see module docstring). Models load lazily, once."""

    def __init__(
        self, visual_model: str | None = DEFAULT_VISUAL_MODEL, config: FinderConfig | None = None, **overrides
    ):
        cfg = config or FinderConfig()
        cfg.visual_model = visual_model if config is None else cfg.visual_model
        for key, value in overrides.items():
            if key == "clip_len":
                cfg.sampling.clip_len = float(value)
            elif key == "frames_per_clip":
                cfg.sampling.frames_per_clip = int(value)
            elif hasattr(cfg, key):
                setattr(cfg, key, value)
            else:
                raise TypeError(f"unknown MomentFinder option {key!r}")
        self.config = cfg
        self.decomposer = KeyPhraseDecomposer(max(cfg.subquery_parts, 1))
        self.grounder = self._zero_shot_grounder(cfg)
        self._fused_grounder = None  # built on first use, see _uncalibrated
        self.trained = None
        if cfg.checkpoint is not None:
            from .grounding.detr import load_grounder

            self.trained = load_grounder(cfg.checkpoint, device=cfg.device or "cpu")
        self.cache = FeatureCache(cfg.cache_dir) if cfg.use_cache else None
        self._visual: VisionTextEncoder | None = None
        self._visual_error: str | None = None
        self._text = None

    @staticmethod
    def _zero_shot_grounder(cfg: FinderConfig):
        """The configured zero-shot grounder. Only a calibration the user made for their encoder
        can reject queries: the one shipped with the package fits the synthetic benchmark only."""
        from .grounding.zeroshot import NoMomentCalibration, ZeroShotGrounder

        if cfg.grounder != "zero-shot":
            if cfg.calibration is not None:
                raise InputError(f"--calibration applies to the zero-shot grounder, not {cfg.grounder!r}")
            return make_grounder(cfg.grounder)
        calibration = NoMomentCalibration.load(cfg.calibration) if cfg.calibration else NoMomentCalibration()
        return ZeroShotGrounder(calibration=calibration)

    # --- models -------------------------------------------------------------------------
    def visual_encoder(self) -> VisionTextEncoder | None:
        """The visual encoder, or None (with the reason in :attr:`visual_error`) when it cannot load."""
        cfg = self.config
        if cfg.visual_model is None or self._visual is not None or self._visual_error is not None:
            return self._visual
        try:
            self._visual = HFVisionTextEncoder(
                cfg.visual_model,
                device=cfg.device,
                precision=cfg.precision,
                batch_size=cfg.batch_size,
                threads=cfg.threads,
            )
        except ModelUnavailableError as err:
            self._visual_error = str(err)
        return self._visual

    @property
    def visual_error(self) -> str | None:
        return self._visual_error

    def text_encoder(self):
        if self._text is None:
            from .encoders.text import SentenceEncoder

            self._text = SentenceEncoder(self.config.text_model, device=self.config.device)
        return self._text

    # --- features -----------------------------------------------------------------------
    def _feature_key(self, path: str, encoder: VisionTextEncoder) -> FeatureKey:
        s = self.config.sampling
        return FeatureKey(
            content_hash=self.cache.content_hash(path),
            model=encoder.name,
            clip_len=s.clip_len,
            frames_per_clip=s.frames_per_clip,
            precision=getattr(encoder, "precision", "fp32"),
        )

    def extract(self, video: str | os.PathLike, subtitles: str | os.PathLike | None = None) -> VideoFeatures:
        """Probe ``video`` and compute (or load from the cache) the features of every channel."""
        path = os.fspath(video)
        info = probe(path)
        notes: list[str] = []
        visual = None
        if not info.has_video:
            notes.append("visual channel off: the file has no video stream")
        elif self.config.visual_model is None:
            notes.append("visual channel off (no visual model)")
        else:
            encoder = self.visual_encoder()
            if encoder is None:
                notes.append(f"visual channel off: {self._visual_error}")
            else:
                visual = self._visual_features(path, info, encoder)
        segments, source, seg_emb = [], "", None
        if self.config.use_subtitles:
            segments, source = load_subtitles(path, subtitles)
            segments = [s for s in segments if s.start < info.duration]
            if segments:
                seg_emb = self.text_encoder().encode([s.text for s in segments])
        return VideoFeatures(info, visual, segments, seg_emb, source, notes, self.config.sampling.clip_len)

    def _visual_features(self, path: str, info: VideoInfo, encoder: VisionTextEncoder) -> ClipFeatures:
        key = self._feature_key(path, encoder) if self.cache is not None else None
        if key is not None and (cached := self.cache.load(key)) is not None:
            log.info("features from cache: %s", self.cache.path_for(key))
            cached.video_id = _video_id(path)
            return cached
        feats = extract_visual_features(
            path, encoder, info.duration, self.config.sampling, progress=self.config.progress
        )
        feats.video_id = _video_id(path)
        if key is not None:
            self.cache.save(key, feats)
        return feats

    def encode_query(self, query: str) -> QueryFeatures:
        """Joint-space embedding of ``query`` with the visual model's text tower."""
        query = validate_query(query)
        encoder = self.visual_encoder()
        if encoder is None:
            raise ModelUnavailableError(self._visual_error or "no visual model configured")
        pooled, tokens = encoder.encode_query(query)
        features = QueryFeatures(text=query, pooled=pooled, tokens=tokens, model=encoder.name)
        phrases = self.decomposer.decompose(query) if self.config.subquery_parts > 0 else []
        if len(phrases) >= 2:  # one phrase is the query itself: no sub-queries
            features.parts, features.part_texts = encoder.encode_texts(phrases), tuple(phrases)
            log.info("sub-queries of %r: %s", query, " | ".join(phrases))
        return features

    # --- grounding ----------------------------------------------------------------------
    def channel_curves(
        self, feats: VideoFeatures, query: str, query_features: QueryFeatures | None = None
    ) -> list[ChannelCurve]:
        """One relevance curve per channel that can run on ``feats`` (``query_features``: the
        visual model's embedding of ``query``, computed here when not given). The visual curve is
        the zero-shot grounder's relevance (pooled query AND sub-queries, in noise units)."""
        weights = self.config.channel_weights
        curves = []
        n = feats.n_clips
        if feats.visual is not None:
            q = query_features or self.encode_query(query)
            relevance = getattr(self.grounder, "relevance_curve", None)  # the zero-shot grounder's AND
            values = relevance(feats.visual, q) if relevance is not None else feats.visual.features @ q.pooled
            curves.append(ChannelCurve("visual", _fit(values, n), weights.get("visual", 1.0)))
        if feats.subtitles:
            q_text = self.text_encoder().encode([query])[0]
            values = subtitle_relevance(
                feats.subtitles, feats.subtitle_embeddings, q_text, n, feats.clip_len, feats.info.duration
            )
            weight = weights.get("subtitles", 1.0) * subtitle_evidence_weight(float(values.max()))
            curves.append(ChannelCurve("subtitles", values, weight))
        return curves

    def ground_features(self, feats: VideoFeatures, query: str, top_k: int = 10) -> GroundingResult:
        """Ground ``query`` in already extracted features (many queries, one extraction)."""
        query = validate_query(query)
        if top_k < 1:
            raise InputError(f"top-k must be at least 1, got {top_k}")
        if self.trained is not None:
            return self._ground_trained(feats, query, top_k)
        q = self.encode_query(query) if feats.visual is not None else None
        curves = self.channel_curves(feats, query, q)
        if not curves:
            reasons = "; ".join(feats.notes) or "no channel available"
            raise ModelUnavailableError(f"nothing to ground with: {reasons}; and the video has no subtitles")
        active = [c for c in curves if c.weight > 0] or curves
        if [c.name for c in active] == ["visual"]:
            # Visual alone: the grounder sees the features themselves (query tokens give it
            # sub-queries) and its calibration, made on features of this encoder, can reject.
            result = self.grounder.ground(feats.visual, q, top_k=top_k)
        else:
            # A fused curve has no calibrated scale: rank moments, never reject.
            result = self._uncalibrated().ground_curve(
                fuse_curves(curves), feats.clip_len, feats.info.duration, query=query, top_k=top_k
            )
        result.channels = [c.name for c in active]
        result.video = feats.info.path
        return result

    def _uncalibrated(self):
        """The grounder for fused curves: the configured one without a no-moment calibration."""
        if self.config.calibration is None:
            return self.grounder
        if self._fused_grounder is None:
            self._fused_grounder = self._zero_shot_grounder(replace(self.config, calibration=None))
        return self._fused_grounder

    def _ground_trained(self, feats: VideoFeatures, query: str, top_k: int) -> GroundingResult:
        """The trained model reads visual clip features and query tokens (its feature spec is checked)."""
        if feats.visual is None:
            reasons = "; ".join(feats.notes) or "no visual features"
            raise ModelUnavailableError(f"the trained model needs the visual channel: {reasons}")
        result = self.trained.ground(feats.visual, self.encode_query(query), top_k=top_k)
        result.channels = ["visual"]
        result.video = feats.info.path
        return result

    def ground(
        self,
        video: str | os.PathLike,
        query: str,
        top_k: int = 10,
        subtitles: str | os.PathLike | None = None,
    ) -> GroundingResult:
        """Ranked moments of ``query`` in ``video`` (seconds) and the per-clip saliency curve."""
        validate_query(query)
        return self.ground_features(self.extract(video, subtitles), query, top_k)


def validate_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError('the query is empty: say what happens, e.g. "a man opens the door"')
    return " ".join(query.split())


def _video_id(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _fit(values: np.ndarray, n: int) -> np.ndarray:
    """Pad (edge) or trim a curve to ``n`` clips (decoders may disagree by one on the last clip)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) >= n:
        return values[:n]
    return np.pad(values, (0, n - len(values)), mode="edge")
