"""Several processes on CPU with gloo, launched as users launch them (torchrun): 2 processes on one machine and
2 nodes on loopback train, predict and evaluate; the run directory is the one a single process writes for
the same effective batch.

The model is the tiny BERT without dropout: with dropout, 2 processes draw other masks than 1 process does
and the runs differ by chance; without it they differ only in the order floats are summed (gradients
averaged over 2 processes vs one batch of 16), so they agree to TOLERANCE.

No test waits on luck: the processes write to files and are polled together (tests/processes.py), the first to
fail stops the others at once and fails the test with its stderr, and nothing runs past its deadline; the two
nodes meet through torchrun's c10d rendezvous with node 0 hosting it and explicit join and read timeouts."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import make_pairs, make_questions, tiny_config, write_jsonl, write_sentiment
from processes import ProcessFailed, launch, wait_all

TOLERANCE = 1e-4
"""Largest difference allowed between a 2-process and a 1-process run (metrics, probabilities, losses)."""
EPOCH_LOSS_TOLERANCE = 1e-3
"""For the per-epoch validation loss of history.csv, as Trainer's distributed evaluation computes it (each
process its rows' mean loss, gathered): measured up to 2.6e-4 from the single process's (the per-epoch
metrics and the final scoring, which tunecard gathers itself, agree to TOLERANCE)."""
TIMINGS = {"seconds", "samples_per_second", "cost"}
"""Measured, not computed: they differ from run to run (`cost`: what scoring the held-out split took, and where)."""


def free_port() -> int:
    """A port free now. Another process may take it before the rendezvous store binds it: two_nodes then
    chooses again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, launcher=("--standalone", "--nproc_per_node", "2")) -> list[str]:
    """`torchrun LAUNCHER -m tunecard ARGS` (--standalone: a c10d rendezvous on a port the store picks itself)."""
    return [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "tunecard", *args]


def finish(*commands: list[str], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Runs the commands together until each exits 0: the first to fail stops the others and fails the test with
    its stderr; none runs past `timeout` seconds."""
    return wait_all([launch(command) for command in commands], timeout=timeout)


def two_nodes(*args, attempts: int = 3) -> list[subprocess.CompletedProcess]:
    """`tunecard ARGS` on 2 nodes of 1 process each on loopback: torchrun's c10d rendezvous, node 0 hosting its
    store (is_host, so the roles never depend on which starts first), a minute or two to join and to read the
    store. A node that dies stops the other at once (finish); if it died because the chosen port was taken in
    the meantime, the nodes start again on another."""
    for attempt in range(attempts):
        endpoint, rendezvous = f"127.0.0.1:{free_port()}", f"nodes-{uuid.uuid4().hex[:8]}"
        nodes = [torchrun(*args, launcher=(
            "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint,
            "--rdzv_id", rendezvous, "--max_restarts", "0",
            "--rdzv_conf", f"is_host={'true' if rank == 0 else 'false'},join_timeout=120,read_timeout=60"))
            for rank in (0, 1)]
        try:
            return finish(*nodes)
        except ProcessFailed as failure:
            if attempt + 1 < attempts and "address already in use" in failure.failed.stderr().lower():
                continue
            raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def shared(tmp_path_factory, _tiny_model_master) -> tuple[str, Path]:
    """The tiny BERT without dropout and the learnable two-class data, for every test of the module."""
    folder = tmp_path_factory.mktemp("distributed")
    model = Path(shutil.copytree(_tiny_model_master, folder / "tiny-bert"))
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.0,
                                                   "attention_probs_dropout_prob": 0.0}))
    return str(model), write_sentiment(folder / "sentiment")


def write_config(tmp_path, model, data, name: str, batch_size: int) -> Path:
    config = tiny_config(data, model, tmp_path / name, learning_rate=3e-3, batch_size=batch_size,
                         group_by_length=False)  # random order: one shuffled index list, split across processes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def single(tmp_path_factory, shared) -> Path:
    """The run of one process with batches of 16, trained once for the module's tests (they only read it)."""
    from tunecard.cli import main

    model, data = shared
    folder = tmp_path_factory.mktemp("single")
    assert main(["train", "--config", str(write_config(folder, model, data, "single", batch_size=16))]) == 0
    return folder / "single"


def files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def assert_close(a, b, where: str = "") -> None:
    """Same structure; numbers within TOLERANCE; everything else equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a.keys() - TIMINGS:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= TOLERANCE, f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_run(run: Path, single: Path) -> None:
    assert files(run) == files(single)
    assert not run.with_name(run.name + ".partial").exists()
    assert_close(json.loads((run / "metrics.json").read_text()), json.loads((single / "metrics.json").read_text()))
    for table in ["history.csv", "predictions/validation.csv", "predictions/test.csv"]:
        ours, theirs = pd.read_csv(run / table), pd.read_csv(single / table)
        assert list(ours.columns) == list(theirs.columns)
        numeric = ours.select_dtypes("number").columns
        assert ours.drop(columns=numeric).equals(theirs.drop(columns=numeric)), table  # ids, labels, in order
        np.testing.assert_allclose(ours[numeric], theirs[numeric], err_msg=table,
                                   atol=EPOCH_LOSS_TOLERANCE if table == "history.csv" else TOLERANCE)


def test_two_processes_write_the_run_one_process_writes_for_the_same_effective_batch(tmp_path, shared, single):
    config = write_config(tmp_path, *shared, "two", batch_size=8)
    (result,) = finish(torchrun("train", "--config", str(config)))

    run = tmp_path / "two"
    assert_same_run(run, single)
    assert json.loads((single / "metrics.json").read_text())["splits"]["test"]["metrics"]["accuracy"] >= 0.9
    card = (run / "README.md").read_text()
    for line in ["- train_batch_size: 8", "- distributed_type: multi-CPU", "- num_devices: 2",
                 "- total_train_batch_size: 16"]:
        assert line in card.splitlines()
    assert result.stdout.count("tunecard train:") == 1  # one summary: the main process's


def test_two_nodes_on_loopback_train_to_the_same_run(tmp_path, shared, single):
    config = write_config(tmp_path, *shared, "nodes", batch_size=8)
    two_nodes("train", "--config", str(config))
    assert_same_run(tmp_path / "nodes", single)


def test_predict_and_evaluate_under_two_processes_match_one(tmp_path, shared, single):
    from tunecard.cli import main

    sentiment_dir = shared[1]
    model, data = str(single), str(sentiment_dir / "test.jsonl")
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    # Two processes, and beside them one: this test's own (chunks of 25 rows: shares of 13 + 12)
    launched = launch(torchrun("predict", "--model", model, "--data", data, "--output", str(two), "--chunk_size", "25"))
    try:
        assert main(["predict", "--model", model, "--data", data, "--output", str(one), "--chunk_size", "25"]) == 0
    except BaseException:
        launched.stop()  # never left running behind a failure
        raise
    (predicted,) = wait_all([launched])
    assert predicted.stdout.count("predictions written to") == 1
    ours, theirs = pd.read_csv(two), pd.read_csv(one)
    assert list(ours["id"]) == list(theirs["id"]) == list(range(60))  # every row once, in input order
    pd.testing.assert_frame_equal(ours, theirs, atol=TOLERANCE, check_exact=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv" or ".partial" in p.name) == \
        ["one.csv", "two.csv"]

    evaluated = tmp_path / "evaluated"
    finish(torchrun("evaluate", "--model", model, "--data", str(sentiment_dir), "--output", str(evaluated)))
    report = json.loads((evaluated / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert_close(report["splits"][split]["metrics"],
                     json.loads((single / "metrics.json").read_text())["splits"][split]["metrics"], split)


def test_preference_and_multiple_choice_train_under_two_processes(tmp_path, tiny_model):
    """The other task shapes (their own datasets, collators and losses) under 2 processes: complete runs,
    every held-out row scored once, in row order."""
    questions = make_questions(40, seed=2)
    write_jsonl(tmp_path / "mc" / "train.jsonl", make_questions(96, seed=1))
    write_jsonl(tmp_path / "mc" / "test.jsonl", questions)
    write_jsonl(tmp_path / "pairs" / "train.jsonl", make_pairs(120, seed=1))
    runs = {"multiple_choice": {"task": "multiple_choice", "k": 2},
            "preference": {"task": "preference", "data": {"test_size": 0.2}}}
    for name, extra in runs.items():
        data = tmp_path / ("mc" if name == "multiple_choice" else "pairs")
        config = tiny_config(data, tiny_model, tmp_path / name, epochs=2, batch_size=8)
        config["data"].update(extra.pop("data", {}))
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**config, **extra}), encoding="utf-8")
        finish(torchrun("train", "--config", str(path)))
        run = tmp_path / name
        assert {"README.md", "metrics.json", "history.csv", "model/config.json"} <= set(files(run))
        assert "- num_devices: 2" in (run / "README.md").read_text().splitlines()
        metrics = json.loads((run / "metrics.json").read_text())
        assert len(pd.read_csv(run / "predictions" / "test.csv")) == metrics["splits"]["test"]["size"]
    mc_ids = pd.read_csv(tmp_path / "multiple_choice" / "predictions" / "test.csv")["id"]
    assert list(mc_ids) == [q["id"] for q in questions]


def test_a_process_that_dies_stops_the_others_at_once_and_names_its_stderr():
    """The harness of the tests above: one process fails at once while the other would run for 10 minutes."""
    import time

    started = time.monotonic()
    dying = [sys.executable, "-c", "import sys; print('node 1 gave up: no rendezvous', file=sys.stderr); sys.exit(3)"]
    waiting = [sys.executable, "-c", "import time; time.sleep(600)"]
    launched = [launch(waiting), launch(dying)]
    with pytest.raises(ProcessFailed) as failed:
        wait_all(launched, timeout=600)
    assert time.monotonic() - started < 30
    assert "process 1 of 2 exited 3" in str(failed.value) and "node 1 gave up: no rendezvous" in str(failed.value)
    assert launched[0].process.returncode == -9  # the survivor was stopped, not waited for
    stuck = launch(waiting)
    with pytest.raises(AssertionError, match=r"processes \[0\] still running after 1 s, stopped"):
        wait_all([stuck], timeout=1)
    assert stuck.process.returncode == -9
