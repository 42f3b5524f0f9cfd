"""The command line: help, the printed config (shortcuts, overrides, bare switches)."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest
import yaml

from tunecard.cli import main


@functools.lru_cache(maxsize=None)
def help_of(command: str) -> subprocess.CompletedProcess:
    """`python -m tunecard COMMAND --help`, run once per session (two tests read train's)."""
    return subprocess.run([sys.executable, "-m", "tunecard", command, "--help"], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help(command):
    result = help_of(command)
    assert result.returncode == 0
    assert "--output" in result.stdout


def test_train_help_documents_the_defaults():
    result = help_of("train")
    assert "--train.learning_rate" in result.stdout and "Peak learning rate" in result.stdout


def test_print_config_applies_shortcuts_and_overrides(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "d.csv", "--model", "m", "--train.learning_rate", "3e-5", "--print-config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["path"] == "d.csv" and printed["model"]["name"] == "m"
    assert printed["train"]["learning_rate"] == 3e-5 and printed["train"]["seed"] == 42


def test_a_bare_switch_means_true(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--data", "d.csv", "--overwrite", "--strict", "--train.group_by_length", "false",
              "--print-config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["overwrite"] is True and printed["strict"] is True and printed["train"]["group_by_length"] is False
