"""Detector configuration: YAML files loaded into dataclasses.

A YAML file holds any subset of the sections below; missing fields keep their defaults.
Variants (Moment-DETR, QD-DETR, CG-DETR-style dummies) are settings of one model:
``t2v_layers: 0`` concatenates video and text in the encoder (Moment-DETR); ``t2v_layers > 0``
builds a query-dependent video representation first (QD-DETR); ``num_dummies > 0`` adds
learnable dummy tokens to that cross-attention (CG-DETR); ``negative_pairs`` trains on
mismatched query-video pairs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ...errors import InputError


@dataclass
class ModelConfig:
    hidden_dim: int = 256
    num_queries: int = 10  # learnable moment queries (detection slots)
    enc_layers: int = 2
    dec_layers: int = 2
    t2v_layers: int = 2  # text-to-video cross-attention layers; 0 = Moment-DETR concatenation
    num_dummies: int = 3  # dummy tokens in the text-to-video attention; 0 = none
    nheads: int = 8
    dim_feedforward: int = 1024
    dropout: float = 0.1
    input_dropout: float = 0.1
    n_input_proj: int = 2
    use_tef: bool = True  # append temporal endpoint features [start, end] / n_clips to each clip
    similarity_prior: bool = True  # clip-word similarities through a learned alignment (identity at start)
    # decoder cross-attention: ``dab`` adds the anchor embedding to the query (DAB-DETR, QD-DETR);
    # ``conditional`` keeps content and position apart, concatenated per head (Conditional DETR)
    decoder: str = "dab"


@dataclass
class LossConfig:
    span_coef: float = 10.0  # L1 on (centre, width)
    giou_coef: float = 1.0
    label_coef: float = 4.0  # foreground / background cross-entropy
    eos_coef: float = 0.1  # weight of the background class
    saliency_coef: float = 1.0  # pairwise hinge on per-clip saliency
    saliency_margin: float = 0.2
    negative_pairs: bool = True  # mismatched query-video pairs (QD-DETR)
    negative_coef: float = 1.0  # saliency of a mismatched pair pushed to 0
    match_coef: float = 1.0  # video-level "query happens" head (drives the no-moment score)
    attention_coef: float = 0.5  # clips inside the moment attend to words, the rest to dummies
    aux_loss: bool = True  # losses on every decoder layer
    cost_span: float = 10.0
    cost_giou: float = 1.0
    cost_class: float = 4.0


@dataclass
class TrainConfig:
    epochs: int = 12  # issue #18: 8 (drop at 6) stopped while test R1@0.5 still rose
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 1e-4
    lr_drop: int = 9  # epoch at which the learning rate drops 10x; 0 = never (lr_schedule step)
    # step: constant, then 10x lower from lr_drop; cosine: annealed from lr to 0 over the epochs
    lr_schedule: str = "step"
    grad_clip: float = 0.1
    max_windows: int = 5  # ground-truth windows kept per query (Moment-DETR)
    eval_every: int = 1  # epochs between validations
    # which validated epoch best.ckpt keeps (and what the hybrid grow ratio is calibrated on): a val
    # metric (MR-full-mAP, MR-full-R1@0.5, MR-full-R1@0.7, point_hit: the top window holds the
    # val query's point, for point-labelled val sets), or ``last`` (the last validated epoch; the
    # grow ratio on mAP)
    select_metric: str = "MR-full-mAP"
    # an epoch whose calibrated no-moment threshold rejects fewer of the val negatives than this is
    # kept only while no validated epoch has reached it (issue #18: a point run kept an epoch
    # rejecting 59 % of them); 0 = rejection ignored
    select_min_negative_reject: float = 0.8
    # validate, select and save an exponential moving average of the weights reaching back about
    # this many epochs instead of the last step's (averaging.py); 0 = off
    average_epochs: float = 0.0
    precision: str = "auto"  # auto (bf16 autocast where the CPU/GPU has fast bf16) | bf16 | fp32


@dataclass
class InferenceConfig:
    top_k: int = 10
    # detr: the moment queries' windows alone; hybrid: plus saliency-grown windows (predict/decode.py)
    decode: str = "hybrid"
    nms_iou: float = 0.7  # temporal NMS on the predicted windows; <= 0 disables
    positive_reject_rate: float = 0.01  # share of val positives the calibrated no-moment threshold rejects
    # each moment's score + this x its zero-shot span score (normalised over the query's moments),
    # then ranked by that: the zero-shot grounder's look-alike contrast, from a calibration fitted
    # on the val split at training and kept in the checkpoint (predict/rerank.py); 0 = off
    zeroshot_rerank: float = 0.0


@dataclass
class SupervisionConfig:
    mode: str = "full"  # full | point | weak
    warmup_epochs: int = 3  # point/weak: epochs of saliency-only training before pseudo windows
    refresh_every: int = (
        2  # point/weak: epochs between pseudo-window refreshes; 0 = grow them once, keep them
    )
    expand_ratio: float = 0.5  # pseudo window: clips whose saliency exceeds this share of the peak's
    # Pseudo labels from another grounder (``momentfinder train --pseudo-labels``, e.g. the zero-shot
    # grounder's predictions; see supervision.py): weak keeps each query's top ``pseudo_windows``
    # windows; point keeps, per point, the best window holding it (else grows one on its curve).
    pseudo_windows: int = 1
    # point: with no pseudo window holding the point, grow one on the labeller's curve at this share
    # of the point's value (0.8 gave 66 % of windows at IoU >= 0.5 with the zero-shot curve, 0.5 gave 49 %)
    pseudo_grow_ratio: float = 0.8
    # point / weak without pseudo labels: after the warm-up epochs grow the windows, a freshly
    # initialised detector trains on them (issue #18: trained on after the saliency-only warm-up,
    # the detector's own windows stayed poor, test R1@0.5 29 detector-only against 85 with full labels;
    # on in detr_point)
    restart_after_warmup: bool = False
    refine_pseudo: bool = False  # with pseudo labels: refresh them from the model after warmup_epochs too
    # what a refresh grows the pseudo windows from: ``saliency`` (the model's curve around the point
    # or peak, at expand_ratio) or ``detector`` (its most confident predicted window holding the point,
    # or its top window for weak labels; the saliency-grown one where no prediction holds the point,
    # and at the first refresh of a run without pseudo labels, before the detector has trained)
    refine_source: str = "saliency"
    # point: saliency inside a pseudo window falls off as a Gaussian around the point (sigma as a
    # share of the window's length); 0 = flat
    point_sigma: float = 0.0
    # refreshed pseudo windows: per-clip labels only where the curve is sure (issue #18). Clips of a
    # window below ``sure_inside_ratio`` x the point's (or peak's) value, and clips beyond it in the
    # run around the point down to ``sure_outside_ratio`` x that value, are left unlabelled (no
    # saliency loss either way); the detector still trains on the whole window. 0 = off.
    sure_inside_ratio: float = 0.0
    sure_outside_ratio: float = 0.0


@dataclass
class DetrConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> DetrConfig:
        cfg = cls()
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
        for section, values in data.items():
            if section not in {f.name for f in dataclasses.fields(cls)}:
                raise InputError(f"{source}: unknown section {section!r}")
            if values is not None and not isinstance(values, dict):
                raise InputError(f"{source}: section {section!r} must be a mapping of settings")
            target = getattr(cfg, section)
            known = {f.name: f for f in dataclasses.fields(target)}
            for key, value in (values or {}).items():
                if key not in known:
                    raise InputError(f"{source}: unknown setting {section}.{key}")
                default = getattr(target, key)
                if isinstance(default, bool) and not isinstance(value, bool):
                    raise InputError(f"{source}: {section}.{key} must be true or false")
                if isinstance(default, (int, float)) and not isinstance(default, bool):
                    try:
                        value = type(default)(value)
                    except (TypeError, ValueError):
                        raise InputError(f"{source}: {section}.{key} must be a number") from None
                setattr(target, key, value)
        if cfg.train.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"{source}: train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if not 0 <= cfg.train.select_min_negative_reject <= 1:
            raise InputError(f"{source}: train.select_min_negative_reject must be in [0, 1]")
        if not 0 <= cfg.train.average_epochs < float("inf"):
            raise InputError(f"{source}: train.average_epochs must be a finite number >= 0 (0: off)")
        if cfg.train.select_metric not in SELECT_METRICS:
            raise InputError(f"{source}: train.select_metric must be one of {', '.join(SELECT_METRICS)}")
        if cfg.model.nheads < 1 or cfg.model.hidden_dim < 1 or cfg.model.hidden_dim % cfg.model.nheads:
            raise InputError(
                f"{source}: model.hidden_dim ({cfg.model.hidden_dim}) must be a positive multiple of "
                f"model.nheads ({cfg.model.nheads})"
            )
        if cfg.model.decoder not in DECODERS:
            raise InputError(f"{source}: model.decoder must be one of {', '.join(DECODERS)}")
        if cfg.inference.decode not in ("detr", "hybrid"):
            raise InputError(f"{source}: inference.decode must be detr or hybrid")
        if not 0 <= cfg.inference.zeroshot_rerank < float("inf"):
            raise InputError(f"{source}: inference.zeroshot_rerank must be a finite number >= 0 (0: off)")
        if cfg.supervision.mode not in SUPERVISION_MODES:
            raise InputError(f"{source}: supervision.mode must be one of {', '.join(SUPERVISION_MODES)}")
        if cfg.supervision.refine_source not in REFINE_SOURCES:
            raise InputError(
                f"{source}: supervision.refine_source must be one of {', '.join(REFINE_SOURCES)}"
            )
        if cfg.supervision.refresh_every < 0 or cfg.supervision.warmup_epochs < 0:
            raise InputError(f"{source}: supervision.refresh_every and warmup_epochs must be >= 0")
        if cfg.supervision.pseudo_windows < 1:
            raise InputError(f"{source}: supervision.pseudo_windows must be at least 1")
        if not 0 < cfg.supervision.pseudo_grow_ratio <= 1:
            raise InputError(f"{source}: supervision.pseudo_grow_ratio must be in (0, 1]")
        if cfg.supervision.point_sigma < 0:
            raise InputError(f"{source}: supervision.point_sigma must be >= 0")
        sup = cfg.supervision
        if not 0 <= sup.sure_outside_ratio <= sup.expand_ratio or not (
            sup.sure_inside_ratio == 0 or sup.expand_ratio <= sup.sure_inside_ratio <= 1
        ):
            raise InputError(
                f"{source}: supervision needs 0 <= sure_outside_ratio <= expand_ratio <= "
                "sure_inside_ratio <= 1 (sure_inside_ratio 0: off)"
            )
        if sup.sure_outside_ratio > 0 and sup.sure_inside_ratio == 0:
            raise InputError(
                f"{source}: supervision.sure_outside_ratio works only with sure_inside_ratio > 0 "
                "(it widens the unlabelled band that sure_inside_ratio starts)"
            )
        return cfg


SUPERVISION_MODES = ("full", "point", "weak")
DECODERS = ("dab", "conditional")
LR_SCHEDULES = ("step", "cosine")
SELECT_METRICS = ("MR-full-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7", "point_hit", "last")
REFINE_SOURCES = ("saliency", "detector")
BUILTIN_CONFIGS = ("detr", "detr_moment", "detr_qd", "detr_qvh", "detr_point", "detr_weak")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"  # package data: momentfinder/configs


def default_config_name(supervision: str | None, pseudo_labels: bool = False) -> str:
    """The built-in config tuned for a label type: ``detr_point`` for points, ``detr_weak`` for
    video-sentence pairs (or pseudo labels with no label type named), else ``detr``."""
    if supervision == "point":
        return "detr_point"
    if supervision == "weak" or (pseudo_labels and supervision is None):
        return "detr_weak"
    return "detr"


def load_config(path_or_name: str | Path | None = None) -> DetrConfig:
    """A config from a YAML file, or a built-in one by name (``detr``, ``detr_moment``, ``detr_qd``)."""
    if path_or_name is None:
        path_or_name = "detr"
    name = str(path_or_name)
    if name in BUILTIN_CONFIGS:
        text = (CONFIG_DIR / f"{name}.yaml").read_text()
        source = f"built-in config {name}"
    else:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"config {name!r} is neither a file nor one of: {', '.join(BUILTIN_CONFIGS)}")
        text, source = path.read_text(), str(path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
    return DetrConfig.from_dict(data, source)
