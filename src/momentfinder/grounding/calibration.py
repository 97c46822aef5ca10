"""The "no relevant moment" decision: a threshold on an evidence score, calibrated on validation data.

The zero-shot grounder measures *evidence* that a query happens (see
:func:`momentfinder.grounding.zeroshot.ZeroShotGrounder.evidence`): the best excess of the
query's similarity over a null level, in units of the curve's own clip-to-clip noise, so
the number does not depend on how an encoder scales its cosines. What does depend on the
encoder is the null level itself (the similarity a query has to an unrelated clip), so a
calibration stores it alongside the thresholds:

* ``feature_mean``: the mean clip feature of the calibration videos; the null level of a query
  is its cosine with this vector (feature grounding, :meth:`ground`);
* ``curve_null``: the median relevance of the calibration curves (curve grounding, :meth:`ground_curve`).

:func:`calibrate_threshold` picks the threshold: the ``target_rejection`` quantile of the
negative queries' evidence when a negative split is given, else the ``max_positive_loss``
quantile of the positive queries' evidence.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

FORMAT_VERSION = 1


@dataclass
class NoMomentCalibration:
    """Thresholds and null levels for rejecting queries; ``None`` thresholds never reject.

    ``feature_threshold`` applies to :meth:`ground` (features, with sub-queries when tokens are
    given, else the pooled query alone), ``curve_threshold`` to :meth:`ground_curve`. ``report``
    records how the thresholds were found (split names, rates on the calibration split).
    """

    feature_threshold: float | None = None
    curve_threshold: float | None = None
    feature_mean: list[float] | None = None
    curve_null: float = 0.0
    report: dict = field(default_factory=dict)

    def null_feature(self, dim: int) -> np.ndarray | None:
        """The mean clip feature as ``(dim,)`` float32, or None when absent or of another width."""
        if self.feature_mean is None or len(self.feature_mean) != dim:
            return None
        return np.asarray(self.feature_mean, dtype=np.float32)

    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "calibration") -> NoMomentCalibration:
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object")
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InputError(
                f"{where}: format_version {version} is not supported (expected {FORMAT_VERSION})"
            )
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known - {"format_version"})
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
        cal = cls(**{k: v for k, v in data.items() if k in known})
        for name in ("feature_threshold", "curve_threshold", "curve_null"):
            value = getattr(cal, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InputError(f"{where}: {name} must be a finite number, got {value!r}")
        if cal.feature_mean is not None and not (
            isinstance(cal.feature_mean, list) and all(isinstance(v, int | float) for v in cal.feature_mean)
        ):
            raise InputError(f"{where}: feature_mean must be a list of numbers")
        return cal

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.parent and not path.parent.is_dir():
            raise InputError(f"output directory does not exist: {path.parent}")
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoMomentCalibration:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"calibration file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: not a readable JSON calibration file ({err})") from None
        return cls.from_dict(data, str(path))


def calibrate_threshold(
    positive: np.ndarray,
    negative: np.ndarray | None = None,
    target_rejection: float = 0.92,
    max_positive_loss: float = 0.05,
) -> tuple[float, dict]:
    """Evidence threshold (reject when evidence ``<=`` it) and the rates it gives on these scores.

    With ``negative`` evidence: the ``target_rejection`` quantile of it (at least that share of
    the negative queries is rejected). Without: the ``max_positive_loss`` quantile of ``positive``
    (at most about that share of the positives is rejected).
    """
    positive = np.asarray(positive, dtype=np.float64)
    if not len(positive):
        raise InputError("calibration needs at least one positive query")
    if negative is not None and len(negative):
        negative = np.asarray(negative, dtype=np.float64)
        threshold = float(np.quantile(negative, target_rejection, method="higher"))
        rates = {"negatives_rejected": float(np.mean(negative <= threshold)), "n_negative": len(negative)}
    else:
        threshold = float(np.quantile(positive, max_positive_loss, method="lower"))
        rates = {}
    rates.update({"positives_rejected": float(np.mean(positive <= threshold)), "n_positive": len(positive)})
    return threshold, rates


def no_moment_score(evidence: float, threshold: float | None) -> float | None:
    """Confidence in (0, 1) that the query does not happen; 0.5 and above means rejected
    (evidence at or below the threshold)."""
    if threshold is None:
        return None
    return float(1.0 / (1.0 + math.exp(min(max(evidence - threshold, -50.0), 50.0))))
