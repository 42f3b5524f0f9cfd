"""`--train.report_to`: Trainer's own integrations log the run's name, its arguments, the per-step loss and the
per-epoch validation curves, and, once the run is judged, the kept model's final metrics. Offline: TensorBoard
event files, an MLflow local file store, wandb in offline mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")
pytest.importorskip("wandb")


@pytest.fixture
def tracked_run(tmp_path, tiny_model, sentiment_dir):
    config = tiny_config(sentiment_dir, tiny_model, tmp_path / "tracked", epochs=2,
                         report_to="tensorboard,mlflow,wandb")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
           "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    result = subprocess.run([sys.executable, "-m", "tunecard", "train", "--config", str(path)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp_path / "tracked"


def test_every_tracker_gets_the_curves_and_the_final_metrics(tracked_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    test = json.loads((tracked_run / "metrics.json").read_text())["splits"]["test"]["metrics"]
    events = EventAccumulator(str(tracked_run / "logs"))  # TensorBoard: into the run directory
    events.Reload()
    curve = events.Scalars("eval/f1")
    assert len(curve) == 3 and curve[0].step < curve[1].step == curve[2].step  # two epochs, then the kept model
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(test["accuracy"], abs=1e-6)
    assert events.Scalars("train/loss")

    (mlflow_run,) = [p for p in (tmp_path / "mlruns" / "0").iterdir() if p.is_dir()]
    assert (mlflow_run / "tags" / "mlflow.runName").read_text() == "tracked"
    assert float((mlflow_run / "params" / "learning_rate").read_text()) == 1e-2
    assert len((mlflow_run / "metrics" / "eval_f1").read_text().splitlines()) == 3
    final = float((mlflow_run / "metrics" / "test_accuracy").read_text().split()[1])
    assert final == pytest.approx(test["accuracy"], abs=1e-6)

    (wandb_log,) = Path(tmp_path / "wandb").glob("offline-run-*/*.wandb")  # protobuf records, keys as text
    logged = wandb_log.read_bytes()
    assert b"test/accuracy" in logged and logged.count(b"eval/f1") >= 3 and b"learning_rate" in logged
