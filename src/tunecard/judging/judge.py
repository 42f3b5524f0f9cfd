"""Judge a run: score each split, set the model beside its baselines, measure calibration,
and collect the diagnostic findings about the data and the predictions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunecard.judging import diagnostics, intervals, metrics
from tunecard.judging.diagnostics import Finding

BASELINE_NAMES = {"majority": "majority class", "stratified": "stratified random labels"}
"""The baselines' names in findings and the card's text, by their key in metrics.json."""
LABEL_NOISE_CANDIDATES = 50
"""How many of the highest-loss training rows are listed in diagnostics/label_noise_candidates.csv."""


@dataclass
class SplitReport:
    name: str
    size: int
    distribution: dict[str, int]
    metrics: dict[str, float] | None = None
    baseline: dict[str, float] | None = None
    per_class: dict[str, dict[str, float]] | None = None
    confusion: list[list[int]] | None = None
    stratified: dict[str, float] | None = None
    """Metrics of random labels drawn with the training label frequencies."""
    calibration: dict | None = None
    """ece, brier (raw softmax); with temperature scaling also temperature, ece_scaled, brier_scaled."""
    comparisons: dict | None = None
    """Other scorers of the split, shown beside the model: key -> {"label": column title, "metrics": {...}}
    (e.g. the untuned base model zero-shot)."""
    intervals: dict | None = None
    """Bootstrap intervals (intervals.bootstrap): "metrics" {key: [low, high]}, "differences" {baseline:
    {"metric", "difference", "interval"}}, with the unit resampled, confidence, resamples and seed."""
    examples: list[dict] | None = None
    """Example rows (id, text, gold, and one label per scorer: before, after, ...) for the card."""
    tables: list[dict] | None = None
    """Tables a task adds for the split ({"title", "columns", "rows"}; multiple choice: accuracy and answer positions
    by option count), rendered as they are in the card."""


@dataclass
class SplitEvaluation:
    report: SplitReport
    gold: np.ndarray
    probs: np.ndarray
    """Probabilities as reported (temperature-scaled when a temperature was fitted)."""
    findings: list[Finding]
    logits: np.ndarray | None = None
    """The scores the probabilities came from, as the model gave them (e.g. option log-likelihoods)."""


def judge_split(task, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict[str, int],
                temperature: float | None, seed: int, extra_terms=None) -> SplitEvaluation:
    """One split's evaluation: the model's metrics beside the baselines (the task's own metrics included),
    each metric's bootstrap interval and the model's paired lead over each baseline. `extra_terms(scorer,
    predicted)`: further metrics as per-unit terms of each scorer (e.g. normalized accuracy), or None."""
    gold = np.asarray(dataset["label"])
    n = len(names)
    logits = np.asarray(logits, dtype=np.float64)  # float32 would round tail probabilities to 0
    raw_probs = metrics.softmax(logits)
    probs = metrics.softmax(logits / temperature) if temperature else raw_probs
    counts = np.array([train_counts[x] for x in names], dtype=float)
    scorers = {  # name -> (predicted labels, the task's own scores or None)
        "model": (probs.argmax(-1), probs),
        "majority": (diagnostics.majority_predictions(counts, len(gold)), task.majority_scores(dataset, train_counts)),
        "stratified": (diagnostics.stratified_predictions(counts, len(gold), seed), task.chance_scores(dataset, seed)),
    }
    extra = {key: extra_terms(key, pred) if extra_terms else {} for key, (pred, _) in scorers.items()}
    scored = {key: {**metrics.classification_metrics(gold, pred, n),
                    **(task.split_metrics(dataset, scores) if scores is not None else {}),
                    **{k: float(terms.mean()) if len(terms) else 0.0 for k, terms in extra[key].items()}}
              for key, (pred, scores) in scorers.items()}
    pred = scorers["model"][0]
    headline = task.headline_metric(names)
    report = SplitReport(
        name=name, size=len(gold), distribution=metrics.label_counts(gold, names), metrics=scored["model"],
        baseline=scored["majority"], stratified=scored["stratified"],
        per_class=metrics.per_class_report(gold, pred, names), confusion=metrics.confusion(gold, pred, n),
        calibration=_calibration(raw_probs, probs, gold, temperature),
        intervals=_intervals(task, dataset, scorers, names, headline, scored, seed, extra))
    findings = _collapse(task, name, dataset, report, scorers, names, seed)
    findings += diagnostics.below_baseline_findings(name, report, headline, _metric_names(task),
                                                    {**BASELINE_NAMES, **task.baseline_names})
    return SplitEvaluation(report, gold, probs, task.applicable(findings), logits)


def _collapse(task, name: str, dataset, report: SplitReport, scorers: dict, names: list[str], seed: int) -> list:
    """The collapse checks, the lead over the majority class judged on macro F1 of the labels, or on the task's
    headline where its labels are no classes (Task.lead_metric: the paired lead the intervals already hold)."""
    gold, n = np.asarray(dataset["label"]), len(names)
    pred, majority = scorers["model"][0], scorers["majority"][0]
    key = task.lead_metric(names)
    if key is None:
        lead = intervals.paired_lead(gold, task.resampling_units(dataset), n, pred, majority,
                                     metrics.macro_f1_of_confusions, seed)
        return diagnostics.collapse_findings(name, gold, pred, names, metrics.macro_f1(gold, pred, n),
                                             metrics.macro_f1(gold, majority, n), lead)
    lead = report.intervals["differences_by_metric"]["majority"][key]
    return diagnostics.collapse_findings(name, gold, pred, names, report.metrics[key], report.baseline[key], lead,
                                         (key, _metric_names(task)[key]))


def _metric_names(task) -> dict[str, str]:
    return {key: info[1] for key, info in {**metrics.METRIC_INFO, **task.metric_info}.items()}


def _intervals(task, dataset, scorers: dict, names: list[str], headline: str, scored: dict, seed: int,
               extra: dict) -> dict:
    """Bootstrap intervals of the model's metrics and of its headline lead over each baseline (with the lead
    itself), resampling the task's units."""
    by_name = {key: intervals.Scorer(pred, {**(task.unit_terms(dataset, scores) if scores is not None else {}),
                                            **extra[key]})
               for key, (pred, scores) in scorers.items()}
    result = intervals.bootstrap(dataset["label"], task.resampling_units(dataset), len(names), by_name,
                                 task.metric_keys(names), headline, seed)
    return {"unit": task.interval_unit, **with_leads(result, scored, headline)}


def with_leads(result: dict, scored: dict, headline: str) -> dict:
    """A bootstrap result whose paired intervals sit beside the model's headline lead over each baseline."""
    leads = {key: {"metric": headline, "difference": round(scored["model"][headline] - scored[key][headline], 6),
                   "interval": interval} for key, interval in result["differences"].items()}
    return {**result, "differences": leads}


def _calibration(raw_probs, probs, gold, temperature) -> dict:
    result = {"ece": diagnostics.expected_calibration_error(raw_probs, gold),
              "brier": diagnostics.brier_score(raw_probs, gold)}
    if temperature:
        result.update(temperature=temperature, ece_scaled=diagnostics.expected_calibration_error(probs, gold),
                      brier_scaled=diagnostics.brier_score(probs, gold))
    result["reliability"] = diagnostics.reliability_bins(probs, gold)
    return result


def data_findings(splits: dict, tokenized: dict, max_length: int, names: list[str],
                  dropped_rows: dict | None = None) -> list[Finding]:
    """Checks on the data itself: duplicates, leakage, imbalance, near-empty texts, truncation."""
    train = splits["train"]
    train_texts = _texts(train)
    findings = [dropped_rows_finding(dropped_rows), diagnostics.duplicate_finding(train_texts, train["label"]),
                diagnostics.imbalance_finding(metrics.label_counts(train["label"], names))]
    for name, dataset in splits.items():
        texts = _texts(dataset)
        findings.append(diagnostics.short_text_finding(name, texts))
        if name != "train":
            findings.append(diagnostics.leakage_finding(name, train_texts, texts))
        findings.append(truncation_finding(name, tokenized[name], max_length))
    return [f for f in findings if f is not None]


def dropped_rows_finding(dropped: dict | None) -> Finding | None:
    """How many rows `data.bad_rows: drop` skipped per split, and which (first ids or row numbers)."""
    if not dropped:
        return None
    shown = "; ".join(f"{split}: {d['count']} ({'ids' if d['by'] == 'id' else 'rows'} {', '.join(d['first'])}"
                      f"{', ...' if d['count'] > len(d['first']) else ''})" for split, d in dropped.items())
    return Finding("data.dropped_bad_rows", "warning",
                   f"{sum(d['count'] for d in dropped.values())} rows with a missing text, label or option were "
                   f"skipped ({shown})", {"dropped": dropped},
                   "check the source data: missing values often mean a broken export")


def truncation_finding(name: str, tokenized, max_length: int) -> Finding:
    """Rows cut at max_length; with `cut_<part>` columns (text / text_pair for pairs, context /
    question_or_option for multiple choice), how many rows lost tokens from each part. Rows that are windows
    of longer texts (a `document` column) cut nothing: the finding says how many texts span several."""
    if "document" in tokenized.column_names:
        from tunecard.data import windows

        return diagnostics.windows_finding(name, windows.statistics(tokenized["document"]), max_length)
    parts = [c for c in tokenized.column_names if c.startswith("cut_")]
    side_cut = {c[len("cut_"):]: int(np.sum(tokenized[c])) for c in parts} or None
    return diagnostics.truncation_finding(name, tokenized["full_length"], max_length, side_cut)


def label_noise_candidates(train, logits: np.ndarray, names: list[str], path: Path) -> Finding:
    """List the training rows the trained model finds least likely under their own label."""
    import pandas as pd

    gold = np.asarray(train["label"])
    probs = metrics.softmax(logits)
    p_gold = probs[np.arange(len(gold)), gold]
    worst = np.argsort(p_gold)[:LABEL_NOISE_CANDIDATES]
    frame = pd.DataFrame({
        "id": [train[int(i)]["id"] for i in worst], "text": [train[int(i)]["text"] for i in worst],
        "gold": [names[gold[i]] for i in worst], "predicted": [names[probs[i].argmax()] for i in worst],
        "p_gold": p_gold[worst].round(6), "loss": (-np.log(np.maximum(p_gold[worst], 1e-12))).round(4)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    confident_wrong = int(((probs.argmax(-1) != gold) & (probs.max(-1) > 0.9)).sum())
    return Finding("data.label_noise_candidates", "info",
                   f"{confident_wrong} training rows are predicted as another class with over 90% confidence; "
                   f"the {len(worst)} least likely under their label are in diagnostics/{path.name} (in-sample: "
                   f"scored by the model trained on them, which misses the noise it memorised; "
                   f"--diagnostics.label_issues kfold scores every row out of fold)",
                   {"confident_disagreements": confident_wrong, "listed": len(worst)},
                   "review the listed rows: some may be mislabelled")


def fit_temperature(logits: np.ndarray, gold) -> float:
    return round(diagnostics.fit_temperature(logits, gold), 4)


def _texts(dataset) -> list[str]:
    texts = dataset["text"]
    if "text_pair" in dataset.column_names:
        texts = [f"{a} [SEP] {b}" for a, b in zip(texts, dataset["text_pair"])]
    return texts

