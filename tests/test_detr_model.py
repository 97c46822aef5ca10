"""The detector's parts: spans, matching, config, model shapes and masking, losses."""

from __future__ import annotations

import pytest
import torch

from momentfinder.errors import InputError
from momentfinder.grounding.detr.config import DetrConfig, load_config
from momentfinder.grounding.detr.layers import ConditionalDecoderLayer, sine_embedding
from momentfinder.grounding.detr.losses import SetCriterion
from momentfinder.grounding.detr.matcher import HungarianMatcher
from momentfinder.grounding.detr.model import MomentDetr
from momentfinder.grounding.detr.span_utils import (
    generalized_temporal_iou,
    span_cxw_to_xx,
    span_xx_to_cxw,
    temporal_iou,
)

torch.set_num_threads(1)


def tiny(name: str = "detr") -> DetrConfig:
    """A small config of a built-in one; ``NAME+conditional``: with the conditional decoder."""
    name, _, decoder = name.partition("+")
    cfg = load_config(name)
    cfg.model.hidden_dim, cfg.model.dim_feedforward, cfg.model.nheads = 32, 64, 4
    cfg.model.decoder = decoder or cfg.model.decoder
    return cfg


def test_span_conversions_and_iou():
    xx = torch.tensor([[0.1, 0.3], [0.5, 0.9]])
    assert torch.allclose(span_cxw_to_xx(span_xx_to_cxw(xx)), xx)
    a, b = torch.tensor([[0.0, 0.4]]), torch.tensor([[0.2, 0.6], [0.5, 0.7]])
    iou, _ = temporal_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[0.2 / 0.6, 0.0]]))
    giou = generalized_temporal_iou(a, b)
    # disjoint spans: IoU 0, hull [0, 0.7], union 0.6 -> gIoU = -(0.1 / 0.7)
    assert torch.allclose(giou[0, 1], torch.tensor(-0.1 / 0.7))
    assert torch.allclose(giou[0, 0], iou[0, 0])


def test_matcher_recovers_permutation():
    targets = torch.tensor([[0.2, 0.1], [0.7, 0.3], [0.5, 0.05]])
    preds = torch.tensor([[[0.7, 0.3], [0.1, 0.1], [0.5, 0.05], [0.2, 0.1]]])
    logits = torch.zeros(1, 4, 2)
    ((rows, cols),) = HungarianMatcher()(preds, logits, [targets])
    assert dict(zip(cols.tolist(), rows.tolist(), strict=True)) == {0: 3, 1: 0, 2: 2}


def test_config_yaml_layers_and_errors(tmp_path):
    assert load_config("detr_moment").model.t2v_layers == 0
    assert load_config("detr_qd").model.num_dummies == 0
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  hidden_dim: 64\ntrain:\n  epochs: 3\n")
    cfg = load_config(f)
    assert (cfg.model.hidden_dim, cfg.train.epochs, cfg.model.num_queries) == (64, 3, 10)
    f.write_text("model:\n  hiden_dim: 64\n")
    with pytest.raises(InputError, match="model.hiden_dim"):
        load_config(f)
    f.write_text("model:\n  hidden_dim: 30\n  nheads: 8\n")  # was torch's AssertionError at model build
    with pytest.raises(
        InputError, match=r"model.hidden_dim \(30\) must be a positive multiple of model.nheads \(8\)"
    ):
        load_config(f)
    f.write_text("model:\n  decoder: deformable\n")
    with pytest.raises(InputError, match="model.decoder must be one of dab, conditional"):
        load_config(f)
    f.write_text("supervision:\n  mode: glance\n")
    with pytest.raises(InputError, match="supervision.mode"):
        load_config(f)
    with pytest.raises(InputError, match="neither a file"):
        load_config("no-such-config")
    assert DetrConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", ["detr", "detr_qd", "detr_moment", "detr+conditional"])
def test_model_shapes_without_length_cap(name):
    cfg = tiny(name)
    model = MomentDetr(cfg.model, vid_dim=12, txt_dim=8).eval()
    vid_mask = torch.ones(2, 300, dtype=torch.bool)  # 10 minutes of 2 s clips: no built-in maximum
    vid_mask[1, 40:] = False
    out = model(torch.randn(2, 300, 12), vid_mask, torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool))
    assert out["pred_logits"].shape == (2, 10, 2)
    assert out["pred_spans"].shape == (2, 10, 2)
    assert ((out["pred_spans"] >= 0) & (out["pred_spans"] <= 1)).all()
    assert out["saliency"].shape == (2, 300) and (out["saliency"][1, 40:] == 0).all()
    assert out["match_logit"].shape == (2,)
    assert len(out["aux"]) == cfg.model.dec_layers - 1
    assert (out["word_share"] is not None) == (cfg.model.t2v_layers > 0 and cfg.model.num_dummies > 0)


@pytest.mark.parametrize("name", ["detr", "detr_moment", "detr+conditional"])
def test_padding_does_not_change_predictions(name):
    torch.manual_seed(0)
    model = MomentDetr(tiny(name).model, vid_dim=12, txt_dim=8).eval()
    vid, txt = torch.randn(1, 20, 12), torch.randn(1, 4, 8)
    alone = model(vid, torch.ones(1, 20, dtype=torch.bool), txt, torch.ones(1, 4, dtype=torch.bool))
    vid_p = torch.cat([vid, torch.randn(1, 15, 12)], dim=1)
    txt_p = torch.cat([txt, torch.randn(1, 3, 8)], dim=1)
    vm = torch.zeros(1, 35, dtype=torch.bool)
    vm[0, :20] = True
    tm = torch.zeros(1, 7, dtype=torch.bool)
    tm[0, :4] = True
    padded = model(vid_p, vm, txt_p, tm)
    assert torch.allclose(alone["pred_spans"], padded["pred_spans"], atol=1e-5)
    assert torch.allclose(alone["saliency"], padded["saliency"][:, :20], atol=1e-5)
    assert torch.allclose(alone["match_logit"], padded["match_logit"], atol=1e-5)


def test_conditional_cross_attention_looks_by_position():
    """With the content projections zeroed, where a query attends follows its anchor embedding
    alone: three queries in the same state (zeros: self-attention over equal values leaves them
    equal) read different clips when their anchors differ (the positional part of the logit is
    wired in) and the same clips when their anchors are equal."""
    torch.manual_seed(0)
    layer = ConditionalDecoderLayer(32, 4, 64, 0.0).eval()
    with torch.no_grad():
        for lin in (layer.q_content, layer.k_content):
            lin.weight.zero_()
            lin.bias.zero_()
        layer.k_position.weight.copy_(10 * torch.eye(32))
        layer.q_position.weight.copy_(10 * torch.eye(32))
    memory = torch.randn(1, 30, 32)
    clip_pos = sine_embedding(torch.linspace(0.02, 0.98, 30)[None], 32)
    anchors = sine_embedding(torch.tensor([[0.1, 0.9, 0.1]]), 32)
    x = torch.zeros(1, 3, 32)
    out = layer(x, anchors, memory, clip_pos, torch.zeros(1, 30, dtype=torch.bool))
    assert not torch.allclose(out[0, 0], out[0, 1], atol=1e-3)
    assert torch.allclose(out[0, 0], out[0, 2], atol=1e-5)


def _fake_output(spans: torch.Tensor, fg: float, saliency: torch.Tensor) -> dict:
    q = spans.shape[1]
    logits = torch.stack([torch.full((1, q), fg), torch.zeros(1, q)], dim=-1)
    return {
        "pred_logits": logits,
        "pred_spans": spans,
        "aux": [],
        "saliency": saliency,
        "match_logit": torch.tensor([3.0]),
        "word_share": None,
    }


def test_losses_prefer_correct_predictions():
    crit = SetCriterion(load_config("detr").loss)
    targets = {
        "spans": [torch.tensor([[0.5, 0.2]])],
        "span_valid": torch.tensor([True]),
        "saliency": torch.tensor([[0.0, 0.0, 2.0, 3.0, 0.0]]),
        "clip_mask": torch.ones(1, 5, dtype=torch.bool),
    }
    good_sal = torch.tensor([[-3.0, -3.0, 2.0, 3.0, -3.0]])
    good, parts = crit(_fake_output(torch.tensor([[[0.5, 0.2], [0.1, 0.05]]]), 2.0, good_sal), targets)
    bad, _ = crit(_fake_output(torch.tensor([[[0.2, 0.4], [0.1, 0.05]]]), 2.0, -good_sal), targets)
    assert parts["span"] < 1e-6 and parts["giou"] < 1e-6
    assert good < bad
    # weak labels (nothing known): no span loss, multiple-instance saliency loss instead
    weak = dict(targets, span_valid=torch.tensor([False]), saliency=torch.full((1, 5), -1.0))
    _, parts = crit(_fake_output(torch.tensor([[[0.2, 0.4], [0.1, 0.05]]]), 2.0, good_sal), weak)
    assert parts["span"] == 0 and parts["clip"] > 0


def test_feature_spec_encoder_check():
    from momentfinder.grounding.detr.checkpoint import FeatureSpec

    folder = FeatureSpec("clip_features", 512, "clip_text_features", 512, 2.0, visual_dirs=["clip_features"])
    with pytest.raises(InputError, match="unrecorded encoder"):
        folder.check_encoders("openai/clip-vit-base-patch32", 512, 512)
    spec = FeatureSpec("openai/clip-vit-base-patch32", 512, "clip", 512, 2.0, visual_dirs=["clip_features"])
    spec.check_encoders("openai/clip-vit-base-patch32", 512, 512)
    with pytest.raises(InputError, match="available encoder is google/siglip"):
        spec.check_encoders("google/siglip-base-patch16-224", 768, 768)
    assert FeatureSpec.from_dict({**spec.to_dict(), "future_field": 1}) == spec


def test_saliency_proposals_and_contrast():
    import numpy as np

    from momentfinder.grounding.detr.predict.decode import (
        contrast_scores,
        hybrid_candidates,
        saliency_proposals,
    )

    prob = np.array([0.05, 0.1, 0.9, 0.95, 0.8, 0.1, 0.05, 0.6, 0.7, 0.1])
    props = saliency_proposals(prob, ratios=(0.5,), max_peaks=2)
    assert props.tolist() == [[2, 5], [7, 9]]
    scores = contrast_scores(prob, np.array([[2, 5], [0, 2], [0, 10]]))
    assert scores[0] > scores[1] and abs(scores[2] - prob.mean()) < 1e-9
    logits = np.log(prob / (1 - prob))
    seconds, s = hybrid_candidates(np.array([[0.0, 4.0]]), np.array([0.9]), logits, 2.0, 20.0)
    assert seconds[int(np.argmax(s))].tolist() == [4.0, 10.0]
    # calibrated grow ratio: proposals rank above detector windows, higher peak first
    seconds, s = hybrid_candidates(np.array([[0.0, 4.0]]), np.array([0.9]), logits, 2.0, 20.0, grow_ratio=0.5)
    assert seconds[np.argsort(-s)].tolist() == [[4.0, 10.0], [14.0, 18.0], [0.0, 4.0]]


def test_background_loss_targets_the_least_salient_half():
    from momentfinder.grounding.detr.losses import background_loss

    free = torch.tensor([[True, True, True, True, False, False]])
    low = torch.tensor([[-5.0, -5.0, 5.0, 5.0, 9.0, 9.0]], requires_grad=True)
    high = torch.tensor([[5.0, 5.0, -5.0, -5.0, 9.0, 9.0]])
    assert (
        background_loss(low, free) < 0.01 and background_loss(high, free) < 0.01
    )  # the low half is already low
    mixed = torch.tensor([[1.0, 2.0, 3.0, 4.0, 9.0, 9.0]], requires_grad=True)
    background_loss(mixed, free).backward()
    assert mixed.grad[0, :2].gt(0).all() and mixed.grad[0, 2:].eq(0).all()


def test_unsure_clips_get_no_saliency_loss():
    from momentfinder.grounding.detr.config import LossConfig
    from momentfinder.grounding.detr.losses import SetCriterion

    criterion = SetCriterion(LossConfig())
    mask = torch.ones(1, 6, dtype=torch.bool)
    base = torch.tensor([[3.0, 3.0, 0.0, 0.0, -3.0, -3.0]])

    def grads(labels):
        sal = base.clone().requires_grad_(True)
        out = {"saliency": sal, "match_logit": torch.zeros(1), "word_share": None}
        losses = criterion.saliency_losses(out, torch.tensor([labels]), mask, None)
        (losses["saliency"] + losses["clip"]).backward()
        return sal.grad[0]

    # clips 2 and 3 unsure (-2): untouched; unknown (-1): the lower half is pushed down as background
    assert grads([1, 1, -2, -2, 0, 0])[2:4].eq(0).all()
    assert grads([1, 1, -1, -1, 0, 0])[2:4].ne(0).any()


def test_similarity_prior_starts_as_cosine():
    from momentfinder.grounding.detr.layers import SimilarityPrior

    prior = SimilarityPrior(vid_dim=6, txt_dim=4, hidden_dim=8)
    # narrower text is aligned onto the last clip dimensions (where Moment-DETR layouts put CLIP)
    assert torch.equal(prior.align.weight[2:], torch.eye(4)) and prior.align.weight[:2].abs().sum() == 0
    vid = torch.zeros(1, 2, 6)
    vid[0, 0, 2] = vid[0, 1, 0] = 1.0  # clip 0 shows word 0's direction, clip 1 something else
    words = torch.eye(4)[None, :2]
    prior.embed = torch.nn.Identity()
    out = prior(vid, words, torch.ones(1, 2, dtype=torch.bool)) / prior.scale
    assert torch.allclose(out[0, 0], torch.tensor([1.0, 0.0, 0.5])) and torch.allclose(
        out[0, 1], torch.zeros(3)
    )
    assert load_config("detr_qvh").model.enc_layers == 3
