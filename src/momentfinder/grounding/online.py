"""The causal (online) grounder: standing queries over a stream of clips, moments announced as
they happen, from past clips only.

Per clip and query the zero-shot grounder's cosine curves (pooled query and sub-queries, query
bank, calibrated null levels: :func:`.zeroshot.curves.similarity_curves`) are turned into levels
above the null in units of the clip-to-clip noise, as offline (:func:`.zeroshot.curves.and_level`),
but with running statistics only: the noise unit is the median absolute step over the last
``history_clips`` clips (blended with a prior while few clips have been seen), and without a
calibrated null level the null is a running quantile of the same history.

Decisions wait ``lag_clips`` clips (the latency/accuracy setting): clip ``i`` is smoothed with a
Gaussian truncated to clips ``<= i + lag_clips`` and judged once clip ``i + lag_clips`` has been
seen. A moment opens (a ``start`` event) when the smoothed level of a run reaches
``start_level`` with ``start_evidence`` of summed excess over ``end_level`` (hysteresis); it is
revised (``update``) while it grows and its score changes; it closes (``end``) after
``end_clips`` clips below ``end_level``. Every event is final once emitted: the events up to a
time never depend on the clips after it.

Units: clip indices inside, seconds (stream time from the first clip) in :class:`MomentEvent`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import InputError
from ..types import ClipFeatures, MomentEvent, QueryFeatures, Timeline
from .curve_ops import kth_largest, noise_scale
from .zeroshot import ZeroShotConfig, ZeroShotGrounder
from .zeroshot.curves import CalibrationArrays, similarity_curves

_DIFF_MAD_TO_SIGMA = 1.0 / (0.67449 * np.sqrt(2.0))  # as curve_ops.noise_scale
_SPREAD_FLOOR = 0.1


@dataclass
class OnlineConfig:
    """Settings of the causal grounder (``momentfinder watch --set KEY=VALUE``); the defaults were
    chosen on the synthetic val split (``bench/online_synth.py --split val``)."""

    # clips a decision may wait (smoothing looks this far ahead): 0 = soonest; 1-2 = later
    # events with fewer false alarms (bench/online_synth.py: 20 -> 7 per hour at lag 1)
    lag_clips: int = 0
    smooth_sigma: float = 0.7  # clips; Gaussian smoothing, cut at the lag on the future side
    start_level: float = 1.2  # noise units the smoothed level must reach to open a moment
    end_level: float = 0.25  # ... and stay above (smoothed and its own level) to keep it open
    start_evidence: float = 0.0  # summed excess over end_level of the run, before it is announced
    end_clips: int = 2  # clips in a row below end_level that close a moment
    history_clips: int = 150  # clips the running noise unit and null quantile are measured over
    prior_noise: float | None = None  # cosine units; the noise unit before the history says more
    prior_clips: int = 16  # weight of prior_noise, in clips of history (fit_prior_noise makes one)
    warmup_clips: int = 4  # without prior_noise: no decision before this many clips
    null_quantile: float = 0.5  # without a calibrated null level: this running quantile stands in
    update_change: float = 0.25  # an open moment is revised when its score moved by this share
    max_moment_clips: int = 0  # a moment longer than this is closed and a new one may open; 0 = no cap

    def __post_init__(self) -> None:
        ints = {"lag_clips": 0, "end_clips": 1, "history_clips": 4, "prior_clips": 0, "warmup_clips": 2}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"online option {name} must be an integer >= {low}, got {value!r}")
        if self.max_moment_clips < 0:
            raise InputError(f"online option max_moment_clips must be >= 0, got {self.max_moment_clips!r}")
        if not self.smooth_sigma >= 0:
            raise InputError(f"online option smooth_sigma must be >= 0, got {self.smooth_sigma!r}")
        if not self.start_level >= self.end_level:
            raise InputError(
                f"online option start_level ({self.start_level}) must be >= end_level ({self.end_level})"
            )
        if not 0.0 <= self.null_quantile <= 1.0:
            raise InputError(f"online option null_quantile must be in [0, 1], got {self.null_quantile!r}")
        if self.prior_noise is not None and not self.prior_noise > 0:
            raise InputError(f"online option prior_noise must be > 0, got {self.prior_noise!r}")
        if not self.update_change > 0:
            raise InputError(f"online option update_change must be > 0, got {self.update_change!r}")

    @classmethod
    def from_dict(cls, data: dict) -> OnlineConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError(f"unknown online option(s): {', '.join(unknown)} (known: {', '.join(known)})")
        defaults = cls()
        values = {}
        for name, value in data.items():
            default = getattr(defaults, name)
            if isinstance(default, int) and not isinstance(default, bool):
                if not (isinstance(value, int | float) and float(value).is_integer()):
                    raise InputError(f"online option {name}: bad value {value!r} (an integer)")
                value = int(value)
            elif not (isinstance(value, int | float) and not isinstance(value, bool)) and value is not None:
                raise InputError(f"online option {name}: bad value {value!r} (a number)")
            values[name] = value
        return cls(**values)


def fit_prior_noise(grounder: ZeroShotGrounder, pairs: list[tuple[ClipFeatures, QueryFeatures]]) -> float:
    """A ``prior_noise`` for :class:`OnlineConfig`: the median clip-to-clip noise unit (cosine) of
    the pooled query curves of past videos with this encoder and grounder (no labels needed)."""
    if not pairs:
        raise InputError("no videos to measure the noise on")
    units = [float(noise_scale(grounder.curves(clips, query).pooled)) for clips, query in pairs]
    return float(np.median(units))


class LevelTracker:
    """One standing query's decisions from its raw per-clip curves (see module docstring).

    :meth:`push` takes the raw values of the next clips, ``(n, k)``: column 0 the pooled query,
    the others its sub-queries (cosines after the query bank), with their calibrated null levels
    ``null`` ``(k,)`` or None; it returns the events those clips decide.
    """

    def __init__(
        self,
        query: str,
        clip_len: float,
        config: OnlineConfig | None = None,
        zeroshot: ZeroShotConfig | None = None,
        null: np.ndarray | None = None,
        first_clip: int = 0,
    ):
        self.query = query
        self.clip_len = float(clip_len)
        self.config = config or OnlineConfig()
        self.zeroshot = zeroshot or ZeroShotConfig()
        self.null = None if null is None else np.asarray(null, dtype=np.float64)
        cfg = self.config
        self._raw: deque[np.ndarray] = deque(maxlen=cfg.history_clips)  # the last clips' raw rows
        self._levels: list[float] = []  # AND level of the clips not yet judged + smoothing context
        self._level_base = first_clip  # clip index of self._levels[0]
        self.seen = first_clip  # clips pushed so far (index of the next one)
        self.judged = first_clip  # clips decided so far
        self._moments = 0
        self._open: dict | None = None  # the open moment: start, last clip above, level sum, score...
        self._run: dict | None = None  # a run above end_level not (yet) announced
        self._below = 0  # clips below end_level since the open moment's last clip above
        radius = int(np.ceil(3 * cfg.smooth_sigma)) if cfg.smooth_sigma > 0 else 0
        self._past = radius
        self._future = min(radius, cfg.lag_clips)
        offsets = np.arange(-self._past, self._future + 1, dtype=np.float64)
        w = np.exp(-0.5 * (offsets / cfg.smooth_sigma) ** 2) if cfg.smooth_sigma > 0 else np.ones(1)
        self._weights = w

    # --- running statistics ---------------------------------------------------------------
    def _noise(self) -> np.ndarray | None:
        """The noise unit of each column ``(k,)`` from the history (None: not enough seen yet)."""
        cfg = self.config
        raw = np.asarray(self._raw)
        steps = len(raw) - 1
        measured = (
            np.median(np.abs(np.diff(raw, axis=0)), axis=0) * _DIFF_MAD_TO_SIGMA if steps >= 1 else None
        )
        if measured is not None:
            # as offline (curve_ops.noise_scale): a piecewise-constant curve has no clip-to-clip
            # noise, so the unit is at least a share of the curve's spread
            measured = np.maximum(measured, _SPREAD_FLOOR * np.std(raw, axis=0))
        if cfg.prior_noise is not None:
            if measured is None:
                return np.full(raw.shape[1], cfg.prior_noise)
            return (cfg.prior_clips * cfg.prior_noise + steps * measured) / (cfg.prior_clips + steps)
        if len(raw) < cfg.warmup_clips:
            return None
        return np.maximum(measured, 1e-6)

    def _null(self) -> np.ndarray:
        if self.null is not None:
            return self.null
        return np.quantile(np.asarray(self._raw), self.config.null_quantile, axis=0)

    def _level(self, row: np.ndarray, null: np.ndarray, noise: np.ndarray) -> float:
        levels = (row - null) / noise
        if len(levels) == 1:
            return float(levels[0])
        zs = self.zeroshot
        parts = kth_largest(levels[None, 1:], zs.subquery_parts)[0]
        return float((levels[0] + zs.subquery_weight * parts) / (1.0 + zs.subquery_weight))

    # --- clips in, events out ---------------------------------------------------------------
    def push(self, raw: np.ndarray) -> list[MomentEvent]:
        """Feed the raw rows ``(n, k)`` of the next ``n`` clips; returns the events they decide."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 1:
            raw = raw[:, None]
        events: list[MomentEvent] = []
        for row in raw:
            self._raw.append(row)
            self.seen += 1
            noise = self._noise()
            if noise is None:
                self._levels.append(float("nan"))  # warm-up: levels filled in once noise is known
                continue
            null = self._null()
            if any(np.isnan(v) for v in self._levels):  # the warm-up clips, measured now
                history = list(self._raw)[-len(self._levels) - 1 : -1]
                self._levels = [self._level(r, null, noise) for r in history]
            self._levels.append(self._level(row, null, noise))
            while self.judged + self.config.lag_clips < self.seen:
                events.extend(self._judge(self.judged, self._smoothed(self.judged)))
                self.judged += 1
                self._trim()
        return events

    def finish(self) -> list[MomentEvent]:
        """The stream ended: the clips still waiting are judged with what there is, an open
        moment is closed at the last clip."""
        events: list[MomentEvent] = []
        if any(np.isnan(v) for v in self._levels) and len(self._raw) >= 2:
            raw = np.asarray(self._raw)
            mad = np.median(np.abs(np.diff(raw, axis=0)), axis=0) * _DIFF_MAD_TO_SIGMA
            noise = np.maximum(np.maximum(mad, _SPREAD_FLOOR * np.std(raw, axis=0)), 1e-6)
            history = list(self._raw)[-len(self._levels) :]
            self._levels = [self._level(r, self._null(), noise) for r in history]
        while self.judged < self.seen and not any(np.isnan(v) for v in self._levels):
            events.extend(self._judge(self.judged, self._smoothed(self.judged)))
            self.judged += 1
        events.extend(self.close(self.seen))
        return events

    def skip(self, n: int) -> list[MomentEvent]:
        """``n`` clips are missing (the source had no frame, or they were dropped): what was seen
        is judged, the open moment closes, and decisions start afresh after the gap (the running
        statistics are kept)."""
        events = self.finish()
        self.seen += n
        self.judged, self._level_base, self._levels, self._run = self.seen, self.seen, [], None
        return events

    def close(self, at_clip: int) -> list[MomentEvent]:
        """End the open moment now (the query is removed, or the stream ended)."""
        if self._open is None:
            return []
        return [self._end(at_clip)]

    def _smoothed(self, i: int) -> float:
        lo = max(self._level_base, i - self._past)
        hi = min(self._level_base + len(self._levels), i + self._future + 1)
        values = np.asarray(self._levels[lo - self._level_base : hi - self._level_base])
        w = self._weights[lo - (i - self._past) : hi - (i - self._past)]
        return float(values @ w / w.sum())

    def _trim(self) -> None:
        """Forget the levels no smoothing window will reach again (memory stays constant)."""
        drop = self.judged - self._past - self._level_base
        if drop > 0:
            del self._levels[:drop]
            self._level_base += drop

    def _level_of(self, i: int) -> float:
        return self._levels[i - self._level_base] if i >= self._level_base else float("nan")

    def _judge(self, i: int, s: float) -> list[MomentEvent]:
        cfg = self.config
        raw_level = self._level_of(i)
        if self._open is not None:
            m = self._open
            # the clip's own level must hold too: smoothing alone would carry a strong moment on
            if min(s, raw_level) > cfg.end_level and not (
                cfg.max_moment_clips and i - m["start"] >= cfg.max_moment_clips
            ):
                self._below = 0
                m["last"], m["sum"] = i, m["sum"] + raw_level + m.pop("pending", 0.0)
                score = self._score(m)
                if abs(score - m["reported"]) > cfg.update_change * max(abs(m["reported"]), 1e-6):
                    m["reported"] = score
                    return [self._event("update", (i + 1) * self.clip_len, score, m, i)]
                return []
            self._below += 1
            m["pending"] = m.get("pending", 0.0) + raw_level
            if self._below >= cfg.end_clips or (
                cfg.max_moment_clips and i - m["start"] >= cfg.max_moment_clips
            ):
                return [self._end(i + 1)]
            return []
        if s <= cfg.end_level:
            self._run = None
            return []
        run = self._run
        if run is None:
            run = self._run = {"start": i, "excess": 0.0, "peak": -np.inf, "sum": 0.0}
        run["excess"] += s - cfg.end_level
        run["peak"] = max(run["peak"], s)
        run["sum"] += raw_level
        if run["peak"] >= cfg.start_level and run["excess"] >= cfg.start_evidence:
            self._moments += 1
            m = {"id": self._moments, "start": run["start"], "last": i, "sum": run["sum"]}
            m["reported"] = self._score(m)
            self._open, self._run, self._below = m, None, 0
            return [self._event("start", run["start"] * self.clip_len, m["reported"], m, i)]
        return []

    def _score(self, m: dict) -> float:
        """The zero-shot span score: (mean level - level_offset) x length ** length_exponent."""
        zs = self.zeroshot
        length = m["last"] + 1 - m["start"]
        return float((m["sum"] / length - zs.level_offset) * length**zs.length_exponent)

    def _end(self, at_clip: int) -> MomentEvent:
        m, self._open, self._below = self._open, None, 0
        score = self._score(m)
        return self._event("end", (m["last"] + 1) * self.clip_len, score, m, at_clip - 1, end=True)

    def _event(self, kind: str, t: float, score: float, m: dict, clip: int, end: bool = False) -> MomentEvent:
        at = max(self.seen, clip + 1) * self.clip_len
        return MomentEvent(
            query=self.query,
            event=kind,
            t=round(float(t), 3),
            score=round(float(score), 4),
            moment=m["id"],
            start=round(m["start"] * self.clip_len, 3),
            end=round((m["last"] + 1) * self.clip_len, 3) if kind != "start" else None,
            at=round(at, 3),
        )


class OnlineGrounder:
    """Standing queries over a stream of clip features; events as the clips arrive.

    ``grounder``: the zero-shot grounder whose curves (query vectors, sub-queries, query bank,
    calibrated null levels) are used. Queries can be added and removed between pushes; a removed
    query's open moment is closed.
    """

    def __init__(
        self, grounder: ZeroShotGrounder | None, clip_len: float, config: OnlineConfig | None = None
    ):
        self.grounder = grounder or ZeroShotGrounder()
        # curves of a few clips at a time: a long video's own mean clip is no null level here
        self._zs_config = replace(self.grounder.config, video_null=False)
        self._arrays = CalibrationArrays(self.grounder.calibration)
        self.clip_len = float(clip_len)
        self.config = config or OnlineConfig()
        self.clips = 0
        self._queries: dict[str, tuple[QueryFeatures, LevelTracker]] = {}

    @property
    def queries(self) -> list[str]:
        return list(self._queries)

    def add_query(self, name: str, features: QueryFeatures) -> None:
        """Watch for ``name`` from the next clip on (adding a watched query again changes nothing)."""
        if name in self._queries:
            return
        probe = self._curves(np.zeros((1, features.pooled.shape[-1]), dtype=np.float32), features)[1]
        tracker = LevelTracker(
            name, self.clip_len, self.config, self._zs_config, null=probe, first_clip=self.clips
        )
        self._queries[name] = (features, tracker)

    def remove_query(self, name: str) -> list[MomentEvent]:
        """Stop watching ``name``; returns the event that closes its open moment, if any."""
        entry = self._queries.pop(name, None)
        return entry[1].close(self.clips) if entry is not None else []

    def push(self, features: np.ndarray) -> list[MomentEvent]:
        """Feed the L2-normalised features ``(n, dim)`` of the next ``n`` clips."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise InputError(f"clip features must be (n_clips, dim), got shape {features.shape}")
        events: list[MomentEvent] = []
        for query, tracker in self._queries.values():
            raw, _ = self._curves(features, query)
            events.extend(tracker.push(raw))
        self.clips += len(features)
        return events

    def skip(self, n: int) -> list[MomentEvent]:
        """``n`` clips are missing: open moments close, decisions start afresh after them."""
        events: list[MomentEvent] = []
        for _query, tracker in self._queries.values():
            events.extend(tracker.skip(n))
        self.clips += n
        return events

    def finish(self) -> list[MomentEvent]:
        """The stream ended: every open moment is closed."""
        events: list[MomentEvent] = []
        for _query, tracker in self._queries.values():
            events.extend(tracker.finish())
        return events

    def _curves(self, features: np.ndarray, query: QueryFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        clips = ClipFeatures(features, Timeline.of(len(features), self.clip_len))
        curves = similarity_curves(clips, query, self._zs_config, self._arrays)
        raw = curves.pooled[:, None]
        null = None if curves.null_pooled is None else np.array([curves.null_pooled])
        if curves.subqueries is not None:
            raw = np.concatenate([raw, curves.subqueries], axis=1)
            if null is not None and curves.null_subqueries is not None:
                null = np.concatenate([null, curves.null_subqueries])
            else:
                null = None
        return raw, null
