"""The options of the verbs that do not train a run (`index`, `tune`'s search, `serve`): dataclasses like the
sections of a run's Config (sections.py), with the checks of their own values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Union

from tunecard.config.sections import choice_problems
from tunecard.errors import TunecardError


@dataclass
class IndexConfig:
    """`tunecard index`: a passage index for open-book multiple choice."""
    corpus: Union[str, list[str], None] = None
    """Passage files, read as one corpus: .txt (one passage a line), or .jsonl/.json/.csv/.tsv/.parquet
    with a text column."""
    output: Optional[str] = None
    """Index folder to create (built as <output>.partial and renamed when complete)."""
    kind: str = "dense"
    """dense (sentence embeddings in faiss), bm25 (sparse, bm25s) or hybrid (both, fused by reciprocal rank).
    dense found a question's source more often than bm25 or hybrid (benchmarks/README.md: retrieval recall)."""
    model: str = "minilm"
    """Sentence-embedding model for dense and hybrid indexes: minilm (embedded), a local
    sentence-transformers folder or a hub id. Questions are embedded with the same model."""
    text_column: Optional[str] = None
    """Column with the passage text in tables; inferred from text, context, passage, content, ... when unset."""
    passage_words: int = 100
    """Longer documents are split into passages of at most this many words."""
    passage_overlap: int = 20
    """Words shared by consecutive passages of a split document."""
    index_type: str = "auto"
    """auto (exact faiss IndexFlatIP below 100,000 passages, IVF from there), flat or ivf."""
    nlist: Optional[int] = None
    """IVF cells; unset: the square root of the passage count."""
    nprobe: Optional[int] = None
    """IVF cells searched per query; unset: nlist / 8 (at least 1)."""
    batch_size: int = 64
    """Passages embedded per batch."""
    overwrite: bool = False
    """Replace an existing index folder at `output`."""

    CHOICES: ClassVar[dict] = {"kind": ("dense", "bm25", "hybrid"), "index_type": ("auto", "flat", "ivf")}

    def problems(self, prefix: str = "") -> list[TunecardError]:
        problems = []
        if not self.corpus:
            problems.append(TunecardError("--corpus", "one or more passage files", "none", "pass --corpus FILE"))
        if not self.output:
            problems.append(TunecardError("--output", "an index folder to create", "none", "pass --output DIR"))
        return problems + choice_problems(self, prefix)


@dataclass
class TuneConfig:
    """`tunecard tune`: an Optuna study over the training options, each trial a training run judged on
    validation; the best trial is trained again and scored once on test."""
    trials: Optional[int] = 12
    """How many trials the study has in all (a resumed study runs only the rest); None: until --tune.timeout."""
    timeout: Optional[float] = None
    """Stop starting new trials after this many seconds of this call."""
    metric: Optional[str] = None
    """The validation metric to maximise (a loss is minimised); unset: train.metric_for_best_model, else the
    task's headline metric."""
    sampler: str = "tpe"
    """tpe (Optuna's default, seeded with train.seed) or random."""
    pruner: str = "median"
    """median: stop a trial whose validation metric after an epoch is below the median of earlier trials at
    that epoch (after 3 complete trials); none: never stop one."""
    space: Optional[dict] = None
    """Option -> range: {low, high, log} (float; int when both bounds are) or a list of choices, e.g.
    {"train.learning_rate": {"low": 1e-5, "high": 3e-4, "log": true}, "train.batch_size": [16, 32]}. Unset:
    the task's default space (docs/best-model.md). An option given explicitly (e.g. --train.epochs 1) is fixed and
    left out of the default space; naming it here too is refused."""
    overwrite: bool = False
    """Replace an existing output folder that holds no study (one with a study resumes)."""

    CHOICES: ClassVar[dict] = {"sampler": ("tpe", "random"), "pruner": ("median", "none")}

    def problems(self, prefix: str = "tune.") -> list[TunecardError]:
        problems = choice_problems(self, prefix)
        if self.trials is None and self.timeout is None:
            problems.append(TunecardError(f"--{prefix}trials", "a number of trials, or --tune.timeout", "neither",
                                          "set --tune.trials (e.g. 12) or --tune.timeout (seconds)"))
        if self.trials is not None and self.trials < 1:
            problems.append(TunecardError(f"--{prefix}trials", "a positive number", repr(self.trials),
                                          "set --tune.trials"))
        return problems


@dataclass
class ServeConfig:
    """`tunecard serve`: an HTTP API with dynamic batching over a trained model. The limits follow Hugging
    Face text-embeddings-inference's flags of the same meaning (its defaults where it has one)."""
    model: Optional[str] = None
    """A run directory or model folder to serve."""
    backend: str = "torch"
    """torch, or onnx: the model written by `tunecard export` (int8 when exported so)."""
    host: str = "127.0.0.1"
    """Address to listen on (0.0.0.0 to accept connections from other machines)."""
    port: int = 8080
    """Port to listen on."""
    max_batch_tokens: int = 16384
    """Token budget of one batch: queued requests are scored together while their tokens (each input cut
    to the model's limit) fit in it. A single request over it is scored alone."""
    max_wait_ms: float = 5.0
    """How long a free model may wait until as many requests are queued as its last batch held (the
    clients just answered, sending again). A lone client never waits (its last batch held one request),
    so this costs single requests nothing and keeps batches whole under load (benchmarks/README.md)."""
    max_client_batch_size: int = 32
    """Most inputs one request may carry (more: 413)."""
    max_queue: int = 512
    """Most inputs waiting to be scored; a request that would exceed it gets 503 at once."""
    payload_limit: int = 2_000_000
    """Largest request body in bytes (more: 413)."""
    batch_size: int = 8
    """Inputs per model call inside a batch: the batch is sorted by length and cut into calls of this
    many, as `tunecard predict` does. Smaller than predict's 64 because a served batch is a few dozen
    texts of random lengths: calls of 8 pad less (benchmarks/README.md, serving under load)."""
