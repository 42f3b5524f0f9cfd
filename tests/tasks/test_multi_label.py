"""Multi-label classification: the three input layouts, a tiny model that learns label sets (BCE), decision
thresholds fitted on validation and used end to end, the metrics against scikit-learn, the diagnostics of a
collapsed model, and the errors."""

import json

import numpy as np
import pandas as pd
import pytest

from tunecard.cli import main
from tunecard.config import DataConfig
from tunecard.tasks import multi_label

from conftest import LABEL_NAMES as NAMES, label_set_rows, write_jsonl


def hot(labels) -> list[float]:
    return [1.0 if name in labels else 0.0 for name in NAMES]


# ---- layouts ------------------------------------------------------------------------------------

def test_a_list_a_delimited_string_and_indicator_columns_read_as_the_same_sets(tmp_path):
    rows = label_set_rows(40, seed=5)
    write_jsonl(tmp_path / "list.jsonl", rows)
    # GoEmotions' layout: a header-less TSV of text, comma-separated label ids, comment id; names by line number
    ids = "\n".join(f"{r['text']}\t{','.join(str(NAMES.index(x)) for x in r['labels'])}\tc{i}"
                    for i, r in enumerate(rows))
    (tmp_path / "ids.tsv").write_text(ids + "\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    pd.DataFrame([{"text": r["text"], **{f"emo_{n}": int(n in r["labels"]) for n in NAMES}} for r in rows]).to_csv(
        tmp_path / "columns.csv", index=False)
    configs = {
        "list": DataConfig(path=str(tmp_path / "list.jsonl")),
        "delimited": DataConfig(path=str(tmp_path / "ids.tsv"), header=False, columns="text,labels,id",
                                label_names=str(tmp_path / "names.txt")),
        "indicators": DataConfig(path=str(tmp_path / "columns.csv"), label_columns="emo_*"),
    }
    expected = [hot(r["labels"]) for r in rows]
    for layout, config in configs.items():
        prepared = multi_label.MultiLabel().prepare(config, seed=42)
        assert prepared.label_names == NAMES, layout
        both = {**dict(zip(prepared.splits["train"]["text"], prepared.splits["train"]["label"])),
                **dict(zip(prepared.splits["validation"]["text"], prepared.splits["validation"]["label"]))}
        assert [both[r["text"]] for r in rows] == expected, layout


def test_rows_without_labels_are_kept_and_counted(tmp_path):
    rows = label_set_rows(60, seed=7)
    write_jsonl(tmp_path / "d" / "train.jsonl", rows)
    prepared = multi_label.MultiLabel().prepare(DataConfig(path=str(tmp_path / "d")), seed=42)
    empty = sum(1 for r in rows if not r["labels"])
    finding = next(f for f in prepared.findings if f.id == "data.rows_without_labels")
    assert empty > 0 and sum(finding.evidence["rows"].values()) == empty


def test_rows_missing_their_labels_are_dropped_and_named(tmp_path):
    rows = label_set_rows(40, seed=8)
    rows[3]["labels"] = None
    write_jsonl(tmp_path / "d" / "train.jsonl", rows)
    code = main(["train", "--task", "multi_label", "--data", str(tmp_path / "d"), "--output", str(tmp_path / "o")])
    assert code == 2
    prepared = multi_label.MultiLabel().prepare(DataConfig(path=str(tmp_path / "d"), bad_rows="drop"), seed=42)
    assert prepared.dropped_rows == {"train": {"count": 1, "first": ["4"], "by": "row"}}


def test_a_text_shared_with_train_and_a_conflicting_set_are_found(tmp_path, tiny_model):
    from transformers import AutoTokenizer

    from tunecard.judging import judge as evaluation

    train, test = label_set_rows(60, seed=1), label_set_rows(20, seed=3)
    test[0] = dict(train[0])  # leaked into test
    train.append({"text": train[1]["text"], "labels": [] if train[1]["labels"] else ["joy"]})  # another set
    for name, rows in (("train", train), ("validation", label_set_rows(20, seed=2)), ("test", test)):
        write_jsonl(tmp_path / "d" / f"{name}.jsonl", rows)
    task = multi_label.MultiLabel()
    prepared = task.prepare(DataConfig(path=str(tmp_path / "d")), seed=42)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenized = {name: task.tokenize(ds, tokenizer, 32) for name, ds in prepared.splits.items()}
    found = {f.id: f for f in evaluation.data_findings(prepared.splits, tokenized, 32, prepared.label_names)}
    assert found["data.leakage"].split == "test" and found["data.leakage"].evidence["shared"] == 1
    assert found["data.duplicates"].evidence == {"duplicates": 1, "share": round(1 / 61, 4), "conflicting_labels": 1}


# ---- metrics and thresholds ---------------------------------------------------------------------

def test_metrics_match_scikit_learn_with_empty_rows():
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_score, recall_score

    from tunecard.judging.metrics import multi_label_metrics

    rng = np.random.default_rng(0)
    gold, predicted = rng.random((300, 6)) < 0.2, rng.random((300, 6)) < 0.3
    gold[:10], predicted[5:15] = False, False
    result = multi_label_metrics(gold, predicted)
    for average in ("micro", "macro", "samples"):
        for key, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
            assert result[f"{key}_{average}"] == pytest.approx(fn(gold, predicted, average=average, zero_division=0))
    assert result["subset_accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert result["hamming_loss"] == pytest.approx(hamming_loss(gold, predicted))
    assert result["label_cardinality"] == pytest.approx(predicted.sum(1).mean())


def test_thresholds_fitted_on_validation_find_a_planted_one():
    rng = np.random.default_rng(1)
    gold = rng.random((2000, 3)) < 0.3
    # label 0 is told apart at 0.8, the others at 0.3: per-label thresholds beat any global one
    probs = np.where(gold, rng.uniform(0.3, 1.0, gold.shape), rng.uniform(0.0, 0.3, gold.shape))
    probs[:, 0] = np.where(gold[:, 0], rng.uniform(0.8, 1.0, len(gold)), rng.uniform(0.0, 0.8, len(gold)))
    thresholds, kind = multi_label.fit_thresholds(probs, gold)
    assert kind == "per_label"
    assert thresholds[0] == pytest.approx(0.8) and thresholds[1] == pytest.approx(0.3)


def test_a_model_that_predicts_no_label_or_one_set_is_a_collapse():
    from tunecard.judging.diagnostics import label_set_collapse_findings

    gold = np.random.default_rng(2).random((100, 3)) < 0.4
    nothing = label_set_collapse_findings("test", gold, np.zeros_like(gold), NAMES)
    assert {f.id for f in nothing} == {"collapse.no_labels", "labels.never_predicted"}
    same = label_set_collapse_findings("test", gold, np.tile([True, False, False], (100, 1)), NAMES)
    assert {f.id: f.severity for f in same} == {"collapse.one_label_set": "error", "labels.never_predicted": "error"}
    assert label_set_collapse_findings("test", gold, gold, NAMES) == []


def test_balanced_weights_even_each_label_and_the_chance_loss_is_the_best_blind_models_loss():
    import torch

    rng = np.random.default_rng(0)
    labels = (rng.random((400, 3)) < [0.5, 0.1, 0.02]).astype(float)
    priors = labels.mean(0)
    positive, negative = multi_label.balanced_weights(priors)
    assert positive * labels.sum(0) == pytest.approx(negative * (1 - labels).sum(0))  # each side weighs alike
    loss = multi_label.weighted_bce(positive, negative)
    blind = lambda q: float(loss({"logits": torch.logit(torch.full((400, 3), q))}, torch.tensor(labels)))
    assert blind(0.5) == pytest.approx(multi_label.blind_bce(priors, labels, balanced=True), abs=1e-5)
    assert blind(0.5) < min(blind(0.45), blind(0.55))  # 0.5 is the best input-blind guess under these weights
    plain = multi_label.weighted_bce(np.ones(3), np.ones(3))
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(np.tile(priors, (400, 1))), torch.tensor(labels))
    assert float(plain({"logits": torch.logit(torch.tensor(np.tile(priors, (400, 1))))}, torch.tensor(labels))) == \
        pytest.approx(float(expected), abs=1e-5) == pytest.approx(multi_label.blind_bce(priors, labels), abs=1e-5)


# ---- a trained model, end to end (the session's multi_label run: 4 epochs, trained from the CLI) ----------

def train(data, model, out, *extra):
    return main(["train", "--task", "multi_label", "--data", str(data), "--model", model, "--output", str(out),
                 "--train.epochs", "4", "--train.learning_rate", "1e-2", "--train.batch_size", "16",
                 "--model.max_length", "32", *extra])


def test_a_trained_model_learns_sets_and_its_thresholds_go_everywhere(tiny_runs):
    from huggingface_hub import ModelCard
    from transformers import pipeline

    import tunecard

    out = tiny_runs("multi_label").output  # trained by `tunecard train --task multi_label`, exit status 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    test = metrics["splits"]["test"]
    assert test["metrics"]["f1_micro"] > test["baselines"]["stratified"]["f1_micro"] + 0.2
    assert test["intervals"]["differences"]["stratified"]["interval"][0] > 0
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification"
    assert saved["tunecard_thresholds"] == metrics["fitted"]["tunecard_thresholds"]
    assert len(saved["tunecard_thresholds"]) == 3

    card = ModelCard.load(out / "README.md")
    micro = [r for r in card.data.eval_results if r.metric_name == "F1 (micro)" and r.dataset_split == "test"]
    assert micro[0].metric_args == {"average": "micro"}
    assert micro[0].metric_value == round(test["metrics"]["f1_micro"], 4)
    assert "decision threshold" in card.text and "most frequent training label set" in card.text

    # pipeline() applies the sigmoid to every label, as tunecard does
    texts = ["i am happy and scared", "the film was quite a story"]
    scores = pipeline("text-classification", model=str(out / "model"), top_k=None)(texts)
    model = tunecard.load(str(out))
    probs = model.predict_proba(texts)
    for row, expected in zip(scores, probs):
        assert {s["label"]: s["score"] for s in row} == pytest.approx(dict(zip(model.labels, expected)), abs=1e-5)
    thresholds = np.asarray(saved["tunecard_thresholds"])
    assert model.predict(texts) == [[n for n, p, t in zip(model.labels, row, thresholds) if p >= t] for row in probs]

    assert main(["verify", str(out)]) == 0
    predictions = pd.read_csv(out / "predictions" / "test.csv", keep_default_na=False)
    assert list(predictions.columns) == ["id", "gold", "prediction", *[f"prob_{n}" for n in NAMES]]


def test_balanced_class_weights_train_with_the_weighted_loss(label_set_dir, tiny_model, tmp_path):
    out = tmp_path / "run"
    assert train(label_set_dir, tiny_model, out, "--train.class_weights", "balanced") == 0
    history = pd.read_csv(out / "history.csv")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    test = json.loads((out / "metrics.json").read_text())["splits"]["test"]
    assert test["intervals"]["differences"]["stratified"]["interval"][0] > 0  # learnt: ahead of prior draws


def test_predict_writes_the_label_set_probabilities_and_ranked_labels(label_set_dir, tiny_runs, tmp_path):
    out = tiny_runs("multi_label").output
    written = tmp_path / "new.csv"
    assert main(["predict", "--model", str(out), "--data", str(label_set_dir / "test.jsonl"), "--output",
                 str(written), "--top_k", "3"]) == 0
    frame = pd.read_csv(written, keep_default_na=False)
    assert list(frame.columns) == ["id", "prediction", *[f"prob_{n}" for n in NAMES], "top_k"]
    thresholds = json.loads((out / "model" / "config.json").read_text())["tunecard_thresholds"]
    probs = frame[[f"prob_{n}" for n in NAMES]].to_numpy()
    expected = [",".join(n for n, p, t in zip(NAMES, row, thresholds) if p >= t) for row in probs]
    assert frame["prediction"].tolist() == expected
    assert all(len(r.split()) == 3 for r in frame["top_k"])


def test_evaluate_uses_the_saved_thresholds_and_layout(label_set_dir, tiny_runs, tmp_path):
    out = tiny_runs("multi_label").output
    report = tmp_path / "eval"
    assert main(["evaluate", "--model", str(out), "--data", str(label_set_dir / "test.jsonl"), "--output",
                 str(report)]) == 0
    evaluated = json.loads((report / "metrics.json").read_text())["splits"]
    trained = json.loads((out / "metrics.json").read_text())["splits"]["test"]
    assert next(iter(evaluated.values()))["metrics"] == pytest.approx(trained["metrics"])


# ---- refusals -------------------------------------------------------------------------------------

def test_an_ensemble_of_multi_label_runs_blends_sigmoids_and_refits_thresholds(tiny_runs, tmp_path, capsys):
    """Members' sigmoid probabilities are pooled with the fitted weights, the thresholds are refit on the blend's
    validation probabilities (metrics.json `fitted`), and every path decides with them: the judged splits (which
    `verify` recomputes), `tunecard.load(...).predict` and `predict`'s label sets."""
    from tunecard.runs.saved import open_saved

    members = [tiny_runs.copy("multi_label", tmp_path, f"seed{seed}", seed=seed).output for seed in (1, 2)]
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, members), "--output", str(out)]) == 0
    report, spec = (json.loads((out / name).read_text()) for name in ("metrics.json", "ensemble.json"))
    weights = [m["weight"] for m in spec["members"]]
    validation = [pd.read_csv(m / "predictions" / "validation.csv") for m in members]
    columns = [f"prob_{n}" for n in NAMES]
    blended = sum(w * frame[columns].to_numpy() for w, frame in zip(weights, validation))
    gold = np.array([hot(g.split(",")) for g in validation[0]["gold"].fillna("")])
    thresholds, kind = multi_label.fit_thresholds(blended, gold)
    assert report["fitted"]["tunecard_thresholds"] == pytest.approx(thresholds)
    assert report["fitted"]["tunecard_threshold_kind"] == kind
    assert "refit on the blend's validation probabilities" in report["ensemble"]["fitting"]
    assert main(["verify", str(out)]) == 0 and "all match" in capsys.readouterr().out

    texts = [r["text"] for r in label_set_rows(12, seed=9)]
    ensemble = open_saved(out).load()
    singles = [open_saved(m).load().predict_proba(texts) for m in members]
    probs = ensemble.predict_proba(texts)
    assert probs == pytest.approx(sum(w * p for w, p in zip(weights, singles)), abs=1e-6)
    chosen = [[n for n, p, t in zip(NAMES, row, thresholds) if p >= t] for row in probs]
    assert ensemble.predict(texts) == chosen
    data = write_jsonl(tmp_path / "new.jsonl", [{"text": t} for t in texts])
    assert main(["predict", "--model", str(out), "--data", data, "--output", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)["prediction"].tolist()
    assert written == [",".join(labels) for labels in chosen]
