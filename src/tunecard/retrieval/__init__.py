"""Passage retrieval for open-book multiple choice: build a dense, bm25 or hybrid index of a corpus and search it
(passages.py)."""
