"""Turn a data reference (file, folder, embedded name or hub id) into named splits.

Everything is read through `datasets`, so files become memory-mapped Arrow tables and
inputs larger than RAM work.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from tunecard.console import quiet_hub_warnings
from tunecard.data.embedded import EMBEDDED_DATASETS, load_embedded
from tunecard.errors import TunecardError

SPLIT_NAMES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}
BUILDERS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json",
            ".parquet": "parquet", ".txt": "text"}
FORMATS = "CSV, TSV, JSONL, JSON or Parquet"
FORMAT_NAMES = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "json": ".json", "parquet": ".parquet", "txt": ".txt"}
"""data.format -> the extension it reads a file as."""


@dataclass(frozen=True)
class ReadOptions:
    """How files are read, whatever finds them (a folder, a path, explicit split files)."""
    format: str | None = None
    """A key of FORMAT_NAMES; None: each file by its extension."""
    encoding: str = "utf-8"
    delimiter: str | None = None
    """CSV/TSV: the field separator; None: the extension's, or detected (DataConfig.delimiter)."""
    header: bool | str = "auto"
    """CSV/TSV: "auto", True or False (DataConfig.header)."""
    columns: str | None = None
    """CSV/TSV without a header: comma-separated names (DataConfig.columns)."""

    @classmethod
    def of(cls, data) -> "ReadOptions":
        """The options of a DataConfig."""
        return cls(data.format, data.encoding, data.delimiter, data.header, data.columns)


def read_reference(ref: str, options: ReadOptions = ReadOptions()) -> dict:
    """Splits found in `ref`: a dict split name -> datasets.Dataset."""
    path = Path(ref)
    if ref in EMBEDDED_DATASETS:
        return load_embedded(ref)
    if path.is_file():
        return {"train": read_file(path, options)}
    if path.is_dir():
        return read_folder(path, options)
    if path.suffix.lower() in BUILDERS or ref.startswith((".", "/", "~")) or "\\" in ref:
        raise _missing(path)
    return read_hub(ref)


def read_file(path: Path, options: ReadOptions = ReadOptions()):
    """One file as a datasets.Dataset (the `.txt` format is one text per line)."""
    import datasets

    if path.is_dir():
        raise TunecardError(f"data file {path}", "a file", "a folder",
                            "pass a file here (a folder of split files goes to --data)")
    if not path.is_file():
        raise _missing(path)
    if options.format is not None and options.format not in FORMAT_NAMES:
        raise TunecardError("--data.format", f"one of {', '.join(FORMAT_NAMES)}", repr(options.format),
                            "choose one of those")
    extension = FORMAT_NAMES[options.format] if options.format else path.suffix.lower()
    builder = BUILDERS.get(extension)
    if builder is None:
        raise TunecardError(f"data file {path}", f"a {FORMATS} file", f"the extension '{path.suffix}'",
                            f"name its format with --data.format ({', '.join(FORMAT_NAMES)}), or convert it")
    if _is_blank(path):
        raise TunecardError(f"data file {path}", "at least one data row", "an empty file", "add rows")
    kwargs = {} if builder == "parquet" else {"encoding": check_decodes(path, options.encoding)}
    if builder == "csv":
        kwargs["sep"] = options.delimiter or detected_delimiter(path, options.encoding, extension)
        kwargs.update(header_arguments(path, options, kwargs["sep"]))
    try:
        dataset = datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except Exception as exc:  # datasets raises many types for a malformed file
        if "corresponds to no data" in str(exc):  # a CSV with a header line only
            raise TunecardError(f"data file {path}", "at least one data row", "none", "add rows") from None
        ragged = RAGGED_ROW.search(str(_root_cause(exc)))
        if builder == "csv" and ragged:
            expected, line, found = ragged.groups()
            raise TunecardError(f"data file {path}", f"{expected} fields in every row, as on its first line",
                                f"{found} on line {line}",
                                f"quote the fields that contain {kwargs['sep']!r}, or fix that line") from None
        shape = _json_shape_problem(path, options.encoding) if builder == "json" else None
        if shape:
            raise TunecardError(f"data file {path}", "JSON objects keyed by column name, one per row (JSON Lines, "
                                "or a JSON list of them)", shape,
                                'write each row as an object such as {"text": ..., "label": ...}') from None
        raise TunecardError(f"data file {path}", f"a well-formed {builder.upper()} file",
                            f"it does not parse ({_first_line(_root_cause(exc))})",
                            "fix the file's format") from None
    if not len(dataset):
        raise TunecardError(f"data file {path}", "at least one data row", "none", "add rows")
    return mixed_scalars_as_text(dataset)


RAGGED_ROW = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
"""pandas' complaint about a CSV row with more fields than the first."""


def _is_blank(path: Path) -> bool:
    """Whether the file is empty, or (when small) whitespace only."""
    size = path.stat().st_size
    return size == 0 or (size <= 1 << 16 and not path.read_bytes().strip())


JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
              type(None): "null"}


def _json_shape_problem(path: Path, encoding: str) -> str | None:
    """What the first row of a JSON(L) file is, when it parses but is not an object (a row of values, a
    bare string): the usual reason such a file does not load. None when that is not the problem."""
    import json

    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(iter(lambda: handle.readline(1 << 20), ""), 1):
            if line.strip():
                break  # a line longer than the limit is cut, does not parse, and says nothing
        else:
            return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
        return None
    shown = line.strip() if len(line.strip()) <= 40 else line.strip()[:37] + "..."
    return f"line {number} is {JSON_KINDS.get(type(value), 'not an object')}: {shown}"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause: datasets wraps a reader's own error (the line that does not parse) in a generic one."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return exc


def mixed_scalars_as_text(dataset):
    """Columns whose JSON values mix types (labels 1 and "neg") as text ("1", "neg"), as a CSV reader
    reads them: datasets 5 keeps such a column as its Json type, which the label checks cannot read."""
    import datasets

    json_type = getattr(datasets, "Json", None)  # datasets < 5 refuses such a file instead (does not parse)
    mixed = [name for name, feature in dataset.features.items()
             if json_type is not None and isinstance(feature, json_type)
             and all(value is None or isinstance(value, (str, int, float, bool)) for value in dataset[name])]
    if not mixed:
        return dataset
    features = datasets.Features({**dataset.features, **{name: datasets.Value("string") for name in mixed}})
    return dataset.map(lambda batch: {name: [None if v is None else str(v) for v in batch[name]] for name in mixed},
                       batched=True, features=features)


OTHER_DELIMITERS = (";", "|", "\t")


def detected_delimiter(path: Path, encoding: str, extension: str) -> str:
    """The extension's separator, unless the first line has none of it and splits on another (`;`, `|`,
    tab): a semicolon CSV, as spreadsheets in many locales write them."""
    usual = "\t" if extension == ".tsv" else ","
    with open(path, encoding=encoding, newline="") as handle:
        first = handle.readline()
    if usual in first:
        return usual
    return next((d for d in OTHER_DELIMITERS if d != usual and d in first), usual)


HEADER_ROWS_SEEN = 200
"""Rows read to decide whether a CSV/TSV file's first row is a header."""


def header_arguments(path: Path, options: ReadOptions, sep: str) -> dict:
    """The csv builder's arguments for the file's first row: none when it is a header, else the column
    names (data.columns, or text and label told apart by their values) and no header."""
    import csv
    import itertools

    with open(path, encoding=options.encoding, newline="") as handle:
        rows = [row for row in itertools.islice(csv.reader(handle, delimiter=sep), HEADER_ROWS_SEEN) if row]
    if not rows:
        return {}
    if not options.columns and (options.header is True or (options.header == "auto" and not looks_like_data(rows))):
        repeated = _repeated([c.strip() for c in rows[0] if c.strip()])
        if repeated:
            raise TunecardError(f"data file {path}", "a different name for each column of its header line",
                                f"{repeated} in {', '.join(c.strip() for c in rows[0])}",
                                "rename the repeated columns, or name them all with --data.columns and "
                                "--data.header true")
        return {}
    names = [c.strip() for c in options.columns.split(",")] if options.columns else text_and_label(rows, path)
    repeated = _repeated(names)
    if repeated:
        raise TunecardError("--data.columns", "a different name for each column", f"{repeated} in {', '.join(names)}",
                            "give each column its own name")
    if len(names) != len(rows[0]):
        raise TunecardError("--data.columns", f"{len(rows[0])} names, one per column of {path.name}",
                            f"{len(names)}: {', '.join(names)}", "name every column")
    return {"column_names": names, "header": 0 if options.header is True else None}


def _repeated(names: list[str]) -> str:
    """"'text' twice" for names given more than once ("" when none is)."""
    counts = {name: names.count(name) for name in dict.fromkeys(names)}
    words = {2: "twice", 3: "three times"}
    return ", ".join(f"'{name}' {words.get(n, f'{n} times')}" for name, n in counts.items() if n > 1)


def looks_like_data(rows: list[list[str]]) -> bool:
    """Whether a first row is data rather than column names: one of its values recurs in its column
    below, as a label value does. Kept to that one sign: an empty name (a pandas index column) or a
    numeric one are real headers too."""
    first, rest = rows[0], rows[1:]
    return any(cell.strip() and any(len(row) > i and row[i].strip() == cell.strip() for row in rest)
               for i, cell in enumerate(first))


def text_and_label(rows: list[list[str]], path: Path) -> list[str]:
    """Names for a header-less two-column file: the column with more distinct values is the text."""
    if len(rows[0]) != 2:
        raise TunecardError(f"data file {path}", "a header line, or two columns (text and label) without one",
                            f"no header line and {len(rows[0])} columns", "name them with --data.columns")
    distinct = [len({row[i] for row in rows if len(row) > i}) for i in (0, 1)]
    return ["text", "label"] if distinct[0] >= distinct[1] else ["label", "text"]


def check_decodes(path: Path, encoding: str = "utf-8") -> str:
    """`encoding` when the whole file decodes with it; else fail on the first undecodable byte, naming its
    line (streamed: any file size)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise TunecardError("--data.encoding", "a text encoding Python knows (utf-8, latin-1, cp1252, ...)",
                            repr(encoding), "set --data.encoding") from None
    line = 1
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    if line == 1 and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                        raise TunecardError(f"data file {path}", f"{encoding} text",
                                            "UTF-16 text (it starts with a UTF-16 byte-order mark)",
                                            "pass --data.encoding utf-16, or re-save it as UTF-8") from None
                    line += chunk[: exc.start].count(b"\n")
                    raise TunecardError(f"data file {path}", f"{encoding} text",
                                        f"a byte that is not {encoding} on line {line}",
                                        "name the file's encoding with --data.encoding (e.g. latin-1), or "
                                        "re-save it as UTF-8") from None
                line += chunk.count(b"\n")
    except OSError as exc:
        raise TunecardError(f"data file {path}", "a readable file", f"{exc.strerror}",
                            "check the file's permissions") from None
    return encoding


def read_folder(folder: Path, options: ReadOptions = ReadOptions()) -> dict:
    import datasets

    if (folder / "dataset_dict.json").is_file():
        return dict(datasets.load_from_disk(str(folder)))
    if (folder / "state.json").is_file():
        return {"train": datasets.load_from_disk(str(folder))}
    if any(folder.glob("*_text.txt")):
        return read_parallel_files(folder, options.encoding)
    split_files = _split_files(folder)
    if split_files:
        return {split: read_file(path, options) for split, path in split_files.items()}
    split_dirs = {SPLIT_NAMES[d.name.lower()]: d for d in folder.iterdir()
                  if d.is_dir() and d.name.lower() in SPLIT_NAMES}
    if split_dirs:
        return {split: read_class_files(d, options.encoding) for split, d in split_dirs.items()}
    if any(folder.glob("*.txt")):
        return {"train": read_class_files(folder, options.encoding)}
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "an empty folder"
    raise TunecardError(
        f"data folder {folder}",
        f"split files (train/validation/test as {FORMATS}), a `datasets` saved folder, "
        "or one .txt file per class", found, "put the data in one of those layouts")


def _split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = SPLIT_NAMES.get(path.stem.lower())
        if path.is_file() and split and path.suffix.lower() in BUILDERS and path.suffix != ".txt":
            if split in found:
                raise TunecardError(f"data folder {folder}", f"one file for the {split} split",
                                    f"{found[split].name} and {path.name}",
                                    f"remove one, or name files with --data.{split}")
            found[split] = path
    return found


def read_class_files(folder: Path, encoding: str = "utf-8"):
    """A folder of `<label>.txt` files, one text per line, as text + label rows."""
    import datasets

    parts = []
    for path in sorted(folder.glob("*.txt")):
        texts = read_file(path, ReadOptions(encoding=encoding)).filter(lambda row: bool(row["text"].strip()))
        parts.append(texts.map(lambda _, name=path.stem: {"label": name}))
    return datasets.concatenate_datasets(parts)


def read_parallel_files(folder: Path, encoding: str = "utf-8") -> dict:
    """The TweetEval layout: `<split>_text.txt` and `<split>_labels.txt`, one row a line, with
    `mapping.txt` (`id<TAB>name` lines) naming the numeric labels when present."""
    import datasets

    names = None
    if (folder / "mapping.txt").is_file():
        lines = [ln.split("\t") for ln in (folder / "mapping.txt").read_text(encoding=encoding).splitlines() if ln]
        names = [name.strip() for _, name in sorted(lines, key=lambda x: int(x[0]))]
    splits = {}
    for text_file in sorted(folder.glob("*_text.txt")):
        prefix = text_file.name[: -len("_text.txt")]
        split = SPLIT_NAMES.get(prefix.lower())
        label_file = folder / f"{prefix}_labels.txt"
        if split is None or not label_file.is_file():
            continue
        texts = _lines(text_file, encoding)
        labels = _lines(label_file, encoding)
        if len(texts) != len(labels):
            raise TunecardError(f"data files {text_file.name}/{label_file.name}", "one label line per text line",
                                f"{len(texts)} texts and {len(labels)} labels", "fix the files so the lines match")
        features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)
                                      if names else datasets.Value("string")})
        splits[split] = datasets.Dataset.from_dict(
            {"text": texts, "label": [int(x) for x in labels] if names else labels}, features=features)
    return splits


def _lines(path: Path, encoding: str) -> list[str]:
    check_decodes(path, encoding)
    return path.read_text(encoding=encoding).rstrip("\n").split("\n")


def read_hub(ref: str) -> dict:
    import datasets

    try:
        with quiet_hub_warnings():
            return dict(datasets.load_dataset(ref))
    except Exception as exc:  # offline, unknown id, gated: all end here
        raise TunecardError(
            f"data '{ref}'",
            "a local file or folder, an embedded dataset (rotten_tomatoes) or a hub dataset id",
            f"no such file or folder, and the hub could not load it ({_first_line(exc)})",
            "check the path, or connect to the internet to use a hub id") from None


def _missing(path: Path) -> TunecardError:
    return TunecardError(f"data file {path}", "an existing file or folder", "nothing at that path",
                         "check the path")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def read_splits(data) -> dict:
    """The splits named by a DataConfig: those found in `data.path`, then the explicit files."""
    options = ReadOptions.of(data)
    splits = read_reference(data.path, options) if data.path else {}
    for split in ("train", "validation", "test"):
        explicit = getattr(data, split)
        if explicit:
            splits[split] = read_files(explicit, options)
    return splits


def read_files(paths: str | list[str], options: ReadOptions = ReadOptions()):
    """One file, or several files with the same columns read as one dataset."""
    import datasets

    if isinstance(paths, str):
        return read_file(Path(paths), options)
    parts = [read_file(Path(p), options) for p in paths]
    columns = [sorted(part.column_names) for part in parts]
    if any(c != columns[0] for c in columns):
        found = "; ".join(f"{p}: {', '.join(c)}" for p, c in zip(paths, columns))
        raise TunecardError("data files", "the same columns in every file of a split", found,
                            "give the files the same columns")
    return datasets.concatenate_datasets(parts)
