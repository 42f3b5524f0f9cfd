"""PNG plots of a run: confusion matrices and learning curves (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def confusion_matrix_plot(confusion: list[list[int]], label_names: list[str], title: str, path: Path) -> None:
    """Counts in each cell, colour by the share of each gold row (so rare classes stay readable)."""
    counts = np.asarray(confusion)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.7 * len(label_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(label_names)), label_names, rotation=45, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if shares[row, col] > 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, label="share of gold row")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


MIN_METRIC_SPAN = 0.1
"""The least a metric axis spans (of a metric between 0 and 1): a change of a point or two is drawn as the small
change it is, not stretched over the whole panel."""


def learning_curves_plot(train_points: list[tuple[int, float]], history: list[dict], metric: str,
                         metric_name: str, path: Path, kept_epoch=None, band: dict | None = None) -> None:
    """The learning curves (`learning_curves_figure`) saved to `path`."""
    fig = learning_curves_figure(train_points, history, metric, metric_name, kept_epoch, band)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curves_figure(train_points: list[tuple[int, float]], history: list[dict], metric: str,
                           metric_name: str, kept_epoch=None, band: dict | None = None):
    """Training loss per logging window and validation loss per epoch (left, from 0), the kept metric per epoch
    with its 95% band and the kept epoch marked (right), all against the optimizer step. `band`: {"low", "high"}
    per epoch and the "label" that says how they were drawn (runs.writers.epoch_band)."""
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 4))
    if train_points:
        steps, losses = zip(*train_points)
        loss_ax.plot(steps, losses, label="training loss", alpha=0.8)
    eval_steps = [row["step"] for row in history]
    loss_ax.plot(eval_steps, [row["eval_loss"] for row in history], "o-", label="validation loss")
    loss_ax.set_ylim(bottom=0)  # a loss is never below 0: the axis starts there, so a small change looks small
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    values = np.array([np.nan if row.get(metric) is None else row[metric] for row in history], dtype=float)
    metric_ax.plot(eval_steps, values, "o-", color="tab:green", label=f"validation {metric_name}")
    shown = [values[np.isfinite(values)]]
    if band is not None and eval_steps:
        metric_ax.fill_between(eval_steps, band["low"], band["high"], color="tab:green", alpha=0.15,
                               label=band["label"])
        shown += [np.asarray(band["low"], dtype=float), np.asarray(band["high"], dtype=float)]
    kept = [row["step"] for row in history if row["epoch"] == kept_epoch]
    if kept:
        metric_ax.axvline(kept[0], color="grey", linestyle="--", label=f"kept: epoch {kept_epoch:g}")
    metric_ax.set_ylim(*metric_limits(np.concatenate(shown)))
    metric_ax.set_xlabel("step")
    metric_ax.set_ylabel(f"validation {metric_name}")
    metric_ax.legend(fontsize=7, loc="best")
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_limits(values: np.ndarray) -> tuple[float, float]:
    """y-limits for a metric between 0 and 1 that hold every value (the band included) and span at least
    MIN_METRIC_SPAN, kept within [0, 1] where the values are."""
    if not len(values):
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    pad = max(MIN_METRIC_SPAN - (high - low), 0) / 2 + 0.01
    low, high = low - pad, high + pad
    if low < 0:
        low, high = 0.0, high - low
    if high > 1 and values.max() <= 1:
        low, high = max(low - (high - 1), 0.0), 1.0
    return low, high


def reliability_plot(bins: list[dict], title: str, path: Path) -> None:
    """Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration.
    Bar widths are the bins; the grey bars below show how many predictions fall in each."""
    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    filled = [b for b in bins if b["count"]]
    centers = [(b["low"] + b["high"]) / 2 for b in filled]
    width = bins[0]["high"] - bins[0]["low"]
    ax.bar(centers, [b["accuracy"] for b in filled], width=width * 0.9, color="tab:blue", alpha=0.8, label="accuracy")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="tab:orange",
            label="(mean confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)  # accuracy and confidence on the same full scale as the diagonal
    ax.set_title(title)
    ax.legend(loc="upper left")
    count_ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["count"] for b in bins], width=width * 0.9,
                 color="grey")
    count_ax.set_xlabel("confidence (top probability)")
    count_ax.set_ylabel("predictions")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score_histogram_plot(scores: dict[str, np.ndarray], score_name: str, title: str, path: Path) -> None:
    """Overlaid histograms of one score for each gold label (e.g. P(chosen) of chosen and rejected texts)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 26)
    for (label, values), color in zip(scores.items(), ("tab:green", "tab:red", "tab:blue")):
        ax.hist(values, bins=bins, alpha=0.55, color=color, label=f"gold {label} (n={len(values)})")
    ax.set_xlim(0, 1)  # the whole range of a probability, wherever the scores fall
    ax.set_xlabel(score_name)
    ax.set_ylabel("texts")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def risk_coverage_plot(curves: dict[str, tuple], marks: dict[str, tuple[float, float]], target_risk: float | None,
                       path: Path) -> None:
    """Selective risk (1 - accuracy of the kept rows) against coverage (the share kept), per split: `curves`
    name -> (coverages, risks), one point per confidence cut-off; `marks` name -> (coverage, risk) at the saved
    cut-off; `target_risk` the risk the cut-off was fitted to reach (1 - target accuracy), drawn as a line. Both
    axes start at 0, so a small risk looks small."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = dict(zip(curves, ("tab:blue", "tab:orange", "tab:green")))
    for name, (coverage, risk) in curves.items():
        ax.plot(coverage, risk, "-", color=colors[name], label=name)
    for name, (coverage, risk) in marks.items():
        ax.plot([coverage], [risk], "o", color=colors[name], label=f"{name} at the cut-off")
    if target_risk is not None:
        ax.axhline(target_risk, linestyle="--", color="grey", label=f"target risk {target_risk:.3g}")
    top = max([float(np.max(r)) for _, r in curves.values() if len(r)] + [target_risk or 0.0, 0.01])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, top * 1.1)
    ax.set_xlabel("coverage (share of rows kept)")
    ax.set_ylabel("selective risk (1 - accuracy of kept rows)")
    ax.set_title("Risk–coverage")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
