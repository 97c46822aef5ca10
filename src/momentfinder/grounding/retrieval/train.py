"""Training the cross-video ranker from labelled queries (no files: the pipeline hands in arrays).

Each step scores a batch of queries against their own videos and negatives from OTHER videos (the
batch's other videos, random ones, and per query the videos the model currently ranks highest
among all training videos: the look-alikes that share a subject or an action), with a
cross-entropy over videos; and against the clips of their own video, whose clips outside the
labelled moments are the in-video negatives, with a cross-entropy over clips. The epoch with the
best validation video R@1 is kept.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...errors import InputError
from .config import RankerConfig
from .model import CrossVideoRanker

log = logging.getLogger(__name__)


@dataclass
class RankerExample:
    """One labelled query: its video (a key of the videos mapping), its token features
    ``(n_tokens, text_dim)`` and which clips of the video lie inside its moments."""

    video: str
    tokens: np.ndarray
    positive_clips: np.ndarray  # bool (n_clips,)


@dataclass
class RankerHistory:
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_r1: float | None = None
    train_seconds: float = 0.0  # CPU seconds of this process while training

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_val_r1": self.best_val_r1,
            "train_seconds": round(self.train_seconds, 2),
        }


def pad_videos(videos: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C_max, dim) L2-normalised clip rows (zeros after each video's end) and the (N, C_max) mask."""
    n_max = max(len(v) for v in videos)
    dim = videos[0].shape[1]
    out = torch.zeros(len(videos), n_max, dim)
    mask = torch.zeros(len(videos), n_max, dtype=torch.bool)
    for i, v in enumerate(videos):
        out[i, : len(v)] = F.normalize(torch.as_tensor(np.asarray(v, dtype=np.float32)), dim=-1)
        mask[i, : len(v)] = True
    return out, mask


def pad_tokens(tokens: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    n_max = max(len(t) for t in tokens)
    out = torch.zeros(len(tokens), n_max, tokens[0].shape[1])
    mask = torch.zeros(len(tokens), n_max, dtype=torch.bool)
    for i, t in enumerate(tokens):
        out[i, : len(t)] = torch.as_tensor(np.asarray(t, dtype=np.float32))
        mask[i, : len(t)] = True
    return out, mask


def _check(videos: dict[str, np.ndarray], examples: Sequence[RankerExample], what: str) -> None:
    if not examples:
        raise InputError(f"no {what} queries to train the ranker on")
    for ex in examples:
        if ex.video not in videos:
            raise InputError(f"{what} query of video {ex.video}: the video's features are missing")
        if len(ex.positive_clips) != len(videos[ex.video]):
            raise InputError(
                f"{what} query of video {ex.video}: its clip labels do not match the video's clips"
            )
        if len(ex.tokens) == 0:
            raise InputError(f"{what} query of video {ex.video} has no token features")


class _Split:
    """A set of videos and queries as padded tensors."""

    def __init__(self, videos: dict[str, np.ndarray], examples: Sequence[RankerExample]):
        self.names = sorted({ex.video for ex in examples} | set(videos))
        index = {name: i for i, name in enumerate(self.names)}
        self.clips, self.clip_mask = pad_videos([videos[n] for n in self.names])
        self.tokens, self.token_mask = pad_tokens([ex.tokens for ex in examples])
        self.own = torch.tensor([index[ex.video] for ex in examples])
        self.positive = torch.zeros(len(examples), self.clips.shape[1], dtype=torch.bool)
        for i, ex in enumerate(examples):
            self.positive[i, : len(ex.positive_clips)] = torch.as_tensor(np.asarray(ex.positive_clips, bool))

    def prepare(self, model: CrossVideoRanker) -> None:
        with torch.no_grad():
            self.clips = model.prepare_clips(self.clips) * self.clip_mask[..., None]


@torch.no_grad()
def score_all(
    model: CrossVideoRanker,
    tokens: torch.Tensor,
    token_mask: torch.Tensor,
    clips: torch.Tensor,
    clip_mask: torch.Tensor,
    chunk: int = 64,
    pooled: bool = False,
) -> torch.Tensor:
    """(Q, N) video scores of every query in every video, in chunks of videos. ``pooled``: a
    cheaper approximation for mining (each query's gate-weighted mean token, max over clips)."""
    mapped, log_w = model.encode_query(tokens, token_mask)
    if pooled:
        vector = (log_w.exp()[..., None] * mapped).sum(1)
    out = []
    for start in range(0, len(clips), chunk):
        c, m = clips[start : start + chunk], clip_mask[start : start + chunk]
        if pooled:
            sims = torch.einsum("qd,ncd->qnc", vector, c).masked_fill(~m[None], float("-inf"))
            out.append(sims.amax(-1))
        else:
            out.append(model.video_scores(model.relevance(mapped, log_w, c), m))
    return torch.cat(out, dim=1)


def video_recall(scores: torch.Tensor, own: torch.Tensor, ks: Sequence[int] = (1, 10)) -> dict[str, float]:
    """R@k (percent) of the own video among all, from (Q, N) scores."""
    rank = (scores > scores.gather(1, own[:, None])).sum(1)
    return {f"R@{k}": round(100.0 * float((rank < k).float().mean()), 2) for k in ks}


def train_ranker(
    config: RankerConfig,
    videos: dict[str, np.ndarray],
    examples: Sequence[RankerExample],
    val_videos: dict[str, np.ndarray] | None = None,
    val_examples: Sequence[RankerExample] | None = None,
    seed: int = 0,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[CrossVideoRanker, RankerHistory]:
    """A trained ranker and its history. Without validation queries the last epoch is kept."""
    _check(videos, examples, "training")
    if val_examples:
        _check(val_videos or {}, val_examples, "validation")
    dims = {v.shape[1] for v in videos.values()}
    text_dims = {ex.tokens.shape[1] for ex in examples}
    if len(dims) != 1 or len(text_dims) != 1:
        raise InputError("the ranker needs one clip feature width and one query feature width")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CrossVideoRanker(config, dims.pop(), text_dims.pop())
    train = _Split(videos, examples)
    val = _Split(val_videos, val_examples) if val_examples else None
    if config.whiten:
        model.fit_whitening(train.clips[train.clip_mask], train.tokens[train.token_mask])
    train.prepare(model)
    if val is not None:
        val.prepare(model)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * -(-len(examples) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.1)
    history = RankerHistory()
    best_state, stale, hard = None, 0, None
    cpu0 = time.process_time()
    n_videos = len(train.names)
    bar = tqdm(range(config.epochs), desc="ranker", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        if config.hard_negatives and epoch >= 1 and (epoch - 1) % max(config.mine_every, 1) == 0:
            scores = score_all(
                model, train.tokens, train.token_mask, train.clips, train.clip_mask, pooled=True
            )
            scores[torch.arange(len(scores)), train.own] = float("-inf")
            hard = scores.topk(min(config.hard_negatives, n_videos - 1), dim=1).indices
        order = rng.permutation(len(examples))
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = torch.as_tensor(order[start : start + config.batch_size])
            own = train.own[batch]
            chosen = set(own.tolist())
            if hard is not None:
                chosen |= set(hard[batch].reshape(-1).tolist())
            extra = rng.permutation(n_videos)[: config.negatives + len(chosen)]
            cand = list(chosen) + [int(v) for v in extra if int(v) not in chosen][: config.negatives]
            cand_t = torch.as_tensor(cand)
            where = {v: i for i, v in enumerate(cand)}
            label = torch.as_tensor([where[int(v)] for v in own])
            clips, clip_mask = train.clips[cand_t], train.clip_mask[cand_t]
            tokens = train.tokens[batch]
            if config.feature_noise:
                clips = _jitter(clips, config.feature_noise) * clip_mask[..., None]
            if config.token_noise:
                tokens = _jitter(tokens, config.token_noise)
            relevance, video = model(tokens, train.token_mask[batch], clips, clip_mask)
            loss_video = F.cross_entropy(video / config.video_temperature, label)
            own_rel = relevance[torch.arange(len(batch)), label] / config.clip_temperature  # (B, C)
            own_rel = own_rel.masked_fill(~clip_mask[label], float("-inf"))
            pos = train.positive[batch]
            has_pos = pos.any(1)
            loss_clip = torch.zeros(())
            if has_pos.any():
                lse_pos = torch.logsumexp(own_rel.masked_fill(~pos, float("-inf")), dim=1)
                lse_all = torch.logsumexp(own_rel, dim=1)
                loss_clip = (lse_all - lse_pos)[has_pos].mean()
            loss = config.video_weight * loss_video + config.clip_weight * loss_clip
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append((loss_video.item(), loss_clip.item()))
        row = {
            "epoch": epoch,
            "loss_video": round(float(np.mean([a for a, _ in losses])), 4),
            "loss_clip": round(float(np.mean([b for _, b in losses])), 4),
        }
        if val is not None:
            model.eval()
            scores = score_all(model, val.tokens, val.token_mask, val.clips, val.clip_mask)
            row.update({f"val_{k}": v for k, v in video_recall(scores, val.own).items()})
            if history.best_val_r1 is None or row["val_R@1"] > history.best_val_r1:
                history.best_val_r1, history.best_epoch = row["val_R@1"], epoch
                best_state, stale = copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
        history.epochs.append(row)
        bar.set_postfix({k: v for k, v in row.items() if k != "epoch"}, refresh=False)
        if on_epoch is not None:
            on_epoch(row)
        if val is not None and config.patience and stale >= config.patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.epochs) - 1
    model.eval()
    history.train_seconds = time.process_time() - cpu0
    return model, history


def _jitter(rows: torch.Tensor, noise: float) -> torch.Tensor:
    """Rows plus isotropic Gaussian noise of expected norm ``noise``."""
    return rows + noise * torch.randn_like(rows) / rows.shape[-1] ** 0.5
