"""The model folder is what users upload: self-contained (the card's images inside it), pickle-free and
readable; `tunecard push --dry-run` checks and lists it; push without a token or offline is one line, exit 2.
The real upload is not run here (no Hub from the tests)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from tunecard.workflows.push import broken_links


@pytest.fixture
def run(tiny_runs) -> Path:
    """The session's tiny classification run (read only: the damage test works on a copy of its model folder)."""
    return tiny_runs("classification").output


def push(*args, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    return subprocess.run([sys.executable, "-m", "tunecard", "push", *args], capture_output=True, text=True,
                          env={**environment, **env}, timeout=300)


def test_the_model_folder_is_self_contained_pickle_free_and_readable(run):
    model = run / "model"
    card = (model / "README.md").read_text(encoding="utf-8")
    assert "](plots/learning_curves.png)" in card and "](plots/confusion_matrix_test.png)" in card
    assert broken_links(card, model) == []
    assert broken_links((run / "README.md").read_text(encoding="utf-8"), run) == []  # the run's card too
    assert not list(model.rglob("*.bin")) and (model / "model.safetensors").is_file()
    assert ModelCard.load(model / "README.md").data.eval_results
    umask = os.umask(0)
    os.umask(umask)
    for path in model.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o777 if path.is_dir() else 0o666) & ~umask, path


def test_pipeline_loads_the_model_folder(run):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(run / "model"))
    assert classify("a superb film")[0]["label"] in {"negative", "positive"}


def dry_run(capsys, *args) -> tuple[int, str, str]:
    """`tunecard push ARGS --dry-run` in process (it reads no token and no hub setting): exit status, stdout,
    stderr. The pushes that depend on the environment (token, HF_HOME, offline) run as processes."""
    from tunecard.cli import main

    capsys.readouterr()
    code = main(["push", *args, "--dry-run"])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_lists_what_would_be_uploaded_and_uploads_nothing(run, capsys):
    code, stdout, stderr = dry_run(capsys, str(run), "--repo", "someone/sentiment")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith(f"{run / 'model'}: ") and "the card's links all resolve inside it" in lines[0]
    listed = {line.split("  (")[0].strip() for line in lines[1:-1]}
    assert {"README.md", "config.json", "model.safetensors", "plots/learning_curves.png"} <= listed
    assert lines[-1] == "dry run: nothing uploaded (would push to https://huggingface.co/someone/sentiment)"


@pytest.mark.parametrize("damage, message", [
    ("link", "tunecard: error: card {card}: expected links to files inside the folder; found links to missing "
             "files: plots/missing.png, ../README.md. Fix: copy those files into the folder or remove the links"),
    ("pickle", "tunecard: error: model {model}: expected weights and settings without pickle (safetensors, json); "
               "found pickle files optimizer.pt. Fix: remove them: the Hub flags pickles as unsafe"),
])
def test_dry_run_refuses_a_folder_that_would_break_on_the_hub(run, tmp_path, damage, message, capsys):
    model = Path(shutil.copytree(run / "model", tmp_path / "model"))
    if damage == "link":
        with open(model / "README.md", "a", encoding="utf-8") as card:
            card.write("\n![gone](plots/missing.png) [the run](../README.md) [web](https://example.com) [top](#top)\n")
    else:
        (model / "optimizer.pt").write_bytes(b"\x80\x04")
    code, stdout, stderr = dry_run(capsys, str(model), "--repo", "someone/sentiment")
    assert code == 2
    assert stderr.strip() == message.format(card=model / "README.md", model=model)
    assert stdout == ""


def test_push_without_a_token_is_one_line(run, tmp_path):
    result = push(str(run), "--repo", "someone/sentiment", HF_HOME=str(tmp_path / "hf-home"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tunecard: error: tunecard push: expected a Hugging Face token; found none (not logged in, HF_TOKEN "
        "unset). Fix: run `hf auth login` or set HF_TOKEN; --dry-run checks the folder without one")


def test_push_offline_is_one_line(run):
    result = push(str(run), "--repo", "someone/sentiment", "--private", HF_TOKEN="hf_not_a_real_token",
                  HF_HUB_OFFLINE="1")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tunecard: error: tunecard push: expected the Hugging Face Hub reachable; found offline mode "
        "(HF_HUB_OFFLINE=1). Fix: unset HF_HUB_OFFLINE and push again")
