"""Bad input, case by case: each is refused with one exact line (expected, found, fix), exit status 2, no
traceback, and nothing written. The cases are the options and files users get wrong; test_errors.py holds
the data-content cases (columns, labels, classes, models, outputs)."""

import pytest

from tunecard.cli import main

from conftest import make_rows, write_jsonl


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "d"
    write_jsonl(folder / "train.jsonl", make_rows(30))
    (tmp_path / "empty.csv").write_text("text,label\n", encoding="utf-8")
    (tmp_path / "three.tsv").write_text("a\tb\tc\n" * 3 + "x\ty\tz\n", encoding="utf-8")
    (tmp_path / "broken.jsonl").write_text('{"text": 1,\n', encoding="utf-8")
    return folder


def train(data, out, *extra):
    return ["train", "--data", str(data), "--output", str(out), *extra]


CASES = {
    "bad_rows": (lambda d, o: train(d, o, "--data.bad_rows", "skip"),
                 "--data.bad_rows: expected one of error, drop; found 'skip'. Fix: set --data.bad_rows to one of those"),
    "encoding": (lambda d, o: train(d, o, "--data.encoding", "klingon"),
                 "--data.encoding: expected a text encoding Python knows (utf-8, latin-1, cp1252, ...); found "
                 "'klingon'. Fix: set --data.encoding"),
    "format": (lambda d, o: train(d, o, "--data.format", "xlsx"),
               "--data.format: expected one of csv, tsv, jsonl, json, parquet, txt; found 'xlsx'. Fix: choose one of "
               "those"),
    "header": (lambda d, o: train(d, o, "--data.header", "maybe"),
               "--data.header: expected true or false or auto; found 'maybe'. Fix: set --data.header to true or "
               "false or auto"),
    "delimiter": (lambda d, o: train(d, o, "--data.delimiter", ";;"),
                  "--data.delimiter: expected one character (e.g. ';' or '|'); found ';;'. Fix: set --data.delimiter "
                  "to one character"),
    "columns_count": (lambda d, o: train(d.parent / "three.tsv", o, "--data.header", "false", "--data.columns",
                                         "text,label"),
                      "--data.columns: expected 3 names, one per column of three.tsv; found 2: text, label. Fix: name "
                      "every column"),
    "label_column": (lambda d, o: train(d, o, "--data.label_column", "sentiment"),
                     "--data.label_column: expected a column of the train data; found 'sentiment' among text, label. "
                     "Fix: use one of text, label"),
    "header_only_csv": (lambda d, o: train(d.parent / "empty.csv", o),
                        "data file {tmp}/empty.csv: expected at least one data row; found none. Fix: add rows"),
    "broken_jsonl": (lambda d, o: train(d.parent / "broken.jsonl", o),
                     "data file {tmp}/broken.jsonl: expected a well-formed JSON file; found it does not parse "
                     "(ValueError: Expected object or value at position 11). Fix: fix the file's format"),
    "task": (lambda d, o: train(d, o, "--task", "regression"),
             "--task: expected one of classification, preference, multiple_choice, llm_classification; found "
             "'regression'. Fix: choose one of those tasks"),
    "epochs": (lambda d, o: train(d, o, "--train.epochs", "0"),
               "--train.epochs: expected a positive number or auto; found 0.0. Fix: set --train.epochs (e.g. 3, or auto)"),
    "learning_rate": (lambda d, o: train(d, o, "--train.learning_rate", "-1"),
                      "--train.learning_rate: expected a positive number; found -1.0. Fix: set --train.learning_rate"),
    "validation_size": (lambda d, o: train(d, o, "--data.validation_size", "1.5"),
                        "--data.validation_size: expected a share between 0 and 1; found 1.5. Fix: set e.g. 0.1"),
    "truncation_side": (lambda d, o: train(d, o, "--model.truncation_side", "middle"),
                        "--model.truncation_side: expected one of None, right, left; found 'middle'. Fix: set "
                        "--model.truncation_side to one of those"),
    "tune_trials": (lambda d, o: ["tune", "--data", str(d), "--output", str(o), "--tune.trials", "0"],
                    "--tune.trials: expected a positive number; found 0. Fix: set --tune.trials"),
    "ensemble_of_data": (lambda d, o: ["ensemble", str(d), str(d), "--output", str(o)],
                         "member {tmp}/d: expected a run directory written by tunecard train (metrics.json); found no "
                         "such run there. Fix: pass run directories of trained models"),
    "predict_extension": (lambda d, o: ["predict", "--model", str(d), "--data", str(d / "train.jsonl"), "--output",
                                        str(o.with_suffix(".txt"))],
                          "--output: expected a .csv, .jsonl, .parquet file; found '.txt'. Fix: name the output file "
                          "with one of those extensions"),
    "export_format": (lambda d, o: ["export", "--model", str(d), "--format", "tflite", "--output", str(o)],
                      "--format: expected one of onnx; found 'tflite'. Fix: use --format onnx"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_exact_line_exit_2_and_nothing_written(case, data, tmp_path, capsys):
    build, message = CASES[case]
    out = tmp_path / "out"
    code = main(build(data, out))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "tunecard: error: " + message.format(tmp=tmp_path)
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists() and not out.with_name("out.partial").exists() and not out.with_suffix(".txt").exists()
