"""What a task says about itself in the model card (TaskCard), and the card text of a label classifier that
`pipeline("text-classification")` runs, which several tasks share."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunecard.data.splits import PreparedData


@dataclass(frozen=True)
class TaskCard:
    """What a task says about itself in the model card, as plain text."""
    description: str
    """Completes "a fine-tuned version of <base> for ...", e.g. "text classification"."""
    intended_use: str
    """The first sentence of "Intended uses & limitations"."""
    usage: str
    """A Python snippet that loads and runs the model; `{model_path}` is replaced by the model folder."""
    metrics_note: str = ""
    """How the metrics are computed (e.g. how precision, recall and F1 are averaged)."""
    notes: list[str] = field(default_factory=list)
    """Further paragraphs (e.g. what a preference score means)."""


PIPELINE_USAGE = """from transformers import pipeline

classifier = pipeline("text-classification", model="{model_path}")
classifier({example})"""


def classifier_metrics_note(label_names: list[str]) -> str:
    """How precision, recall and F1 are computed for a label classifier."""
    if len(label_names) == 2:
        return f"Precision, recall and F1 are binary, with `{label_names[1]}` (label id 1) as the positive class."
    return ("Precision, recall and F1 are averaged over classes: macro (each class counts the same) and weighted "
            "(by support).")


def classifier_card(prepared: PreparedData, description: str, notes: tuple[str, ...] = ()) -> TaskCard:
    """The card text of a label classifier that `pipeline("text-classification")` runs."""
    names = prepared.label_names
    return TaskCard(
        description=description,
        intended_use=f"Classifies {input_description(prepared)} into one of {len(names)} labels: {', '.join(names)}.",
        usage=PIPELINE_USAGE.replace("{example}", example_input(prepared)),
        metrics_note=classifier_metrics_note(names), notes=list(notes))


def example_input(prepared: PreparedData) -> str:
    if prepared.columns.text_pair:
        return '{"text": "first text", "text_pair": "second text"}'
    return '"Your text here"'


def input_description(prepared: PreparedData) -> str:
    return "a text pair" if prepared.columns.text_pair else "a text"
