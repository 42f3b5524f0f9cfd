"""Passage corpora for retrieval: read text files (one passage a line) and tables with a text column,
and split long documents into overlapping windows of words."""

from __future__ import annotations

from pathlib import Path

from tunecard.data.readers import BUILDERS, read_file
from tunecard.errors import TunecardError

TEXT_COLUMNS = ("text", "context", "passage", "content", "document", "body", "fact", "sentence")
FORMATS = "a .txt (one passage a line), .jsonl, .json, .csv, .tsv or .parquet file"


def read_passages(paths: list[str], text_column: str | None, passage_words: int, overlap: int):
    """All passages of the corpus files as one datasets.Dataset with `id` (file:row, #part when a
    document was split), `source` (the file name) and `text`."""
    import datasets

    if passage_words < 1 or not 0 <= overlap < passage_words:
        raise TunecardError("--passage_words/--passage_overlap", "passage_words >= 1 and 0 <= overlap < passage_words",
                            f"{passage_words} and {overlap}", "set them, e.g. 100 and 20")
    parts = [_read_one(Path(p), text_column, passage_words, overlap) for p in paths]
    passages = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    if not len(passages):
        raise TunecardError("corpus", "at least one non-empty passage", "none in " + ", ".join(paths),
                            "check the corpus files")
    return passages


def _read_one(path: Path, text_column: str | None, passage_words: int, overlap: int):
    if path.suffix.lower() not in BUILDERS:
        raise TunecardError(f"corpus file {path}", FORMATS, f"the extension '{path.suffix}'", "convert it")
    table = read_file(path)
    column = "text" if path.suffix.lower() == ".txt" else _text_column(table.column_names, text_column, path)

    def split(batch, indices):
        rows = {"id": [], "source": [], "text": []}
        for row, document in zip(indices, batch[column]):
            windows = split_words(str(document or ""), passage_words, overlap)
            for part, window in enumerate(windows, start=1):
                rows["id"].append(f"{path.name}:{row + 1}" + (f"#{part}" if len(windows) > 1 else ""))
                rows["source"].append(path.name)
                rows["text"].append(window)
        return rows

    return table.map(split, batched=True, with_indices=True, remove_columns=table.column_names,
                     desc=f"Splitting {path.name}")


def _text_column(available: list[str], named: str | None, path: Path) -> str:
    if named is not None:
        if named not in available:
            raise TunecardError("--text_column", f"a column of {path.name}", f"'{named}' among {', '.join(available)}",
                                f"use one of {', '.join(available)}")
        return named
    found = [c for c in TEXT_COLUMNS if c in available]
    if not found:
        raise TunecardError(f"corpus file {path.name}", f"a text column named {', '.join(TEXT_COLUMNS)}",
                            f"columns {', '.join(available)}", "name it with --text_column")
    return found[0]


def split_words(document: str, passage_words: int, overlap: int) -> list[str]:
    """Windows of at most `passage_words` words, each starting `passage_words - overlap` words after the
    previous one, so a sentence cut at one window's end is whole in the next; blank documents give none."""
    words = document.split()
    if len(words) <= passage_words:
        return [" ".join(words)] if words else []
    step = passage_words - overlap
    starts = range(0, len(words) - overlap, step)
    return [" ".join(words[start:start + passage_words]) for start in starts]
