"""The model card: plain run data in, a `huggingface_hub.ModelCard` out.

Front matter is built with `ModelCardData` / `EvalResult` (one result per metric per evaluated
split, averaging in `args`), so it round-trips through `ModelCard.load(...).data.eval_results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tunecard.judging.judge import BASELINE_NAMES, SplitReport

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
EXAMPLE_COLUMNS = {"before": "Before (base model)", "after": "After (this model)",
                   "base_output": "Base model, free generation", "tuned_output": "This model, free generation"}
"""Columns of the example tables, in order, and their titles."""
FRAMEWORKS = ("tunecard", "transformers", "torch", "datasets", "tokenizers", "accelerate",
              "huggingface-hub", "scikit-learn")


@dataclass
class CardInputs:
    model_name: str
    base_model: str
    dataset_name: str
    """A hub id or a local dataset's name."""
    dataset_description: str
    task: str
    """The task's name (a card tag)."""
    pipeline_tag: str
    model_index_task: tuple[str, str]
    """The model-index task (type, name) the metrics are filed under."""
    label_names: list[str]
    max_length: int
    splits: list[SplitReport]
    """Every split, evaluated ones carrying metrics."""
    metric_keys: list[str]
    metric_info: dict[str, tuple]
    """Metric key -> (model-index type, display name, args), the task's own included."""
    card_text: object
    """The task's TaskCard: description, intended_use, usage (with {model_path}), metrics_note, notes."""
    best_metric: str
    best_epoch: float | None
    history: list[dict]
    hyperparameters: dict
    majority_label: str
    validation_held_out: bool = False
    validation_share: float = 0.1
    seed: int = 42
    train_seconds: float = 0.0
    samples_per_second: float = 0.0
    device: str = "cpu"
    tags: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    """Diagnostic findings as dicts (id, severity, message, evidence, advice, split)."""
    temperature: float | None = None
    test_held_out: bool = False
    test_share: float | None = None
    holdout: str = "stratified by label"
    """How held-out splits were drawn."""
    score_plots: bool = False
    """Whether plots/scores_<split>.png (score histograms per gold label) exist."""
    library_name: str = "transformers"
    """The card's library_name: peft for a LoRA adapter saved on its own."""
    extra_frameworks: tuple[str, ...] = ()
    """Packages the task adds to the framework versions."""
    selection: str | None = None
    """How the hyperparameters were chosen, when a search chose them (`tunecard tune`)."""
    dropped_rows: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    """Sections an extension of the run adds (e.g. {"distillation": {...}}), for metrics.json and the card."""
    base_license: str | None = None
    """The base model's licence (model.license, else its card's): the card's own `license`."""
    long_inputs: dict | None = None
    """How texts longer than the window were read: {"strategy", "max_length", and for chunk "stride", "pooling",
    and per split the windows' statistics (data.windows.statistics)}."""
    """Rows skipped per split by data.bad_rows: drop ({"count", "first", "by"})."""
    baselines: str = ""
    """The task's baseline_description (empty: the majority class and stratified random labels)."""
    baseline_names: dict = field(default_factory=dict)
    fitted: dict = field(default_factory=dict)
    """What the task fitted on validation after training (Task.fitted_settings), e.g. decision thresholds."""
    findings_not_applicable: dict = field(default_factory=dict)
    """Findings that do not fit the task (Task.findings_not_applicable): id -> why; the card says so."""
    cost: dict | None = None
    """What scoring the held-out split cost: texts/s, CPU-seconds per 1,000 predictions, the machine."""
    held_out_together: dict | None = None
    """When tunecard drew validation or test itself: identical texts kept on one side (data.splits.together_report)."""


def framework_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    versions = {}
    for name in (*FRAMEWORKS, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def eval_results(inputs: CardInputs) -> list[EvalResult]:
    return model_index(inputs.model_index_task, inputs.dataset_name, inputs.splits, inputs.metric_keys,
                       inputs.metric_info)


def model_index(model_index_task: tuple[str, str], dataset_name: str, splits: list[SplitReport],
                metric_keys: list[str], metric_info: dict[str, tuple]) -> list[EvalResult]:
    """One EvalResult per metric per evaluated split: the point values (intervals go in the card's body)."""
    task_type, task_name = model_index_task
    results = []
    for split in (s for s in splits if s.metrics):
        for key in metric_keys:
            metric_type, metric_name, args = metric_info[key]
            results.append(EvalResult(
                task_type=task_type, task_name=task_name, dataset_type=dataset_name, dataset_name=dataset_name,
                dataset_split=split.name, metric_type=metric_type, metric_name=metric_name,
                metric_value=round(split.metrics[key], 4), metric_args=args))
    return results


def build_card(inputs: CardInputs) -> ModelCard:
    data = ModelCardData(
        base_model=inputs.base_model, datasets=[inputs.dataset_name], library_name=inputs.library_name,
        pipeline_tag=inputs.pipeline_tag, license=inputs.base_license,
        tags=["tunecard", inputs.task, *inputs.tags],
        metrics=sorted({inputs.metric_info[k][0] for k in inputs.metric_keys}),
        model_name=inputs.model_name, eval_results=eval_results(inputs))
    evaluated = [s for s in inputs.splits if s.metrics]
    names = metric_names(inputs.metric_info)
    text = inputs.card_text
    context = {**vars(inputs), **dict(
        results=evaluated,
        base_model_url=_hub_url(inputs.base_model), task_description=text.description,
        intended_use=text.intended_use, metrics_note=text.metrics_note, task_notes=text.notes,
        usage=text.usage.replace("{model_path}", f"path/to/{inputs.model_name}/model"),
        headline_results=_headline_lines(inputs, evaluated, names),
        metric_names=names, best_metric_name=names.get(inputs.best_metric, inputs.best_metric),
        train_time=_duration(inputs.train_seconds), samples_per_second=f"{inputs.samples_per_second:.1f}",
        framework_versions=framework_versions(inputs.extra_frameworks),
        example_columns=EXAMPLE_COLUMNS, baseline_names={**BASELINE_NAMES, **inputs.baseline_names},
        interval_settings=interval_settings(evaluated), abstention_section=_abstention_section(inputs.extra),
        fmt=fmt, interval=format_interval, signed=signed)}
    return ModelCard.from_template(data, template_path=str(TEMPLATE), **context)


def _abstention_section(extra: dict) -> str:
    return abstention_section(extra["abstention"]) if "abstention" in extra else ""


ABSTENTION_MARKS = ("<!-- abstention -->", "<!-- /abstention -->")
"""What the abstention section starts and ends with (templates/abstention.md), so a card's can be replaced."""


def abstention_section(report: dict) -> str:
    """The card's section on abstention, from metrics.json's `abstention` (judging.abstention.fit's report)."""
    import jinja2

    template = jinja2.Template((TEMPLATE.parent / "abstention.md").read_text(encoding="utf-8"))
    return template.render(r=report, fmt=fmt, interval=format_interval).strip() + "\n"


def with_abstention_section(card: str, report: dict) -> str:
    """`card` (a README.md's text) with the abstention section of `report` in place of an earlier one; a card
    without one gets it before its diagnostics (at its end when it has none)."""
    start, end = ABSTENTION_MARKS
    text = abstention_section(report)
    if start in card and end in card:
        return card[:card.index(start)] + text.rstrip("\n") + card[card.index(end) + len(end):]
    at = card.find("\n## Diagnostics")
    return card.rstrip("\n") + "\n\n" + text if at < 0 else card[:at] + "\n" + text + card[at:]


def metric_names(metric_info: dict[str, tuple]) -> dict[str, str]:
    """Metric key -> display name."""
    return {key: info[1] for key, info in metric_info.items()}


def _headline_lines(inputs: CardInputs, evaluated: list[SplitReport], names: dict[str, str]) -> list[str]:
    lines = []
    for split in evaluated:
        shown = ", ".join(f"{names[k]} {split.metrics[k]:.4f}" for k in inputs.metric_keys)
        lines.append(f"{split.name}: {shown}")
    return lines


def _hub_url(model_id: str) -> str | None:
    """The Hub page of a hub id; None for a local model (named by its folder), which has no page to link."""
    return f"https://huggingface.co/{model_id}" if "/" in model_id else None


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def format_interval(bounds) -> str:
    """[low, high] as the card and the terminal show it."""
    return f"{bounds[0]:.4f}–{bounds[1]:.4f}" if bounds else "n/a"


def signed(value: float) -> str:
    return f"{value:+.4f}"


def interval_settings(evaluated: list[SplitReport]) -> str:
    shown = next((s.intervals for s in evaluated if s.intervals), None)
    if not shown:
        return "none computed"
    return f"{shown['resamples']:,} resamples of the split's {shown['unit']}, seed {shown['seed']}"


def fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render_evaluation(report: dict, results: list[SplitReport], names: list[str], metric_keys: list[str],
                      metric_info: dict[str, tuple]) -> str:
    """The markdown written by `tunecard evaluate --output`: the card's evaluation tables."""
    import jinja2

    template = jinja2.Template((TEMPLATE.parent / "evaluation.md").read_text(encoding="utf-8"))
    return template.render(
        model=report["model"], data=report["data"], baseline_source=report["baseline_source"],
        majority_label=report["majority_label"], baselines=report.get("baselines"), results=results, label_names=names,
        headline=report.get("headline_metric"),
        zero_shot=report.get("zero_shot"),
        diagnostics=report["diagnostics"], not_applicable=report.get("diagnostics_not_applicable", {}),
        metric_keys=metric_keys, metric_names=metric_names(metric_info),
        baseline_names={**BASELINE_NAMES, **report.get("baseline_names", {})},
        interval_settings=interval_settings(results),
        fmt=fmt, interval=format_interval, signed=signed)
