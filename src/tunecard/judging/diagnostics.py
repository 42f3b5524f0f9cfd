"""Findings that tell a good run from a broken one. numpy only: arrays and plain rows in,
`Finding`s out. Each finding has a stable id, a severity, a message, its numbers, and advice.

Thresholds are named constants here, so the README can quote them and tests can pin them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tunecard.judging.metrics import DIRECTION

SEVERITIES = ("info", "warning", "error")
COLLAPSE_SHARE = 0.95
"""One class predicted for at least this share of a split's inputs is a collapse."""
FLAT_METRIC_RANGE = 1e-3
"""A headline metric moving less than this across >= 3 epochs while the loss moves is frozen."""
LOSS_MOVE = 0.01
OVERFIT_EPOCHS = 2
"""Validation loss rising this many epochs in a row while training loss falls is overfitting."""
CHANCE_LOSS_SHARE = 0.01
"""Validation loss within this share of the chance level (the loss of a model that ignores its inputs) at
every epoch: training did not fit the task, whatever the metrics say."""
NEVER_RECALLED_ERROR_SHARE = 0.5
"""Classes never predicted correctly are a collapse (error) when they are at least this share of the
classes present, or when the model is within noise of its majority baseline; otherwise a warning about
those classes."""
UNDERTRAINED_LOSS_DROP = 0.15
"""The kept epoch is the last, its validation loss fell by at least this share in that epoch and the
headline rose: training stopped while the model was still learning fast."""
UNDERCONFIDENT_TEMPERATURE = 0.7
"""A fitted temperature at or below this (the logits must be sharpened by 1/T >= 1.4 to be calibrated):
the model is under-confident, a sign of too few steps; with the loss still falling, under-trained."""
TRUNCATION_WARN_SHARE = 0.05
"""Warn when more than this share of a split's inputs is cut at max_length (model.long_inputs auto chunks the
training texts then)."""
CHUNK_ADVICE_SHARE = 0.2
"""When more than this share of a split's inputs is cut, the truncation finding advises reading them whole
(--model.long_inputs chunk)."""
IMBALANCE_WARN_RATIO = 10.0
LEAKAGE_WARN_SHARE = 0.01
SHORT_TEXT_CHARS = 3
COLLAPSE_ADVICE = ("likely causes: a learning rate too high (or too low), class imbalance, too few steps, "
                   "or the signal cut by truncation; try a lower --train.learning_rate, more --train.epochs, "
                   "--train.class_weights balanced, or a larger --model.max_length")
CLASS_WEIGHT_ADVICE = ("class imbalance, ", "--train.class_weights balanced, ")
"""The parts of COLLAPSE_ADVICE a task without classes or class weights drops (`without_class_weights`)."""


def without_class_weights(finding: "Finding") -> "Finding":
    """The finding with its advice free of class imbalance and --train.class_weights (multiple choice: its labels
    are answer positions, and it refuses class weights)."""
    from dataclasses import replace

    advice = finding.advice
    for part in CLASS_WEIGHT_ADVICE:
        advice = advice.replace(part, "")
    return replace(finding, advice=advice)


@dataclass
class Finding:
    id: str
    severity: str
    message: str
    evidence: dict = field(default_factory=dict)
    advice: str = ""
    split: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# ---- baselines --------------------------------------------------------------------------------

def majority_predictions(train_counts: np.ndarray, n_rows: int) -> np.ndarray:
    """The most frequent training class, for every row."""
    return np.full(n_rows, int(np.argmax(train_counts)))


def stratified_predictions(train_counts: np.ndarray, n_rows: int, seed: int) -> np.ndarray:
    """Random labels drawn with the training label frequencies (seeded)."""
    rng = np.random.default_rng(seed)
    return rng.choice(len(train_counts), size=n_rows, p=train_counts / train_counts.sum())


# ---- collapse ---------------------------------------------------------------------------------

def collapse_findings(split: str, y_true, y_pred, names: list[str], model_macro_f1: float,
                      majority_macro_f1: float, lead_interval: list[float],
                      metric: tuple[str, str] = ("f1_macro", "macro F1")) -> list[Finding]:
    """Macro F1 is the yardstick for every label count: unlike accuracy or binary F1, a model that
    predicts one class cannot score well on it, whichever class that is. `lead_interval`: the paired 95%
    bootstrap interval of the model's macro F1 minus the majority baseline's (`intervals.paired_lead`);
    a lead whose interval reaches 0 is no measurable lead. `metric` (key, name): the metric the lead is on, where
    a task judges it on its headline instead (Task.lead_metric: multiple choice, whose labels are positions)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    counts = np.bincount(y_pred, minlength=len(names))
    findings = []
    top = int(counts.argmax())
    share = counts[top] / max(len(y_pred), 1)
    if share >= COLLAPSE_SHARE:
        findings.append(Finding(
            "collapse.one_class", "error",
            f"the model predicts '{names[top]}' for {share:.1%} of {split} inputs",
            {"class": names[top], "share": round(float(share), 4),
             "prediction_entropy": round(normalized_entropy(counts), 4)}, COLLAPSE_ADVICE, split))
    near_baseline = lead_interval[0] <= 0
    if near_baseline:
        findings.append(Finding(
            "collapse.no_better_than_majority", "error",
            f"{metric[1]} {model_macro_f1:.4f} on {split} is no measurable lead over always predicting the majority "
            f"class ({majority_macro_f1:.4f}): the 95% interval of the lead, {lead_interval[0]:+.4f} to "
            f"{lead_interval[1]:+.4f}, reaches 0",
            {"metric": metric[0], "model": round(model_macro_f1, 4), "majority_baseline": round(majority_macro_f1, 4),
             "lead_interval": [round(v, 4) for v in lead_interval]}, COLLAPSE_ADVICE, split))
    findings.extend(_never_recalled(split, y_true, y_pred, names, near_baseline))
    return findings


def below_baseline_findings(split: str, report, headline: str, metric_names: dict[str, str],
                            baseline_names: dict[str, str]) -> list[Finding]:
    """One finding per baseline the model is measurably below on some metric: the model's value under the
    baseline's, and the paired 95% bootstrap interval of the difference entirely below 0 (the intervals'
    `differences_by_metric`). An error when the headline metric is among them, a warning otherwise (e.g. accuracy
    below the majority class's on imbalanced data, for a model judged by macro F1). `report`: a judged SplitReport."""
    findings = []
    by_metric = (report.intervals or {}).get("differences_by_metric", {})
    for baseline, leads in by_metric.items():
        values = report.baseline if baseline == "majority" else report.stratified
        below = {key: bounds for key, bounds in leads.items() if key in (values or {})
                 and (bounds[1] < 0 if DIRECTION.get(key, 1) > 0 else bounds[0] > 0 and DIRECTION[key] < 0)}
        if not below:
            continue
        shown = "; ".join(f"{metric_names.get(key, key)} {report.metrics[key]:.4f} against {values[key]:.4f} "
                          f"(difference {report.metrics[key] - values[key]:+.4f}, 95% interval {low:+.4f} to "
                          f"{high:+.4f}, paired)" for key, (low, high) in below.items())
        findings.append(Finding(
            "results.below_baseline", "error" if headline in below else "warning",
            f"on {split} the model is measurably worse than the {baseline_names.get(baseline, baseline)}: {shown}",
            {"baseline": baseline, "headline": headline, "below": {
                key: {"model": round(report.metrics[key], 4), "baseline": round(values[key], 4), "interval": bounds}
                for key, bounds in below.items()}},
            "a scorer that ignores its inputs does better: check the labels, the prompt or the scoring", split))
    return findings


def label_set_collapse_findings(split: str, gold, predicted, names: list[str]) -> list[Finding]:
    """A multi-label model that predicts no label, or one and the same set, for most inputs has collapsed
    (unless the gold sets are like that too); labels with support that are never predicted are named."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    findings = []
    none_share, gold_none = float((~predicted.any(-1)).mean()), float((~gold.any(-1)).mean())
    if none_share >= COLLAPSE_SHARE and gold_none < COLLAPSE_SHARE:
        findings.append(Finding("collapse.no_labels", "error", f"the model predicts no label for {none_share:.1%} "
                                f"of {split} inputs ({gold_none:.1%} have none)",
                                {"share": round(none_share, 4), "gold_share": round(gold_none, 4)}, COLLAPSE_ADVICE,
                                split))
    sets, counts = np.unique(predicted, axis=0, return_counts=True)
    top = int(counts.argmax())
    if sets[top].any() and counts[top] / len(predicted) >= COLLAPSE_SHARE:
        shown = ", ".join(n for n, on in zip(names, sets[top]) if on)
        findings.append(Finding("collapse.one_label_set", "error", f"the model predicts the set {{{shown}}} for "
                                f"{counts[top] / len(predicted):.1%} of {split} inputs",
                                {"labels": shown, "share": round(float(counts[top] / len(predicted)), 4)},
                                COLLAPSE_ADVICE, split))
    return findings + _never_predicted(split, gold, predicted, names)


def _never_predicted(split: str, gold: np.ndarray, predicted: np.ndarray, names: list[str]) -> list[Finding]:
    support = gold.sum(0)
    dead = [names[i] for i in np.flatnonzero((support > 0) & ~predicted.any(0))]
    if not dead:
        return []
    present = int((support > 0).sum())
    severity = "error" if len(dead) >= NEVER_RECALLED_ERROR_SHARE * present else "warning"
    return [Finding("labels.never_predicted", severity, f"{len(dead)} of {present} labels present in {split} are "
                    f"never predicted: {', '.join(dead[:10])}", {"labels": dead,
                    "support": {n: int(support[names.index(n)]) for n in dead}, "labels_present": present},
                    "more training examples of these labels, more epochs, or a lower threshold for them", split)]


def _never_recalled(split: str, y_true, y_pred, names: list[str], near_baseline: bool) -> list[Finding]:
    """Classes with support and no correct prediction. A collapse when they are many or the model is no
    better than its baseline; one class of dozens missed by a model far above its baselines is a warning
    about that class (the severity --strict turns into a failure must fit the evidence)."""
    support = np.bincount(y_true, minlength=len(names))
    hits = np.bincount(y_true[y_true == y_pred], minlength=len(names))
    dead = [names[i] for i in range(len(names)) if support[i] > 0 and hits[i] == 0]
    if not dead:
        return []
    present = int((support > 0).sum())
    collapse = near_baseline or len(dead) >= NEVER_RECALLED_ERROR_SHARE * present
    numbers = {"classes": dead, "support": {n: int(support[names.index(n)]) for n in dead},
               "classes_present": present}
    message = f"{len(dead)} of {present} classes never predicted correctly on {split}: {', '.join(dead[:10])}"
    if collapse:
        return [Finding("collapse.class_never_recalled", "error", message, numbers, COLLAPSE_ADVICE, split)]
    return [Finding("classes.never_recalled", "warning", message + " (the model is otherwise well above its "
                    "baselines)", numbers, "look at these classes: more training examples, labels that overlap "
                    "another class, or --train.class_weights balanced", split)]


def normalized_entropy(counts) -> float:
    """Entropy of a histogram divided by its maximum (0: one bin, 1: uniform)."""
    p = np.asarray(counts, dtype=float)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(counts))) if len(counts) > 1 else 0.0


# ---- training history -------------------------------------------------------------------------

def prior_cross_entropy(train_counts, validation_counts, weights=None) -> float:
    """Validation loss of the best model that ignores its inputs: one distribution for every row, the one
    the (class-weighted) training loss is lowest for, p proportional to weight x training count; the
    validation loss weighted the same way and averaged over rows, as Trainer reports it. A class absent
    from training counts once, so the loss stays finite."""
    train = np.maximum(np.asarray(train_counts, dtype=float), 1)
    seen = np.asarray(validation_counts, dtype=float)
    weights = np.ones_like(train) if weights is None else np.asarray(weights, dtype=float)
    prior = weights * train / (weights * train).sum()
    return float(-(weights * seen * np.log(prior)).sum() / seen.sum())


def history_findings(history: list[dict], headline: str, best_epoch,
                     chance_loss: float | None = None, temperature: float | None = None) -> list[Finding]:
    """Findings from the per-epoch table. `chance_loss`: the task's validation loss for a model that
    ignores its inputs (None where the loss has no such level, e.g. a language model's token loss);
    `temperature`: the one fitted on validation, if any."""
    findings = [] if chance_loss is None else _loss_at_chance(history, chance_loss)
    findings.extend(_under_trained(history, headline, best_epoch, temperature))
    if len(history) >= 3:
        values = np.array([row.get(headline, np.nan) for row in history], dtype=float)
        eval_loss = np.array([row["eval_loss"] for row in history], dtype=float)
        train_loss = np.array([row["train_loss"] or np.nan for row in history], dtype=float)
        loss_range = max(np.nanmax(eval_loss) - np.nanmin(eval_loss), np.nanmax(train_loss) - np.nanmin(train_loss))
        if np.nanmax(values) - np.nanmin(values) < FLAT_METRIC_RANGE and loss_range > LOSS_MOVE:
            findings.append(Finding(
                "collapse.metric_frozen", "error",
                f"validation {headline} stayed at {values[0]:.4f} for {len(values)} epochs while the loss "
                f"moved by {loss_range:.4f}: the predictions are not changing",
                {"metric": headline, "values": [round(v, 4) for v in values],
                 "eval_loss": [round(v, 4) for v in eval_loss]}, COLLAPSE_ADVICE))
    findings.extend(_overfitting(history, headline, best_epoch))
    return findings


def _loss_at_chance(history: list[dict], chance: float) -> list[Finding]:
    """Caught here rather than by the metrics: a ranking can beat chance on tiny logit differences while
    the probabilities stay uniform, so MAP@3 alone looks like a weak model, not a failed run."""
    eval_loss = [row["eval_loss"] for row in history]
    if not eval_loss or any(abs(loss - chance) > CHANCE_LOSS_SHARE * chance for loss in eval_loss):
        return []
    return [Finding(
        "collapse.loss_at_chance", "warning",
        f"validation loss stayed within {CHANCE_LOSS_SHARE:.0%} of {chance:.4f}, the loss of a model that ignores "
        f"its inputs, at every epoch ({', '.join(f'{loss:.4f}' for loss in eval_loss)}): training did not fit the task",
        {"chance_loss": round(chance, 4), "eval_loss": [round(loss, 4) for loss in eval_loss],
         "train_loss": [round(row["train_loss"] or 0, 4) for row in history]}, COLLAPSE_ADVICE)]


def _under_trained(history: list[dict], headline: str, best_epoch, temperature: float | None) -> list[Finding]:
    """The last epoch was the best and the model was still learning: the validation loss fell by at least
    UNDERTRAINED_LOSS_DROP in it, or fell at all while the model is under-confident (temperature)."""
    if len(history) < 2 or best_epoch != history[-1]["epoch"]:
        return []
    previous, last = history[-2], history[-1]
    drop = (previous["eval_loss"] - last["eval_loss"]) / previous["eval_loss"] if previous["eval_loss"] else 0.0
    rising = (last.get(headline) or 0) > (previous.get(headline) or 0)
    underconfident = temperature is not None and temperature <= UNDERCONFIDENT_TEMPERATURE
    if not rising or drop <= 0 or (drop < UNDERTRAINED_LOSS_DROP and not underconfident):
        return []
    signs = [f"validation loss {previous['eval_loss']:.4f} -> {last['eval_loss']:.4f} ({drop:.0%} lower) and "
             f"{headline} {previous[headline]:.4f} -> {last[headline]:.4f} in the last epoch"]
    if underconfident:
        signs.append(f"the model is under-confident (fitted temperature {temperature:.2f})")
    return [Finding(
        "training.under_trained", "warning",
        f"training stopped while the model was still improving: {'; '.join(signs)}",
        {"epochs": len(history), "eval_loss": [round(r["eval_loss"], 4) for r in history],
         headline: [round(r.get(headline) or 0, 4) for r in history], "loss_drop_last_epoch": round(drop, 4),
         "temperature": temperature}, "train longer: raise --train.epochs, or --train.epochs auto")]


def _overfitting(history: list[dict], headline: str, best_epoch) -> list[Finding]:
    rising = 0
    for previous, row in zip(history, history[1:]):
        train_falls = (row["train_loss"] or 0) < (previous["train_loss"] or 0)
        rising = rising + 1 if row["eval_loss"] > previous["eval_loss"] and train_falls else 0
        if rising >= OVERFIT_EPOCHS:
            return [Finding(
                "overfitting.validation_loss_rising", "warning",
                f"validation loss rose for {rising} epochs in a row (to epoch {row['epoch']}) while training "
                f"loss fell; the kept model is from epoch {best_epoch}, the best validation {headline}",
                {"eval_loss": [round(r["eval_loss"], 4) for r in history],
                 "train_loss": [round(r["train_loss"] or 0, 4) for r in history], "kept_epoch": best_epoch},
                "use --train.early_stopping_patience 1, fewer epochs, or a lower learning rate")]
    return []


# ---- truncation -------------------------------------------------------------------------------

def truncation_finding(split: str, full_lengths, max_length: int, side_cut: dict | None = None) -> Finding:
    """How many inputs exceed max_length and by how much (full_lengths: tokens before truncation)."""
    full = np.asarray(full_lengths)
    over = full > max_length
    share = float(over.mean()) if len(full) else 0.0
    cut = full[over] - max_length
    evidence = {"share_truncated": round(share, 4), "truncated": int(over.sum()), "rows": int(len(full)),
                "median_tokens_cut": float(np.median(cut)) if len(cut) else 0.0,
                "max_length": max_length, "longest": int(full.max()) if len(full) else 0}
    if side_cut:
        evidence["side_cut"] = side_cut
    severity = "warning" if share > TRUNCATION_WARN_SHARE else "info"
    sides = f" ({', '.join(f'{k}: {v}' for k, v in side_cut.items())})" if side_cut else ""
    advice = "raise --model.max_length, or --model.truncation_side left to keep the end of the text"
    if share > CHUNK_ADVICE_SHARE:
        advice = ("read them whole with --model.long_inputs chunk (windows of max_length tokens, their logits "
                  "pooled), or " + advice)
    return Finding("truncation", severity,
                   f"{share:.1%} of {split} inputs are longer than {max_length} tokens and are cut "
                   f"(median {evidence['median_tokens_cut']:.0f} tokens cut){sides}", evidence,
                   advice if severity == "warning" else "", split)


def windows_finding(split: str, statistics: dict, max_length: int) -> Finding:
    """Texts read whole as several windows (model.long_inputs chunk): nothing is cut; how many span more than
    one window."""
    return Finding("long_inputs.windows", "info",
                   f"{statistics['share_longer_than_one_window']:.1%} of {split} texts are longer than {max_length} "
                   f"tokens and are read as windows ({statistics['windows_per_document_median']:g} per text, median; "
                   f"{statistics['windows_per_document_max']} at most): nothing is cut", statistics, "", split)


# ---- data checks ------------------------------------------------------------------------------

def duplicate_finding(train_texts: list[str], train_labels) -> Finding | None:
    keys = np.array([_normalize(t) for t in train_texts], dtype=object)
    labels = np.asarray(train_labels)
    order = np.argsort(keys, kind="stable")
    keys, labels = keys[order], labels[order]
    repeated = keys[1:] == keys[:-1]
    n_dup = int(repeated.sum())
    if not n_dup:
        return None
    differs = labels[1:] != labels[:-1]
    conflicting = int((repeated & (differs.any(-1) if differs.ndim == 2 else differs)).sum())  # label sets: rows
    share = n_dup / len(keys)
    return Finding("data.duplicates", "warning" if share > 0.01 or conflicting else "info",
                   f"{n_dup} training texts ({share:.1%}) repeat an earlier one; {conflicting} of them with a "
                   "different label", {"duplicates": n_dup, "share": round(share, 4),
                                       "conflicting_labels": conflicting},
                   "deduplicate train; resolve conflicting labels" if conflicting else "deduplicate train")


def leakage_finding(split: str, train_texts: list[str], other_texts: list[str]) -> Finding | None:
    train_keys = {_normalize(t) for t in train_texts}
    shared = [t for t in other_texts if _normalize(t) in train_keys]
    if not shared:
        return None
    share = len(shared) / len(other_texts)
    return Finding("data.leakage", "warning" if share > LEAKAGE_WARN_SHARE else "info",
                   f"{len(shared)} {split} texts ({share:.1%}) also appear in train: their scores overstate "
                   "quality on unseen text", {"shared": len(shared), "share": round(share, 4),
                                              "examples": [t[:100] for t in shared[:3]]},
                   f"remove them from {split} (or from train)", split)


def imbalance_finding(train_counts: dict[str, int]) -> Finding | None:
    counts = train_counts
    largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[largest] / max(counts[smallest], 1)
    if ratio < 3:
        return None
    return Finding("data.imbalance", "warning" if ratio >= IMBALANCE_WARN_RATIO else "info",
                   f"the largest class '{largest}' has {ratio:.1f}x the rows of the smallest '{smallest}'",
                   {"ratio": round(ratio, 2), "counts": counts},
                   "consider --train.class_weights balanced; judge the run by macro F1, not accuracy")


def short_text_finding(split: str, texts: list[str]) -> Finding | None:
    short = [t for t in texts if len(t.strip()) < SHORT_TEXT_CHARS]
    if not short:
        return None
    return Finding("data.near_empty_texts", "warning",
                   f"{len(short)} {split} texts have fewer than {SHORT_TEXT_CHARS} characters",
                   {"count": len(short), "examples": short[:5]}, "check or remove them", split)


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


# ---- calibration ------------------------------------------------------------------------------

def expected_calibration_error(probs: np.ndarray, y_true, bins: int = 15) -> float:
    """ECE over equal-width confidence bins: sum_b (n_b / n) * |accuracy_b - confidence_b|."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability_bins(probs: np.ndarray, y_true, bins: int = 10) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy and count (for the reliability diagram)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]), "count": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()) if (which == b).any() else None,
             "accuracy": float(correct[which == b].mean()) if (which == b).any() else None}
            for b in range(bins)]


def brier_score(probs: np.ndarray, y_true) -> float:
    """Mean over rows of the squared distance between the probabilities and the one-hot label."""
    onehot = np.eye(probs.shape[1])[np.asarray(y_true)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def fit_temperature(logits: np.ndarray, y_true) -> float:
    """The temperature T minimizing the NLL of softmax(logits / T) (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    y_true = np.asarray(y_true)

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y_true)), y_true].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-SEVERITIES.index(f.severity), f.id, f.split or ""))
