"""Training loop: per-epoch validation, best checkpoint by a val metric, logs, plot, exact resume.

``RUN/last.ckpt`` holds everything needed to continue (weights, optimiser, scheduler, RNG
states, pseudo labels, history) and is written atomically after every epoch, so a killed run
resumes with ``resume=True`` and reproduces the uninterrupted run. ``RUN/best.ckpt`` holds the
weights with the best val ``train.select_metric`` (``MR-full-mAP`` by default; or the last
validated epoch) plus the no-moment calibration.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ...atomic import write_atomic
from ...errors import InputError
from ...types import ClipFeatures, GroundingResult, GroundingSample, QueryFeatures, Timeline
from ..zeroshot import NoMomentCalibration, ZeroShotGrounder
from .averaging import weight_average
from .calibration import calibrate_no_moment, mismatched_pairs
from .checkpoint import FeatureSpec, load_resume_checkpoint, save_checkpoint
from .config import DetrConfig, SupervisionConfig
from .dataset import Example, FeatureSource, build_examples, collate, to_device
from .losses import SetCriterion
from .model import MomentDetr
from .predict.grounder import DetrGrounder
from .predict.rerank import calibration_payload, fit_rerank_calibration
from .supervision import (
    PseudoLabel,
    apply_pseudo_labels,
    apply_supervision,
    point_of,
    pseudo_label_state,
    pseudo_window_quality,
    refresh_pseudo_windows,
    restore_pseudo_labels,
)

log = logging.getLogger(__name__)
DEFAULT_METRIC = "MR-full-mAP"


def calibration_metric(cfg: DetrConfig) -> str:
    """The val metric the hybrid grow ratio maximises: the selection metric (mAP for ``last``)."""
    return DEFAULT_METRIC if cfg.train.select_metric == "last" else cfg.train.select_metric


def point_hit(results: list[GroundingResult], samples: list[GroundingSample], seed: int) -> float | None:
    """Share (%) of val queries whose top window holds the query's point: one timestamp per true
    window, drawn as point labels are (:func:`.supervision.point_of`), so a point-labelled val set
    gives the same number. Longer windows hold points more easily: for selecting among epochs of
    one run, not for comparing decoders. ``None`` when no sample has a window."""
    hits = []
    for r, s in zip(results, samples, strict=True):
        if not s.windows:
            continue
        points = [point_of(w, s.qid, i, seed) for i, w in enumerate(s.windows)]
        top = r.moments[0] if r.moments else None
        hits.append(top is not None and any(top.start <= t <= top.end for t in points))
    return 100.0 * float(np.mean(hits)) if hits else None


def example_pairs(examples: list[Example]) -> list[tuple[ClipFeatures, QueryFeatures]]:
    """The (clips, query) pairs of ``examples`` (features already in memory) for a grounder."""
    return [
        (
            ClipFeatures(
                e.clips, Timeline.of(len(e.clips), e.clip_len, e.sample.duration), video_id=e.sample.vid
            ),
            QueryFeatures(e.sample.query, e.tokens[0], e.tokens),
        )
        for e in examples
    ]


def predict_examples(
    grounder: DetrGrounder, examples: list[Example], top_k: int, reject: bool, batch_size: int = 64
):
    """:class:`GroundingResult` for every example (features already in memory)."""
    results = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        pairs = example_pairs(chunk)
        for e, r in zip(chunk, grounder.ground_batch(pairs, top_k, reject=reject), strict=True):
            r.qid = e.sample.qid
            results.append(r)
    return results


# Validation metrics of results against their samples: the official QVHighlights metrics in
# ``momentfinder train`` (momentfinder.eval; the pipeline passes it in, grounding imports no eval).
Evaluate = Callable[[list[GroundingResult], list[GroundingSample]], dict]


GROW_RATIOS = (0.2, 0.3, 0.45, 0.6)  # hybrid decoding: shares of a saliency peak tried on val


def calibrate_decoding(
    grounder: DetrGrounder, val: list[Example], cfg: DetrConfig, evaluate: Evaluate, seed: int = 0
) -> tuple[dict, list]:
    """Val metrics (brief, plus ``point_hit``) and results with the hybrid grow ratio that
    maximises :func:`calibration_metric` (set on ``grounder``). ``seed``: the point labels' seed."""
    samples = [e.sample for e in val]
    ratios = GROW_RATIOS if cfg.inference.decode == "hybrid" else (None,)
    key = calibration_metric(cfg)
    best: tuple = (-math.inf, None, None, None)
    for ratio in ratios:
        grounder.grow_ratio = ratio
        results = predict_examples(grounder, val, cfg.inference.top_k, reject=False)
        metrics = dict(evaluate(results, samples)["brief"])
        metrics["point_hit"] = point_hit(results, samples, seed)
        value = metrics[key] if metrics[key] is not None else -math.inf
        if best[2] is None or value > best[0]:
            best = (value, ratio, metrics, results)
    grounder.grow_ratio = best[1]
    return best[2], best[3]


def validate(
    grounder: DetrGrounder,
    val: list[Example],
    negatives: list[Example],
    cfg: DetrConfig,
    seed: int,
    evaluate: Evaluate,
) -> tuple[dict, dict]:
    """Val metrics (brief) and the calibration: no-moment threshold and hybrid grow ratio."""
    metrics, results = calibrate_decoding(grounder, val, cfg, evaluate, seed)
    if negatives:
        neg_scores = [r.no_moment_score for r in predict_examples(grounder, negatives, 1, reject=False)]
    else:  # each val query against another val video
        partner = mismatched_pairs([e.sample.vid for e in val], seed)
        swapped = [
            Example(val[j].sample, val[j].clips, e.tokens, val[j].clip_len, e.spans, e.saliency)
            for e, j in zip(val, partner, strict=True)
        ]
        neg_scores = [r.no_moment_score for r in predict_examples(grounder, swapped, 1, reject=False)]
    calibration = calibrate_no_moment(
        np.array([r.no_moment_score for r in results]),
        np.array(neg_scores),
        cfg.inference.positive_reject_rate,
    )
    calibration["grow_ratio"] = grounder.grow_ratio
    return metrics, calibration


def _split(out: dict, n: int) -> tuple[dict, dict]:
    """Split a model output over a ``[positives; negatives]`` batch."""

    def part(d: dict, sl: slice) -> dict:
        return {
            k: (
                v[sl]
                if isinstance(v, torch.Tensor)
                else [part(a, sl) for a in v]
                if isinstance(v, list)
                else v
            )
            for k, v in d.items()
        }

    return part(out, slice(0, n)), part(out, slice(n, None))


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to train under bf16 autocast: ``auto`` picks it where bf16 matrix products are fast."""
    if precision not in ("auto", "bf16", "fp32"):
        raise InputError(f"train.precision must be auto, bf16 or fp32, not {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _float(out: dict) -> dict:
    """Model outputs in float32 (the losses are computed outside autocast)."""
    return {
        k: (
            v.float() if isinstance(v, torch.Tensor) else [_float(a) for a in v] if isinstance(v, list) else v
        )
        for k, v in out.items()
    }


def train_step(
    model, criterion, batch: dict, cfg: DetrConfig, bf16: bool = False
) -> tuple[torch.Tensor, dict]:
    vid, vid_mask, txt, txt_mask = batch["vid"], batch["vid_mask"], batch["txt"], batch["txt_mask"]
    n = len(vid)
    autocast = torch.autocast(vid.device.type, dtype=torch.bfloat16, enabled=bf16)
    if not (cfg.loss.negative_pairs and n > 1):
        with autocast:
            out = model(vid, vid_mask, txt, txt_mask)
        return criterion(_float(out), batch["targets"])
    # QD-DETR negative pairs: every video with the next sample's query (skipped when the video is the same)
    vids = batch["vids"]
    valid = torch.tensor([vids[i] != vids[(i - 1) % n] for i in range(n)], device=vid.device)
    with autocast:
        out = model(
            torch.cat([vid, vid]),
            torch.cat([vid_mask, vid_mask]),
            torch.cat([txt, txt.roll(1, 0)]),
            torch.cat([txt_mask, txt_mask.roll(1, 0)]),
        )
    pos, neg = _split(_float(out), n)
    return criterion(pos, batch["targets"], {"out": neg, "vid_mask": vid_mask, "valid": valid})


def train_epoch(
    model: MomentDetr,
    criterion: SetCriterion,
    optimizer: torch.optim.Optimizer,
    examples: list[Example],
    cfg: DetrConfig,
    device: torch.device,
    bf16: bool,
    desc: str | None = None,
    average: AveragedModel | None = None,
) -> dict[str, float]:
    """One pass over ``examples`` in the given order (batches of ``cfg.train.batch_size``); return
    the mean total loss (``loss``) and its parts (``loss_span``, ...). ``desc``: progress bar label
    (None: no bar); ``average``: the moving average of the weights, updated after every step."""
    model.train()
    bs = cfg.train.batch_size
    sums: dict[str, float] = {}
    n_batches = math.ceil(len(examples) / bs)
    bar = tqdm(range(n_batches), desc=desc, disable=desc is None, leave=False)
    for b in bar:
        batch = to_device(collate(examples[b * bs : (b + 1) * bs]), device)
        loss, parts = train_step(model, criterion, batch, cfg, bf16)
        optimizer.zero_grad()
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
        for k, v in parts.items():
            sums[f"loss_{k}"] = sums.get(f"loss_{k}", 0.0) + v
        bar.set_postfix(loss=f"{sums['loss'] / (b + 1):.3f}")
    bar.close()
    return {k: v / n_batches for k, v in sums.items()}


def refresh_due(sup: SupervisionConfig, epoch: int, has_pseudo_labels: bool) -> bool:
    """Whether point / weak pseudo windows are (re)grown from the model before ``epoch``."""
    if sup.mode == "full" or (has_pseudo_labels and not sup.refine_pseudo) or epoch < sup.warmup_epochs:
        return False
    if sup.refresh_every == 0:
        return epoch == sup.warmup_epochs
    return (epoch - sup.warmup_epochs) % sup.refresh_every == 0


def feature_spec_of(examples: list[Example], features: FeatureSource) -> FeatureSpec:
    """What the model is trained on. A ``momentfinder extract`` directory names its encoder (its
    manifest), so a checkpoint trained on it can run on raw videos with that encoder."""
    dirs = list(features.clip_feat_dirs)
    clip_lens = sorted({e.clip_len for e in examples})
    if len(clip_lens) > 1:
        raise InputError(
            f"the training videos have clips of {', '.join(f'{c:g}' for c in clip_lens)} s; one model "
            "needs one clip length (extract them again with one --clip-len)"
        )
    return FeatureSpec(
        visual_model=features.encoder or "+".join(dirs) or "unknown",
        visual_dim=int(examples[0].clips.shape[1]),
        text_model=features.text_encoder or "unknown",
        text_dim=int(examples[0].tokens.shape[1]),
        clip_len=float(clip_lens[0]),
        text_tokens=any(e.tokens.shape[0] > 1 for e in examples[:100]),
        normalize=bool(features.normalize),
        visual_dirs=dirs,
        text_dir=str(features.text_feat_dir or ""),
    )


def train_detector(
    cfg: DetrConfig,
    features: FeatureSource,
    train_samples: list[GroundingSample],
    val_samples: list[GroundingSample],
    out_dir: str | Path,
    *,
    evaluate: Evaluate,
    seed: int = 2018,
    device: str = "cpu",
    resume: bool = False,
    val_negatives: list[GroundingSample] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    pseudo_labels: Mapping[object, PseudoLabel] | None = None,
) -> dict:
    """Train, validate every ``cfg.train.eval_every`` epochs, keep ``best.ckpt``; return the summary.

    ``evaluate(results, samples) -> metrics`` scores the validation predictions (its ``"brief"``
    dict must hold ``MR-full-mAP``, the selection metric); ``stop_after``: return after that many
    epochs of this call (tests of resume). Clip length comes with the features.
    ``pseudo_labels`` (qid -> :class:`PseudoLabel`, point or weak supervision): another grounder's
    windows as the initial pseudo windows (:func:`.supervision.apply_pseudo_labels`); with weak
    labels, training queries without ground-truth windows (unlabelled videos) are used too.
    """
    out_dir = Path(out_dir)
    last_path, best_path = out_dir / "last.ckpt", out_dir / "best.ckpt"
    if last_path.exists() and not resume:
        raise InputError(
            f"{out_dir} already holds a training run; pass --resume to continue it or choose another --out"
        )
    if resume and not last_path.exists():
        raise InputError(f"nothing to resume: {last_path} does not exist")
    if not train_samples or not val_samples:
        raise InputError("training needs at least one training and one validation query")
    sup = cfg.supervision
    if pseudo_labels is not None and sup.mode not in ("point", "weak"):
        raise InputError("pseudo labels replace the training windows: use point or weak supervision")

    def usable(s: GroundingSample) -> bool:  # negatives come from mismatched pairs
        if s.windows:
            return True
        label = pseudo_labels.get(s.qid) if pseudo_labels is not None and sup.mode == "weak" else None
        return label is not None and bool(label.windows)

    train_samples = [s for s in train_samples if usable(s)]
    if not train_samples:
        raise InputError("no training query has a window (or, with weak supervision, a pseudo window)")
    out_dir.mkdir(parents=True, exist_ok=True)
    device_t = torch.device(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    train_ex = build_examples(train_samples, features, cfg.train.max_windows)
    val_ex = build_examples(val_samples, features, cfg.train.max_windows)
    neg_ex = build_examples(val_negatives, features, 0) if val_negatives else []
    apply_supervision(train_ex, sup.mode, seed, cfg.train.max_windows)
    if pseudo_labels is not None:
        n_pseudo = apply_pseudo_labels(train_ex, pseudo_labels, sup, cfg.train.max_windows)
        log.info("pseudo windows for %d of %d training queries", n_pseudo, len(train_ex))
    initial_quality = pseudo_window_quality(train_ex) if sup.mode != "full" else None
    spec = feature_spec_of(train_ex, features)
    # the zero-shot grounder that re-ranks the detector's moments (inference.zeroshot_rerank),
    # calibrated on val once; every checkpoint keeps it, so the option can be turned on later too
    rerank_cal = fit_rerank_calibration(example_pairs(val_ex), example_pairs(neg_ex))
    zeroshot = ZeroShotGrounder(calibration=rerank_cal) if rerank_cal is not None else None

    steps_per_epoch = math.ceil(len(train_ex) / cfg.train.batch_size)
    model, optimizer, scheduler, average = start_model(cfg, spec, device_t, steps_per_epoch)
    criterion = SetCriterion(cfg.loss)
    history: list[dict] = []
    best = {"epoch": -1, "metric": -math.inf, "rejects_enough": False}
    start_epoch = 0
    if resume:
        ckpt = load_resume_checkpoint(last_path, map_location=device_t)
        # through from_dict, so settings added since the run started count at their defaults
        saved = DetrConfig.from_dict(ckpt["config"], str(last_path)).to_dict()
        if _without_epochs(saved) != _without_epochs(cfg.to_dict()):
            raise InputError(
                f"{last_path} was trained with a different config; resume with the same --config"
            )
        state = ckpt["train_state"]
        model.load_state_dict(state.get("weights", ckpt["model"]))  # raw weights when averaging
        if average is not None:
            average.module.load_state_dict(ckpt["model"])
            average.n_averaged.fill_(state["n_averaged"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())  # RNG states are CPU tensors, whatever map_location
        generator.set_state(state["generator"].cpu())
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
        if state.get("pseudo_labels"):
            restore_pseudo_labels(train_ex, state["pseudo_labels"])

    bf16 = use_bf16(cfg.train.precision, device_t)
    epochs_run = 0
    for epoch in range(start_epoch, cfg.train.epochs):
        t0, cpu0 = time.perf_counter(), time.process_time()
        row: dict = {"epoch": epoch}
        if refresh_due(sup, epoch, pseudo_labels is not None):
            row["pseudo_window_clips"] = refresh_pseudo_windows(
                model, train_ex, sup, device_t, cfg.train.max_windows
            )
            quality = pseudo_window_quality(train_ex)
            if sup.restart_after_warmup and epoch == sup.warmup_epochs and pseudo_labels is None:
                # the warm-up model has grown the windows; a fresh one trains on them
                model, optimizer, scheduler, average = start_model(
                    cfg, spec, device_t, steps_per_epoch, epoch
                )
                row["restarted"] = 1
        elif epoch == start_epoch and not resume:
            quality = initial_quality
        else:
            quality = None
        if quality is not None:  # against the annotation point / weak labels were derived from
            row.update({f"pseudo_{k}": v for k, v in quality.items()})
        order = torch.randperm(len(train_ex), generator=generator).tolist()
        row.update(
            train_epoch(
                model,
                criterion,
                optimizer,
                [train_ex[i] for i in order],
                cfg,
                device_t,
                bf16,
                desc=f"epoch {epoch + 1}/{cfg.train.epochs}" if progress else None,
                average=average,
            )
        )
        scheduler.step()
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["train_seconds"] = time.perf_counter() - t0
        row["train_cpu_seconds"] = time.process_time() - cpu0  # all threads; robust to a busy machine
        last_epoch = epoch == cfg.train.epochs - 1
        # what validation scores and the checkpoints hold: the averaged weights when averaging
        kept = average.module if average is not None else model
        calibration = None
        if (epoch + 1) % cfg.train.eval_every == 0 or last_epoch:
            grounder = DetrGrounder(kept, cfg, spec, device=device_t, zeroshot=zeroshot)
            metrics, calibration = validate(grounder, val_ex, neg_ex, cfg, seed, evaluate)
            model.train()
            row.update({f"val_{k}": v for k, v in metrics.items()})
            row["val_negative_reject"] = calibration.get("val_negative_reject")
            row["no_moment_threshold"] = calibration.get("no_moment_threshold")
            key = cfg.train.select_metric  # "last": every validated epoch replaces the one before
            value = math.inf if key == "last" else metrics[key]
            rejects = rejects_enough(row["val_negative_reject"], cfg.train.select_min_negative_reject)
            if key == "last" or replaces_best(best, value, rejects):
                best = {"epoch": epoch, "metric": float(value), "rejects_enough": rejects}
                save_checkpoint(best_path, _payload(kept, cfg, spec, calibration, epoch, metrics, rerank_cal))
        history.append(row)
        train_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "generator": generator.get_state(),
            "epoch": epoch,
            "history": history,
            "best": best,
            "pseudo_labels": pseudo_label_state(train_ex) if sup.mode != "full" else None,
        }
        if average is not None:  # the payload's "model" is the average; the raw weights go on
            train_state["weights"] = _cpu_state(model)
            train_state["n_averaged"] = int(average.n_averaged)
        save_checkpoint(
            last_path,
            {**_payload(kept, cfg, spec, calibration, epoch, None, rerank_cal), "train_state": train_state},
        )
        write_logs(out_dir, history)
        if on_epoch is not None:
            on_epoch(row)
        epochs_run += 1
        if stop_after is not None and epochs_run >= stop_after:
            break
    summary = {
        "run": str(out_dir),
        "best_epoch": best["epoch"],
        "select_metric": cfg.train.select_metric,
        "best_val_metric": None if cfg.train.select_metric == "last" else best["metric"],
        "epochs": len(history),
    }
    write_atomic(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def start_model(
    cfg: DetrConfig, spec: FeatureSpec, device: torch.device, steps_per_epoch: int, epoch: int = 0
) -> tuple[MomentDetr, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, AveragedModel | None]:
    """A freshly initialised detector (from the global torch RNG) with its optimiser, its learning
    rate schedule advanced to ``epoch`` and its weight average (None unless train.average_epochs)."""
    model = MomentDetr(cfg.model, spec.visual_dim, spec.text_dim).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = make_scheduler(optimizer, cfg)
    with warnings.catch_warnings():  # stepping the schedule before any optimiser step, on purpose
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(epoch):
            scheduler.step()
    return model, optimizer, scheduler, weight_average(model, cfg.train.average_epochs, steps_per_epoch)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: DetrConfig):
    """The learning-rate schedule of ``cfg.train`` (stepped once per epoch)."""
    if cfg.train.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.train.epochs, 1))
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.train.lr_drop or 10**9, gamma=0.1)


def _without_epochs(config: dict) -> dict:
    """A config minus ``train.epochs``, which a resumed run may extend."""
    return {**config, "train": {k: v for k, v in config["train"].items() if k != "epochs"}}


def _payload(
    model,
    cfg: DetrConfig,
    spec: FeatureSpec,
    calibration: dict | None,
    epoch: int,
    metrics: dict | None,
    rerank_cal: NoMomentCalibration | None = None,
) -> dict:
    payload = {
        "config": cfg.to_dict(),
        "spec": spec.to_dict(),
        "calibration": calibration or {},
        "model": _cpu_state(model),
        "epoch": epoch,
        "val_metrics": metrics or {},
    }
    if rerank_cal is not None:
        payload["zeroshot_calibration"] = calibration_payload(rerank_cal)
    return payload


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def write_logs(out_dir: Path, history: list[dict]) -> None:
    """``log.json``, ``log.csv`` (one row per epoch) and ``curves.png`` (losses and val metrics)."""
    write_atomic(out_dir / "log.json", (json.dumps(history, indent=1) + "\n").encode())
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    write_atomic(out_dir / "log.csv", text.getvalue().encode())
    plot_history(history, out_dir / "curves.png")


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] + 1 for r in history]
    for key in ("loss", "loss_span", "loss_giou", "loss_label", "loss_saliency", "loss_match"):
        if any(key in r for r in history):
            ax_loss.plot(epochs, [r.get(key, np.nan) for r in history], label=key)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log")
    ax_loss.legend(fontsize=7)
    for key in ("val_MR-full-R1@0.5", "val_MR-full-R1@0.7", "val_MR-full-mAP", "val_HL-min-VeryGood-mAP"):
        pts = [(r["epoch"] + 1, r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), marker=".", label=key[4:])
    ax_val.set(xlabel="epoch", ylabel="val metric (%)")
    ax_val.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def rejects_enough(negative_reject: float | None, minimum: float) -> bool:
    """Whether an epoch's calibrated threshold rejects at least ``minimum`` of the val negatives
    (``train.select_min_negative_reject``; no negatives measured: it does)."""
    return negative_reject is None or negative_reject >= minimum


def replaces_best(best: dict, value: float | None, rejects: bool) -> bool:
    """Whether a validated epoch (its select metric ``value``) replaces ``best``: one that rejects
    enough negatives beats one that does not, then the higher metric wins (ties keep the earlier)."""
    if value is None:
        return False
    return (rejects, value) > (best.get("rejects_enough", True), best["metric"])
