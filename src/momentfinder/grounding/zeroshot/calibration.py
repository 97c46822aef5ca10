"""The "no relevant moment" decision: a threshold on an evidence score, calibrated on validation data.

The zero-shot grounder measures *evidence* that a query happens (see
:meth:`momentfinder.grounding.zeroshot.ZeroShotGrounder.evidence`): the best excess of the
query's similarity over a null level, in units of the curve's own clip-to-clip noise, so
the number does not depend on how an encoder scales its cosines. What does depend on the
encoder is the null level itself (the similarity a query has to an unrelated clip), so a
calibration stores it alongside the thresholds, and records the encoder it was made for:

* ``encoder``, ``encoder_dim``: the ``ClipFeatures.model`` string and the width of the clip
  features it was fitted on. A calibration that can reject refuses other features
  (:meth:`NoMomentCalibration.check_encoder`): its thresholds and null levels mean nothing there;

* ``feature_mean``: the mean clip feature of the calibration videos; the null level of a query
  is its cosine with this vector (feature grounding, :meth:`ground`);
* ``curve_null``: the median relevance of the calibration curves (curve grounding, :meth:`ground_curve`);
* ``common_tokens``: query token features that recur in many calibration queries (stop words such
  as "the", "a", "is"; :func:`find_common_tokens`) with the share of queries holding each. They
  match no moment in particular, so the grounder leaves them out of the sub-queries, as IDF
  weighting leaves stop words out of text retrieval. Only the query texts are used, no labels.
* ``query_bank``: the sub-queries of the calibration queries (one unit vector per group of alike
  phrases or content tokens, the most frequent first). A clip that matches a query's part only
  because it sits near *something else* (a look-alike action, a hub near everything) matches a
  bank entry better still; the grounder subtracts the clip's soft maximum similarity to the bank
  entries that are not the query's own parts from its sub-query similarities, as querybank
  normalisation (QB-Norm, Bogolin et al., CVPR 2022) does in text-video retrieval.
  ``bank_clip_sims`` holds the cosines of a sample of calibration clips with every bank entry, from
  which the grounder computes that soft maximum's null level for each query's own leave-out bank.
* ``corpus``: a fixed sample of the calibration clips (unit features as int8 with a scale per
  clip, base64 in the JSON: a quarter of float32) with the video each comes from. Corpus
  expansion (``ZeroShotConfig.corpus_weight``) mixes every query vector with the mean of the
  corpus clips most similar to it: the video encoder's picture of what the text names. Clips of
  the video being grounded are left out (by video id).
* ``evidence_model``: with ``no_moment="logistic"``, a tiny logistic model over several statistics of
  the level curves (:func:`momentfinder.grounding.zeroshot.curves.evidence_statistics`), fitted
  on which calibration queries happen in their video and which do not (no windows): ``statistics``
  (their names), ``mean`` and ``scale`` (standardisation), ``weights`` and ``bias``. The feature
  threshold then applies to its log-odds (:func:`logistic_evidence`) instead of the evidence alone.

:func:`calibrate_threshold` picks the threshold: the ``target_rejection`` quantile of the
negative queries' evidence when a negative split is given, else the ``max_positive_loss``
quantile of the positive queries' evidence.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...atomic import write_atomic
from ...errors import InputError

FORMAT_VERSION = 2  # 2: encoder records (encoder, encoder_dim)


@dataclass
class NoMomentCalibration:
    """Thresholds and null levels for rejecting queries; ``None`` thresholds never reject.

    ``feature_threshold`` applies to :meth:`ground` (features, with sub-queries when tokens are
    given, else the pooled query alone), ``curve_threshold`` to :meth:`ground_curve`. ``report``
    records how the thresholds were found (split names, rates on the calibration split).
    """

    feature_threshold: float | None = None
    curve_threshold: float | None = None
    encoder: str | None = None  # ClipFeatures.model of the features it was fitted on (None: unrecorded)
    encoder_dim: int | None = None  # their width (None: unrecorded)
    feature_mean: list[float] | None = None
    curve_null: float = 0.0
    common_tokens: list[list[float]] | None = None  # (k, dim) unit vectors
    common_token_shares: list[float] | None = None  # share of calibration queries holding each
    query_bank: list[list[float]] | None = None  # (b, dim) unit vectors: calibration sub-queries
    bank_clip_sims: list[list[float]] | None = None  # (n_sample, b) cosines of calibration clips
    query_bank_kind: str | None = None  # "phrases" or "tokens": the sub-queries it holds (None: both)
    evidence_model: dict | None = None  # logistic no-moment model (None: the evidence alone)
    # calibration clips for corpus expansion: {"shape": [n, dim], "int8": base64 of the unit
    # features x 127 / each clip's largest magnitude, "scale": base64 of those magnitudes
    # (float32), "videos": [video ids], "owner": [per clip, its index in videos]} (None: no corpus)
    corpus: dict | None = None
    report: dict = field(default_factory=dict)
    path: str | None = field(default=None, compare=False, repr=False)  # the file it was loaded from

    @property
    def can_reject(self) -> bool:
        return self.feature_threshold is not None or self.curve_threshold is not None

    def check_encoder(self, model: str, dim: int) -> None:
        """Raise :class:`InputError` when this calibration can reject and was made for features of
        another encoder (``model``, the ``ClipFeatures.model`` string) or width ``dim``. Unrecorded
        fields (a calibration built in code) are not compared; an empty calibration always passes."""
        if not self.can_reject:
            return
        if (self.encoder is None or self.encoder == model) and self.encoder_dim in (None, dim):
            return
        name = f"calibration {self.path}" if self.path else "the calibration"
        raise InputError(
            f"{name} was made for features of {_describe(self.encoder, self.encoder_dim)}, "
            f"not {_describe(model, dim)}; calibrate on features of this encoder"
        )

    def null_feature(self, dim: int) -> np.ndarray | None:
        """The mean clip feature as ``(dim,)`` float32, or None when absent or of another width."""
        if self.feature_mean is None or len(self.feature_mean) != dim:
            return None
        return np.asarray(self.feature_mean, dtype=np.float32)

    def common_token_matrix(self, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``common_tokens`` as ``(k, dim)`` float32 and their shares ``(k,)``, or None when absent
        or of another width."""
        if not self.common_tokens or len(self.common_tokens[0]) != dim:
            return None
        shares = self.common_token_shares or [1.0] * len(self.common_tokens)
        return np.asarray(self.common_tokens, dtype=np.float32), np.asarray(shares, dtype=np.float64)

    def query_bank_matrices(self, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``query_bank`` ``(b, dim)`` and ``bank_clip_sims`` ``(n, b)`` as float32, or None when
        absent or of another width."""
        if not self.query_bank or len(self.query_bank[0]) != dim or not self.bank_clip_sims:
            return None
        bank = np.asarray(self.query_bank, dtype=np.float32)
        sims = np.asarray(self.bank_clip_sims, dtype=np.float32)
        return (bank, sims) if sims.shape[1] == len(bank) else None

    def corpus_arrays(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
        """The corpus as unit clip features ``(n, dim)`` float32, their mean ``(dim,)``, each clip's
        video index ``(n,)`` and the video ids; None when absent or of another width."""
        if not self.corpus or self.corpus["shape"][1] != dim:
            return None
        codes = np.frombuffer(base64.b64decode(self.corpus["int8"]), dtype=np.int8)
        scale = np.frombuffer(base64.b64decode(self.corpus["scale"]), dtype="<f4")
        clips = codes.reshape(self.corpus["shape"]).astype(np.float32) * (scale[:, None] / 127.0)
        return clips, clips.mean(axis=0), np.asarray(self.corpus["owner"]), list(self.corpus["videos"])

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["path"]
        return {"format_version": FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict, where: str = "calibration") -> NoMomentCalibration:
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object")
        version = data.get("format_version", FORMAT_VERSION)
        if version == 1:
            raise InputError(
                f"{where}: a format_version 1 calibration predates encoder records; make it again "
                "with `momentfinder predict --calibrate-on`"
            )
        if version != FORMAT_VERSION:
            raise InputError(
                f"{where}: format_version {version} is not supported (expected {FORMAT_VERSION})"
            )
        known = {f for f in cls.__dataclass_fields__} - {"path"}
        unknown = sorted(set(data) - known - {"format_version"})
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
        cal = cls(**{k: v for k, v in data.items() if k in known})
        for name in ("feature_threshold", "curve_threshold", "curve_null"):
            value = getattr(cal, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InputError(f"{where}: {name} must be a finite number, got {value!r}")
        if cal.encoder is not None and not isinstance(cal.encoder, str):
            raise InputError(f"{where}: encoder must be a string or null")
        if cal.encoder_dim is not None and not (
            isinstance(cal.encoder_dim, int) and not isinstance(cal.encoder_dim, bool) and cal.encoder_dim > 0
        ):
            raise InputError(f"{where}: encoder_dim must be a positive integer or null")
        if cal.feature_mean is not None and not (
            isinstance(cal.feature_mean, list) and all(isinstance(v, int | float) for v in cal.feature_mean)
        ):
            raise InputError(f"{where}: feature_mean must be a list of numbers")
        for name in ("common_tokens", "query_bank", "bank_clip_sims"):
            rows = getattr(cal, name)
            if rows is not None and not (
                isinstance(rows, list)
                and all(isinstance(r, list) and r and len(r) == len(rows[0]) for r in rows)
                and all(isinstance(v, int | float) for r in rows for v in r)
            ):
                raise InputError(f"{where}: {name} must be a list of equal-length lists of numbers")
        shares = cal.common_token_shares
        if shares is not None and (
            not isinstance(shares, list)
            or len(shares) != len(cal.common_tokens or [])
            or not all(isinstance(v, int | float) for v in shares)
        ):
            raise InputError(f"{where}: common_token_shares must be one number per common token")
        if cal.query_bank_kind not in (None, "phrases", "tokens"):
            raise InputError(f"{where}: query_bank_kind must be phrases, tokens or null")
        if cal.bank_clip_sims and len(cal.bank_clip_sims[0]) != len(cal.query_bank or []):
            raise InputError(f"{where}: bank_clip_sims must have one column per query_bank row")
        if cal.evidence_model is not None:
            check_evidence_model(cal.evidence_model, where)
        if cal.corpus is not None:
            check_corpus(cal.corpus, where)
        return cal

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.parent and not path.parent.is_dir():
            raise InputError(f"output directory does not exist: {path.parent}")
        write_atomic(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoMomentCalibration:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"calibration file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: not a readable JSON calibration file ({err})") from None
        cal = cls.from_dict(data, str(path))
        cal.path = str(path)
        return cal


def _describe(model: str | None, dim: int | None) -> str:
    """``'openai/clip-vit-base-patch32' (dim 512)`` for error messages."""
    name = repr(model) if model else "an unnamed encoder"
    return name if dim is None else f"{name} (dim {dim})"


# the rejection margin leaves at least this many calibration negatives above the threshold
MARGIN_NEGATIVES_ABOVE = 5


def calibrate_threshold(
    positive: np.ndarray,
    negative: np.ndarray | None = None,
    target_rejection: float = 0.92,
    max_positive_loss: float = 0.05,
    margin: float = 0.0,
) -> tuple[float, dict]:
    """Evidence threshold (reject when evidence ``<=`` it) and the rates it gives on these scores.

    With ``negative`` evidence: the ``target_rejection`` quantile of it (at least that share of
    the negative queries is rejected), raised by ``margin`` binomial standard errors of that share
    on ``len(negative)`` queries (``t + margin x sqrt(t (1 - t) / n)``): the share rejected on
    other data of the same kind then falls short of the target less often. The margin never
    leaves fewer than ``MARGIN_NEGATIVES_ABOVE`` negatives above the threshold (nor lowers it
    below the target): on a few dozen negatives it would jump to the largest one and reject far
    more positives than the target asks. Without negatives: the ``max_positive_loss`` quantile of
    ``positive`` (at most about that share of the positives is rejected).
    """
    positive = np.asarray(positive, dtype=np.float64)
    if not len(positive):
        raise InputError("calibration needs at least one positive query")
    if negative is not None and len(negative):
        negative = np.asarray(negative, dtype=np.float64)
        t = target_rejection
        n = len(negative)
        share = min(t + margin * math.sqrt(t * (1.0 - t) / n), max(t, 1.0 - MARGIN_NEGATIVES_ABOVE / n))
        threshold = float(np.quantile(negative, share, method="higher"))
        rates = {
            "negatives_rejected": float(np.mean(negative <= threshold)),
            "n_negative": n,
            "quantile": share,  # the target share with the margin that applied
        }
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


def soft_max(sims: np.ndarray, temperature: float) -> np.ndarray:
    """Per row of cosines ``(n, b)``, the soft maximum ``T log sum exp(cos / T)``: ``(n,)``.

    Computed in float32 with the row maximum taken out (exact to ~1e-5 for cosines; 20x faster
    than scipy's float64 logsumexp on a 3-hour video's 5,400 x 100 similarities)."""
    x = np.asarray(sims, dtype=np.float32) / np.float32(temperature)
    top = x.max(axis=1, keepdims=True)
    np.subtract(x, top, out=x)
    np.exp(x, out=x)
    return temperature * (np.log(x.sum(axis=1, dtype=np.float64)) + top[:, 0])


def find_common_tokens(
    queries: list[np.ndarray],
    similarity: float,
    min_share: float,
    chunk: int = 2048,
    max_groups: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Query tokens that recur across queries (document frequency, as in IDF): ``(k, dim)`` unit
    representatives and the share of queries holding each.

    ``queries``: one ``(n_tokens, dim)`` array per query. A token is *common* when tokens with
    cosine above ``similarity`` occur in at least ``min_share`` of the queries (and in at least
    two). Common tokens are grouped greedily, most frequent first; a group's representative is
    its unit mean; at most ``max_groups`` groups are made. Cost: one pass of ``(chunk, n_all_tokens)``
    products, then one product per group.
    """
    queries = [np.asarray(q, dtype=np.float32) for q in queries if q is not None and len(q)]
    if not queries:
        return np.zeros((0, 0), np.float32), np.zeros(0)
    bank = np.concatenate(queries)
    bank = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-8)
    owner = np.repeat(np.arange(len(queries)), [len(q) for q in queries])
    n_queries = len(queries)
    share = np.zeros(len(bank))
    for lo in range(0, len(bank), chunk):
        close = (bank[lo : lo + chunk] @ bank.T) > similarity
        rows, cols = np.nonzero(close)
        pairs = np.unique(np.stack([rows, owner[cols]], axis=1), axis=0)  # distinct (token, query)
        share[lo : lo + chunk] = np.bincount(pairs[:, 0], minlength=len(close)) / n_queries
    common = np.flatnonzero((share >= min_share) & (share * n_queries >= 2))
    reps, rep_shares = [], []
    left = common[np.argsort(-share[common], kind="stable")]
    while len(left) and (max_groups is None or len(reps) < max_groups):
        members = left[(bank[left] @ bank[left[0]]) > similarity]
        centre = bank[members].mean(axis=0)
        reps.append(centre / max(float(np.linalg.norm(centre)), 1e-8))
        rep_shares.append(float(share[left[0]]))
        left = np.setdiff1d(left, members, assume_unique=True)
        left = left[np.argsort(-share[left], kind="stable")]
    dim = bank.shape[1]
    return np.asarray(reps, np.float32).reshape(-1, dim), np.asarray(rep_shares)


def corpus_record(clips: np.ndarray, owner: np.ndarray, videos: list[str]) -> dict:
    """The ``corpus`` field for unit clip features ``(n, dim)`` and each one's index in ``videos``
    (int8 codes with a float32 scale per clip: relative error under 0.5 % of the largest value)."""
    clips = np.asarray(clips, dtype=np.float32)
    scale = np.maximum(np.abs(clips).max(axis=1), 1e-12).astype("<f4")
    codes = np.clip(np.rint(clips * (127.0 / scale[:, None])), -127, 127).astype(np.int8)
    return {
        "shape": [int(v) for v in clips.shape],
        "int8": base64.b64encode(codes.tobytes()).decode("ascii"),
        "scale": base64.b64encode(scale.tobytes()).decode("ascii"),
        "videos": [str(v) for v in videos],
        "owner": [int(v) for v in owner],
    }


def check_corpus(corpus: dict, where: str = "calibration") -> None:
    """Raise :class:`InputError` unless ``corpus`` is a well-formed ``corpus`` field."""
    keys = ["int8", "owner", "scale", "shape", "videos"]
    if not isinstance(corpus, dict) or sorted(corpus) != keys:
        raise InputError(f"{where}: corpus must be an object with {', '.join(keys)}")
    shape, videos, owner = corpus["shape"], corpus["videos"], corpus["owner"]
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise InputError(f"{where}: corpus shape must be two positive integers")
    if not (isinstance(videos, list) and all(isinstance(v, str) for v in videos)):
        raise InputError(f"{where}: corpus videos must be a list of video ids")
    if not (
        isinstance(owner, list)
        and len(owner) == shape[0]
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(videos) for v in owner)
    ):
        raise InputError(f"{where}: corpus owner must give each clip's index in corpus videos")
    try:
        codes = base64.b64decode(corpus["int8"], validate=True)
        scale = base64.b64decode(corpus["scale"], validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise InputError(f"{where}: corpus int8 and scale must be base64 data") from None
    if len(codes) != shape[0] * shape[1] or len(scale) != 4 * shape[0]:
        raise InputError(f"{where}: corpus data does not hold {shape[0]} x {shape[1]} values")
    if not np.isfinite(np.frombuffer(scale, dtype="<f4")).all():
        raise InputError(f"{where}: corpus scales hold NaN or infinite values")


_MODEL_KEYS = ("statistics", "mean", "scale", "weights", "bias")


def check_evidence_model(model: dict, where: str = "calibration") -> None:
    """Raise :class:`InputError` unless ``model`` is a well-formed ``evidence_model``."""
    if not isinstance(model, dict) or sorted(model) != sorted(_MODEL_KEYS):
        raise InputError(f"{where}: evidence_model must be an object with {', '.join(_MODEL_KEYS)}")
    names = model["statistics"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(f"{where}: evidence_model statistics must be a non-empty list of names")
    for key in ("mean", "scale", "weights"):
        values = model[key]
        if not (
            isinstance(values, list)
            and len(values) == len(names)
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
            )
        ):
            raise InputError(f"{where}: evidence_model {key} must be one finite number per statistic")
    if any(v <= 0 for v in model["scale"]):
        raise InputError(f"{where}: evidence_model scale must be positive")
    bias = model["bias"]
    if not (isinstance(bias, int | float) and not isinstance(bias, bool) and math.isfinite(bias)):
        raise InputError(f"{where}: evidence_model bias must be a finite number")


def logistic_evidence(statistics: np.ndarray, model: dict) -> float:
    """Log-odds that the query happens, from its curve ``statistics`` (one per model statistic)."""
    x = (np.asarray(statistics, dtype=np.float64) - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return float(x @ np.asarray(model["weights"]) + model["bias"])


def fit_evidence_model(
    positive: np.ndarray, negative: np.ndarray, names: tuple[str, ...] | list[str], l2: float = 1e-3
) -> dict:
    """A logistic model telling positive from negative queries by their curve statistics
    (``(n, len(names))`` each): L2-regularised (``l2`` on the standardised weights), balanced
    (each class weighs half), fitted with scipy's L-BFGS."""
    from scipy.optimize import minimize

    positive, negative = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    if not len(positive) or not len(negative):
        raise InputError("a logistic no-moment model needs positive and negative calibration queries")
    x = np.concatenate([positive, negative])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (x - mean) / scale
    sign = np.concatenate([np.ones(len(positive)), -np.ones(len(negative))])
    weight = np.concatenate(
        [np.full(len(positive), 0.5 / len(positive)), np.full(len(negative), 0.5 / len(negative))]
    )

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (z @ w[1:] + w[0])
        value = float(weight @ np.logaddexp(0.0, -margin)) + l2 * float(w[1:] @ w[1:])
        grad_margin = -weight * sign / (1.0 + np.exp(np.clip(margin, -50, 50)))
        grad = np.concatenate([[grad_margin.sum()], z.T @ grad_margin + 2 * l2 * w[1:]])
        return value, grad

    w = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    return {
        "statistics": list(names),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "weights": [float(v) for v in w[1:]],
        "bias": float(w[0]),
    }
