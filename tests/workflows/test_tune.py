"""`tunecard tune`: trials judged on validation only, the chosen trial retrained as a run that alone scores
test, pruning by the per-epoch validation metric, and a study that resumes after its process is killed."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
from huggingface_hub import ModelCard

from tunecard.judging import judge as evaluation
from tunecard.workflows import tune as tuning
from tunecard.cli import main

from conftest import tiny_config

SPACE = {"train.learning_rate": {"low": 3e-4, "high": 3e-3, "log": True}, "train.epochs": {"low": 2, "high": 3}}


def _flags(sentiment_dir, tiny_model, output, trials):
    cfg = tiny_config(sentiment_dir, tiny_model, output)
    return ["tune", "--data", str(sentiment_dir), "--model", tiny_model, "--output", str(output),
            "--model.max_length", str(cfg["model"]["max_length"]), "--train.batch_size", str(cfg["train"]["batch_size"]),
            "--tune.trials", str(trials), "--tune.space", str(SPACE).replace("'", '"').replace("True", "true")]


def test_tune_chooses_on_validation_and_scores_test_once(tmp_path, tiny_model, sentiment_dir, monkeypatch, capsys):
    judged = []
    real = evaluation.judge_split
    monkeypatch.setattr(evaluation, "judge_split", lambda task, name, *a, **k: judged.append(name) or real(task, name, *a, **k))
    study = tmp_path / "study"
    assert main(_flags(sentiment_dir, tiny_model, study, 3)) == 0
    out = capsys.readouterr().out
    assert out.count("\ntrial ") >= 3 and "\ntrial 2 (3/3): " in out and "(best " in out
    # three trials scored validation only; the chosen one, trained again, scored validation and test once
    assert judged == ["validation"] * 4 + ["test"]
    frame = pd.read_csv(study / "trials.csv")
    assert len(frame) == 3 and set(frame["state"]) <= {"complete", "pruned"} and (frame["seed"] == 42).all()
    best = frame.loc[frame["value"].idxmax()]
    card = ModelCard.load(study / "best" / "README.md")
    assert {e.dataset_split for e in card.data.eval_results} == {"validation", "test"}
    assert "chosen by an Optuna search (TPESampler, MedianPruner) over 3 trials, by validation f1" in card.text
    assert f"trial {int(best['trial'])} scored {best['value']:.4f}" in card.text
    assert (study / "plots" / "optimization_history.png").stat().st_size > 10_000
    assert "## Trials" in (study / "README.md").read_text() and not (study / "trials").exists()
    assert main(["verify", str(study / "best")]) == 0


def test_pruning_stops_a_trial_below_the_median_after_an_epoch():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    first = study.ask()
    first.report(0.9, step=1)
    study.tell(first, 0.9)
    trial = study.ask()
    callback = tuning.pruning_callback(trial, "f1")

    class State:
        epoch = 1.0
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1"):
        callback.on_evaluate(None, State(), None, metrics={"eval_f1": 0.2})
    above = tuning.pruning_callback(study.ask(), "f1")
    above.on_evaluate(None, State(), None, metrics={"eval_f1": 0.95})  # above the median: goes on


def test_a_killed_study_resumes_where_it_stopped(tmp_path, tiny_model, sentiment_dir, capsys):
    """Killed in a process; resumed in process (the same command)."""
    from tunecard.cli import main

    study = tmp_path / "study"
    command = [sys.executable, "-m", "tunecard", *_flags(sentiment_dir, tiny_model, study, 3)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and _trials(study, "COMPLETE") < 1:
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)  # mid-search: the second trial is running
    process.wait()
    assert _trials(study, "COMPLETE") >= 1 and not (study / "best").exists()
    done = _trials(study, "COMPLETE") + _trials(study, "PRUNED")
    capsys.readouterr()
    code = main(command[3:])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr[-2000:]
    assert f"{done} trials done, {3 - done} to run" in stdout
    frame = pd.read_csv(study / "trials.csv")
    assert (frame["state"].isin(["complete", "pruned"])).sum() == 3
    if (frame["state"] == "fail").any():  # killed inside a trial: it was marked failed and its values re-run
        assert "interrupted before it finished; marked failed and queued again" in stdout
    assert (study / "best" / "README.md").is_file()


def _trials(study, state: str) -> int:
    if not (study / "study.db").is_file():
        return 0
    try:
        with sqlite3.connect(study / "study.db") as db:
            return db.execute("select count(*) from trials where state = ?", (state,)).fetchone()[0]
    except sqlite3.OperationalError:  # created but no tables yet
        return 0


def test_bad_tune_options_are_refused_before_any_work(tmp_path, tiny_model, sentiment_dir, capsys):
    flags = _flags(sentiment_dir, tiny_model, tmp_path / "study", 3)
    bad_space = flags[:-1] + ['{"train.learning_rat": [0.001, 0.002]}']
    assert main(bad_space) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "tunecard: error: --tune.space train.learning_rat: expected an option of the training config "
        "(e.g. train.learning_rate); found 'train.learning_rat'. Fix: name options as in config.yaml: section.option")
    assert main(flags + ["--tune.sampler", "grid"]) == 2
    assert "--tune.sampler: expected one of tpe, random; found 'grid'" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(_flags(sentiment_dir, tiny_model, tmp_path / "taken", 3)) == 2
    assert "expected a new folder, or a study folder to resume (with study.db)" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()


def test_an_option_given_on_the_command_line_is_fixed_and_left_out_of_the_search(tmp_path, tiny_model, sentiment_dir,
                                                                                  capsys):
    study = tmp_path / "study"
    assert main(["tune", "--data", str(sentiment_dir), "--model", tiny_model, "--output", str(study),
                 "--model.max_length", "32", "--train.epochs", "1", "--tune.trials", "2"]) == 0
    frame = pd.read_csv(study / "trials.csv")
    assert "train.epochs" not in frame.columns and "train.learning_rate" in frame.columns
    assert (frame["epochs"] == 1).all()  # every trial ran the one epoch asked for
    assert "Fixed by their own options, so not searched: `train.epochs` = 1" in (study / "README.md").read_text()
    assert "Fixed by their own options (not searched): train.epochs = 1" in ModelCard.load(study / "best" / "README.md").text

    clash = ["tune", "--data", str(sentiment_dir), "--model", tiny_model, "--output", str(tmp_path / "clash"),
             "--train.epochs", "1", "--tune.space", '{"train.epochs": {"low": 2, "high": 3}}']
    capsys.readouterr()
    assert main(clash) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --tune.space train.epochs: expected options that are not fixed; found train.epochs fixed at "
        "1.0 by its own option. Fix: drop --train.epochs to search it, or take it out of --tune.space")
    assert not (tmp_path / "clash").exists()
