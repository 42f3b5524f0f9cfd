"""The Task protocol: a task defined entirely in this file runs train, evaluate and predict end to end,
and the workflows never name a task."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tunecard
from tunecard import tasks
from tunecard.config import Config, DataConfig, ModelConfig, TrainConfig
from tunecard.tasks.base import PreparedData, Task, TaskCard

CUES = {"up": ["rise", "climb", "soar"], "down": ["fall", "sink", "drop"]}
FILLER = ["the", "price", "will", "today", "again", "slowly", "market", "then"]


def toy_rows(n: int, seed: int) -> list[dict]:
    """{"words": [...], "direction": "up" | "down"}: the direction is told by one cue word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        direction = ("down", "up")[i % 2]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(CUES[direction]))
        rows.append({"words": words, "direction": direction})
    return rows


class ToyDirection(Task):
    """Word lists labelled up or down: its own columns, tokenizing, metric and card text."""

    name = "toy_direction"
    metric_info = {"error_rate": ("error_rate", "Error rate", None)}
    learning_rate = 1e-2  # a tiny random model learns the cue word in a few epochs at this rate

    def prepare(self, data_config, seed: int) -> PreparedData:
        splits = {name: self._read(getattr(data_config, name)) for name in ("train", "validation", "test")}
        return PreparedData(splits, ["down", "up"], columns=None)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        return {name: self._standardise(ds) for name, ds in raw.items()}

    def _read(self, path: str):
        import datasets

        return self._standardise(datasets.Dataset.from_json(path))

    def _standardise(self, dataset):
        import datasets

        features = datasets.Features({"id": datasets.Value("string"), "text": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["down", "up"])})
        return dataset.map(lambda b, idx: {"id": [f"row{i}" for i in idx], "text": [" ".join(w) for w in b["words"]],
                                           "label": b["direction"]},
                           batched=True, with_indices=True, remove_columns=dataset.column_names, features=features)

    def tokenize(self, dataset, tokenizer, max_length: int):
        def encode(batch):
            encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
            encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
            encoded["full_length"] = [len(ids) for ids in tokenizer(batch["text"])["input_ids"]]
            return encoded
        return dataset.map(encode, batched=True)

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return ["accuracy", "error_rate"]

    def headline_metric(self, label_names: list[str]) -> str:
        return "accuracy"

    def compute_metrics_fn(self, label_names, validation, row_order):
        def compute(prediction) -> dict:
            accuracy = float(np.mean(np.argmax(prediction.predictions, -1) == prediction.label_ids))
            return {"accuracy": accuracy, "error_rate": 1 - accuracy}
        return compute

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        return {"error_rate": float(np.mean(probs.argmax(-1) != np.asarray(dataset["label"])))}

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        return TaskCard(description="toy direction tagging", intended_use="Tells whether a word list goes up or down.",
                        usage='import tunecard\n\ntunecard.load("{model_path}").predict(["prices rise"])')

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        def score(chunk, ids, bar):
            probs = predictor.predict_proba([" ".join(w) for w in chunk["words"]], None, bar)
            return pd.DataFrame({"id": list(ids), "direction": [predictor.labels[i] for i in probs.argmax(-1)]})
        return score


@pytest.fixture
def toy_data(tmp_path) -> dict[str, str]:
    paths = {}
    for name, n, seed in (("train", 240, 1), ("validation", 60, 2), ("test", 60, 3)):
        path = tmp_path / "toy" / f"{name}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in toy_rows(n, seed)), encoding="utf-8")
        paths[name] = str(path)
    return paths


def test_a_task_defined_in_one_file_trains_evaluates_and_predicts(tiny_model, toy_data, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard

    monkeypatch.setitem(tasks.TASKS, "toy_direction", ToyDirection)
    config = Config(task="toy_direction", data=DataConfig(**toy_data), model=ModelConfig(name=tiny_model, max_length=16),
                    train=TrainConfig(epochs=4, batch_size=16), output=str(tmp_path / "run"))
    run = tunecard.train(config)

    assert config.train.learning_rate is None  # the caller's config is not changed; the run's copy is resolved
    assert run.metrics["task"] == "toy_direction"
    test = run.metrics["splits"]["test"]["metrics"]
    assert test["accuracy"] >= 0.9 and test["error_rate"] == pytest.approx(1 - test["accuracy"])
    card = ModelCard.load(run.card_path)
    assert "for toy direction tagging" in card.text and "Tells whether a word list goes up or down." in card.text
    assert 'tunecard.load("path/to/run/model")' in card.text
    error_rates = [r for r in card.data.eval_results if r.metric_type == "error_rate"]
    assert {r.dataset_split for r in error_rates} == {"validation", "test"}
    assert (run.output / "config.yaml").read_text().count("learning_rate: 0.01") == 1

    report = tunecard.evaluate(str(run.output), str(Path(toy_data["test"]).parent))
    assert report["splits"]["test"]["metrics"]["accuracy"] == pytest.approx(test["accuracy"])
    out = tunecard.predict(str(run.output), toy_data["test"], str(tmp_path / "predictions.csv"))
    predicted = pd.read_csv(out)
    gold = [r["direction"] for r in toy_rows(60, 3)]
    assert list(predicted.columns) == ["id", "direction"]
    assert np.mean(predicted["direction"] == gold) == pytest.approx(test["accuracy"])


def test_registering_a_non_task_is_refused():
    with pytest.raises(TypeError):
        tasks.register("not_a_task", dict)


def test_resolving_defaults_leaves_the_callers_config_alone():
    config = Config(task="llm_classification")
    resolved = tasks.resolve_config(config)
    assert (resolved.model.name, resolved.train.learning_rate, resolved.model.truncation_side) == \
        ("smollm2-135m", 5e-4, "right")
    assert (config.model.name, config.train.learning_rate, config.model.truncation_side) == ("minilm", None, None)
    assert tasks.resolve_config(Config(task="preference")).train.learning_rate == 3e-5
    assert tasks.resolve_config(Config(task="preference")).model.truncation_side == "left"
    assert tasks.resolve_config(Config(model=ModelConfig(name="org/some-bert"))).train.learning_rate == 5e-5


SRC = Path(tunecard.__file__).parent


def test_no_workflow_names_a_task_or_probes_one():
    """Outside tasks/ only the config's help text and default may name a task."""
    names = re.compile(r"""["'](%s)["']""" % "|".join(tasks.TASKS))
    for path in SRC.rglob("*"):
        if path.suffix not in (".py", ".md") or "tasks" in path.relative_to(SRC).parts or path.relative_to(SRC).as_posix() == "config/sections.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not names.search(text), f"{path.relative_to(SRC)} names a task"
        assert "hasattr(task" not in text and "getattr(task" not in text, f"{path.relative_to(SRC)} probes a task"


def test_every_finding_states_the_tasks_it_applies_to_and_no_task_is_listed_for_one_it_declines():
    """docs/diagnostics.md has an `applies to` cell for every finding; a task that declares a finding not applicable
    (Task.findings_not_applicable, with its reason) is never listed for it, and declares only documented ids."""
    documented = {}
    for line in (Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 4:
            documented[cells[0].strip("`")] = cells[2]
    assert {"data.imbalance", "positions.by_option_count", "collapse.one_class"} <= set(documented)
    assert all(documented.values())
    for name in tasks.TASKS:
        declined = tasks.task_class(name).findings_not_applicable
        assert set(declined) <= set(documented), name
        for finding, why in declined.items():
            assert why and name not in documented[finding].replace(" ", "").split(","), (name, finding)
    assert set(tasks.task_class("multiple_choice").findings_not_applicable) == {
        "data.imbalance", "classes.never_recalled", "collapse.class_never_recalled"}
    assert tasks.task_class("classification").findings_not_applicable == {}
