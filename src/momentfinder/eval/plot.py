"""PNG summaries of evaluation results (matplotlib, Agg backend)."""

from __future__ import annotations

import os

from ..data.stats import save_figure
from ..errors import InputError

_RANGES = ("full", "short", "middle", "long")


def plot_metrics(metrics: dict, path: str | os.PathLike, protocol: str, title: str = "") -> None:
    """Draw the metrics of ``protocol`` (``qvhighlights``, ``recall`` or ``tvr``) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if protocol == "qvhighlights":
        fig = _qvhighlights(plt, metrics)
    elif protocol == "recall":
        fig = _recall(plt, metrics)
    elif protocol == "tvr":
        fig = _tvr(plt, metrics)
    elif protocol in ("tvsum", "youtube"):
        fig = _highlight(plt, metrics)
    else:
        raise InputError(f"no plot for protocol {protocol!r}")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def _curve(ax, table: dict, label: str) -> None:
    pts = [(float(k), v) for k, v in table.items() if k != "average" and v is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)


def _qvhighlights(plt, metrics: dict):
    has_hl = any(k.startswith("HL-") for k in metrics if k != "brief")
    has_mr = "full" in metrics
    fig, axes = plt.subplots(
        1, int(has_mr) * 2 + int(has_hl), figsize=(5 * (int(has_mr) * 2 + int(has_hl)), 4)
    )
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    if has_mr:
        for name in _RANGES:
            _curve(axes[0], metrics[name]["MR-mAP"], f"{name} (avg {metrics[name]['MR-mAP']['average']})")
            _curve(axes[1], metrics[name]["MR-R1"], name)
        for ax, what in zip(axes[:2], ("moment retrieval mAP", "moment retrieval R@1"), strict=True):
            ax.set_xlabel("IoU threshold")
            ax.set_ylabel(f"{what} (%)")
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    if has_hl:
        ax = axes[-1]
        names = [k for k in metrics if k.startswith("HL-min-")]
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [metrics[n]["HL-mAP"] for n in names], width=0.4, label="mAP")
        ax.bar([i + 0.2 for i in x], [metrics[n]["HL-Hit1"] for n in names], width=0.4, label="HIT@1")
        ax.set_xticks(list(x), [n.removeprefix("HL-min-") for n in names])
        ax.set_ylabel("highlight detection (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    return fig


def _recall(plt, metrics: dict):
    fig, ax = plt.subplots(figsize=(6, 4))
    keys = [k for k in metrics if k != "mIoU"]
    ax.bar(keys, [metrics[k] for k in keys], color="#4477aa")
    ax.axhline(metrics["mIoU"], color="#ee6677", linestyle="--", label=f"mIoU {metrics['mIoU']}")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend()
    return fig


def _tvr(plt, metrics: dict):
    tasks = [t for t in ("VCMR", "SVMR", "VR") if t in metrics]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4))
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    for ax, task in zip(axes, tasks, strict=True):
        table = metrics[task]
        series: dict[str, list] = {}
        for key, value in table.items():
            iou, _, k = key.rpartition("r")  # "0.5-r10" or "r10"
            series.setdefault(f"IoU {iou.rstrip('-')}" if iou else "video", []).append((int(k), value))
        for label, pts in series.items():
            ax.plot([str(k) for k, _ in pts], [v for _, v in pts], marker="o", label=label)
        ax.set_title(task)
        ax.set_xlabel("top k")
        ax.set_ylabel("recall (%)")
        ax.legend(fontsize=8)
    return fig


def _highlight(plt, metrics: dict):
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(metrics["by_domain"]) + 2), 4))
    ax.bar(list(metrics["by_domain"]), list(metrics["by_domain"].values()), color="#4477aa")
    ax.axhline(metrics["mAP"], color="#ee6677", linestyle="--", label=f"mean {metrics['mAP']}")
    ax.set_ylabel("highlight mAP (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    return fig
