"""Many queries over a feature directory: ``predict`` and ``calibrate``, for every grounder.

    report = predict_file(PredictRequest(features="feats/", annotations="val.jsonl", out="pred.jsonl"))

The feature directory (:class:`~momentfinder.store.FeatureDirectory`) is the truth about clip
length (its manifest); a trained checkpoint says how its features are laid out and normalised.
The same loop serves the zero-shot grounder, the window baseline and trained detectors (which
ground a batch of queries in one forward pass).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..data.readers import read_annotations
from ..data.submission import write_submission
from ..errors import InputError
from ..grounding.registry import GrounderSpec, build_grounder
from ..store import FeatureDirectory, check_sample_ids, read_manifest
from ..types import ClipFeatures, GroundingResult, GroundingSample, QueryFeatures


@dataclass
class PredictRequest:
    """``predict``: ground every query of ``annotations`` in the features of ``features``.

    ``clip_len``: seconds per feature row, only for a directory without a manifest (a released
    feature set); with a manifest a different value is an error. ``calibrate_on``: one or two
    annotation files (queries that happen, optionally queries that do not) to fit the zero-shot
    no-moment calibration on before predicting; ``save_calibration`` writes it.
    """

    features: str
    annotations: str
    out: str | None = None
    grounder: GrounderSpec = field(default_factory=GrounderSpec)
    top_k: int = 10
    clip_len: float | None = None
    calibrate_on: Sequence[str] = ()
    save_calibration: str | None = None
    target_rejection: float = 0.92

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise InputError(f"top-k must be at least 1, got {self.top_k}")
        if len(self.calibrate_on) > 2:
            raise InputError("--calibrate-on takes one or two files: VAL_ANN [VAL_NEG_ANN]")
        if self.save_calibration and not self.calibrate_on:
            raise InputError("--save-calibration needs --calibrate-on")
        if self.calibrate_on and self.grounder.calibration:
            raise InputError("use either --calibration or --calibrate-on, not both")
        if self.calibrate_on and self.grounder.kind != "zero-shot":
            raise InputError(f"--calibrate-on fits the zero-shot grounder, not {self.grounder.kind!r}")
        if not 0.0 < self.target_rejection < 1.0:
            raise InputError(f"--target-rejection must be between 0 and 1, got {self.target_rejection}")


@dataclass
class PredictReport:
    results: list[GroundingResult]
    seconds: float  # grounding time, without reading the annotations
    calibration: object | None = None  # the calibration fitted by --calibrate-on, when any

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.results if not r.moments)

    def summary(self, out: str | None) -> str:
        where = f" to {out}" if out else ""
        per_query = 1000 * self.seconds / max(1, len(self.results))
        return (
            f"wrote {len(self.results)} predictions{where} ({self.rejected} with no matching moment; "
            f"{per_query:.2f} ms per query)"
        )


def open_features(root: str, grounder, clip_len: float | None = None) -> FeatureDirectory:
    """The feature directory read the way ``grounder`` needs it: a trained detector's layout and
    normalisation come from its checkpoint; its clip length is checked against the features'."""
    spec = getattr(grounder, "spec", None)
    if spec is None:
        return FeatureDirectory(root, clip_len=clip_len)
    if clip_len is None and not read_manifest(root):
        clip_len = spec.clip_len  # a released feature set: the checkpoint's clip length
    return FeatureDirectory(
        root,
        clip_feat_dirs=spec.visual_dirs or ("clip_features",),
        text_feat_dir=spec.text_dir or "clip_text_features",
        normalize=spec.normalize,
        clip_len=clip_len,
    )


def predict(
    grounder,
    features: FeatureDirectory,
    samples: Sequence[GroundingSample],
    top_k: int = 10,
    batch_size: int = 64,
) -> list[GroundingResult]:
    """Ground every sample's query in its video's features; ``qid`` and ``video`` are set on each result."""
    if top_k < 1:
        raise InputError(f"top-k must be at least 1, got {top_k}")
    clips_of = _VideoCache(features)
    results: list[GroundingResult] = []
    batched = hasattr(grounder, "ground_batch")
    spec = getattr(grounder, "spec", None)
    for i in range(0, len(samples), batch_size):
        chunk = samples[i : i + batch_size]
        pairs = [(clips_of(s), features.query_features(s.qid, s.query)) for s in chunk]
        if spec is not None:
            for clips, query in pairs:
                spec.check(clips, query)
        if batched:
            chunk_results = grounder.ground_batch(pairs, top_k)  # rejects only with a threshold
        else:
            chunk_results = [grounder.ground(clips, query, top_k=top_k) for clips, query in pairs]
        for s, r in zip(chunk, chunk_results, strict=True):
            r.qid, r.video = s.qid, s.vid
            results.append(r)
    return results


def calibration_pairs(
    features: FeatureDirectory, samples: Sequence[GroundingSample]
) -> list[tuple[ClipFeatures, QueryFeatures]]:
    """``(clips, query)`` for every sample (videos read once each, in order)."""
    clips_of = _VideoCache(features)
    return [(clips_of(s), features.query_features(s.qid, s.query)) for s in samples]


def calibrate(
    grounder,
    features: FeatureDirectory,
    positives: str,
    negatives: str | None = None,
    target_rejection: float = 0.92,
):
    """Fit the zero-shot grounder's no-moment calibration on annotation files (returns it; the
    caller installs it). ``positives``: queries that happen; ``negatives``: queries that do not."""
    pos_samples = read_annotations(positives)
    neg_samples = read_annotations(negatives) if negatives else []
    check_sample_ids(pos_samples, positives)
    check_sample_ids(neg_samples, negatives or "")
    pos = calibration_pairs(features, pos_samples)
    neg = calibration_pairs(features, neg_samples)
    if not pos:
        raise InputError(f"{positives}: no queries to calibrate on")
    source = " + ".join(p for p in (positives, negatives) if p)
    return grounder.calibrate(pos, neg, target_rejection=target_rejection, source=source)


def calibration_summary(calibration, n_positive: int, n_negative: int) -> str:
    rates = calibration.report["features"]
    margin, at = calibration.report.get("rejection_margin"), rates.get("quantile")
    raised = (
        n_negative and margin and at is not None and at > (calibration.report.get("target_rejection") or at)
    )
    return (
        f"calibrated on {n_positive} positive and {n_negative} negative queries: "
        f"threshold {calibration.feature_threshold:.3f} rejects "
        + (f"{100 * rates['negatives_rejected']:.1f}% of the negatives and " if n_negative else "")
        + f"{100 * rates['positives_rejected']:.1f}% of the positives"
        + (
            f" (set at the negatives' {100 * at:.1f}% quantile: the target plus a margin of {margin:g}"
            " standard errors, so other videos still reach the target)"
            if raised
            else ""
        )
    )


def predict_file(request: PredictRequest, log=None) -> PredictReport:
    """``momentfinder predict``: calibrate when asked, ground every query, write the submission.

    ``log``: a callable that receives one-line progress messages (the calibration summary)."""
    grounder = build_grounder(request.grounder)
    features = open_features(request.features, grounder, request.clip_len)
    samples = read_annotations(request.annotations)
    check_sample_ids(samples, request.annotations)  # ids name files: none may leave the directory
    if not samples:
        raise InputError(f"{request.annotations}: no queries")
    calibration = None
    if request.calibrate_on:
        negatives = request.calibrate_on[1] if len(request.calibrate_on) > 1 else None
        calibration = calibrate(
            grounder, features, request.calibrate_on[0], negatives, request.target_rejection
        )
        if log is not None:
            rates = calibration.report["features"]
            log(calibration_summary(calibration, rates["n_positive"], rates.get("n_negative", 0)))
        if request.save_calibration:
            calibration.save(request.save_calibration)
        if request.grounder.reject:
            grounder.calibration = calibration
    start = time.perf_counter()
    results = predict(grounder, features, samples, request.top_k)
    seconds = time.perf_counter() - start
    if request.out is not None:
        write_submission(request.out, results)
    return PredictReport(results, seconds, calibration)


def check_features(
    root: str,
    samples: Sequence[GroundingSample],
    clip_dirs: Sequence[str] = ("clip_features",),
    text_dir: str | None = "clip_text_features",
) -> tuple[int | None, list[str]]:
    """``data check-features``: read every video and query of ``samples``; the visual feature
    width and one line per problem (empty = all good)."""
    features = FeatureDirectory(root, tuple(clip_dirs), text_dir)
    problems = features.check(samples)
    return features.dim, problems


class _VideoCache:
    """Clip features of the last few videos read (annotation files list a video's queries together)."""

    def __init__(self, features: FeatureDirectory, size: int = 8):
        self.features = features
        self.size = size
        self._clips: OrderedDict[tuple[str, float], ClipFeatures] = OrderedDict()

    def __call__(self, sample: GroundingSample) -> ClipFeatures:
        key = (sample.vid, sample.duration)
        if key not in self._clips:
            self._clips[key] = self.features.clip_features(sample.vid, duration=sample.duration)
            if len(self._clips) > self.size:
                self._clips.popitem(last=False)
        self._clips.move_to_end(key)
        return self._clips[key]
