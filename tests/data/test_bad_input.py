"""Bad input, case by case: each is refused with one exact line (expected, found, fix), exit status 2, no
traceback, and nothing written. The cases are the options and files users get wrong, one table for every verb
(most are read by data/, a few are flags of tune, ensemble, predict and export): one parametrized test runs them
all the same way. test_data_errors.py holds the data-content cases (columns, texts, labels, classes, splits),
config/test_config_errors.py the config files' problems."""

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
             "--task: expected one of classification, preference, multiple_choice, llm_classification, multi_label; found "
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


def put(data, name, text="", raw=None):
    """Writes a file beside the `data` folder (a case's own input) and gives its path."""
    path = data.parent / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw if raw is not None else text.encode("utf-8"))
    return path


def lines(rows):
    return "".join(f"{row}\n" for row in rows)


def ids_data(data, out, names):
    """Numeric labels 0..2 in a folder, read with the label-names file `names`."""
    write_jsonl(data.parent / "ids" / "train.jsonl", [{"text": f"text {i}", "label": i % 3} for i in range(12)])
    return train(data.parent / "ids", out, "--data.label_names", str(names))


def choice_rows(**change):
    rows = [{"question": f"q{i}", "A": "x", "B": "y", "C": "z", "answer": "ABC"[i % 3]} for i in range(12)]
    rows[4].update(change)
    return rows


CASES.update({
    # files
    "empty_file": (lambda d, o: train(put(d, "empty.jsonl"), o),
                   "data file {tmp}/empty.jsonl: expected at least one data row; found an empty file. Fix: add rows"),
    "folder_without_data_files": (
        lambda d, o: train([put(d, f"notes/{name}", "x") for name in ("readme.md", "sheet.xlsx")][0].parent, o),
        "data folder {tmp}/notes: expected split files (train/validation/test as CSV, TSV, JSONL, JSON or Parquet), "
        "a `datasets` saved folder, or one .txt file per class; found readme.md, sheet.xlsx. Fix: put the data in "
        "one of those layouts"),
    "split_file_is_a_folder": (lambda d, o: train(d, o, "--data.validation", str(d)),
                               "data file {tmp}/d: expected a file; found a folder. Fix: pass a file here (a folder "
                               "of split files goes to --data)"),
    "no_train_split": (lambda d, o: train(put(d, "only/test.jsonl", lines(['{"text": "a", "label": "b"}'])).parent, o),
                       "training data: expected a train split (a file, or train.* in a folder); found splits test. "
                       "Fix: pass --data or --data.train"),
    "two_train_files": (lambda d, o: train(put(d, "d/train.csv", "text,label\na,b\n").parent, o),
                        "data folder {tmp}/d: expected one file for the train split; found train.csv and train.jsonl. "
                        "Fix: remove one, or name files with --data.train"),
    "not_parquet": (lambda d, o: train(put(d, "train.parquet", "text,label\na,b\n"), o),
                    "data file {tmp}/train.parquet: expected a well-formed PARQUET file; found it does not parse "
                    "(ArrowInvalid: Parquet magic bytes not found in footer. Either the file is corrupted or this is "
                    "not a parquet file.). Fix: fix the file's format"),
    "jsonl_rows_not_objects": (lambda d, o: train(put(d, "rows.jsonl", lines(['["a", "x"]', '["b", "y"]'])), o),
                               "data file {tmp}/rows.jsonl: expected JSON objects keyed by column name, one per row "
                               "(JSON Lines, or a JSON list of them); found line 1 is an array: [\"a\", \"x\"]. Fix: "
                               "write each row as an object such as {{\"text\": ..., \"label\": ...}}"),
    # encodings
    "utf16_file": (lambda d, o: train(put(d, "excel.tsv", raw="text\tlabel\nfine\ta\n".encode("utf-16")), o),
                   "data file {tmp}/excel.tsv: expected utf-8 text; found UTF-16 text (it starts with a UTF-16 "
                   "byte-order mark). Fix: pass --data.encoding utf-16, or re-save it as UTF-8"),
    # headers
    "header_true_without_header": (
        lambda d, o: train(put(d, "bare.tsv", lines(f"text {i}\t{'ab'[i % 2]}" for i in range(12))), o,
                           "--data.header", "true"),
        "label column: expected one named label, labels, label_text, category, class, target, sentiment; found "
        "columns text 0, a. Fix: name it with --data.label_column"),
    "header_names_a_column_twice": (
        lambda d, o: train(put(d, "twice.csv", lines(["text,text,label"] + [f"t{i},u{i},{'ab'[i % 2]}"
                                                                             for i in range(12)])), o),
        "data file {tmp}/twice.csv: expected a different name for each column of its header line; found 'text' twice "
        "in text, text, label. Fix: rename the repeated columns, or name them all with --data.columns and "
        "--data.header true"),
    # delimiters and columns
    "row_with_an_extra_field": (
        lambda d, o: train(put(d, "comma.csv", lines(["text,label", "fine,a", "good,b", "a, b and c,a", "ok,b"])), o),
        "data file {tmp}/comma.csv: expected 2 fields in every row, as on its first line; found 3 on line 4. Fix: "
        "quote the fields that contain ',', or fix that line"),
    "columns_named_twice": (
        lambda d, o: train(put(d, "bare.tsv", lines(f"text {i}\t{'ab'[i % 2]}" for i in range(12))), o,
                           "--data.columns", "text,text"),
        "--data.columns: expected a different name for each column; found 'text' twice in text, text. Fix: give "
        "each column its own name"),
    "validation_columns_differ": (
        lambda d, o: train(d, o, "--data.validation",
                           write_jsonl(d.parent / "v.jsonl", [{"body": "x", "label": "negative"}] * 4)),
        "validation data: expected the columns found in train (text, label); found no text among body, label. Fix: "
        "give every split the same columns"),
    "numbers_as_texts": (
        lambda d, o: train(write_jsonl(d.parent / "n.jsonl", [{"text": i, "label": "ab"[i % 2]} for i in range(12)]),
                           o),
        "text column 'text' in train: expected text values; found values of type int64. Fix: name the text column "
        "with --data.text_column"),
    # labels
    "label_ids_beyond_names": (lambda d, o: ids_data(d, o, put(d, "names.txt", "neg\npos\n")),
                               "labels in train: expected label ids 0..1 (neg, pos); found 2, which have no name. "
                               "Fix: name every id (line i of --data.label_names names id i), or remove those rows"),
    "label_names_for_named_labels": (lambda d, o: train(d, o, "--data.label_names", str(put(d, "n.txt", "a\nb\n"))),
                                     "labels in train: expected label ids 0..1 (a, b); found label names (negative, "
                                     "positive). Fix: give the labels as ids, or drop --data.label_names if they are "
                                     "names already"),
    "label_names_file_missing": (lambda d, o: ids_data(d, o, d.parent / "names.txt"),
                                 "--data.label_names: expected a file of label names; found nothing at "
                                 "{tmp}/names.txt. Fix: check the path"),
    "label_names_json_broken": (lambda d, o: ids_data(d, o, put(d, "names.json", "{0: 'neg'}")),
                                "--data.label_names: expected a JSON object of label id -> name, or a list of names; "
                                "found names.json does not parse (Expecting property name enclosed in double quotes: "
                                "line 1 column 2 (char 1)). Fix: fix the JSON, or write one name a line in a .txt "
                                "file"),
    "label_names_json_ids_from_1": (
        lambda d, o: ids_data(d, o, put(d, "names.json", '{"1": "neg", "2": "mid", "3": "pos"}')),
        "--data.label_names: expected the label ids 0..2 as keys; found keys 1, 2, 3 in names.json. Fix: key each "
        "name by its id, counting from 0"),
    "label_names_repeated": (lambda d, o: ids_data(d, o, put(d, "names.txt", "neg\nneg\npos\n")),
                             "--data.label_names: expected a different name for each label id; found 'neg' twice in "
                             "names.txt. Fix: give each id its own name"),
    # task shapes
    "answer_outside_the_options": (
        lambda d, o: train(write_jsonl(d.parent / "mc.jsonl", choice_rows(answer="E")), o, "--task",
                           "multiple_choice"),
        "answers in train: expected a letter (A-C), a 0-based index (0-2) or the text of one of the row's options; "
        "found row 5: answer 'E'. Fix: correct the answer or remove that row"),
    "missing_option": (
        lambda d, o: train(write_jsonl(d.parent / "mc.jsonl", choice_rows(C=None)), o, "--task", "multiple_choice"),
        "options in train: expected a non-empty text for every option; found row 5: option C is missing. Fix: fill "
        "in or remove that row"),
    "preference_without_rejected": (
        lambda d, o: train(write_jsonl(d.parent / "p.jsonl", [{"prompt": "p", "chosen": "a", "worse": "b"}] * 8), o,
                           "--task", "preference"),
        "train data: expected preference pairs: a chosen and a rejected text column (and optionally a prompt); "
        "found no 'rejected' column among prompt, chosen, worse. Fix: rename the columns, or name them with "
        "--data.chosen_column/--data.rejected_column"),
    # options and configs
    "test_size": (lambda d, o: train(d, o, "--data.test_size", "2"),
                  "--data.test_size: expected a share between 0 and 1; found 2.0. Fix: set e.g. 0.1"),
    "config_key_misspelt": (
        lambda d, o: ["train", "--config", str(put(d, "run.yaml", f"data: {{path: {d}}}\noutput: {o}\n"
                                                                  "train: {epoch: 3}\n"))],
        "tunecard train: expected the options its --help lists; found Subcommand 'train' does not accept option "
        "'train.epoch'. Fix: run: tunecard train --help"),
    "config_yaml_broken": (
        lambda d, o: ["train", "--config", str(put(d, "broken.yaml", "train: {epochs: 3\n  bad")), "--output", str(o)],
        "config file: expected valid UTF-8 YAML; found {tmp}/broken.yaml does not parse (expected ',' or '}}', but got "
        "'<stream end>' on line 2, column 6). Fix: fix the YAML syntax"),
    # multi-label labels
    "label_columns_one": (
        lambda d, o: train(d, o, "--task", "multi_label", "--data.label_columns", "label"),
        "--data.label_columns: expected at least 2 label columns; found 1 for 'label'. Fix: name every 0/1 label "
        "column, or a prefix they share (e.g. emotion_*)"),
    "label_columns_missing": (
        lambda d, o: train(d, o, "--task", "multi_label", "--data.label_columns", "joy,anger"),
        "--data.label_columns: expected columns of the train data; found no joy, anger among text, label. Fix: name "
        "existing columns"),
    "label_columns_not_0_1": (
        lambda d, o: train(put(d, "flags.csv", lines(["text,joy,anger", "a,1,0", "b,yes,1", "c,0,1"])), o, "--task",
                           "multi_label", "--data.label_columns", "joy,anger"),
        "label columns: expected 0 or 1 in every label column; found the value 'yes'. Fix: give one 0/1 column per "
        "label, or name the label column with --data.label_column"),
    "label_set_unseen": (
        lambda d, o: ["train", "--task", "multi_label", "--data.train", str(put(d, "sets/train.jsonl", lines(
            ['{"text": "a", "labels": ["joy"]}', '{"text": "b", "labels": ["anger", "joy"]}', '{"text": "c", "labels": []}']))),
            "--data.validation", str(put(d, "sets/validation.jsonl", lines(
                ['{"text": "d", "labels": ["joy"]}', '{"text": "e", "labels": ["surprise"]}']))), "--output", str(o)],
        "labels in validation: expected only labels seen in train; found 'surprise' in row 2. Fix: add examples of it "
        "to train, or remove it"),
    "label_set_missing": (
        lambda d, o: train(put(d, "gaps.jsonl", lines(['{"text": "a", "labels": ["joy"]}', '{"text": "b", "labels": null}',
                                                      '{"text": "c", "labels": ["anger"]}'])), o, "--task", "multi_label"),
        "labels in train: expected a label value in every row (an empty one for no label); found a missing value in "
        "row 2. Fix: fill it in, or pass --data.bad_rows drop"),
})


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
