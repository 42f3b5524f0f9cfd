"""engine/training.py on its own: the per-epoch history built from Trainer's log."""

from __future__ import annotations


def test_epoch_history_keeps_the_last_rows_column_order_and_allows_no_epoch():
    from tunecard.engine.training import epoch_history

    log = [{"loss": 0.9, "step": 5, "epoch": 0.5}, {"loss": 0.7, "step": 10, "epoch": 1.0},
           {"eval_accuracy": 0.6, "eval_f1": 0.5, "eval_loss": 0.8, "step": 10, "epoch": 1.0},  # as restored: sorted
           {"loss": 0.5, "step": 20, "epoch": 2.0},
           {"eval_loss": 0.6, "eval_f1": 0.7, "eval_accuracy": 0.8, "step": 20, "epoch": 2.0}]
    rows = epoch_history(log)
    assert [list(r) for r in rows] == [["epoch", "step", "train_loss", "eval_loss", "f1", "accuracy"]] * 2
    assert rows[0]["train_loss"] == 0.8 and rows[1]["f1"] == 0.7
    assert epoch_history(log[:2]) == []  # stopped (Ctrl-C) before the first evaluation
