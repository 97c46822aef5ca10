"""A trained detector behind the :class:`~momentfinder.grounding.base.Grounder` protocol."""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from ....errors import ModelUnavailableError
from ....types import ClipFeatures, GroundingResult, Moment, QueryFeatures
from ...nms import temporal_nms
from ...zeroshot import ZeroShotGrounder
from ..checkpoint import FeatureSpec, load_checkpoint
from ..config import DetrConfig
from ..dataset import pad, query_tokens
from ..model import MomentDetr
from ..span_utils import span_cxw_to_xx
from .decode import hybrid_candidates
from .rerank import calibration_from_payload, rerank

log = logging.getLogger(__name__)


class DetrGrounder:
    """Ground queries with a trained :class:`MomentDetr`.

    ``no_moment_threshold``: reject a query (empty ``moments``) when its no-moment score
    (``1 - P(query happens)``) exceeds it; None never rejects.
    """

    def __init__(
        self,
        model: MomentDetr,
        config: DetrConfig,
        spec: FeatureSpec,
        no_moment_threshold: float | None = None,
        device: str | torch.device = "cpu",
        zeroshot: ZeroShotGrounder | None = None,
    ):
        self.model = model.to(device).eval()
        self.config, self.spec = config, spec
        self.no_moment_threshold = no_moment_threshold
        # re-ranks the moments when inference.zeroshot_rerank > 0 (rerank.py); None: not available
        self.zeroshot = zeroshot
        self.grow_ratio: float | None = None  # hybrid decoding, calibrated on val (calibration.py)
        self.device = torch.device(device)

    def ground(self, clips: ClipFeatures, query: QueryFeatures, top_k: int = 10) -> GroundingResult:
        self.spec.check(clips, query)
        return self.ground_batch([(clips, query)], top_k)[0]

    @torch.no_grad()
    def ground_batch(
        self, pairs: list[tuple[ClipFeatures, QueryFeatures]], top_k: int = 10, reject: bool = True
    ) -> list[GroundingResult]:
        """Ground many pairs in one forward pass (features already checked and normalised like in training)."""
        clips = [np.asarray(c.features, dtype=np.float32) for c, _ in pairs]
        tokens = [query_tokens(q) for _, q in pairs]
        vid, vid_mask = pad(clips)
        txt, txt_mask = pad(tokens)
        out = self.model(
            vid.to(self.device), vid_mask.to(self.device), txt.to(self.device), txt_mask.to(self.device)
        )
        if not all(torch.isfinite(out[k]).all() for k in ("pred_logits", "pred_spans", "saliency")):
            raise ModelUnavailableError(
                "the trained model's outputs are not finite (NaN or infinity): its weights are damaged "
                "or were trained into divergence; use another checkpoint"
            )
        probs = out["pred_logits"].softmax(-1)[..., 0].cpu().numpy()
        spans = span_cxw_to_xx(out["pred_spans"]).clamp(0, 1).cpu().numpy()
        saliency = out["saliency"].cpu().numpy()
        no_moment = (1 - torch.sigmoid(out["match_logit"])).cpu().numpy()
        results = []
        for i, (c, q) in enumerate(pairs):
            n = c.n_clips
            seconds = np.minimum(spans[i] * n * c.clip_len, c.duration)
            scores = probs[i]
            if self.config.inference.decode == "hybrid":
                seconds, scores = hybrid_candidates(
                    seconds, probs[i], saliency[i, :n], c.clip_len, c.duration, self.grow_ratio
                )
            moments = self._moments(seconds, scores, top_k)
            if self.config.inference.zeroshot_rerank > 0 and self.zeroshot is not None:
                moments = rerank(moments, c, q, self.zeroshot, self.config.inference.zeroshot_rerank)
            score = float(no_moment[i])
            if reject and self.no_moment_threshold is not None and score > self.no_moment_threshold:
                moments = []
            results.append(
                GroundingResult(
                    query=q.text,
                    timeline=c.timeline,
                    moments=moments,
                    saliency=saliency[i, :n].astype(np.float64),
                    no_moment_score=score,
                    video=c.video_id,
                )
            )
        return results

    def _moments(self, seconds: np.ndarray, scores: np.ndarray, top_k: int) -> list[Moment]:
        nms_iou = self.config.inference.nms_iou
        if nms_iou > 0:
            keep = temporal_nms(seconds, scores, nms_iou, top_k)
        else:
            keep = np.argsort(-scores, kind="stable")[:top_k]
        return [
            Moment(float(seconds[k, 0]), float(max(seconds[k, 1], seconds[k, 0])), float(scores[k]))
            for k in keep
        ]


def load_grounder(
    checkpoint_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    zeroshot_rerank: float | None = None,
) -> DetrGrounder:
    """A ready :class:`DetrGrounder` from ``RUN/best.ckpt`` (config, weights, calibration);
    ``zeroshot_rerank`` replaces the checkpoint's ``inference.zeroshot_rerank`` (None keeps it)."""
    ckpt = load_checkpoint(checkpoint_path, map_location=device)
    config = DetrConfig.from_dict(ckpt["config"], str(checkpoint_path))
    if zeroshot_rerank is not None:  # through the config's own checks, like any other setting
        data = config.to_dict()
        data["inference"]["zeroshot_rerank"] = zeroshot_rerank
        config = DetrConfig.from_dict(data, str(checkpoint_path))
    spec = FeatureSpec.from_dict(ckpt["spec"])
    model = MomentDetr(config.model, spec.visual_dim, spec.text_dim)
    model.load_state_dict(ckpt["model"])
    calibration = ckpt.get("calibration") or {}
    zeroshot = None
    if ckpt.get("zeroshot_calibration") is not None:
        zeroshot = ZeroShotGrounder(
            calibration=calibration_from_payload(ckpt["zeroshot_calibration"], str(checkpoint_path))
        )
    elif config.inference.zeroshot_rerank > 0:
        log.warning(
            "%s holds no zero-shot calibration (trained before re-ranking, or on features the "
            "zero-shot grounder cannot read): its moments are not re-ranked",
            checkpoint_path,
        )
    grounder = DetrGrounder(model, config, spec, calibration.get("no_moment_threshold"), device, zeroshot)
    grounder.grow_ratio = calibration.get("grow_ratio")
    return grounder
