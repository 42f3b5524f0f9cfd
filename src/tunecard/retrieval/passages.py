"""Passage retrieval for open-book multiple choice: build an index folder from a corpus, load it, search
it, and attach each question's best passages to it as context.

Kinds: `dense` (sentence-transformers embeddings, normalised, in faiss: exact inner product below
IVF_MIN_PASSAGES passages, an IVF index above), `bm25` (bm25s) and `hybrid` (both, fused by reciprocal
rank). The folder's manifest.json records the embedding model and every setting; loading refuses a
query model other than the one the passages were embedded with.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunecard.errors import TunecardError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
IVF_MIN_PASSAGES = 100_000
"""From this many passages `auto` builds an IVF index (exact search grows linearly with the corpus)."""
RRF_K = 60
"""Reciprocal-rank fusion constant: a passage scores sum(1 / (RRF_K + rank)) over the two rankings
(Cormack et al., 2009)."""
HYBRID_CANDIDATES = 50
"""Passages each retriever proposes to the fusion."""
BM25_STOPWORDS = "en"


@dataclass
class Hit:
    id: str
    text: str
    score: float


# ---- build ------------------------------------------------------------------------------------

def build_index(config, folder: Path) -> dict:
    """Read and split the corpus, index it in `folder` (which must exist), write the manifest; returns it."""
    from tunecard.data.corpus import read_passages

    corpus = [config.corpus] if isinstance(config.corpus, str) else list(config.corpus)
    passages = read_passages(corpus, config.text_column, config.passage_words, config.passage_overlap)
    passages.to_parquet(str(folder / "passages.parquet"))
    start = time.perf_counter()
    manifest = {"format": FORMAT_VERSION, "kind": config.kind, "passages": len(passages),
                "corpus": [str(p) for p in corpus], "text_column": config.text_column,
                "passage_words": config.passage_words, "passage_overlap": config.passage_overlap}
    texts = passages["text"]
    if config.kind in ("dense", "hybrid"):
        manifest.update(_build_dense(texts, config, folder))
    if config.kind in ("bm25", "hybrid"):
        manifest.update(_build_bm25(texts, folder))
    seconds = time.perf_counter() - start
    manifest.update(build_seconds=round(seconds, 2), passages_per_second=round(len(passages) / max(seconds, 1e-9), 1))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _build_dense(texts: list[str], config, folder: Path) -> dict:
    import faiss

    from tunecard.engine import models

    ref = models.resolve_model(config.model)
    encoder = _load_encoder(ref)
    vectors = encoder.encode(texts, batch_size=config.batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=True).astype(np.float32)
    index_type = config.index_type
    if index_type == "auto":
        index_type = "ivf" if len(texts) >= IVF_MIN_PASSAGES else "flat"
    settings = {"embedding_model": {"name": config.model, "base_model": ref.base_model,
                                    "dimension": int(vectors.shape[1]), "normalized": True,
                                    "similarity": "cosine (inner product of normalised vectors)"}}
    if index_type == "flat":
        index = faiss.IndexFlatIP(vectors.shape[1])
        settings["faiss_index"] = "IndexFlatIP"
    else:
        nlist = config.nlist or max(1, round(math.sqrt(len(texts))))
        nprobe = config.nprobe or max(1, nlist // 8)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        settings.update(faiss_index="IndexIVFFlat", nlist=nlist, nprobe=nprobe)
    index.add(vectors)
    faiss.write_index(index, str(folder / "dense.faiss"))
    return settings


def _build_bm25(texts: list[str], folder: Path) -> dict:
    import bm25s

    tokens = bm25s.tokenize(texts, stopwords=BM25_STOPWORDS, show_progress=True)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=True)
    retriever.save(str(folder / "bm25"))
    return {"bm25": {"k1": retriever.k1, "b": retriever.b, "method": retriever.method,
                     "stopwords": BM25_STOPWORDS, "tokenizer": "bm25s.tokenize (lowercase, words of 2+ characters)"}}


def _load_encoder(ref):
    """The sentence-transformers model for `ref` (the embedded MiniLM loads from its package folder)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from tunecard.console import quiet_hub_warnings

    try:
        with quiet_hub_warnings():
            return SentenceTransformer(ref.location, device="cuda" if torch.cuda.is_available() else "cpu")
    except OSError as exc:
        raise TunecardError(f"embedding model '{ref.name}'", "a sentence-transformers model folder or hub id",
                            f"it could not be loaded ({str(exc).splitlines()[0][:160]})",
                            "check the name, or connect to the internet for a hub model") from None


# ---- load and search ------------------------------------------------------------------------

class PassageIndex:
    """A loaded index folder: `search(queries, top_k)` -> per query the best passages, best first."""

    def __init__(self, folder: Path, manifest: dict, passages, encoder=None, dense=None, bm25=None):
        self.folder, self.manifest, self.passages = folder, manifest, passages
        self.encoder, self.dense, self.bm25 = encoder, dense, bm25

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def search(self, queries: list[str], top_k: int, kind: str | None = None) -> list[list[Hit]]:
        """The top_k passages per query, best first; `kind` searches a hybrid index by one of its parts."""
        kind = kind or self.kind
        if kind not in (self.kind, "dense", "bm25") or (self.kind != "hybrid" and kind != self.kind):
            raise TunecardError("search kind", f"the index's kind ({self.kind}) or a part of a hybrid index",
                                f"'{kind}'", "build an index of that kind")
        top_k = min(top_k, len(self.passages))
        if kind == "dense":
            ranked = self._dense(queries, top_k)
        elif kind == "bm25":
            ranked = self._bm25(queries, top_k)
        else:
            candidates = min(max(top_k, HYBRID_CANDIDATES), len(self.passages))
            ranked = [reciprocal_rank_fusion([d, s], top_k)
                      for d, s in zip(self._dense(queries, candidates), self._bm25(queries, candidates))]
        return self._hits(ranked)

    def _dense(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        vectors = self.encoder.encode(queries, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=len(queries) > 256).astype(np.float32)
        scores, ids = self.dense.search(vectors, k)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def _bm25(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        import bm25s

        tokens = bm25s.tokenize(queries, stopwords=BM25_STOPWORDS, return_ids=False, show_progress=False)
        ids, scores = self.bm25.retrieve(tokens, k=k, show_progress=len(queries) > 256)
        # bm25s fills a short list with zero-score passages: they share no word with the query.
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if s > 0]
                for row_ids, row_scores in zip(ids, scores)]

    def _hits(self, ranked: list[list[tuple[int, float]]]) -> list[list[Hit]]:
        flat = sorted({i for row in ranked for i, _ in row})
        rows = self.passages.select(flat) if flat else None
        lookup = {i: (rows[j]["id"], rows[j]["text"]) for j, i in enumerate(flat)} if rows is not None else {}
        return [[Hit(lookup[i][0], lookup[i][1], round(score, 6)) for i, score in row] for row in ranked]


def reciprocal_rank_fusion(rankings: list[list[tuple[int, float]]], top_k: int) -> list[tuple[int, float]]:
    """Passages ranked by sum(1 / (RRF_K + rank)) over the rankings they appear in (rank 1 = best)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (passage, _) in enumerate(ranking, start=1):
            fused[passage] = fused.get(passage, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:top_k]


def load_index(folder: str | Path, query_model: str | None = None) -> PassageIndex:
    """Load an index folder; `query_model`, when given, must be the model its passages were embedded with."""
    import datasets

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise TunecardError(f"--retrieval.index {folder}",
                            "an index folder built by `tunecard index` (with manifest.json)", "no manifest.json there",
                            "build one with: tunecard index --corpus FILE --output DIR")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise TunecardError(f"--retrieval.index {folder}", f"index format {FORMAT_VERSION}",
                            f"format {manifest.get('format')}", "rebuild the index with this tunecard")
    encoder = _check_query_model(manifest, query_model, folder)
    passages = datasets.Dataset.from_parquet(str(folder / "passages.parquet"))
    dense = bm25 = None
    if manifest["kind"] in ("dense", "hybrid"):
        import faiss

        dense = faiss.read_index(str(folder / "dense.faiss"))
        if "nprobe" in manifest:
            dense.nprobe = manifest["nprobe"]
        dimension = encoder.get_embedding_dimension()
        if dimension != dense.d:
            raise TunecardError(f"--retrieval.index {folder}", f"{dense.d}-dimensional query vectors",
                                f"{dimension} from the query model", "rebuild the index")
    if manifest["kind"] in ("bm25", "hybrid"):
        import bm25s

        bm25 = bm25s.BM25.load(str(folder / "bm25"))
    return PassageIndex(folder, manifest, passages, encoder, dense, bm25)


def _check_query_model(manifest: dict, query_model: str | None, folder: Path):
    """The query encoder: the index's own model; a different `query_model` is refused."""
    from tunecard.engine import models

    built_with = manifest.get("embedding_model")
    if built_with is None:
        if query_model is not None:
            raise TunecardError("--retrieval.query_model", "no query model for a bm25 index (it embeds nothing)",
                                f"'{query_model}'", "drop --retrieval.query_model")
        return None
    if query_model is not None and models.resolve_model(query_model).base_model != built_with["base_model"]:
        raise TunecardError("--retrieval.query_model",
                            f"the model the index {folder} was built with ({built_with['base_model']})",
                            f"'{query_model}' ({models.resolve_model(query_model).base_model})",
                            "drop --retrieval.query_model, or build an index with that model (tunecard index --model)")
    return _load_encoder(models.resolve_model(built_with["name"]))


# ---- context ------------------------------------------------------------------------------

def query_text(question: str, options: list[str]) -> str:
    """What a question searches with: the question and its options (an option often names the topic)."""
    return " ".join([question, *options])


def attach_context(dataset, index: PassageIndex, top_k: int):
    """Multiple-choice rows (question, options, context) with the top_k passages appended to their
    context, best first, and `retrieved`: the passages' ids, scores and texts as JSON."""
    queries = [query_text(q, o) for q, o in zip(dataset["question"], dataset["options"])]
    hits = index.search(queries, top_k)

    def add(batch, indices):
        contexts, retrieved = [], []
        for existing, i in zip(batch["context"], indices):
            texts = [hit.text for hit in hits[i]]
            contexts.append(" ".join(([existing] if existing else []) + texts))
            retrieved.append(json.dumps([{"id": h.id, "score": h.score, "text": h.text} for h in hits[i]],
                                        ensure_ascii=False))
        return {"context": contexts, "retrieved": retrieved}
    return dataset.map(add, batched=True, with_indices=True, desc="Adding retrieved context")
