"""Readers, split discovery, column inference and label handling (no model needed)."""

import json

import datasets
import pandas as pd
import pytest

from conftest import make_rows, write_jsonl
from tunecard.config import DataConfig
from tunecard.data.columns import resolve_columns
from tunecard.data.readers import read_reference, read_splits
from tunecard.data.texts import prepare


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_each_file_format_reads_the_same_rows(tmp_path, suffix):
    frame = pd.DataFrame(make_rows(20))
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path)
    train = read_reference(str(path))["train"]
    assert train["text"] == frame["text"].tolist() and train["label"] == frame["label"].tolist()


def test_folder_of_split_files_names_splits(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", make_rows(10))
    write_jsonl(tmp_path / "dev.jsonl", make_rows(4))
    write_jsonl(tmp_path / "test.jsonl", make_rows(6))
    splits = read_reference(str(tmp_path))
    assert {k: len(v) for k, v in splits.items()} == {"train": 10, "validation": 4, "test": 6}


def test_folder_of_one_file_per_class(tmp_path):
    (tmp_path / "joy.txt").write_text("what a day\nso happy\n\n", encoding="utf-8")
    (tmp_path / "anger.txt").write_text("so annoyed\n", encoding="utf-8")
    train = read_reference(str(tmp_path))["train"]
    assert sorted(zip(train["text"], train["label"])) == [
        ("so annoyed", "anger"), ("so happy", "joy"), ("what a day", "joy")]


def test_saved_dataset_dict_folder(tmp_path):
    datasets.DatasetDict({"train": datasets.Dataset.from_list(make_rows(8)),
                          "test": datasets.Dataset.from_list(make_rows(4))}).save_to_disk(tmp_path / "saved")
    assert {k: len(v) for k, v in read_reference(str(tmp_path / "saved")).items()} == {"train": 8, "test": 4}


def test_explicit_split_file_overrides_the_folder(tmp_path):
    write_jsonl(tmp_path / "d" / "train.jsonl", make_rows(10))
    other = write_jsonl(tmp_path / "other.jsonl", make_rows(3))
    splits = read_splits(DataConfig(path=str(tmp_path / "d"), validation=other))
    assert len(splits["validation"]) == 3


@pytest.mark.parametrize("columns,expected", [
    (["text", "label"], ("text", None, "label", None)),
    (["sentence", "label", "label_text"], ("sentence", None, "label", "label_text")),
    (["premise", "hypothesis", "label"], ("premise", "hypothesis", "label", None)),
    (["id", "review", "category"], ("review", None, "category", None)),
])
def test_columns_are_inferred(columns, expected):
    found = resolve_columns(columns, None, None, None)
    assert (found.text, found.text_pair, found.label, found.label_name) == expected


def test_string_labels_keep_their_names(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", make_rows(20))
    prepared = prepare(DataConfig(path=str(tmp_path)), seed=42)
    assert prepared.label_names == ["negative", "positive"]
    train = prepared.splits["train"]
    assert train.features["label"].names == ["negative", "positive"]
    assert set(train.column_names) == {"id", "text", "label"}


def test_jsonl_labels_that_mix_numbers_and_texts_are_read_as_texts(tmp_path):
    # datasets 5 reads such a column as its Json type, which used to end in a pyarrow traceback.
    rows = [{"text": r["text"], "label": 1 if r["label"] == "positive" else "neg"} for r in make_rows(20)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    prepared = prepare(DataConfig(path=str(tmp_path)), seed=42)
    assert prepared.label_names == ["1", "neg"]
    train = prepared.splits["train"]
    by_text = {r["text"]: str(r["label"]) for r in rows}
    assert all(by_text[row["text"]] == prepared.label_names[row["label"]] for row in train)


def test_label_and_label_text_pair_gives_names_in_id_order(tmp_path):
    rows = [{"text": f"t {i}", "label": i % 3, "label_text": ["sad", "joy", "fear"][i % 3]} for i in range(30)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    prepared = prepare(DataConfig(path=str(tmp_path)), seed=42)
    assert prepared.label_names == ["sad", "joy", "fear"]
    first = prepared.splits["train"][0]
    assert prepared.label_names[first["label"]] == rows[int(first["id"])]["label_text"]


def test_numeric_labels_with_a_mapping_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": f"t {i}", "label": i % 2} for i in range(20)])
    (tmp_path / "names.txt").write_text("ham\nspam\n")
    prepared = prepare(DataConfig(path=str(tmp_path), label_names=str(tmp_path / "names.txt")), seed=42)
    assert prepared.label_names == ["ham", "spam"]
    row = prepared.splits["train"][0]
    assert row["label"] == int(row["id"]) % 2


def test_classlabel_names_come_through(tmp_path):
    ds = datasets.Dataset.from_list([{"text": f"t {i}", "label": i % 2} for i in range(20)])
    ds = ds.cast_column("label", datasets.ClassLabel(names=["no", "yes"]))
    datasets.DatasetDict({"train": ds}).save_to_disk(tmp_path / "saved")
    assert prepare(DataConfig(path=str(tmp_path / "saved")), seed=42).label_names == ["no", "yes"]


def test_missing_validation_is_a_stratified_split_with_the_seed(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", make_rows(200, labels=("a", "b", "c", "d")))
    first = prepare(DataConfig(path=str(tmp_path)), seed=42)
    again = prepare(DataConfig(path=str(tmp_path)), seed=42)
    validation = first.splits["validation"]
    assert first.validation_held_out and len(validation) == 20
    assert sorted(pd.Series(validation["label"]).value_counts().tolist()) == [5, 5, 5, 5]
    assert validation["id"] == again.splits["validation"]["id"]
    assert not set(validation["id"]) & set(first.splits["train"]["id"])


def test_parallel_text_and_label_files_with_a_mapping(tmp_path):
    (tmp_path / "train_text.txt").write_text("good day\nbad day\nfine\n", encoding="utf-8")
    (tmp_path / "train_labels.txt").write_text("1\n0\n1\n", encoding="utf-8")
    (tmp_path / "test_text.txt").write_text("meh\n", encoding="utf-8")
    (tmp_path / "test_labels.txt").write_text("0\n", encoding="utf-8")
    (tmp_path / "mapping.txt").write_text("0\tnegative\n1\tpositive\n", encoding="utf-8")
    splits = read_reference(str(tmp_path))
    assert splits["train"].features["label"].names == ["negative", "positive"]
    assert splits["train"]["label"] == [1, 0, 1] and len(splits["test"]) == 1


def test_parallel_files_must_line_up(tmp_path):
    from tunecard.errors import TunecardError

    (tmp_path / "train_text.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "train_labels.txt").write_text("1\n", encoding="utf-8")
    with pytest.raises(TunecardError, match="found 2 texts and 1 labels"):
        read_reference(str(tmp_path))


def test_rows_missing_a_text_or_label_can_be_dropped_and_are_named(tmp_path):
    rows = make_rows(30)
    rows[3]["text"] = ""
    rows[7]["text"] = None
    rows[12]["label"] = None
    write_jsonl(tmp_path / "d" / "train.jsonl", rows)
    prepared = prepare(DataConfig(path=str(tmp_path / "d"), bad_rows="drop"), seed=42)
    assert prepared.dropped_rows == {"train": {"count": 3, "first": ["4", "8", "13"], "by": "row"}}
    assert len(prepared.splits["train"]) + len(prepared.splits["validation"]) == 27


def test_dropped_rows_reach_the_terminal_metrics_and_card(tmp_path, tiny_model, capsys):
    import tunecard
    from conftest import tiny_config

    rows = [{"id": f"r{i}", **row} for i, row in enumerate(make_rows(80))]
    rows[5]["label"], rows[9]["text"] = "", "   "
    write_jsonl(tmp_path / "d" / "train.jsonl", rows)
    config = tiny_config(tmp_path / "d", tiny_model, tmp_path / "run", epochs=1)
    config["data"]["bad_rows"] = "drop"
    run = tunecard.train(config)
    assert run.metrics["dropped_rows"] == {"train": {"count": 2, "first": ["r5", "r9"], "by": "id"}}
    assert "data.dropped_bad_rows: 2 rows with a missing text, label or option were skipped (train: 2 (ids r5, r9))" \
        in capsys.readouterr().out
    assert ("Rows with a missing text, label or option were skipped (`data.bad_rows: drop`): train 2 (ids r5, r9)."
            in run.card_path.read_text())


def test_a_latin1_file_reads_with_data_encoding(tmp_path):
    path = tmp_path / "train.csv"
    rows = make_rows(20)
    path.write_bytes(("text,label\n" + "".join(f"café {r['text']},{r['label']}\n" for r in rows)).encode("latin-1"))
    prepared = prepare(DataConfig(path=str(path), encoding="latin-1"), seed=42)
    texts = list(prepared.splits["train"]["text"]) + list(prepared.splits["validation"]["text"])
    assert sorted(texts) == sorted(f"café {r['text']}" for r in rows)


def test_any_extension_reads_with_data_format(tmp_path):
    # A labelled TSV named as many classic datasets name theirs.
    path = tmp_path / "train.label"
    rows = make_rows(20)
    path.write_text("label\ttext\n" + "".join(f"{r['label']}\t{r['text']}\n" for r in rows), encoding="utf-8")
    prepared = prepare(DataConfig(path=str(path), format="tsv"), seed=42)
    assert prepared.label_names == ["negative", "positive"]
    assert len(prepared.splits["train"]) + len(prepared.splits["validation"]) == 20


def test_a_header_less_tsv_is_detected_and_its_columns_named_by_their_values(tmp_path):
    # The classic `sentence<TAB>label` layout with no header line: the first row used to become the header.
    rows = make_rows(30)
    path = tmp_path / "train.tsv"
    path.write_text("".join(f"{r['text']}\t{r['label']}\n" for r in rows), encoding="utf-8")
    prepared = prepare(DataConfig(path=str(path)), seed=42)
    assert prepared.label_names == ["negative", "positive"]
    texts = list(prepared.splits["train"]["text"]) + list(prepared.splits["validation"]["text"])
    assert sorted(texts) == sorted(r["text"] for r in rows)  # the first row is data, not lost


def test_header_less_columns_can_be_named_and_a_header_forced(tmp_path):
    rows = make_rows(20)
    path = tmp_path / "train.csv"
    path.write_text("".join(f"{r['label']},{r['text']}\n" for r in rows), encoding="utf-8")
    named = prepare(DataConfig(path=str(path), columns="label,text"), seed=42)
    assert named.label_names == ["negative", "positive"]
    assert len(named.splits["train"]) + len(named.splits["validation"]) == 20
    with_header = tmp_path / "with_header.csv"
    with_header.write_text("label,text\n" + "".join(f"{r['label']},{r['text']}\n" for r in rows), encoding="utf-8")
    kept = prepare(DataConfig(path=str(with_header), header=True), seed=42)
    assert len(kept.splits["train"]) + len(kept.splits["validation"]) == 20
    no_header = prepare(DataConfig(path=str(path), header=False), seed=42)
    assert no_header.label_names == ["negative", "positive"]


def test_a_semicolon_csv_is_detected_and_a_delimiter_can_be_named(tmp_path):
    rows = make_rows(20)
    path = tmp_path / "train.csv"
    path.write_text("text;label\n" + "".join(f"{r['text']};{r['label']}\n" for r in rows), encoding="utf-8")
    prepared = prepare(DataConfig(path=str(path)), seed=42)
    assert prepared.label_names == ["negative", "positive"]
    piped = tmp_path / "piped.csv"
    piped.write_text("text|label\n" + "".join(f"{r['text']}, really|{r['label']}\n" for r in rows), encoding="utf-8")
    named = prepare(DataConfig(path=str(piped), delimiter="|"), seed=42)
    texts = list(named.splits["train"]["text"]) + list(named.splits["validation"]["text"])
    assert sorted(texts) == sorted(f"{r['text']}, really" for r in rows)
