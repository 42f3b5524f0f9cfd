"""Plots that tell the truth: axes chosen so that a change is drawn at its size, the validation metric with its 95%
band and the kept epoch marked. Asserted on the matplotlib Axes, not on images."""

from __future__ import annotations

import numpy as np
import pytest

from tunecard.judging.intervals import epoch_bands
from tunecard.report import plots

# The embedded default run's shape: validation F1 moving between 0.802 and 0.818, a ±0.04 interval.
HISTORY = [{"epoch": e, "step": 250 * e, "eval_loss": loss, "f1_macro": f1, "train_loss": loss + 0.1}
           for e, loss, f1 in ((1, 0.62, 0.802), (2, 0.55, 0.811), (3, 0.53, 0.818), (4, 0.54, 0.815))]
VALUES = [row["f1_macro"] for row in HISTORY]
LOW, HIGH = epoch_bands(VALUES, 2000, {"low": 0.778, "high": 0.856, "value": 0.818})
BAND = {"low": LOW, "high": HIGH, "label": "95% band"}
TRAIN_POINTS = [(50 * i, 1.2 - 0.006 * i) for i in range(1, 21)]


def test_the_metric_axis_holds_the_band_and_does_not_zoom_on_a_small_change():
    fig = plots.learning_curves_figure(TRAIN_POINTS, HISTORY, "f1_macro", "F1 (macro)", kept_epoch=3, band=BAND)
    loss_ax, metric_ax = fig.axes
    low, high = metric_ax.get_ylim()
    assert low <= min(LOW) and high >= max(HIGH)  # the whole band is drawn
    assert min(LOW) == pytest.approx(0.802 - 0.04) and max(HIGH) == pytest.approx(0.818 + 0.038)
    assert high - low >= plots.MIN_METRIC_SPAN
    assert (max(VALUES) - min(VALUES)) / (high - low) < 0.2  # a 1.6-point change fills under a fifth of the axis
    (band,) = metric_ax.collections  # the shaded band: fill_between's polygon
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(min(LOW)) and vertices[:, 1].max() == pytest.approx(max(HIGH))
    kept = [line for line in metric_ax.get_lines() if line.get_linestyle() == "--"]
    assert len(kept) == 1 and list(kept[0].get_xdata()) == [750, 750]
    labels = [text.get_text() for text in metric_ax.get_legend().get_texts()]
    assert labels == ["validation F1 (macro)", "95% band", "kept: epoch 3"]
    assert loss_ax.get_ylim()[0] == 0  # a loss axis starts at 0
    plots.plt.close(fig)


def test_without_an_interval_the_axis_still_spans_at_least_the_minimum_and_stays_within_0_1():
    flat = [{**row, "f1_macro": 0.995 + 0.001 * i} for i, row in enumerate(HISTORY)]
    fig = plots.learning_curves_figure([], flat, "f1_macro", "F1 (macro)", kept_epoch=4)
    low, high = fig.axes[1].get_ylim()
    assert high == 1.0 and high - low >= plots.MIN_METRIC_SPAN and low <= 0.995
    assert not fig.axes[1].collections  # no band drawn where there is no interval
    plots.plt.close(fig)


def test_limits_hold_the_values_and_the_minimum_span():
    assert plots.metric_limits(np.array([0.0, 0.02])) == pytest.approx((0.0, 0.12))
    low, high = plots.metric_limits(np.array([0.3, 0.9]))
    assert low < 0.3 and high > 0.9 and high - low == pytest.approx(0.62)


def test_reliability_and_score_plots_use_the_full_probability_scale(tmp_path, monkeypatch):
    bins = [{"low": b / 10, "high": (b + 1) / 10, "count": 5 if b >= 8 else 0,
             "confidence": b / 10 + 0.05 if b >= 8 else None, "accuracy": 0.9 if b >= 8 else None}
            for b in range(10)]
    kept = []  # the figures, kept open to read their axes
    monkeypatch.setattr(plots.plt, "close", kept.append)
    plots.reliability_plot(bins, "Reliability: test", tmp_path / "r.png")
    plots.score_histogram_plot({"chosen": np.array([0.55, 0.6]), "rejected": np.array([0.45, 0.5])}, "P(chosen)",
                               "Scores", tmp_path / "s.png")
    monkeypatch.undo()
    reliability, scores = kept
    assert reliability.axes[0].get_ylim() == pytest.approx((0, 1.02)) and reliability.axes[0].get_xlim() == (0, 1)
    assert scores.axes[0].get_xlim() == (0, 1)  # scores between 0.45 and 0.6 are not stretched over the axis
    for fig in kept:
        plots.plt.close(fig)
