"""Each detector on constructed inputs (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tunecard.judging import diagnostics as d

NAMES = ["not-hate", "hate"]


def ids(findings):
    return sorted(f.id for f in findings)


def test_one_class_predictions_are_a_collapse():
    gold = np.array([0] * 58 + [1] * 42)
    pred = np.zeros(100, dtype=int)
    findings = d.collapse_findings("test", gold, pred, NAMES, model_macro_f1=0.367, majority_macro_f1=0.367,
                                   lead_interval=[0.0, 0.0])
    assert ids(findings) == ["collapse.class_never_recalled", "collapse.no_better_than_majority",
                             "collapse.one_class"]
    one_class = next(f for f in findings if f.id == "collapse.one_class")
    assert one_class.severity == "error"
    assert one_class.evidence == {"class": "not-hate", "share": 1.0, "prediction_entropy": 0.0}
    assert one_class.advice.startswith("likely causes: a learning rate too high")


def test_a_healthy_model_raises_no_collapse():
    gold = np.array([0, 1] * 50)
    pred = gold.copy()
    pred[:10] = 1 - pred[:10]
    assert d.collapse_findings("test", gold, pred, NAMES, 0.9, 0.333, [0.5, 0.64]) == []


def test_within_noise_of_the_majority_baseline():
    gold = np.array([0] * 50 + [1] * 50)
    pred = np.array([0, 1] * 50)
    findings = d.collapse_findings("validation", gold, pred, NAMES, 0.40, 0.333, [-0.03, 0.16])
    assert ids(findings) == ["collapse.no_better_than_majority"]
    assert findings[0].evidence["majority_baseline"] == 0.333


def test_metric_frozen_across_epochs_while_validation_loss_rises():
    # The published card's pattern: F1 0.9546 at every epoch while the validation loss climbs.
    history = [{"epoch": e, "step": 100 * e, "train_loss": 0.30 - 0.02 * e, "eval_loss": 0.20 + 0.05 * e,
                "f1": 0.9546} for e in range(1, 6)]
    findings = d.history_findings(history, "f1", best_epoch=1)
    assert ids(findings) == ["collapse.metric_frozen", "overfitting.validation_loss_rising"]
    frozen = findings[0]
    assert frozen.severity == "error" and frozen.evidence["values"] == [0.9546] * 5
    overfit = findings[1]
    assert overfit.severity == "warning" and overfit.evidence["kept_epoch"] == 1
    assert "kept model is from epoch 1" in overfit.message


def test_a_moving_metric_with_falling_losses_is_fine():
    history = [{"epoch": e, "step": e, "train_loss": 1 / e, "eval_loss": loss, "f1": 0.5 + 0.1 * e}
               for e, loss in zip(range(1, 4), (1.0, 0.6, 0.58))]
    assert d.history_findings(history, "f1", best_epoch=3) == []


def history_of(eval_losses, accuracies):
    return [{"epoch": float(e), "step": 100 * e, "train_loss": 2.0 / e, "eval_loss": loss, "accuracy": acc}
            for e, (loss, acc) in enumerate(zip(eval_losses, accuracies), start=1)]


def test_a_run_stopped_while_still_learning_fast_is_under_trained():
    # The run: dozens of classes, 3 epochs, validation loss 0.87 -> 0.67 in the last epoch while
    # accuracy rose 0.88 -> 0.90, and a fitted temperature of 0.54 (under-confident).
    history = history_of([1.52, 0.87, 0.67], [0.71, 0.88, 0.90])
    findings = d.history_findings(history, "accuracy", best_epoch=3.0, temperature=0.54)
    assert ids(findings) == ["training.under_trained"]
    finding = findings[0]
    assert finding.severity == "warning"
    assert finding.message == ("training stopped while the model was still improving: validation loss 0.8700 -> "
                               "0.6700 (23% lower) and accuracy 0.8800 -> 0.9000 in the last epoch; the model is "
                               "under-confident (fitted temperature 0.54)")
    assert finding.advice == "train longer: raise --train.epochs, or --train.epochs auto"
    assert finding.evidence["loss_drop_last_epoch"] == 0.2299
    # The loss drop alone is enough; so is a smaller drop with an under-confident model.
    assert ids(d.history_findings(history, "accuracy", 3.0)) == ["training.under_trained"]
    small_drop = history_of([0.9, 0.7, 0.665], [0.80, 0.85, 0.86])
    assert ids(d.history_findings(small_drop, "accuracy", 3.0, temperature=0.6)) == ["training.under_trained"]
    assert d.history_findings(small_drop, "accuracy", 3.0, temperature=1.1) == []


def test_a_converging_run_is_not_under_trained():
    # emotion with the defaults (benchmarks/results/emotion): loss 0.1797 -> 0.1598 (11%), temperature 1.197.
    emotion = history_of([0.2256, 0.1797, 0.1598], [0.926, 0.9265, 0.9345])
    assert d.history_findings(emotion, "accuracy", best_epoch=3.0, temperature=1.197) == []
    # A kept epoch before the last, or a falling metric, is no sign of stopping early.
    fast = history_of([1.52, 0.87, 0.67], [0.71, 0.90, 0.89])
    assert d.history_findings(fast, "accuracy", best_epoch=2.0, temperature=0.54) == []


def test_one_class_of_many_never_recalled_by_a_strong_model_is_a_warning_about_that_class():
    names = [f"c{i}" for i in range(30)]
    gold = np.repeat(np.arange(30), 20)
    pred = gold.copy()
    pred[gold == 29] = 0  # every c29 text called c0
    findings = d.collapse_findings("test", gold, pred, names, model_macro_f1=0.95, majority_macro_f1=0.002,
                                   lead_interval=[0.93, 0.96])
    assert ids(findings) == ["classes.never_recalled"]
    assert findings[0].severity == "warning"
    assert findings[0].message == ("1 of 30 classes never predicted correctly on test: c29 (the model is otherwise "
                                   "well above its baselines)")
    assert findings[0].evidence == {"classes": ["c29"], "support": {"c29": 20}, "classes_present": 30}


def test_never_recalled_classes_are_a_collapse_when_many_or_near_the_baseline():
    names = [f"c{i}" for i in range(10)]
    gold = np.repeat(np.arange(10), 10)
    many = np.where(gold < 5, gold, 0)  # classes 5-9 never right: 5 of 10
    found = d.collapse_findings("test", gold, many, names, 0.45, 0.02, [0.35, 0.5])
    assert [(f.id, f.severity) for f in found] == [("collapse.class_never_recalled", "error")]
    one = np.where(gold < 9, gold, 0)
    near = d.collapse_findings("test", gold, one, names, 0.05, 0.02, [-0.01, 0.07])
    assert ("collapse.class_never_recalled", "error") in [(f.id, f.severity) for f in near]


def test_overfitting_needs_two_rising_epochs():
    losses = [0.5, 0.4, 0.45, 0.44]
    history = [{"epoch": i + 1, "step": i, "train_loss": 1 - 0.1 * i, "eval_loss": v, "f1": 0.5 + 0.01 * i}
               for i, v in enumerate(losses)]
    assert d.history_findings(history, "f1", best_epoch=2) == []


def test_truncation_share_and_median_cut():
    finding = d.truncation_finding("train", [10, 40, 50, 32, 100], 32)
    assert finding.evidence["share_truncated"] == 0.6 and finding.evidence["truncated"] == 3
    assert finding.evidence["median_tokens_cut"] == 18.0
    assert finding.severity == "warning"
    assert d.truncation_finding("train", [10, 12], 32).severity == "info"


def test_duplicates_and_conflicting_labels():
    finding = d.duplicate_finding(["a b", "A  b", "c", "d", "c"], [0, 1, 0, 0, 0])
    assert finding.evidence == {"duplicates": 2, "share": 0.4, "conflicting_labels": 1}
    assert finding.severity == "warning"
    assert d.duplicate_finding(["a", "b"], [0, 1]) is None


def test_leakage_counts_and_examples():
    finding = d.leakage_finding("test", ["x y", "z"], ["X y", "new", "other"])
    assert finding.evidence["shared"] == 1 and finding.evidence["examples"] == ["X y"]
    assert finding.severity == "warning"


def test_imbalance_ratio_and_advice():
    finding = d.imbalance_finding({"a": 1000, "b": 50})
    assert finding.evidence["ratio"] == 20.0 and finding.severity == "warning"
    assert "class_weights balanced" in finding.advice
    assert d.imbalance_finding({"a": 10, "b": 9}) is None


def test_near_empty_texts():
    finding = d.short_text_finding("train", ["ok text", "a", " "])
    assert finding.evidence["count"] == 2


def test_ece_of_perfectly_calibrated_and_overconfident_predictions():
    probs = np.array([[0.8, 0.2]] * 10)
    gold_calibrated = np.array([0] * 8 + [1] * 2)
    assert d.expected_calibration_error(probs, gold_calibrated) == pytest.approx(0.0)
    gold_half = np.array([0] * 5 + [1] * 5)
    assert d.expected_calibration_error(probs, gold_half) == pytest.approx(0.3)


def test_brier_score():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert d.brier_score(probs, [0, 1]) == pytest.approx((0 + 0.5) / 2)


def test_temperature_fitting_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    gold = np.array([rng.choice(3, p=np.exp(row) / np.exp(row).sum()) for row in true_logits])
    temperature = d.fit_temperature(true_logits * 3, gold)  # logits 3x too sharp
    assert temperature == pytest.approx(3.0, rel=0.1)


def test_majority_baseline_predicts_the_most_frequent_training_class():
    assert d.majority_predictions(np.array([5.0, 9.0, 2.0]), 3).tolist() == [1, 1, 1]


def test_stratified_baseline_follows_training_frequencies():
    pred = d.stratified_predictions(np.array([900.0, 100.0]), 10000, seed=0)
    assert abs(pred.mean() - 0.1) < 0.01


def test_findings_sort_errors_first():
    findings = [d.Finding("b", "info", ""), d.Finding("a", "error", ""), d.Finding("c", "warning", "")]
    assert [f.severity for f in d.sort_findings(findings)] == ["error", "warning", "info"]


def test_validation_loss_at_the_chance_level_every_epoch_is_flagged():
    # The LSE retrieval run's table: 5 options, loss ln 5 = 1.6094 at both epochs.
    history = [{"epoch": 1.0, "step": 337, "train_loss": 1.5870, "eval_loss": 1.60939, "map_at_3": 0.479},
               {"epoch": 2.0, "step": 674, "train_loss": 1.6097, "eval_loss": 1.60934, "map_at_3": 0.493}]
    findings = d.history_findings(history, "map_at_3", best_epoch=2.0, chance_loss=float(np.log(5)))
    assert ids(findings) == ["collapse.loss_at_chance"]
    assert findings[0].severity == "warning"
    assert findings[0].message == ("validation loss stayed within 1% of 1.6094, the loss of a model that ignores "
                                   "its inputs, at every epoch (1.6094, 1.6093): training did not fit the task")
    assert findings[0].evidence["eval_loss"] == [1.6094, 1.6093]


def test_one_epoch_off_the_chance_level_or_no_chance_level_is_not_flagged():
    # At chance for one epoch, then 15% under ln 5 (a run that starts learning late).
    history = [{"epoch": 1.0, "step": 1, "train_loss": 1.457, "eval_loss": 1.6050, "map_at_3": 0.50},
               {"epoch": 2.0, "step": 2, "train_loss": 1.172, "eval_loss": 1.3651, "map_at_3": 0.586}]
    assert d.history_findings(history, "map_at_3", 2.0, chance_loss=float(np.log(5))) == []
    stuck = [{**row, "eval_loss": 1.6094} for row in history]
    assert d.history_findings(stuck, "map_at_3", 2.0, chance_loss=None) == []


@pytest.mark.parametrize("class_weights", [None, "balanced"])
def test_chance_loss_is_the_loss_of_the_best_input_blind_classifier(class_weights):
    """Fit the one thing an input-blind model has, a bias per class, on the training labels with the
    training loss, and score it on validation the way Trainer does: it lands on the chance level."""
    import torch

    from tunecard.config import TrainConfig
    from tunecard.tasks import classification
    from tunecard.judging.metrics import balanced_class_weights
    from tunecard.engine.training import weighted_loss

    names = ["a", "b", "c"]
    train = torch.tensor([0] * 70 + [1] * 25 + [2] * 5)
    validation = np.array([0] * 30 + [1] * 15 + [2] * 5)
    weights = balanced_class_weights(train.numpy(), 3) if class_weights else np.ones(3)
    loss = weighted_loss(weights)
    bias = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], max_iter=200)

    def closure():
        optimizer.zero_grad()
        value = loss({"logits": bias.expand(len(train), 3)}, train)
        value.backward()
        return value
    optimizer.step(closure)
    fitted = float(loss({"logits": bias.detach().expand(len(validation), 3)}, torch.tensor(validation)))
    counts = {name: int((train == i).sum()) for i, name in enumerate(names)}
    chance = classification.Classification().chance_loss(names, counts, validation, TrainConfig(class_weights=class_weights))
    assert chance == pytest.approx(fitted, abs=1e-4)


def test_preference_and_multiple_choice_chance_levels_match_their_losses_on_blind_scores():
    import torch

    from tunecard.config import TrainConfig
    from tunecard.tasks import multiple_choice, preference

    labels = torch.tensor([1, 0] * 8)  # (chosen, rejected) texts of 8 pairs
    blind = torch.full((16, 2), 0.3)  # every text scored alike
    task = preference.Preference()
    assert float(task.loss_function(TrainConfig(), None)({"logits": blind}, labels)) == pytest.approx(
        task.chance_loss(preference.LABEL_NAMES, {}, labels.numpy(), TrainConfig()), abs=1e-6)
    options = torch.nn.functional.cross_entropy(torch.zeros(4, 5), torch.tensor([0, 2, 4, 1]))
    chance = multiple_choice.MultipleChoice().chance_loss(list("ABCDE"), {}, [], TrainConfig())
    assert float(options) == pytest.approx(chance)


# ---- below a baseline ---------------------------------------------------------------------------------------------

def test_a_result_measurably_below_a_baseline_is_a_finding_an_error_on_the_headline():
    from tunecard.judging.judge import SplitReport

    report = SplitReport(
        "test", 500, {}, metrics={"accuracy": 0.202, "map_at_3": 0.383, "accuracy_norm": 0.312},
        baseline={"accuracy": 0.276, "map_at_3": 0.492, "accuracy_norm": 0.276},
        stratified={"accuracy": 0.25, "map_at_3": 0.46, "accuracy_norm": 0.25},
        intervals={"differences_by_metric": {
            "majority": {"accuracy": [-0.12, -0.03], "map_at_3": [-0.153, -0.066], "accuracy_norm": [-0.01, 0.08]},
            "stratified": {"accuracy": [-0.09, 0.01], "map_at_3": [-0.12, -0.01], "accuracy_norm": [0.02, 0.1]}}})
    names = {"accuracy": "Accuracy", "map_at_3": "MAP@3", "accuracy_norm": "Normalized accuracy"}
    baselines = {"majority": "majority class", "stratified": "stratified random labels"}
    found = d.below_baseline_findings("test", report, "accuracy_norm", names, baselines)
    assert [(f.id, f.severity, f.evidence["baseline"], sorted(f.evidence["below"])) for f in found] == [
        ("results.below_baseline", "warning", "majority", ["accuracy", "map_at_3"]),
        ("results.below_baseline", "warning", "stratified", ["map_at_3"])]
    assert found[0].message == (
        "on test the model is measurably worse than the majority class: Accuracy 0.2020 against 0.2760 (difference "
        "-0.0740, 95% interval -0.1200 to -0.0300, paired); MAP@3 0.3830 against 0.4920 (difference -0.1090, 95% "
        "interval -0.1530 to -0.0660, paired)")
    headline = d.below_baseline_findings("test", report, "map_at_3", names, baselines)
    assert [f.severity for f in headline] == ["error", "error"]


def test_a_lower_is_better_metric_is_worse_when_its_difference_is_above_zero():
    from tunecard.judging.judge import SplitReport

    report = SplitReport("test", 80, {}, metrics={"hamming_loss": 0.3, "label_cardinality": 2.0},
                         baseline={"hamming_loss": 0.2, "label_cardinality": 1.0}, stratified={},
                         intervals={"differences_by_metric": {"majority": {"hamming_loss": [0.05, 0.15],
                                                                           "label_cardinality": [0.8, 1.2]}}})
    found = d.below_baseline_findings("test", report, "f1_micro", {}, {})
    assert [sorted(f.evidence["below"]) for f in found] == [["hamming_loss"]]


def test_collapse_advice_without_class_weights_reads_whole():
    finding = d.Finding("collapse.one_class", "error", "m", {}, d.COLLAPSE_ADVICE)
    assert d.without_class_weights(finding).advice == (
        "likely causes: a learning rate too high (or too low), too few steps, or the signal cut by truncation; try a "
        "lower --train.learning_rate, more --train.epochs, or a larger --model.max_length")
