"""Scoring inside Ray Data on a real local Ray cluster (two actor processes on this machine): the rows are
those `tunecard predict` writes, and a batch without an `id` column is refused clearly. Every Ray test of the suite
is here, on the module's one cluster: the Ray path of test_parity.py's cases (every task shape) and of a chunked
long-input model (test_long_inputs.py)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import tunecard
from conftest import LETTERS, make_questions, make_rows, write_jsonl
from tunecard.errors import TunecardError

ray = pytest.importorskip("ray")

from tunecard.workflows.ray_data import Predictor, predict_dataset  # noqa: E402

ACTORS = 2
ROWS = 50


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster. Each actor holds one CPU, so two more logical CPUs are declared for the read
    and repartition tasks: with only as many CPUs as actors, Ray Data waits forever to read. Ray starts its
    workers at niceness 15 (its `worker_niceness`): beside the other pytest worker an actor then got a sliver
    of a core, and loading its model took 25 s instead of 4. Here they run at the tests' own priority."""
    ray.init(num_cpus=ACTORS + 2, include_dashboard=False, log_to_driver=False,
             _system_config={"worker_niceness": 0})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def run(tiny_runs):
    """Three epochs, not four: the probabilities are spread out, not all 0 and 1 (which would make their
    comparison say nothing)."""
    return tiny_runs("classification_train_only", epochs=3)


@pytest.fixture
def texts_file(tmp_path):
    rows = [{"id": f"r{i:02d}", "text": r["text"]} for i, r in enumerate(make_rows(ROWS, seed=11))]
    return write_jsonl(tmp_path / "new.jsonl", rows)


def spread(ds):
    """A one-file read is one block, which one actor would score alone: cut it into several."""
    return ds.repartition(4 * ACTORS)


def test_ray_data_scores_the_rows_predict_writes(cluster, run, texts_file, tmp_path):
    expected = pd.read_csv(tunecard.predict(str(run.output), texts_file, str(tmp_path / "pred.csv"), top_k=2))
    scored = predict_dataset(spread(ray.data.read_json(texts_file)), str(run.output), concurrency=ACTORS,
                             chunk_size=8, top_k=2).to_pandas()
    scored = scored.sort_values("id", ignore_index=True)
    expected = expected.sort_values("id", ignore_index=True)
    assert list(scored.columns) == list(expected.columns) == ["id", "prediction", "prob_negative",
                                                              "prob_positive", "top_k"]
    assert expected["prob_positive"].nunique() >= 10 and expected["prediction"].nunique() == 2
    for column in ("id", "prediction", "top_k"):
        assert scored[column].tolist() == expected[column].tolist()
    # Probabilities are float32 rounded to 6 decimals; the CSV holds their text, which reads back to the
    # same float32. Ray's batches of 8 rows are padded otherwise than predict's one chunk of 50: still equal
    # exactly.
    for column in ("prob_negative", "prob_positive"):
        assert np.array_equal(scored[column].to_numpy(np.float32), expected[column].to_numpy(np.float32))


def test_both_actors_score_rows(cluster, run, texts_file, tmp_path, monkeypatch):
    """Each actor process notes, beside the output (never in it), how many rows it scored. Ray Data waits
    for the whole pool before handing out blocks (wait_for_min_actors_s): by default the first actor up
    may score these few rows alone while the second is still loading the model."""
    monkeypatch.setattr(ray.data.DataContext.get_current(), "wait_for_min_actors_s", 120)
    notes = tmp_path / "notes"
    notes.mkdir()

    class NotingPredictor(Predictor):
        def __call__(self, batch):
            with open(notes / f"{os.getpid()}.txt", "a", encoding="utf-8") as handle:
                handle.write(f"{len(batch)}\n")
            return super().__call__(batch)

    ds = spread(ray.data.read_json(texts_file)).map_batches(
        NotingPredictor, fn_constructor_kwargs={"model": str(run.output)}, batch_size=8, batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=ACTORS))
    assert ds.count() == ROWS
    rows = {path.stem: sum(int(n) for n in path.read_text().split()) for path in notes.glob("*.txt")}
    assert len(rows) == ACTORS and all(rows.values()) and sum(rows.values()) == ROWS, rows
    assert str(os.getpid()) not in rows


def test_a_batch_without_ids_is_refused(run):
    batch = pd.DataFrame({"text": ["a wonderful film", "an awful film"]})
    with pytest.raises(TunecardError) as raised:
        Predictor(str(run.output))(batch)
    assert str(raised.value) == (
        "data to score with Ray: expected an 'id' column (Ray batches do not know their rows' positions, so "
        "predict's row-number ids cannot be given); found columns text. Fix: add an 'id' column to the data, "
        "or rename the key column: ds.rename_columns({'your_key': 'id'})")


def test_a_dataset_without_ids_is_refused_before_any_actor_starts(cluster, run):
    """Ray knows a pandas (or Parquet) dataset's columns without reading it: refused on the driver."""
    ds = ray.data.from_pandas(pd.DataFrame({"text": ["a wonderful film", "an awful film"]}))
    with pytest.raises(TunecardError, match="expected an 'id' column"):
        predict_dataset(ds, str(run.output))


def test_an_actor_refusing_a_batch_without_ids_raises_the_tunecard_error(cluster, run, tmp_path, monkeypatch):
    """A JSON read's columns are known only once read: the actor refuses, and with Ray Data's
    raise_original_map_exception the driver gets the TunecardError itself (else in a UserCodeException)."""
    monkeypatch.setattr(ray.data.DataContext.get_current(), "raise_original_map_exception", True)
    path = write_jsonl(tmp_path / "no_ids.jsonl", [{"text": "a wonderful film"}, {"text": "an awful film"}])
    with pytest.raises(TunecardError, match="expected an 'id' column"):
        predict_dataset(ray.data.read_json(path), str(run.output), concurrency=1).materialize()


def test_a_list_column_as_ray_hands_it_over_scores_as_predict_does(tmp_path, tiny_runs):
    """Ray's pandas batches hold Arrow list cells as numpy arrays; a multiple-choice model's `options`
    column scores from them exactly as predict scores the same file (no cluster needed)."""
    import pyarrow as pa

    mc_run = tiny_runs("multiple_choice")
    rows = [{"id": r["id"], "question": r["prompt"], "options": [r[x] for x in LETTERS]}
            for r in make_questions(12, seed=7)]
    expected = pd.read_csv(tunecard.predict(str(mc_run.output), write_jsonl(tmp_path / "new.jsonl", rows),
                                            str(tmp_path / "pred.csv")))
    batch = pa.Table.from_pylist(rows).to_pandas()
    assert isinstance(batch["options"][0], np.ndarray)
    scored = Predictor(str(mc_run.output))(batch)
    assert list(scored.columns) == list(expected.columns)
    for column in ("id", "prediction", "ranked"):
        assert scored[column].tolist() == expected[column].tolist()
    probs = [f"prob_{x}" for x in LETTERS]
    assert np.array_equal(scored[probs].to_numpy(np.float32), expected[probs].to_numpy(np.float32))


@pytest.mark.parametrize("shape", ["classification", "text_pair", "multi_label", "multiple_choice", "preference"])
def test_ray_data_answers_what_load_gives(shape, cluster, tiny_runs):
    """test_parity.py's case of the shape, through Ray Data: one actor scores several blocks, in any order."""
    from test_parity import SHAPES, assert_same, build_case

    case = build_case(SHAPES[shape], tiny_runs)
    ds = ray.data.from_items(case.rows).repartition(4)
    frame = predict_dataset(ds, str(case.run.output), concurrency=1, chunk_size=64).to_pandas()
    frame = frame.sort_values("id", ignore_index=True)
    assert frame["id"].tolist() == [r["id"] for r in case.rows]
    assert_same(case.shape.written(frame, case.labels), case, "ray")


def test_ray_data_scores_a_chunked_model_as_load_does(cluster, tmp_path, _tiny_model_master):
    """A model that reads long texts as windows (test_long_inputs.py's `auto` run) scores as `load` does."""
    from test_long_inputs import config, late_cue_rows

    data = tmp_path / "late-cue"
    for split, n, seed in (("train", 240, 1), ("validation", 60, 2), ("test", 60, 3)):
        write_jsonl(data / f"{split}.jsonl", late_cue_rows(n, seed))
    chunked = tunecard.train(config(data, _tiny_model_master, tmp_path / "chunked", "auto"))
    rows = [{"id": f"r{i:03d}", "text": r["text"]} for i, r in enumerate(late_cue_rows(200, seed=7))]
    loaded = tunecard.load(chunked.output).predict_proba([r["text"] for r in rows])
    scored = predict_dataset(ray.data.from_items(rows).repartition(4), str(chunked.output), concurrency=1,
                             chunk_size=50).to_pandas().sort_values("id", ignore_index=True)
    np.testing.assert_allclose(scored[["prob_negative", "prob_positive"]].to_numpy(float), loaded, atol=1e-4)
