"""Config problems: reported together, type-checked from a YAML file, the command line and Python, each one line
naming what was expected, what was found and the fix; a config file that does not parse is named."""

from __future__ import annotations

import json

import pytest

from conftest import assert_cli_error, run_cli, train_args


def test_config_problems_are_reported_together(capsys, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"train": {"epochs": 0}}))
    code, err = run_cli(capsys, "train", "--config", str(config))
    assert code == 2
    assert "--output: expected a run directory to create" in err
    assert "--data: expected a data file, folder or hub id" in err
    assert "--train.epochs: expected a positive number or auto; found 0" in err


def test_config_file_values_are_type_checked(capsys, tmp_path, out):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{path: {tmp_path}}}\noutput: {out}\ntrain: {{epochs: three, group_by_length: maybe}}\n")
    assert_cli_error(capsys, ["train", "--config", str(config)],
                 "--train.epochs: expected a number or auto; found 'three'. Fix: set --train.epochs to a number or auto",
                 out)
    assert_cli_error(capsys, train_args(tmp_path, out, "minilm", "--train.epochs", "lots"),
                 "--train.epochs: expected a number or auto; found 'lots'. Fix: set --train.epochs to a number or auto",
                 out)
    assert_cli_error(capsys, train_args(tmp_path, out, "minilm", "--train.batch_size", "2.5"),
                 "--train.batch_size: expected a whole number; found '2.5'. Fix: set --train.batch_size to a "
                 "whole number", out)
    assert_cli_error(capsys, ["train", "--bogus", "1"], "tunecard train: expected the options its --help lists; "
                 "found unrecognized arguments: --bogus 1. Fix: run: tunecard train --help")


def test_yaml_values_are_type_checked_when_read_from_python(tmp_path):
    import tunecard
    from tunecard import TunecardError

    config = tmp_path / "run.yaml"
    config.write_text(f"output: {tmp_path / 'run'}\ntrain: {{epochs: three, group_by_length: maybe}}\n")
    with pytest.raises(TunecardError) as info:
        tunecard.train(str(config))
    assert str(info.value) == ("config key 'train.epochs': expected a number or auto; found 'three'. Fix: set "
                               "train.epochs to a number or auto | config key 'train.group_by_length': expected true or false; found "
                               "'maybe'. Fix: set train.group_by_length to true or false")


def test_python_config_values_are_type_checked(tmp_path):
    import tunecard
    from tunecard import Config, TrainConfig, TunecardError

    with pytest.raises(TunecardError) as info:
        tunecard.train(Config(train=TrainConfig(batch_size="32"), output=str(tmp_path / "run")))
    assert str(info.value) == ("config key 'train.batch_size': expected a whole number; found '32'. "
                               "Fix: set train.batch_size to a whole number")
    with pytest.raises(TunecardError) as info:
        tunecard.train({"train": 3, "output": str(tmp_path / "run")})
    assert str(info.value).startswith("config key 'train': expected a mapping of keys to values; found 3.")
    assert not (tmp_path / "run").exists()


def test_a_config_file_that_does_not_parse_is_named_on_one_line(tmp_path):
    import tunecard
    from tunecard import TunecardError

    config = tmp_path / "run.yaml"
    config.write_text(f"output: {tmp_path / 'run'}\ntrain: {{epochs: 3\n  data: [\n")
    with pytest.raises(TunecardError) as info:
        tunecard.train(str(config))
    assert str(info.value) == (f"config file: expected valid UTF-8 YAML; found {config} does not parse (expected ',' "
                               "or '}', but got ':' on line 3, column 7). Fix: fix the YAML syntax")
    assert not (tmp_path / "run").exists()
