"""Options of the zero-shot grounder (:class:`ZeroShotConfig`), checked on construction.

Users set them with ``momentfinder predict --set KEY=VALUE`` (:meth:`ZeroShotConfig.from_dict`),
so their names are part of the command line: renaming one breaks scripts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ...errors import InputError

RANGES = {  # name: (low, high or None, low excluded)
    "smooth_sigma": (0.0, None, False),
    "saliency_sigma": (0.0, None, False),
    "subquery_weight": (0.0, None, False),
    "subquery_parts": (1, None, False),
    "nms_iou": (0.0, 1.0, True),
    "nms_max_containment": (0.0, 1.0, True),
    "max_moment_clips": (1, None, False),
    "window_clips": (2, None, False),
    "window_stride": (0.0, 1.0, True),
    "coarse_regions": (1, None, False),
    "coarse_spans": (1, None, False),
    "coarse_peak_weight": (0.0, None, False),
    "coarse_peak_sigma": (0.0, None, False),
    "null_quantile": (0.0, 1.0, False),
    "common_token_share": (0.0, 1.0, True),
    "bank_temperature": (0.0, None, False),
    "bank_size": (1, None, False),
    "bank_clips": (1, None, False),
    "bank_min_size": (0, None, False),
    "contrast_weight": (0.0, None, False),
    "sibling_weight": (0.0, None, False),
    "rejection_margin": (0.0, None, False),
    "sibling_similarity": (-1.0, 1.0, False),
    "contrast_width": (0.0, None, True),
    "corpus_weight": (0.0, 1.0, False),
    "corpus_top": (1, None, False),
    "corpus_clips": (0, None, False),
    "corpus_rounds": (1, None, False),
}

# options of corpus expansion: a calibration records them (its query bank and no-moment model come
# from queries expanded so), and a grounder with other values warns
EXPANSION_OPTIONS = ("corpus_weight", "corpus_top", "corpus_rounds")

# options that are lists of proposal thresholds: non-empty lists of finite numbers, kept as tuples
LEVEL_LISTS = ("levels", "window_levels")

CHOICES = {
    "relevance": ("level", "pooled"),
    "score_units": ("noise", "std"),
    "pooled_query": ("content", "encoder"),
    "no_moment": ("logistic", "evidence"),
    "coarse_evidence": ("excess", "logistic"),
    "sibling_pick": ("mean", "present"),
    "sibling_scope": ("video", "region"),
}


@dataclass
class ZeroShotConfig:
    """Hyper-parameters of :class:`ZeroShotGrounder`; the defaults were selected on the synthetic val split."""

    smooth_sigma: float = 1.0  # clips; Gaussian smoothing before proposals (0 = off)
    levels: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)  # proposal thresholds, std of the curve
    length_exponent: float = 0.6  # score = (level - level_offset) * length ** this
    level_offset: float = 0.625  # noise units (std units with score_units="std")
    subquery_weight: float = 3.0  # weight of the sub-query level; 0 = pooled query only
    subquery_parts: int = 2  # a moment must match this many sub-queries
    # inside-vs-outside contrast: a span's level minus this x the mean level of its flanks
    # (contrast_width x its length on each side, at least one clip); 0 = inside level alone
    contrast_weight: float = 0.6
    contrast_width: float = 1.0
    nms_iou: float = 0.5
    # NMS also drops a moment when more than this share of it lies inside a better-ranked one (a
    # nested duplicate: 12-16 s inside 10-18 s has IoU 0.5 only); 1.0 = IoU alone
    nms_max_containment: float = 0.75
    max_moment_clips: int | None = None  # longest proposal; None = unbounded
    evidence_level: float = 1.0  # noise units a clip must exceed to count as evidence
    window_clips: int = 75  # longer videos are grounded coarse-to-fine in windows of this many clips
    # window step as a share of window_clips: 0.25 puts every moment in the middle half of some
    # window, so the fine pass sees its surroundings (0.5: half the windows)
    window_stride: float = 0.25
    coarse_level: float = 1.0  # noise units; a window's evidence is its best spans' excess over this
    coarse_regions: int = 10  # windows kept by the coarse pass and grounded by the fine one
    # a window's evidence sums the excess of its best this many disjoint spans (a query that
    # happens twice in a region counts twice; 1 = the best span alone)
    coarse_spans: int = 2
    # ... plus this x the window's peak: the highest AND level (pooled + sub-queries) smoothed by
    # coarse_peak_sigma. Large, so the peak decides and the spans' excess ranks the overlapping windows
    # that share one (a short strong match is found among hours of long partial matches); 0 = off
    coarse_peak_weight: float = 100.0
    # clips; the AND level is smoothed this much for the peak, less than smooth_sigma: an event of
    # one or two clips keeps most of its height (0.79 at 0.5, 0.4 at 1), where a long look-alike
    # or partial match keeps all of its own (0 = off)
    coarse_peak_sigma: float = 0.5
    # proposal thresholds of the fine pass in a kept window, std of the window's curve: no cut at
    # its mean (0), since a window holds other content (another scene, another recording) below the
    # stretch around the moment, and a cut at its mean returns that whole stretch
    window_levels: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    saliency_sigma: float = 2.0  # clips; smoothing of the saliency output
    relevance: str = "level"  # proposal/saliency curve: "pooled" query, or "level" (pooled + sub-queries)
    score_units: str = "noise"  # "std": levels standardised per video; "noise": above the null, noise units
    null_quantile: float = 0.25  # without a calibrated null level, this quantile of the curve stands in
    video_null: bool = True  # ... except in videos longer than window_clips: their own mean clip
    # stop words: a query token similar (cosine > common_token_similarity) to a token found in at
    # least common_token_share of the calibration queries is no sub-query (1.0 = keep every token)
    common_token_share: float = 0.05
    common_token_similarity: float = 0.7
    pooled_query: str = "content"  # "content": unit mean of the tokens left; "encoder": the pooled output
    # query-bank normalisation of the sub-query curves: minus the clip's soft maximum similarity
    # (this temperature, cosine units) to the calibration queries' sub-queries other than the
    # query's own parts; 0 = off
    bank_temperature: float = 0.03
    bank_size: int = 512  # most frequent groups of alike sub-queries kept in the bank
    bank_clips: int = 256  # calibration clips sampled for the bank's null level
    bank_min_size: int = 50  # a smaller bank (few calibration queries) adds more noise than it removes
    bank_own_similarity: float = 0.95  # bank entries this close to one of the query's parts are its own
    # look-alikes: each sub-query minus this x the mean of its siblings in the query bank (entries
    # with a cosine of at least sibling_similarity with it, short of bank_own_similarity); 0 = off
    sibling_weight: float = 0.5
    sibling_similarity: float = 0.3
    # which siblings: "mean", all of them (their mean); "present", the one whose smoothed clip
    # similarity peaks highest in this video (the look-alike the video most likely shows)
    sibling_pick: str = "present"
    # the no-moment decision: "logistic", a tiny logistic model over several statistics of the
    # level curves fitted at calibration (needs negative calibration queries; without them the
    # evidence alone is used), or "evidence", a threshold on the evidence alone
    no_moment: str = "logistic"
    # the threshold rejects the target share of the calibration negatives plus this many binomial
    # standard errors of it (calibrate_threshold), so other videos still reach the target: 3, as
    # the share a threshold rejects of other negatives differs from the calibration's by the noise
    # of both samples (~1.4 standard errors each); at least 5 calibration negatives stay above it
    # (with a few dozen the margin does not apply); 0 = none
    rejection_margin: float = 3.0
    # long videos: windows ranked by the calibrated logistic model's log-odds ("logistic", when the
    # calibration has one) or by their best span's excess over coarse_level ("excess")
    coarse_evidence: str = "excess"
    # long videos with sibling_pick="present": the look-alike each sub-query is turned away from,
    # when scoring the moments of a window, is the one that window shows most ("region") or the one
    # the whole video shows most ("video")
    sibling_scope: str = "region"
    # corpus expansion: every query vector (pooled, sub-queries, and so the query bank) is mixed
    # with its picture in the calibration videos, the mean of the corpus_top calibration clips most
    # similar to it minus the corpus mean: the text encoder's vector borrows the video encoder's
    # view of the same concept (pseudo-relevance feedback over unlabelled videos; a video's own
    # clips never expand its queries). This share of the mix is the corpus's; 0 = off. Needs a
    # calibration made with corpus_clips > 0 (it keeps that many calibration clips as int8: about
    # 0.7 MB of JSON per 1,000 clips of a 512-wide encoder). corpus_rounds: how often the clips are
    # looked up, each round with the last round's mix (the text vector alone finds the first
    # clips; its mix with their picture finds the concept's clips more surely), the mix always
    # of the text vector and the latest picture
    corpus_weight: float = 0.5
    corpus_top: int = 50
    corpus_clips: int = 32768
    corpus_rounds: int = 2

    def __post_init__(self):
        for name in LEVEL_LISTS:
            value = getattr(self, name)
            numbers = isinstance(value, list | tuple) and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
            if not numbers or not value:
                raise InputError(
                    f"zero-shot option {name} must be a non-empty list of numbers, got {value!r}"
                )
            setattr(self, name, tuple(float(v) for v in value))
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"zero-shot option {name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        for name, (low, high, low_open) in RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value < low or (low_open and value == low) or (high is not None and value > high):
                bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
                raise InputError(f"zero-shot option {name} must be {bound}, got {value!r}")

    @classmethod
    def from_dict(cls, data: dict) -> ZeroShotConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown zero-shot option(s): {', '.join(unknown)}")
        data = dict(data)
        defaults = cls()
        for name, value in data.items():
            default = getattr(defaults, name)
            if name in LEVEL_LISTS:
                ok = True  # checked and made a tuple by __post_init__
            elif isinstance(default, bool) or isinstance(default, str):
                ok = isinstance(value, type(default))
            elif isinstance(default, int | float) or default is None:  # None: an optional int
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                ok = ok or (default is None and value is None)
                if ok and isinstance(default, int) and value is not None:
                    ok, value = float(value).is_integer(), int(value) if float(value).is_integer() else value
            else:
                ok = True
            if not ok:
                raise InputError(f"zero-shot option {name}: bad value {value!r} (default {default!r})")
            data[name] = value
        return cls(**data)
