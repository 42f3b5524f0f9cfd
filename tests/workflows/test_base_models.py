"""Defaults that follow the model's size (not its name), train.min_steps for small data, and the card's base
model and licence; with the fetched base models (../shared/models/fetch.sh), opt-in checks that skip, saying why,
when a folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard import tasks
from tunecard.config import config_from_dict

MODELS = Path(os.environ.get("TUNECARD_MODELS", "~/.cache/tunecard-models")).expanduser()


def base_size_folder(tmp_path) -> str:
    """A config.json alone, of BERT-base's size: resolving defaults reads nothing else."""
    from transformers import BertConfig

    BertConfig(hidden_size=768, num_hidden_layers=12, intermediate_size=3072).save_pretrained(tmp_path / "base")
    return str(tmp_path / "base")


@pytest.mark.parametrize("task, small_rate", [("classification", 1.5e-4), ("multi_label", 1.5e-4),
                                              ("preference", 3e-5)])
def test_learning_rate_and_warmup_follow_the_models_size(task, small_rate, tmp_path, _tiny_model_master):
    small = tasks.resolve_config(config_from_dict({"task": task, "model": {"name": _tiny_model_master}}))
    assert (small.train.learning_rate, small.train.warmup_ratio) == (small_rate, 0.0)
    base = tasks.resolve_config(config_from_dict({"task": task, "model": {"name": base_size_folder(tmp_path)}}))
    assert base.train.warmup_ratio == 0.1 and base.train.learning_rate == (3e-5 if task == "preference" else 5e-5)
    given = tasks.resolve_config(config_from_dict({"task": task, "model": {"name": base_size_folder(tmp_path)},
                                                   "train": {"learning_rate": 1e-5, "warmup_ratio": 0.0}}))
    assert (given.train.learning_rate, given.train.warmup_ratio) == (1e-5, 0.0)  # what the user set is kept


def test_min_steps_raises_the_epochs_of_small_data_and_the_card_says_so(tmp_path, tiny_model):
    folder = tmp_path / "data"
    write_jsonl(folder / "train.jsonl", make_rows(120, seed=1))
    write_jsonl(folder / "validation.jsonl", make_rows(40, seed=2))
    (Path(tiny_model) / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n", encoding="utf-8")
    config = tiny_config(folder, tiny_model, tmp_path / "run", epochs=1, min_steps=60)  # 8 steps an epoch
    config["model"]["base_model"] = "someone/tiny-bert"
    run = tunecard.train(config)
    assert len(run.history) == 8 and run.history[-1]["step"] == 64
    card = ModelCard.load(run.card_path)
    assert card.data.license == "mit" and card.data.base_model == "someone/tiny-bert"
    assert "num_epochs: 8 (raised from 1 to reach train.min_steps 60)" in card.text
    assert "The base model's\nlicence is **mit**" in card.text


@pytest.mark.skipif(not (MODELS / "all-mpnet-base-v2" / "config.json").is_file(),
                    reason="opt-in: all-mpnet-base-v2 not fetched (../shared/models/fetch.sh mpnet)")
def test_the_sentence_transformers_mpnet_folder_trains_and_names_its_base_and_licence(tmp_path):
    folder = tmp_path / "data"
    write_jsonl(folder / "train.jsonl", make_rows(16, seed=1))
    write_jsonl(folder / "validation.jsonl", make_rows(8, seed=2))
    run = tunecard.train({"data": {"path": str(folder)}, "output": str(tmp_path / "run"),
                          "model": {"name": str(MODELS / "all-mpnet-base-v2"), "max_length": 32,
                                    "base_model": "sentence-transformers/all-mpnet-base-v2"},
                          "train": {"max_steps": 2, "batch_size": 8}})
    card = ModelCard.load(run.card_path)
    assert card.data.base_model == "sentence-transformers/all-mpnet-base-v2" and card.data.license == "apache-2.0"
    config = run.metrics
    assert config["base_model"] == "sentence-transformers/all-mpnet-base-v2"
    from transformers import pipeline

    assert pipeline("text-classification", model=str(run.model_path))("a wonderful film")[0]["label"] in (
        "negative", "positive")


@pytest.mark.skipif(not (MODELS / "multilingual-e5-small" / "config.json").is_file(),
                    reason="opt-in: multilingual-e5-small not fetched (../shared/models/fetch.sh e5)")
def test_e5s_unigram_tokenizer_splits_japanese_into_windows_that_cover_the_text():
    from transformers import AutoTokenizer

    from tunecard.data import windows

    tokenizer = AutoTokenizer.from_pretrained(MODELS / "multilingual-e5-small")
    text = "もうすぐジューン・ブライドと呼ばれる６月。独女の中には自分の式はまだなのに呼ばれてばかりという人も多い。" * 8
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    encoded = windows.encode(tokenizer, [text], None, max_length=64, stride=16)
    rows = [row[1:-1] for row in encoded["input_ids"]]
    assert len(rows) >= 3 and rows[0] + [t for row in rows[1:] for t in row[16:]] == ids
