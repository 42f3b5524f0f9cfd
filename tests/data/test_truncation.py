"""Truncation findings match a direct count with the tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from conftest import make_rows, write_jsonl
from tunecard.config import DataConfig
from tunecard.judging.judge import data_findings
from tunecard.data import texts


def truncation_of(findings, split):
    return next(f for f in findings if f.id == "truncation" and f.split == split)


def test_share_matches_a_direct_count(tmp_path, minilm_path):
    write_jsonl(tmp_path / "d" / "train.jsonl", make_rows(200, seed=4))
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    prepared = texts.prepare(DataConfig(path=str(tmp_path / "d")), seed=42)
    tokenized = {n: texts.tokenize(ds, tokenizer, 10) for n, ds in prepared.splits.items()}
    finding = truncation_of(data_findings(prepared.splits, tokenized, 10, prepared.label_names), "train")
    lengths = [len(tokenizer(t)["input_ids"]) for t in list(prepared.splits["train"]["text"])]
    over = [n - 10 for n in lengths if n > 10]
    assert finding.evidence["truncated"] == len(over) > 0
    assert finding.evidence["share_truncated"] == round(len(over) / len(lengths), 4)
    assert max(tokenized["train"]["length"]) == 10


def test_pairs_report_which_side_is_cut(tmp_path, minilm_path):
    rows = [{"premise": f"short one {i}", "hypothesis": "word " * 30, "label": r["label"]}
            for i, r in enumerate(make_rows(40))]
    write_jsonl(tmp_path / "p" / "train.jsonl", rows)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    prepared = texts.prepare(DataConfig(path=str(tmp_path / "p")), seed=42)
    tokenized = {n: texts.tokenize(ds, tokenizer, 16) for n, ds in prepared.splits.items()}
    finding = truncation_of(data_findings(prepared.splits, tokenized, 16, prepared.label_names), "train")
    assert finding.evidence["side_cut"] == {"text": 0, "text_pair": finding.evidence["truncated"]}
    assert "text_pair: 36" in finding.message


def test_left_truncation_keeps_the_end(minilm_path, tmp_path):
    import datasets

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.truncation_side = "left"
    ds = datasets.Dataset.from_list([{"text": "start " * 20 + "finale", "label": 0, "id": "0"}])
    encoded = texts.tokenize(ds, tokenizer, 8)
    assert tokenizer.decode(encoded[0]["input_ids"][-2:]) == "finale [SEP]"


EMOTION = Path(os.environ.get("TUNECARD_DATASETS", Path(__file__).parents[3] / "shared" / "datasets")) / "emotion"


@pytest.mark.skipif(not (EMOTION / "train.jsonl").is_file(), reason="opt-in: needs the shared emotion dataset")
def test_emotion_at_max_length_32_warns_with_the_right_share(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    prepared = texts.prepare(DataConfig(path=str(EMOTION)), seed=42)
    tokenized = {n: texts.tokenize(ds, tokenizer, 32) for n, ds in prepared.splits.items()}
    findings = data_findings(prepared.splits, tokenized, 32, prepared.label_names)
    for split in ("train", "validation", "test"):
        rows = list(prepared.splits[split]["text"])
        direct = sum(len(ids) > 32 for ids in tokenizer(rows)["input_ids"]) / len(rows)
        finding = truncation_of(findings, split)
        assert finding.evidence["share_truncated"] == round(direct, 4)
        assert finding.severity == "warning"
