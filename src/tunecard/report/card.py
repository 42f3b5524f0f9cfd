"""The model card: plain run data in, a `huggingface_hub.ModelCard` out.

Front matter is built with `ModelCardData` / `EvalResult` (one result per metric per evaluated
split, averaging in `args`), so it round-trips through `ModelCard.load(...).data.eval_results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tunecard.metrics import METRIC_INFO

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
TASK_NAMES = {"text-classification": "Text Classification", "multiple-choice": "Multiple Choice"}
"""model-index task names by pipeline tag."""
EXAMPLE_COLUMNS = {"before": "Before (base model)", "after": "After (this model)",
                   "base_output": "Base model, free generation", "tuned_output": "This model, free generation"}
"""Columns of the example tables, in order, and their titles."""
FRAMEWORKS = ("tunecard", "transformers", "torch", "datasets", "tokenizers", "accelerate",
              "huggingface-hub", "scikit-learn")


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
    examples: list[dict] | None = None
    """Example rows (id, text, gold, and one label per scorer: before, after, ...) for the card."""


@dataclass
class CardInputs:
    model_name: str
    base_model: str
    dataset_name: str
    """A hub id or a local dataset's name."""
    dataset_description: str
    task: str
    pipeline_tag: str
    label_names: list[str]
    max_length: int
    input_description: str
    splits: list[SplitReport]
    """Every split, evaluated ones carrying metrics."""
    metric_keys: list[str]
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
    task_notes: list[str] = field(default_factory=list)
    """Paragraphs the task adds to the card (e.g. what a preference score means)."""
    score_plots: bool = False
    """Whether plots/scores_<split>.png (score histograms per gold label) exist."""
    library_name: str = "transformers"
    """The card's library_name: peft for a LoRA adapter saved on its own."""


def framework_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    versions = {}
    for name in (*FRAMEWORKS, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def eval_results(inputs: CardInputs) -> list[EvalResult]:
    results = []
    for split in (s for s in inputs.splits if s.metrics):
        for key in inputs.metric_keys:
            metric_type, metric_name, args = METRIC_INFO[key]
            results.append(EvalResult(
                task_type=_evaluated_task(inputs),
                task_name=TASK_NAMES.get(_evaluated_task(inputs), _evaluated_task(inputs)),
                dataset_type=inputs.dataset_name, dataset_name=inputs.dataset_name,
                dataset_split=split.name, metric_type=metric_type, metric_name=metric_name,
                metric_value=round(split.metrics[key], 4), metric_args=args))
    return results


def _evaluated_task(inputs: CardInputs) -> str:
    """What the metrics measure: text classification, also when the model is a text generator."""
    return "text-classification" if inputs.task == "llm_classification" else inputs.pipeline_tag


def build_card(inputs: CardInputs) -> ModelCard:
    data = ModelCardData(
        base_model=inputs.base_model, datasets=[inputs.dataset_name], library_name=inputs.library_name,
        pipeline_tag=inputs.pipeline_tag, license=None,
        tags=["tunecard", inputs.task, *inputs.tags],
        metrics=sorted({METRIC_INFO[k][0] for k in inputs.metric_keys}),
        model_name=inputs.model_name, eval_results=eval_results(inputs))
    evaluated = [s for s in inputs.splits if s.metrics]
    context = {**vars(inputs), **dict(
        results=evaluated,
        base_model_url=_hub_url(inputs.base_model), task_description=_task_description(inputs),
        headline_results=_headline_lines(inputs, evaluated), example_input=_example(inputs),
        metric_names={k: METRIC_INFO[k][1] for k in METRIC_INFO},
        best_metric_name=METRIC_INFO.get(inputs.best_metric, (0, inputs.best_metric))[1],
        train_time=_duration(inputs.train_seconds), samples_per_second=f"{inputs.samples_per_second:.1f}",
        framework_versions=framework_versions(("peft",) if inputs.task == "llm_classification" else ()),
        model_path_hint=f"path/to/{inputs.model_name}/model",
        example_columns=EXAMPLE_COLUMNS,
        fmt=_fmt)}
    return ModelCard.from_template(data, template_path=str(TEMPLATE), **context)


def _task_description(inputs: CardInputs) -> str:
    if inputs.task == "preference":
        return "preference scoring (chosen vs rejected responses)"
    if inputs.task == "multiple_choice":
        return "multiple-choice question answering"
    if inputs.task == "llm_classification":
        kind = "LoRA-tuned" if inputs.library_name == "peft" else "LoRA-tuned and merged"
        return f"text classification by label likelihood ({kind} causal language model)"
    return f"{'text-pair' if 'pair' in inputs.input_description else 'text'} classification"


def _headline_lines(inputs: CardInputs, evaluated: list[SplitReport]) -> list[str]:
    lines = []
    for split in evaluated:
        shown = ", ".join(f"{METRIC_INFO[k][1]} {split.metrics[k]:.4f}" for k in inputs.metric_keys)
        lines.append(f"{split.name}: {shown}")
    return lines


def _example(inputs: CardInputs) -> str:
    if "pair" in inputs.input_description:
        return '{"text": "first text", "text_pair": "second text"}'
    return '"Your text here"'


def _hub_url(model_id: str) -> str:
    return f"https://huggingface.co/{model_id}" if "/" in model_id else model_id


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render_evaluation(report: dict, results: list[SplitReport], names: list[str], metric_keys: list[str]) -> str:
    """The markdown written by `tunecard evaluate --output`: the card's evaluation tables."""
    import jinja2

    template = jinja2.Template((TEMPLATE.parent / "evaluation.md").read_text(encoding="utf-8"))
    return template.render(
        model=report["model"], data=report["data"], baseline_source=report["baseline_source"],
        majority_label=report["majority_label"], results=results, label_names=names,
        diagnostics=report["diagnostics"],
        metric_keys=metric_keys, metric_names={k: METRIC_INFO[k][1] for k in METRIC_INFO},
        fmt=_fmt)
