"""Rows of one text (or a text pair) and a label: read, checked and standardised to the contract every text
classifier trains on, and tokenized. The data half of single-text classification, which `Task`'s default hooks
use (tasks/base.py).

Contract after `prepare`: every split has `id` (str), `text`, optional `text_pair`, and `label` (a ClassLabel whose
names are the real class names).
"""

from __future__ import annotations

from tunecard.data import checks, labels
from tunecard.data import windows as window_rows
from tunecard.data.columns import Columns, resolve_columns
from tunecard.data.columns import id_column as find_id_column
from tunecard.data.splits import PreparedData, hold_out_missing, read_training_splits
from tunecard.data.windows import Windows
from tunecard.errors import TunecardError


def prepare(data_config, seed: int) -> PreparedData:
    """Read, check and standardise the training data; hold out validation (and test) when missing."""
    raw = read_training_splits(data_config)
    columns = resolve_columns(raw["train"].column_names, data_config.text_column,
                              data_config.text_pair_column, data_config.label_column)
    dropped = {}
    if data_config.bad_rows == "drop":
        raw, dropped = checks.drop_bad_rows_in(raw, checks.complete_texts_and_labels(
            [c for c in (columns.text, columns.text_pair) if c], columns.label))
    names = labels.label_names(raw["train"], columns, data_config.label_names)
    by_id = labels.labels_are_ids(raw["train"], columns, data_config.label_names)
    splits = {name: standardise(ds, columns, names, name, by_id) for name, ds in raw.items()}
    checks.check_classes(names, len(splits["train"]))
    splits, held_out, test_held_out, together = hold_out_missing(splits, data_config, seed)
    return PreparedData(splits, names, columns, held_out, dropped_rows=dropped, test_held_out=test_held_out,
                        held_out_together=together)


def evaluation_splits(raw: dict, names: list[str], options: dict) -> dict:
    """Labelled splits to evaluate a trained model on, in the contract above, with the model's label
    names (labels given as names or as ids)."""
    first = next(iter(raw.values()))
    columns = resolve_columns(first.column_names, options.get("text_column"), options.get("text_pair_column"),
                              options.get("label_column"))
    by_id = labels.values_are_ids(first.features[columns.label], columns, names)
    return {name: standardise(ds, columns, names, name, by_id) for name, ds in raw.items()}


def standardise(dataset, columns: Columns, names: list[str], split: str, by_id: bool):
    """Check one split and rename its columns to the contract (id, text, text_pair, label)."""
    needed = [c for c in (columns.text, columns.text_pair, columns.label) if c]
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise TunecardError(f"{split} data", f"the columns found in train ({', '.join(needed)})",
                            f"no {', '.join(missing)} among {', '.join(dataset.column_names)}",
                            "give every split the same columns")
    for column in filter(None, (columns.text, columns.text_pair)):
        checks.check_texts(dataset, column, split)
    checks.check_labels_present(dataset, columns.label_name or columns.label, split)
    dataset = labels.encode_labels(dataset, columns, names, split, by_id)
    return _rename_to_contract(dataset, columns)


def _rename_to_contract(dataset, columns: Columns):
    id_column = find_id_column(dataset.column_names)
    if id_column:
        dataset = dataset.map(lambda b: {"id": [str(v) for v in b[id_column]]}, batched=True)
    else:
        dataset = dataset.map(lambda b, idx: {"id": [str(i) for i in idx]}, batched=True,
                              with_indices=True)
    renames = {columns.text: "text", columns.text_pair: "text_pair"}
    keep = [c for c in (columns.text, columns.text_pair, "label", "id") if c]
    dataset = dataset.select_columns(keep)
    return dataset.rename_columns({k: v for k, v in renames.items() if k and k != v})


def tokenize(dataset, tokenizer, max_length: int, windows: Windows | None = None):
    """Add input_ids/attention_mask, the token `length` used for length-grouped batches, and
    `full_length` (tokens before truncation); for pairs also which side was cut. With `windows`, a long text
    becomes several rows instead, one per window (`tokenize_windows`)."""
    if windows is not None:
        return tokenize_windows(dataset, tokenizer, max_length, windows)
    has_pair = "text_pair" in dataset.column_names
    special = tokenizer.num_special_tokens_to_add(pair=has_pair)

    def encode(batch):
        pairs = batch["text_pair"] if has_pair else None
        encoded = tokenizer(batch["text"], pairs, truncation=True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        first = _token_counts(tokenizer, batch["text"])
        second = _token_counts(tokenizer, pairs) if has_pair else [0] * len(first)
        encoded["full_length"] = [a + b + special for a, b in zip(first, second)]
        if has_pair:
            kept = [_segment_lengths(encoded.sequence_ids(i)) for i in range(len(first))]
            encoded["cut_text"] = [k[0] < a for k, a in zip(kept, first)]
            encoded["cut_text_pair"] = [k[1] < b for k, b in zip(kept, second)]
        return encoded

    return dataset.map(encode, batched=True, desc="Tokenizing",
                       new_fingerprint=map_fingerprint(dataset, encode, tokenizer))


def tokenize_windows(dataset, tokenizer, max_length: int, windows: Windows):
    """One row per window of max_length tokens (data/windows.py), carrying its text's `label`, its `document`
    (the text's row in `dataset`) and that text's `full_length` (tokens, uncut)."""
    has_pair = "text_pair" in dataset.column_names
    special = tokenizer.num_special_tokens_to_add(pair=has_pair)

    def encode(batch, indices):
        pairs = batch["text_pair"] if has_pair else None
        rows = window_rows.encode(tokenizer, batch["text"], pairs, max_length, windows.stride)
        full = [a + b + special for a, b in zip(_token_counts(tokenizer, batch["text"]),
                                                 _token_counts(tokenizer, pairs) if has_pair else [0] * len(indices))]
        local = rows["document"]
        rows.update(document=[indices[i] for i in local], label=[batch["label"][i] for i in local],
                    full_length=[full[i] for i in local])
        return rows

    return dataset.map(encode, batched=True, with_indices=True, remove_columns=dataset.column_names,
                       desc="Tokenizing into windows", new_fingerprint=map_fingerprint(dataset, encode, tokenizer))


def map_fingerprint(dataset, function, tokenizer) -> str:
    """Dataset.map's fingerprint (its cache key) of `dataset` after `function`, a closure over `tokenizer`: what map
    derives by default, with the tokenizer standing in by its definition (its JSON, chat template and sides), as map
    pickles the whole tokenizer object to hash it, which took 0.2 s a call on a 30k-word vocabulary."""
    from datasets.fingerprint import Hasher

    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = (backend.to_str() if backend is not None else sorted(tokenizer.get_vocab().items()),
                  type(tokenizer).__name__, getattr(tokenizer, "chat_template", None), tokenizer.truncation_side,
                  tokenizer.padding_side)
    cells = [definition if c.cell_contents is tokenizer else c.cell_contents for c in function.__closure__ or ()]
    code = function.__code__
    return Hasher.hash([dataset._fingerprint, code.co_code, repr(code.co_consts), cells])


def share_longer(dataset, tokenizer, max_length: int) -> float:
    """The share of `dataset`'s texts (with their pair) longer than max_length tokens, special tokens counted."""
    has_pair = "text_pair" in dataset.column_names
    special = tokenizer.num_special_tokens_to_add(pair=has_pair)
    lengths = [0] * len(dataset)
    for column in ("text", "text_pair") if has_pair else ("text",):
        lengths = [n + m for n, m in zip(lengths, _token_counts(tokenizer, list(dataset[column])))]
    return sum(n + special > max_length for n in lengths) / max(len(lengths), 1)


def _token_counts(tokenizer, texts) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _segment_lengths(sequence_ids) -> tuple[int, int]:
    return sum(1 for s in sequence_ids if s == 0), sum(1 for s in sequence_ids if s == 1)
