"""One answer on every path: for every task shape, the same inputs get the same labels and the same probabilities
(within 1e-4) from `tunecard.load(run).predict_proba`, `tunecard predict` (the file it writes), `tunecard serve`
(torch; the app in-process), the ONNX fp32 export, Ray Data and an ensemble of one member. Where a path does not
take a task (multiple choice has no ONNX export), the test holds the refusal to its exact words.

500 inputs per task, except multiple choice: 100 questions of 4 options, which are 400 model inputs, as many as
the other tasks score. The ensemble of one member is the run blended with a copy of itself (`tunecard ensemble`
takes two runs or more): whatever weights are fitted, the blend is the member, and the ensemble's own decision
rules (multi-label thresholds refit on the blend's validation probabilities) are the member's.

The Ray Data path of these cases is tested in test_ray_data.py (`build_case`), where every Ray test shares one
cluster: a cluster and its actors are processes that take seconds each to start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from conftest import LETTERS, label_set_rows, make_pairs, make_questions, make_rows, write_jsonl

import tunecard
from tunecard.cli import main
from tunecard.config import ServeConfig
from tunecard.runs.saved import open_saved

TOLERANCE = 1e-4
ROWS = 500
QUESTIONS = 100
GENTLE = {"learning_rate": 5e-3, "epochs": 2}
"""Preference and multiple-choice runs trained gently: the session's usual ones are so sure that their probabilities
are 0 or 1 (which compare too easily) and their runner-up options tie."""


@dataclass
class Answer:
    """What a path answered for every input, in input order: probabilities [inputs, width] and labels (a label; a
    label set, comma-joined; ranked letters, space-joined; or whether a pair prefers its chosen text)."""
    probs: np.ndarray
    labels: list


def _sets(chosen, labels) -> list[str]:
    return [",".join(label for label, on in zip(labels, row) if on) for row in chosen]


# ---- the task shapes: their inputs, and each path's answer read the same way ------------------------------------

class Classification:
    kind, train = "classification_train_only", {"temperature_scaling": False}  # unscaled: probabilities spread out
    columns = ("text",)

    def rows(self):
        return [{"id": f"r{i:03d}", "text": r["text"]} for i, r in enumerate(make_rows(ROWS, seed=21))]

    def inputs(self, rows):
        return ([r[c] for r in rows] for c in self.columns)

    def loaded(self, predictor, rows, task) -> Answer:
        probs = predictor.predict_proba(*self.inputs(rows))
        return Answer(probs, list(predictor.predict(*self.inputs(rows))))

    def written(self, frame: pd.DataFrame, labels) -> Answer:
        return Answer(frame[[f"prob_{n}" for n in labels]].to_numpy(), frame["prediction"].tolist())

    def request(self, rows):
        return [r["text"] for r in rows] if self.columns == ("text",) else \
            [{c: r[c] for c in self.columns} for r in rows]

    def served(self, results, labels, info) -> Answer:
        probs = np.array([[next(e["score"] for e in result if e["label"] == n) for n in labels] for result in results])
        return Answer(probs, [result[0]["label"] for result in results])


class TextPair(Classification):
    kind, train = "text_pair", {}
    columns = ("sentence1", "sentence2")

    def rows(self):
        firsts, seconds = make_rows(ROWS, seed=22), make_rows(ROWS, seed=23)
        return [{"id": f"r{i:03d}", "sentence1": a["text"], "sentence2": b["text"]}
                for i, (a, b) in enumerate(zip(firsts, seconds))]


class MultiLabel(Classification):
    kind, train = "multi_label", {}

    def rows(self):
        return [{"id": f"r{i:03d}", "text": r["text"]} for i, r in enumerate(label_set_rows(ROWS, seed=24))]

    def loaded(self, predictor, rows, task) -> Answer:
        texts = [r["text"] for r in rows]
        return Answer(predictor.predict_proba(texts), [",".join(s) for s in predictor.predict(texts)])

    def written(self, frame: pd.DataFrame, labels) -> Answer:
        return Answer(frame[[f"prob_{n}" for n in labels]].to_numpy(), frame["prediction"].tolist())

    def served(self, results, labels, info) -> Answer:
        """Served scores are sigmoid probabilities; a label is predicted at its threshold, which /info gives."""
        probs = super().served(results, labels, info).probs
        return Answer(probs, _sets(probs >= np.asarray(info["fitted"]["thresholds"]), labels))


class Preference(Classification):
    kind, train = "preference", GENTLE

    def rows(self):
        """Half the pairs swapped, so that the model prefers the chosen text of some and not of others."""
        pairs = make_pairs(ROWS, seed=25)
        return [{"id": f"p{i:03d}", "chosen": p["chosen" if i % 2 else "rejected"],
                 "rejected": p["rejected" if i % 2 else "chosen"]} for i, p in enumerate(pairs)]

    def loaded(self, predictor, rows, task) -> Answer:
        """P(chosen) of each reply, read as training read it: (prompt, reply) pairs when the model was trained so."""
        from tunecard.tasks.preference import find_pair_columns, pair_texts

        batch = {c: [r[c] for r in rows] for c in ("chosen", "rejected")}
        prompts, good, bad = pair_texts(batch, find_pair_columns(list(batch)))
        scores = np.stack([predictor.predict_proba(*((prompts, texts) if task.pair_input else (texts,)))[:, 1]
                           for texts in (good, bad)], -1)
        return Answer(scores, (scores[:, 0] > scores[:, 1]).tolist())

    def written(self, frame: pd.DataFrame, labels) -> Answer:
        scores = frame[["score_chosen", "score_rejected"]].to_numpy()
        return Answer(scores, frame["prefers_chosen"].astype(bool).tolist())

    def request(self, rows):
        return [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]

    def served(self, results, labels, info) -> Answer:
        return self.written(pd.DataFrame(results), labels)


class MultipleChoice(Classification):
    kind, train = "multiple_choice", GENTLE

    def rows(self):
        return [{**{k: v for k, v in q.items() if k != "answer"}, "id": f"q{i:03d}"}
                for i, q in enumerate(make_questions(QUESTIONS, seed=26))]

    def loaded(self, predictor, rows, task) -> Answer:
        probs = predictor.predict_proba([r["prompt"] for r in rows], [[r[x] for x in LETTERS[:4]] for r in rows])
        ranked = [" ".join(predictor.labels[i] for i in row[:3]) for row in np.argsort(-probs, axis=1, kind="stable")]
        return Answer(probs, ranked)

    def written(self, frame: pd.DataFrame, labels) -> Answer:
        return Answer(frame[[f"prob_{n}" for n in labels]].to_numpy(), frame["ranked"].tolist())

    def request(self, rows):
        return [{"question": r["prompt"], "options": [r[x] for x in LETTERS[:4]]} for r in rows]

    def served(self, results, labels, info) -> Answer:
        probs = super().served(results, labels, info).probs
        return Answer(probs, [" ".join(e["label"] for e in result[:3]) for result in results])


SHAPES = {"classification": Classification(), "text_pair": TextPair(), "multi_label": MultiLabel(),
          "preference": Preference(), "multiple_choice": MultipleChoice()}
REFUSED = {("multiple_choice", "onnx")}
"""(task, path) pairs a path refuses: the refusal is asserted instead."""


# ---- fixtures ---------------------------------------------------------------------------------------------------

@dataclass
class Case:
    shape: Classification
    run: object
    rows: list
    labels: list
    reference: Answer
    task: object


@pytest.fixture(scope="module", params=list(SHAPES))
def case(request, tiny_runs):
    return build_case(SHAPES[request.param], tiny_runs)


def build_case(shape, tiny_runs) -> Case:
    run = tiny_runs(shape.kind, **shape.train)
    saved = open_saved(run.output)
    predictor = saved.load()
    rows = shape.rows()
    reference = shape.loaded(predictor, rows, saved.task())
    # The comparison says something only if the answers vary: probabilities spread out, more than one label.
    assert np.std(reference.probs) > 0.05 and len(set(reference.labels)) > 1
    return Case(shape, run, rows, predictor.labels, reference, saved.task())


def assert_same(answer: Answer, case: Case, path: str) -> None:
    assert answer.probs.shape == case.reference.probs.shape, path
    worst = float(np.abs(answer.probs - case.reference.probs).max())
    assert worst <= TOLERANCE, f"{path}: probabilities differ by up to {worst:.2e}"
    assert answer.labels == case.reference.labels, f"{path}: labels differ"


# ---- the paths --------------------------------------------------------------------------------------------------

def test_predict_writes_what_load_gives(case, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", case.rows)
    frame = pd.read_csv(tunecard.predict(str(case.run.output), data, str(tmp_path / "out.csv")), keep_default_na=False)
    assert frame["id"].tolist() == [r["id"] for r in case.rows]
    assert_same(case.shape.written(frame, case.labels), case, "predict")


def test_serve_answers_what_load_gives(case):
    from fastapi.testclient import TestClient

    from tunecard.workflows.serve.app import create_app
    from tunecard.workflows.serve.engine import ServedModel

    settings = ServeConfig(model=str(case.run.output), max_client_batch_size=ROWS)
    with TestClient(create_app(ServedModel(str(case.run.output)), settings)) as client:
        info = client.get("/info").json()
        response = client.post("/predict", json={"inputs": case.shape.request(case.rows)})
    assert response.status_code == 200, response.text
    assert_same(case.shape.served(response.json(), case.labels, info), case, "serve")


def test_the_onnx_export_answers_what_load_gives(case, tmp_path, capsys):
    folder = tmp_path / "onnx"
    if (case.task.name, "onnx") in REFUSED:
        assert main(["export", "--model", str(case.run.output), "--output", str(folder)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"tunecard: error: model {case.run.output}: expected a model of task classification or preference or "
            f"multi_label; found task '{case.task.name}'. Fix: score it with the torch back end (leave out --backend)")
        assert not folder.exists()
        return
    tunecard.export(str(case.run.output), output=str(folder))
    saved = open_saved(folder)
    assert saved.kind == "onnx" and saved.task().fitted_settings() == case.task.fitted_settings()
    assert_same(case.shape.loaded(saved.load(backend="onnx"), case.rows, saved.task()), case, "onnx")


def test_an_ensemble_of_one_member_answers_what_load_gives(case, tiny_runs, tmp_path):
    twin = tiny_runs.copy(case.shape.kind, tmp_path, "twin", **case.shape.train).output
    tunecard.ensemble([str(case.run.output), str(twin)], output=str(tmp_path / "ens"))
    saved = open_saved(tmp_path / "ens")
    assert saved.task().fitted_settings() == case.task.fitted_settings()  # thresholds refit on the blend: the same
    assert_same(case.shape.loaded(saved.load(), case.rows, saved.task()), case, "ensemble")
