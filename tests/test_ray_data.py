"""Scoring inside Ray Data on a real local Ray cluster (two actor processes on this machine): the rows are
those `tunecard predict` writes, and a batch without an `id` column is refused clearly."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard.errors import TunecardError

ray = pytest.importorskip("ray")

from tunecard.ray_data import Predictor, predict_dataset  # noqa: E402

ACTORS = 2
ROWS = 50


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster. Each actor holds one CPU, so two more logical CPUs are declared for the read
    and repartition tasks: with only as many CPUs as actors, Ray Data waits forever to read."""
    ray.init(num_cpus=ACTORS + 2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def run(tmp_path_factory, _tiny_model_master):
    folder = tmp_path_factory.mktemp("ray")
    write_jsonl(folder / "data" / "train.jsonl", make_rows(240, seed=1))
    return tunecard.train(tiny_config(folder / "data", _tiny_model_master, folder / "run"))


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
    for column in ("id", "prediction", "top_k"):
        assert scored[column].tolist() == expected[column].tolist()
    # predict's probabilities are float32 rounded to 6 decimals; the CSV holds their text, which reads
    # back to the same float32: equal exactly.
    for column in ("prob_negative", "prob_positive"):
        assert np.array_equal(scored[column].to_numpy(np.float32), expected[column].to_numpy(np.float32))


def test_both_actors_score_rows(cluster, run, texts_file, tmp_path):
    """Each actor process notes, beside the output (never in it), how many rows it scored."""
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
    assert len(rows) == ACTORS and all(rows.values()) and sum(rows.values()) == ROWS
    assert str(os.getpid()) not in rows


def test_a_batch_without_ids_is_refused(run):
    batch = pd.DataFrame({"text": ["a wonderful film", "an awful film"]})
    with pytest.raises(TunecardError) as raised:
        Predictor(str(run.output))(batch)
    assert str(raised.value) == (
        "data to score with Ray: expected an 'id' column (Ray batches do not know their rows' positions, so "
        "predict's row-number ids cannot be given); found columns text. Fix: add an 'id' column to the data, "
        "or rename the key column: ds.rename_columns({'your_key': 'id'})")


def test_the_missing_id_error_reaches_the_driver(cluster, run):
    ds = ray.data.from_pandas(pd.DataFrame({"text": ["a wonderful film", "an awful film"]}))
    with pytest.raises(Exception, match="expected an 'id' column"):
        predict_dataset(ds, str(run.output), concurrency=1).materialize()
