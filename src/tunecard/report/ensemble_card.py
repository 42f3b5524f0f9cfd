"""The card of an ensemble run: members and weights, how they were fitted, each split beside the baselines,
and the ensemble's paired lead over every member. Plain data in, a `huggingface_hub.ModelCard` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from tunecard.report import card

TEMPLATE = Path(__file__).parent / "templates" / "ensemble_card.md"


@dataclass
class EnsembleCardInputs:
    model_name: str
    task: str
    dataset_name: str
    model_index_task: tuple[str, str]
    pipeline_tag: str
    metric_keys: list[str]
    metric_info: dict[str, tuple]
    headline: str
    members: list[dict]
    """name, base_model, weight, headline {split: value}."""
    fitting: str
    """How the weights were fitted, in words."""
    results: list[card.SplitReport]
    leads: dict[str, list[dict]]
    """split -> rows {label, value, difference, interval} of the ensemble's headline lead over each member."""
    folds: int = 0
    findings: list[dict] = field(default_factory=list)


def build_ensemble_card(inputs: EnsembleCardInputs) -> ModelCard:
    data = ModelCardData(
        base_model=sorted({m["base_model"] for m in inputs.members}), datasets=[inputs.dataset_name],
        pipeline_tag=inputs.pipeline_tag, tags=["tunecard", inputs.task, "ensemble"],
        metrics=sorted({inputs.metric_info[k][0] for k in inputs.metric_keys}), model_name=inputs.model_name,
        eval_results=card.model_index(inputs.model_index_task, inputs.dataset_name, inputs.results,
                                      inputs.metric_keys, inputs.metric_info))
    names = card.metric_names(inputs.metric_info)
    headline_lines = [f"{r.name}: " + ", ".join(f"{names[k]} {r.metrics[k]:.4f}" for k in inputs.metric_keys)
                      for r in inputs.results]
    return ModelCard.from_template(
        data, template_path=str(TEMPLATE), **{**vars(inputs), **dict(
            headline_results=headline_lines, split_names=[r.name for r in inputs.results],
            headline_name=names[inputs.headline], metric_names=names, n_labels=len(inputs.results[0].distribution),
            interval_settings=card.interval_settings(inputs.results),
            framework_versions=card.framework_versions(("scipy",)),
            fmt=card.fmt, interval=card.format_interval, signed=card.signed)})
