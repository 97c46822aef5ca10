"""``MomentFinder``: one video, from file to ranked moments — the three-line API.

    finder = MomentFinder(visual_model="openai/clip-vit-base-patch32")
    result = finder.ground("movie.mp4", "a man opens the door")
    for m in result.moments: print(m.start, m.end, m.score)

The finder joins the stages and owns no algorithm: it probes the video, gets each channel's
features (from the feature cache, or the channel's extraction), asks every channel for a
relevance curve, fuses the curves and hands them to the grounder. It also owns the two
resolutions every face needs: which encoder and clip length a trained checkpoint implies
(:func:`resolve_checkpoint`), and which grounder the configuration describes (through the
grounding registry).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..channels import (
    Channel,
    ChannelUnavailable,
    Media,
    Query,
    SamplingConfig,
    SoundChannel,
    SpeechChannel,
    SubtitleChannel,
    Transcript,
    VisualChannel,
    apply_weight_factors,
    channel_shares,
    fuse_curves,
    span_confidence,
    span_statistic,
)
from ..encoders.base import (
    DEFAULT_VISUAL_MODEL,
    VisionTextEncoder,
)
from ..errors import InputError, MediaError, ModelUnavailableError
from ..grounding.registry import DEFAULT_GROUNDER, GrounderSpec, build_grounder
from ..query import KeyPhraseDecomposer, StructuredQuery, channel_weight_factors
from ..store import FeatureCache
from ..types import ClipFeatures, GroundingResult, Moment, QueryFeatures, Timeline, VideoInfo
from ..video.cut import format_time
from ..video.decode import probe
from .cached import CachedExtraction
from .models import ModelSet

log = logging.getLogger(__name__)

CHANNEL_NAMES = ("visual", "subtitles", "speech", "sound")


@dataclass
class FinderConfig:
    """Everything that configures a :class:`MomentFinder` (all optional)."""

    visual_model: str | None = DEFAULT_VISUAL_MODEL  # HF hub id or local dir; None = visual channel off
    text_model: str | None = None  # sentence-transformers dir; None = bundled all-MiniLM-L6-v2
    grounder: str = DEFAULT_GROUNDER
    checkpoint: str | None = None  # a trained model (momentfinder train): replaces the zero-shot grounder
    zeroshot_rerank: float | None = None  # with checkpoint: its zero-shot re-ranking weight; None: its own
    calibration: str | None = None  # zero-shot no-moment calibration JSON made for this encoder
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 | int8
    device: str | None = None  # cpu | cuda[:N]; None = CUDA when available
    threads: int | None = None  # torch intra-op threads; None = torch's default
    batch_size: int = 32
    runtime: str = "auto"  # image tower on CPU: auto | torch | openvino | onnxruntime (encoders.exported)
    cache_dir: str | None = None  # None = ~/.cache/momentfinder
    use_cache: bool = True
    use_subtitles: bool = True
    require_visual: bool = False  # a visual model that cannot be loaded is an error, not a note
    # Which subtitles (channels/subtitles.py): the files' encoding (None: detected), a language
    # (ISO 639, e.g. "fr"/"fra"), an embedded track (from 0); default: the queries' language.
    subtitle_encoding: str | None = None
    subtitle_lang: str | None = None
    subtitle_track: int | None = None
    subquery_parts: int = 4  # split queries into at most this many phrases (sub-queries); 0 = off
    # A line that paraphrases the query is explicit evidence, so subtitles count double a
    # visual similarity; the subtitle weight is further scaled by how well the best line matches.
    channel_weights: dict[str, float] = field(
        default_factory=lambda: {"visual": 1.0, "subtitles": 2.0, "speech": 2.0, "sound": 1.0}
    )
    progress: bool = True
    # Speech and sound (README "Speech and sound"). ``channels``: exactly these channels, with
    # fixed weights; None: visual and subtitles (as configured above), speech when ``asr_model``
    # and sound when ``sound_model`` is set, weighted per query by what it asks for (words said,
    # a sound). ``asr_model``: a Whisper hub id or directory, or "pocketsphinx" (offline English);
    # the default Whisper falls back to pocketsphinx with a note when it cannot be loaded.
    channels: tuple[str, ...] | None = None
    asr_model: str | None = None
    sound_model: str | None = None  # a CLAP hub id or directory
    audio_stream: int | None = None  # the N-th audio stream (from 0); None: the default one
    asr_max_new_tokens: int = 200  # Whisper tokens per 30 s window at most
    asr_language: str | None = None  # force Whisper's language (ISO code); None: detected

    def enabled_channels(self) -> tuple[str, ...]:
        """The channels this configuration runs, in :data:`CHANNEL_NAMES` order."""
        if self.channels is not None:
            unknown = sorted(set(self.channels) - set(CHANNEL_NAMES))
            if unknown:
                raise InputError(
                    f"unknown channel(s) {', '.join(unknown)}; choose from {', '.join(CHANNEL_NAMES)}"
                )
            if not self.channels:
                raise InputError("no channel chosen")
            return tuple(c for c in CHANNEL_NAMES if c in self.channels)
        on = {
            "visual": self.visual_model is not None,
            "subtitles": self.use_subtitles,
            "speech": self.asr_model is not None,
            "sound": self.sound_model is not None,
        }
        return tuple(c for c in CHANNEL_NAMES if on[c])

    def grounder_spec(self) -> GrounderSpec:
        return GrounderSpec(
            name=self.grounder,
            calibration=self.calibration,
            checkpoint=self.checkpoint,
            device=self.device,
            zeroshot_rerank=self.zeroshot_rerank,
        )


@dataclass
class VideoFeatures:
    """What the finder knows about one video: its probe, timeline and each channel's features."""

    info: VideoInfo
    timeline: Timeline
    channel_features: dict[str, Any] = field(default_factory=dict)  # channel name -> its features
    notes: list[str] = field(default_factory=list)  # why a channel is missing, for people

    @property
    def channels(self) -> list[str]:
        return list(self.channel_features)

    @property
    def visual(self) -> ClipFeatures | None:
        return self.channel_features.get("visual")

    @property
    def subtitles(self):
        """The subtitle lines (``SubtitleSegment`` list), empty without subtitles."""
        track = self.channel_features.get("subtitles")
        return track.segments if track is not None else []


class MomentFinder:
    """Ground sentences in video files (see module docstring). Models load lazily, once."""

    def __init__(
        self, visual_model: str | None = DEFAULT_VISUAL_MODEL, config: FinderConfig | None = None, **overrides
    ):
        cfg = replace(config) if config is not None else FinderConfig(visual_model=visual_model)
        sampling = {}
        for key, value in overrides.items():
            if key in ("clip_len", "frames_per_clip", "decode"):
                sampling[key] = value
            elif hasattr(cfg, key):
                setattr(cfg, key, value)
            else:
                raise TypeError(f"unknown MomentFinder option {key!r}")
        if sampling:
            try:
                cfg.sampling = replace(cfg.sampling, **sampling)
            except ValueError as err:
                raise InputError(str(err)) from None
        self.config = cfg
        self.grounder = build_grounder(cfg.grounder_spec())
        self._fused_grounder = None  # the grounder without a calibration, for fused curves
        self._detr_chance = None  # (clips, the decoys' best scores) of the last video, trained model
        self.cache = FeatureCache(cfg.cache_dir) if cfg.use_cache else None
        self.models = ModelSet(cfg, self._check_encoder)
        self.features = CachedExtraction(self.cache, cfg.sampling, self.models.speech_identity)
        self.channels: list[Channel] = self._channels()

    def _channels(self) -> list[Channel]:
        cfg = self.config
        enabled = cfg.enabled_channels()
        if "visual" in enabled and cfg.visual_model is None:
            cfg.visual_model = DEFAULT_VISUAL_MODEL
        channels: list[Channel] = []
        if "visual" in enabled:
            channels.append(
                VisualChannel(
                    self.models.require_visual,
                    cfg.sampling,
                    KeyPhraseDecomposer(cfg.subquery_parts) if cfg.subquery_parts > 0 else None,
                    getattr(self.grounder, "relevance_curves", None),  # the zero-shot grounder's AND
                    weight=cfg.channel_weights.get("visual", 1.0),
                    progress=cfg.progress,
                )
            )
        if cfg.checkpoint is not None:  # a trained model reads visual features only
            return channels
        weights = cfg.channel_weights
        if "subtitles" in enabled:
            channels.append(SubtitleChannel(self.models.text_encoder, weights.get("subtitles", 2.0)))
        if "speech" in enabled:
            channels.append(
                SpeechChannel(
                    self.models.speech_recognizer,
                    self.models.text_encoder,
                    weights.get("speech", 2.0),
                    progress=cfg.progress,
                )
            )
        if "sound" in enabled:
            channels.append(
                SoundChannel(self.models.require_sound, weights.get("sound", 1.0), progress=cfg.progress)
            )
        return channels

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    # --- models (pipeline/models.py) ----------------------------------------------------
    def visual_encoder(self) -> VisionTextEncoder | None:
        """The visual encoder, or None (with the reason in :attr:`visual_error`) when it cannot load."""
        return self.models.visual_encoder()

    @property
    def visual_error(self) -> str | None:
        return self.models.visual_error

    def _check_encoder(self, encoder: VisionTextEncoder) -> None:
        """A calibration made for another encoder is refused before any decoding."""
        check = getattr(getattr(self.grounder, "calibration", None), "check_encoder", None)
        if check is not None:
            check(encoder.name, encoder.dim)

    # --- features -----------------------------------------------------------------------
    def extract(
        self,
        video: str | os.PathLike,
        subtitles: str | os.PathLike | None = None,
        queries: tuple[str, ...] | list[str] = (),
    ) -> VideoFeatures:
        """Probe ``video`` and compute (or load from the cache) the features of every channel.

        ``queries``: the queries to come, when known (the subtitles in their language are chosen)."""
        path = os.fspath(video)
        info = probe(path)
        timeline = Timeline.covering(info.duration, self.config.sampling.clip_len)
        cfg = self.config
        media = Media(
            info,
            timeline,
            os.fspath(subtitles) if subtitles is not None else None,
            subtitle_encoding=cfg.subtitle_encoding,
            subtitle_lang=cfg.subtitle_lang,
            subtitle_track=cfg.subtitle_track,
            queries=tuple(queries),
            audio_stream=cfg.audio_stream,
        )
        feats = VideoFeatures(info, timeline)  # a channel the user turned off gets no note
        for channel in self.channels:  # options no channel can meet fail before any slow extraction
            if (check := getattr(channel, "check", None)) is not None:
                check(media)
        for channel in self.channels:
            try:
                extracted = self.features.extract(channel, media)
            except ChannelUnavailable as err:
                feats.notes.append(f"{channel.name} channel off: {err}")
                continue
            if channel.name == "speech" and self.models.recognizer_note is not None:
                feats.notes.append(f"speech: {self.models.recognizer_note}")
            if extracted is not None:
                feats.channel_features[channel.name] = extracted
                feats.notes.extend(getattr(extracted, "notes", None) or [])
        _note_damage(feats)
        return feats

    def transcribe(self, video: str | os.PathLike) -> Transcript:
        """What is said in ``video``: timed lines (through the cache), with the speech channel's
        recogniser; :class:`MediaError` when the file has no readable audio."""
        channel = self.channel("speech")
        if not isinstance(channel, SpeechChannel):
            raise InputError("the speech channel is off")
        path = os.fspath(video)
        info = probe(path)
        media = Media(info, Timeline.covering(info.duration, self.config.sampling.clip_len))
        media.audio_stream = self.config.audio_stream
        channel.check(media)
        try:
            transcript = self.features.transcript(channel, media)
        except ChannelUnavailable as err:
            raise MediaError(f"{path}: {err}") from None
        if self.models.recognizer_note is not None:
            transcript.notes.insert(0, self.models.recognizer_note)
        return transcript

    def encode_query(self, query: str) -> QueryFeatures:
        """Joint-space embedding of ``query`` with the visual model's text tower (with its phrases)."""
        channel = self.channel("visual")
        if channel is None:
            raise ModelUnavailableError("no visual model configured")
        try:
            return channel.encode_query(Query(validate_query(query)))
        except ChannelUnavailable as err:
            raise ModelUnavailableError(str(err)) from None

    # --- grounding ----------------------------------------------------------------------
    def ground_features(self, feats: VideoFeatures, query: str | Query, top_k: int = 10) -> GroundingResult:
        """Ground ``query`` in already extracted features (many queries, one extraction). A
        :class:`~momentfinder.channels.Query` keeps its encodings across videos (library search)."""
        q = query if isinstance(query, Query) else Query(validate_query(query))
        if top_k < 1:
            raise InputError(f"top-k must be at least 1, got {top_k}")
        if self.config.checkpoint is not None:
            result = self._ground_trained(feats, q, top_k)
        else:
            result = self._ground_zero_shot(feats, q, top_k)
        result.video = feats.info.path
        if (subtitles := feats.channel_features.get("subtitles")) is not None:
            result.subtitle_source = subtitles.source  # which file or track, matched or not
        return result

    def _ground_zero_shot(self, feats: VideoFeatures, q: Query, top_k: int) -> GroundingResult:
        curves = [
            channel.relevance(feats.channel_features[channel.name], q, feats.timeline)
            for channel in self.channels
            if channel.name in feats.channel_features
        ]
        if not curves:
            reasons = list(feats.notes)
            if self.channel("subtitles") is not None and not any(n.startswith("subtitles") for n in reasons):
                reasons.append("the video has no subtitles")
            if self.config.visual_model is None:
                reasons.append("the visual channel is off")
            message = f"nothing to ground with: {'; '.join(reasons) or 'no channel available'}"
            if self.models.visual_error is not None and feats.info.has_video:
                raise ModelUnavailableError(message)  # the file is fine, the model is missing: exit 3
            raise MediaError(f"{feats.info.path}: no usable stream ({message})")  # exit 2
        if self.config.channels is None:  # the query says which channels matter (words said, a sound)
            curves = apply_weight_factors(curves, channel_weight_factors(q.text))
        active = [c for c in curves if c.weight > 0]
        if not active:
            # no channel has evidence (no subtitle line resembles the query, and no other channel
            # ran): "no matching moment", not windows invented at score 0
            n = feats.timeline.n_clips
            return GroundingResult(
                q.text, feats.timeline, [], np.zeros(n), 1.0, channels=[c.name for c in curves]
            )
        if [c.name for c in active] == ["visual"]:
            # Visual alone: the grounder sees the features themselves (the query's phrases give it
            # sub-queries) and its calibration, made on features of this encoder, can reject.
            result = self.grounder.ground(feats.visual, self.channel("visual").encode_query(q), top_k=top_k)
        elif len(active) == 1:
            # One non-visual channel (subtitle lines): the grounder proposes, the channel's own
            # evidence ranks; the zero-shot scores are tuned for visual curves, not for the
            # piecewise-constant curves of lines, and rank a weak line above a paraphrase.
            curve, t = active[0], feats.timeline
            result = self._uncalibrated().ground_curve(curve.values, t, query=q.text, top_k=max(50, top_k))
            result.moments = sorted(
                result.moments,
                key=lambda m: -span_statistic(curve.values[moment_clips(m, t)], curve.statistic),
            )[:top_k]
        else:
            # A fused curve has no calibrated scale: rank moments, never reject.
            result = self._uncalibrated().ground_curve(
                fuse_curves(active), feats.timeline, query=q.text, top_k=top_k
            )
        result.channels = [c.name for c in active]
        result.moments = [self._with_confidence(m, active, feats, q) for m in result.moments]
        return result

    def _with_confidence(self, moment: Moment, curves: list, feats: VideoFeatures, q: Query) -> Moment:
        """The moment with its confidence (the best channel's, :func:`span_confidence`) and, when a
        channel can place it more exactly than the clip grid (subtitle lines), those times."""
        t = feats.timeline
        span = moment_clips(moment, t)
        shares = channel_shares(curves, span.start, span.stop) if len(curves) > 1 else {}
        moment = replace(moment, contributions=tuple(sorted(shares.items(), key=lambda kv: -kv[1])))
        scored = [(span_confidence(c, span.start, span.stop), c.name) for c in curves]
        scored = [(conf, name) for conf, name in scored if conf is not None]
        if not scored:
            return moment
        confidence, name = max(scored)
        refine = getattr(self.channel(name), "refine", None)  # optional Channel method
        begin, finish = moment.start, moment.end
        if refine is not None:
            begin, finish = refine(feats.channel_features[name], q, moment.start, moment.end)
        return replace(moment, start=begin, end=min(finish, t.duration), confidence=confidence, evidence=name)

    def _uncalibrated(self):
        """The grounder for fused curves: the configured one without a no-moment calibration."""
        if self.config.calibration is None:
            return self.grounder
        if self._fused_grounder is None:
            self._fused_grounder = build_grounder(replace(self.config.grounder_spec(), calibration=None))
        return self._fused_grounder

    def _ground_trained(self, feats: VideoFeatures, q: Query, top_k: int) -> GroundingResult:
        """The trained model reads visual clip features and query tokens (its feature spec is checked)."""
        if feats.visual is None:
            reasons = "; ".join(feats.notes) or "no visual features"
            raise ModelUnavailableError(f"the trained model needs the visual channel: {reasons}")
        result = self.grounder.ground(feats.visual, self.channel("visual").encode_query(q), top_k=top_k)
        result.channels = ["visual"]
        # the same yardstick as the zero-shot channels: the decoys' best moment scores in this video
        chance = self._trained_chance(feats.visual)[self.channel("visual").unrelated_decoys(q.text)]
        result.moments = [
            replace(m, confidence=float(np.sum(chance < m.score) / (len(chance) + 1)), evidence="visual")
            for m in result.moments
        ]
        return result

    def _trained_chance(self, clips: ClipFeatures) -> np.ndarray:
        """The trained model's best moment score for every decoy query in this video, once per video."""
        if self._detr_chance is None or self._detr_chance[0] is not clips:
            decoys = self.channel("visual").decoy_queries()
            results = self.grounder.ground_batch([(clips, d) for d in decoys], top_k=1, reject=False)
            best = [r.moments[0].score if r.moments else -np.inf for r in results]
            self._detr_chance = (clips, np.asarray(best))
        return self._detr_chance[1]

    def ground(
        self,
        video: str | os.PathLike,
        query: str | StructuredQuery,
        top_k: int = 10,
        subtitles: str | os.PathLike | None = None,
        parser=None,
    ) -> GroundingResult:
        """Ranked moments of ``query`` in ``video`` (seconds) and the per-clip saliency curve.

        ``query`` is parsed (``parser``: a :class:`~momentfinder.pipeline.compose.ParserSettings`,
        default the offline rule parser): a plain caption is grounded exactly as
        :meth:`ground_features` does, a compositional question ("the second time the dog jumps")
        is answered by the solver of :mod:`momentfinder.pipeline.compose` (``result.structure``
        holds the parse, ``result.count`` a count). A :class:`StructuredQuery` is used as given."""
        from .compose import answer_result, read_query

        parsed = read_query(query, parser)
        feats = self.extract(video, subtitles, queries=tuple(parsed.atoms()) or (parsed.text,))
        return answer_result(self, feats, parsed, top_k)


def resolve_checkpoint(
    checkpoint: str, visual_model: str | None, clip_len: float | None
) -> tuple[str, float]:
    """The encoder and clip length to extract features with for a trained ``checkpoint``.

    Trained on ``momentfinder extract`` features, the checkpoint names its encoder and clip
    length; a different ``visual_model`` or ``clip_len`` asked for is an error. Trained on a
    research feature directory ("clip_features"), the encoder is unrecorded and must be named.
    """
    from ..grounding.detr import feature_spec

    spec = feature_spec(checkpoint)
    if spec.encoder_known and visual_model is not None and visual_model != spec.visual_model:
        raise InputError(
            f"{checkpoint} was trained on features of {spec.visual_model!r}, not {visual_model!r}; "
            "leave --visual-model out to use the checkpoint's encoder"
        )
    if not spec.encoder_known and visual_model is None:
        raise InputError(
            f"{checkpoint} was trained on pre-extracted features ({spec.visual_model}) of an unrecorded "
            "encoder: name the encoder that made them with --visual-model (e.g. "
            "openai/clip-vit-base-patch32 for Moment-DETR's CLIP features)"
        )
    if clip_len is not None and abs(clip_len - spec.clip_len) > 1e-6:
        raise InputError(
            f"{checkpoint} was trained on {spec.clip_len:g} s clips; --clip-len {clip_len:g} contradicts it "
            "(leave it out)"
        )
    return (spec.visual_model if spec.encoder_known else visual_model), spec.clip_len


def finder_config(
    *,
    visual_model: str | None = None,
    checkpoint: str | None = None,
    clip_len: float | None = None,
    no_visual: bool = False,
    **settings,
) -> FinderConfig:
    """A :class:`FinderConfig` with the checkpoint's encoder and clip length resolved
    (:func:`resolve_checkpoint`); ``settings`` are further ``FinderConfig`` fields, and
    ``frames_per_clip`` / ``decode`` go to the sampling config."""
    if checkpoint is not None:
        visual_model, clip_len = resolve_checkpoint(checkpoint, visual_model, clip_len)
    sampling = {k: settings.pop(k) for k in ("frames_per_clip", "decode") if k in settings}
    try:
        sampling_config = SamplingConfig(clip_len=clip_len or SamplingConfig.clip_len, **sampling)
    except ValueError as err:
        raise InputError(str(err)) from None
    return FinderConfig(
        visual_model=None if no_visual else (visual_model or DEFAULT_VISUAL_MODEL),
        checkpoint=checkpoint,
        sampling=sampling_config,
        **settings,
    )


def quiet_libraries() -> None:
    """transformers and sentence-transformers print load bars and notices on every model load."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def moment_clips(moment: Moment, timeline: Timeline) -> slice:
    """The clips a moment covers (at least one)."""
    start = int(np.floor(moment.start / timeline.clip_len + 1e-6))
    return slice(start, max(start + 1, int(np.ceil(moment.end / timeline.clip_len - 1e-6))))


def validate_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError('the query is empty: say what happens, e.g. "a man opens the door"')
    return " ".join(query.split())


def _note_damage(feats: VideoFeatures) -> None:
    """Notes for the video data that could not be read; a video that decodes to less than its stated
    length (truncated, or damaged from a point on) ends there: its timeline is clamped, so no
    moment lies in the missing part."""
    visual = feats.visual
    if visual is None:
        return
    if visual.duration < feats.timeline.duration - 1e-6:
        feats.notes.append(
            f"video ends at {format_time(visual.duration)}, before its stated length "
            f"{format_time(feats.timeline.duration)} (truncated file, or damaged to the end); "
            "moments are searched up to there"
        )
        feats.timeline = Timeline.covering(visual.duration, feats.timeline.clip_len)
    for start, end in visual.unreadable:
        feats.notes.append(f"video unreadable {format_time(start)}–{format_time(end)} (damaged data skipped)")
