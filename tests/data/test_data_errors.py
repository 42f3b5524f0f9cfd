"""Bad data, case by case (files, encodings, columns, texts, labels, classes, splits): one line naming what was
expected, what was found and the fix; exit 2; no traceback; no run directory left behind. The option and layout
cases are the table of test_bad_input.py."""

from __future__ import annotations


from conftest import assert_cli_error, make_rows, run_cli, train_args, write_jsonl


def test_missing_file(capsys, tmp_path, out):
    missing = tmp_path / "nope.csv"
    assert_cli_error(capsys, train_args(missing, out),
                 f"data file {missing}: expected an existing file or folder; found nothing at that path. "
                 "Fix: check the path", out)


def test_non_utf8_file(capsys, tmp_path, out):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nok,a\ncaf\xe9,b\n".encode("latin-1"))
    assert_cli_error(capsys, train_args(path, out),
                 f"data file {path}: expected utf-8 text; found a byte that is not utf-8 on line 3. "
                 "Fix: name the file's encoding with --data.encoding (e.g. latin-1), or re-save it as UTF-8", out)
    assert_cli_error(capsys, train_args(path, out, "minilm", "--data.encoding", "klingon"),
                 "--data.encoding: expected a text encoding Python knows (utf-8, latin-1, cp1252, ...); found "
                 "'klingon'. Fix: set --data.encoding", out)


def test_unreadable_format(capsys, tmp_path, out):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    assert_cli_error(capsys, train_args(path, out),
                 f"data file {path}: expected a CSV, TSV, JSONL, JSON or Parquet file; found the extension "
                 "'.xlsx'. Fix: name its format with --data.format (csv, tsv, jsonl, json, parquet, txt), or convert "
                 "it", out)
    assert_cli_error(capsys, train_args(path, out, "minilm", "--data.format", "xlsx"),
                 "--data.format: expected one of csv, tsv, jsonl, json, parquet, txt; found 'xlsx'. Fix: choose one "
                 "of those", out)


def test_unknown_column_flag(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(10))
    assert_cli_error(capsys, train_args(data, out, "minilm", "--data.text_column", "body"),
                 "--data.text_column: expected a column of the train data; found 'body' among text, label. "
                 "Fix: use one of text, label", out)


def test_no_text_column_found(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", [{"words": "a", "n": 1, "label": "x"}] * 4)
    assert_cli_error(capsys, train_args(data, out),
                 "text column: expected one named text, sentence, content, review, document, tweet, body, "
                 "utterance, comment; found columns words, n, label. Fix: name it with --data.text_column", out)


def test_ambiguous_text_column(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "review": "b", "label": "x"}] * 4)
    assert_cli_error(capsys, train_args(data, out),
                 "text column: expected exactly one text column; found several: text, review. "
                 "Fix: choose one with --data.text_column", out)


def test_ambiguous_label_column(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x", "category": "y"}] * 4)
    assert_cli_error(capsys, train_args(data, out),
                 "label column: expected exactly one label column; found several: label, category. "
                 "Fix: choose one with --data.label_column", out)


def test_empty_and_missing_texts(capsys, tmp_path, out):
    rows = make_rows(10)
    rows[2]["text"] = "   "
    rows[5]["text"] = None
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert_cli_error(capsys, train_args(data, out),
                 "texts in train column 'text': expected a non-empty text in every row; found 2 empty or "
                 "missing (data rows 3, 6). Fix: fill in or remove those rows, or pass --data.bad_rows drop", out)


def test_missing_labels(capsys, tmp_path, out):
    rows = make_rows(10)
    rows[4]["label"] = None
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert_cli_error(capsys, train_args(data, out),
                 "labels in train column 'label': expected a label in every row; found 1 missing "
                 "(data rows 5). Fix: label or remove those rows, or pass --data.bad_rows drop", out)


def test_label_unseen_in_train(capsys, tmp_path, out):
    write_jsonl(tmp_path / "d" / "train.jsonl", make_rows(10))
    write_jsonl(tmp_path / "d" / "test.jsonl", make_rows(6, labels=("negative", "positive", "mixed")))
    assert_cli_error(capsys, train_args(tmp_path / "d", out),
                 "labels in test: expected only labels seen in train (negative, positive); found mixed not "
                 "in train. Fix: add examples of them to train, or remove those rows", out)


def test_single_class(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(10, labels=("only",)))
    assert_cli_error(capsys, train_args(data, out),
                 "labels in train: expected at least 2 classes; found a single class (only). "
                 "Fix: add examples of other classes", out)


def test_fewer_rows_than_classes(capsys, tmp_path, out):
    write_jsonl(tmp_path / "d" / "train.jsonl", [{"text": f"t{i}", "label": i} for i in range(3)])
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\ne\n")
    assert_cli_error(capsys, train_args(tmp_path / "d", out, "minilm", "--data.label_names",
                                    str(tmp_path / "names.txt")),
                 "train split: expected at least one row per class (5 classes); found 3 rows. "
                 "Fix: add training rows or remove unused classes", out)


def test_too_few_rows_to_hold_out_validation(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(6, labels=("a", "b", "c")))
    assert_cli_error(capsys, train_args(data, out),
                 "validation split: expected at least 3 rows (one per class) on each side; found 6 rows, "
                 "1 to hold out. Fix: add rows, change --data.validation_size or give --data.validation", out)


def test_hub_dataset_offline(capsys, out):
    code, err = run_cli(capsys, *train_args("some-org/some-dataset", out))
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("tunecard: error: data 'some-org/some-dataset': expected a local file or folder, an "
                          "embedded dataset (rotten_tomatoes) or a hub dataset id; found no such file or folder, "
                          "and the hub could not load it (")
    assert err.endswith("Fix: check the path, or connect to the internet to use a hub id")


def test_a_header_less_file_of_three_columns_needs_their_names(capsys, tmp_path, out):
    path = tmp_path / "train.tsv"
    path.write_text("".join(f"{i}\tsome text {i}\t{'ab'[i % 2]}\n" for i in range(20)), encoding="utf-8")
    assert_cli_error(capsys, train_args(path, out),
                 f"data file {path}: expected a header line, or two columns (text and label) without one; found no "
                 "header line and 3 columns. Fix: name them with --data.columns", out)
    assert_cli_error(capsys, train_args(path, out, "minilm", "--data.columns", "id,text"),
                 "--data.columns: expected 3 names, one per column of train.tsv; found 2: id, text. Fix: name every "
                 "column", out)

