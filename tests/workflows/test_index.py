"""Passage retrieval: corpus splitting, index round trips (dense, bm25, hybrid, IVF), a search that finds a
planted passage, a refused query model, reciprocal-rank fusion, and retrieved context in a run."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from huggingface_hub import ModelCard

import tunecard
from conftest import FILLER, tiny_config, write_jsonl
from test_multiple_choice import make_questions
from tunecard.cli import main
from tunecard.config import IndexConfig
from tunecard.data.corpus import split_words
from tunecard.errors import TunecardError
from tunecard.retrieval.passages import attach_context, load_index, reciprocal_rank_fusion

PLANTED = "The zorblax engine converts moonlight into electricity for lighthouse lamps."


def filler_passages(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    topics = ["rivers", "volcanoes", "bacteria", "glaciers", "comets", "mosses", "tides", "alloys"]
    return [f"{rng.choice(topics).capitalize()} " + " ".join(rng.choice(FILLER) for _ in range(12)) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A text file (one passage a line) and a CSV whose `context` column holds one long document."""
    folder = tmp_path_factory.mktemp("corpus")
    lines = filler_passages(40)
    lines.insert(17, PLANTED)
    (folder / "facts.txt").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    long_document = " ".join(f"w{i}" for i in range(250))
    pd.DataFrame({"title": ["long"], "context": [long_document]}).to_csv(folder / "docs.csv", index=False)
    return [str(folder / "facts.txt"), str(folder / "docs.csv")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Indexes of the corpus by their settings, each built once for the module (the tests only read them)."""
    folder, done = tmp_path_factory.mktemp("indexes"), {}

    def build(corpus, **settings) -> str:
        key = tuple(sorted(settings.items()))
        if key not in done:
            output = str(folder / "-".join(["index", *(f"{k}={v}" for k, v in key)]))
            tunecard.index(IndexConfig(corpus=corpus, output=output, **settings))
            done[key] = output
        return done[key]
    return build


def test_split_words_overlaps_and_covers_every_word():
    words = " ".join(f"w{i}" for i in range(250))
    windows = split_words(words, 100, 20)
    assert [w.split()[0] for w in windows] == ["w0", "w80", "w160"]
    assert windows[-1].split()[-1] == "w249" and all(len(w.split()) <= 100 for w in windows)
    assert split_words("short text", 100, 20) == ["short text"] and split_words("   ", 100, 20) == []


def test_reciprocal_rank_fusion_hand_worked():
    dense = [(7, 0.9), (3, 0.8), (5, 0.1)]
    sparse = [(3, 12.0), (9, 4.0)]
    fused = reciprocal_rank_fusion([dense, sparse], 3)
    # 3: 1/62 + 1/61, 7: 1/61, 9: 1/62 (5: 1/63 is fourth)
    assert [p for p, _ in fused] == [3, 7, 9]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


@pytest.mark.parametrize("kind", ["dense", "bm25", "hybrid"])
def test_index_round_trip_finds_the_planted_passage(built, corpus, tmp_path, kind):
    folder = built(corpus, kind=kind)
    manifest = json.loads((tmp_path / folder / "manifest.json").read_text())
    assert manifest["passages"] == 41 + 3 and manifest["kind"] == kind  # 41 lines, the document in 3 windows
    if kind != "bm25":
        assert manifest["embedding_model"] == {
            "name": "minilm", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384,
            "normalized": True, "similarity": "cosine (inner product of normalised vectors)"}
        assert manifest["faiss_index"] == "IndexFlatIP"
    index = load_index(folder)
    hits = index.search(["What turns moonlight into electricity for lighthouses?", "w170 w171 w172"], 3)
    assert hits[0][0].text == PLANTED and hits[0][0].id == "facts.txt:18"
    assert hits[1][0].id.startswith("docs.csv:1#")
    assert all(a.score >= b.score for a, b in zip(hits[0], hits[0][1:]))
    if kind == "hybrid":  # a hybrid index can be searched by either part
        assert index.search(["lighthouse moonlight electricity"], 1, kind="bm25")[0][0].text == PLANTED
    else:
        other = "bm25" if kind == "dense" else "dense"
        with pytest.raises(TunecardError, match=f"found '{other}'"):
            index.search(["x"], 1, kind=other)


def test_ivf_index_is_chosen_on_request_and_searches(built, corpus, tmp_path):
    folder = built(corpus, kind="dense", index_type="ivf", nlist=2, nprobe=2)
    manifest = json.loads((tmp_path / folder / "manifest.json").read_text())
    assert (manifest["faiss_index"], manifest["nlist"], manifest["nprobe"]) == ("IndexIVFFlat", 2, 2)
    assert load_index(folder).search(["a lighthouse powered by moonlight"], 1)[0][0].text == PLANTED


def test_a_different_query_model_is_refused(built, corpus, tmp_path, tiny_model):
    folder = built(corpus, kind="dense")
    with pytest.raises(TunecardError) as info:
        load_index(folder, query_model=tiny_model)
    assert str(info.value) == (
        f"--retrieval.query_model: expected the model the index {folder} was built with "
        f"(sentence-transformers/all-MiniLM-L6-v2); found '{tiny_model}' (tiny-bert). Fix: drop "
        "--retrieval.query_model, or build an index with that model (tunecard index --model)")
    assert load_index(folder, query_model="minilm").kind == "dense"  # the same model is fine


def test_index_cli_reports_passages_per_second_and_rejects_a_bad_kind(corpus, tmp_path, capsys):
    assert main(["index", "--corpus", corpus[0], "--output", str(tmp_path / "ix"), "--kind", "bm25"]) == 0
    assert "41 passages (bm25) in" in capsys.readouterr().out
    assert main(["index", "--corpus", corpus[0], "--output", str(tmp_path / "bad"), "--kind", "sparse"]) == 2
    assert capsys.readouterr().err.strip() == ("tunecard: error: --kind: expected one of dense, bm25, hybrid; "
                                               "found 'sparse'. Fix: set --kind to one of those")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.partial").exists()


def test_attach_context_appends_the_best_passages(built, corpus, tmp_path):
    import datasets

    index = load_index(built(corpus, kind="bm25"))
    rows = datasets.Dataset.from_dict({"question": ["what powers lighthouse lamps?"],
                                       "options": [["moonlight", "coal"]], "context": ["given context."]})
    out = attach_context(rows, index, 2)
    assert out[0]["context"].startswith("given context. " + PLANTED)
    retrieved = json.loads(out[0]["retrieved"])
    # Only the planted passage shares a word with the query: bm25 adds no zero-score passages.
    assert [r["id"] for r in retrieved] == ["facts.txt:18"] and retrieved[0]["score"] > 0


def test_training_with_retrieval_saves_passages_with_predictions(built, corpus, tmp_path, _tiny_model_master):
    folder = built(corpus, kind="bm25")
    write_jsonl(tmp_path / "data" / "train.jsonl", make_questions(80, seed=3))
    write_jsonl(tmp_path / "data" / "test.jsonl", make_questions(20, seed=4))
    config = tiny_config(tmp_path / "data", _tiny_model_master, tmp_path / "run", epochs=2)
    config.update(task="multiple_choice", retrieval={"index": folder, "top_k": 2})
    config["model"]["max_length"] = 48
    run = tunecard.train(config)
    frame = pd.read_csv(run.output / "predictions" / "test.csv")
    passages = [json.loads(r) for r in frame["retrieved"]]
    assert all(1 <= len(p) <= 2 and {"id", "score", "text"} <= set(p[0]) for p in passages)
    card = ModelCard.load(run.card_path)
    assert "- retrieval: top 2 passages per question" in card.text and "bm25 index of 44 passages" in card.text
    assert json.loads((run.output / "model" / "config.json").read_text())["tunecard_retrieval"]["top_k"] == 2
    truncation = next(f for f in run.metrics["diagnostics"] if f["id"] == "truncation" and f["split"] == "test")
    assert set(truncation["evidence"]["side_cut"]) == {"context", "question_or_option"}

    labelled = write_jsonl(tmp_path / "labelled.jsonl", make_questions(12, seed=6))
    assert main(["evaluate", "--model", str(run.output), "--data", labelled, "--output", str(tmp_path / "ev"),
                 "--retrieval.index", folder, "--retrieval.top_k", "1", "--k", "2"]) == 0
    evaluated = pd.read_csv(tmp_path / "ev" / "predictions" / "labelled.csv")
    assert all(len(json.loads(r)) <= 1 for r in evaluated["retrieved"])
    assert "map_at_2" in json.loads((tmp_path / "ev" / "metrics.json").read_text())["splits"]["labelled"]["metrics"]

    rows = [{k: v for k, v in r.items() if k != "answer"} for r in make_questions(5, seed=5)]
    out = tmp_path / "pred.jsonl"
    tunecard.predict(str(run.output), write_jsonl(tmp_path / "new.jsonl", rows), str(out),
                     retrieval={"index": folder, "top_k": 1})
    predicted = pd.read_json(out, lines=True)
    assert all(len(json.loads(r)) <= 1 for r in predicted["retrieved"]) and len(predicted) == 5


def test_retrieval_is_refused_for_a_task_without_context(built, tmp_path, sentiment_dir, tiny_model, corpus):
    folder = built(corpus, kind="bm25")
    config = tiny_config(sentiment_dir, tiny_model, tmp_path / "run", epochs=1)
    config["retrieval"] = {"index": folder}
    with pytest.raises(TunecardError, match="--retrieval.index: expected a task whose inputs take a context"):
        tunecard.train(config)
