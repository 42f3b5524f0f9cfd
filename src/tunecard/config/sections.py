"""The configuration sections: nested dataclasses, the single source of every default, each with the checks of
its own values (`problems()`: every problem at once, as TunecardErrors naming the flag).

Each field's docstring is its documentation (the CLI's --help and docs/configuration.md show it). A run's
`config.yaml` holds the resolved values, so `tunecard train --config runs/x/config.yaml` reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal, Optional, Union

from tunecard.config.abstain import AbstainConfig
from tunecard.errors import TunecardError


def choice_problems(section, prefix: str) -> list[TunecardError]:
    """A field whose value is not among its section's CHOICES: `--<prefix><name>: expected one of ...`."""
    problems = []
    for name, allowed in section.CHOICES.items():
        value = getattr(section, name)
        if value not in allowed:
            problems.append(TunecardError(f"--{prefix}{name}", f"one of {', '.join(map(str, allowed))}", repr(value),
                                          f"set --{prefix}{name} to one of those"))
    return problems


def positive_problems(section, prefix: str, names: tuple[str, ...]) -> list[TunecardError]:
    """Fields that must be positive numbers (None counts as missing)."""
    values = {name: getattr(section, name) for name in names}
    return [TunecardError(f"--{prefix}{name}", "a positive number", repr(value), f"set --{prefix}{name}")
            for name, value in values.items() if value is None or value <= 0]


@dataclass
class DataConfig:
    path: Optional[str] = None
    """A data file, a folder holding split files (train/validation/test), a `datasets` saved folder,
    a folder of one-file-per-class .txt files, an embedded dataset (`rotten_tomatoes`) or a hub id."""
    train: Union[str, list[str], None] = None
    """Training file, or a list of files read as one (overrides the train split found in `path`)."""
    validation: Union[str, list[str], None] = None
    """Validation file(s) (override `path`'s). Without any, a share of train is held out (validation_size)."""
    test: Union[str, list[str], None] = None
    """Test file(s) (override `path`'s). Without any, test_size of train is held out when set, else
    only validation is evaluated."""
    text_column: Optional[str] = None
    """Column with the text; inferred from text, sentence, content, ... when not given."""
    text_pair_column: Optional[str] = None
    """Column with the second text of a pair (sentence2, hypothesis, ...); inferred when present."""
    label_column: Optional[str] = None
    """Column with the label; inferred from label, labels, label_text, category, ... when not given."""
    label_names: Optional[str] = None
    """For numeric labels: a file mapping ids to names (one name per line, line i = id i, or a JSON object)."""
    label_delimiter: str = ","
    """multi_label: the separator between the labels of one string value (`joy,love`)."""
    label_columns: Optional[str] = None
    """multi_label: one 0/1 column per label, comma-separated (`joy,love,anger`), or a prefix ending in `*`
    (`emotion_*`: every column starting `emotion_`, named without it)."""
    format: Optional[str] = None
    """csv, tsv, jsonl, json, parquet or txt: how to read data files whatever their extension (`corpus`,
    `train.label`); unset: by extension."""
    encoding: str = "utf-8"
    """Text encoding of data files (latin-1, cp1252, utf-16, ... any Python codec name)."""
    delimiter: Optional[str] = None
    """CSV/TSV field separator; unset: the extension's (comma, tab), or `;`, `|` or tab when the first line
    has none of the extension's and splits on one of those (a semicolon CSV)."""
    header: Union[bool, Literal["auto"]] = "auto"
    """CSV/TSV files: auto (the first row is data when one of its values recurs in its column within the
    next 200 rows, as a label does), true (the first row names the columns) or false (no header line)."""
    columns: Optional[str] = None
    """Column names of CSV/TSV files without a header line, comma-separated (e.g. `label,text`). Unset: two
    columns are named text and label by their values (the one with more distinct values is the text)."""
    bad_rows: str = "error"
    """Rows with a missing or empty text, label or (multiple_choice) option or answer: error (stop and name the
    rows) or drop (skip them; the terminal, metrics.json and the card say how many per split, and which)."""
    validation_size: float = 0.1
    """Share of train held out (stratified, with train.seed) when no validation split exists."""
    test_size: Optional[float] = None
    """Share of train held out as a test split (before validation is held out) when none exists."""
    chosen_column: Optional[str] = None
    """preference: column with the preferred text (default `chosen`)."""
    rejected_column: Optional[str] = None
    """preference: column with the other text (default `rejected`)."""
    prompt_column: Optional[str] = None
    """preference: column with the shared prompt; found by name (prompt, context, ...) when present.
    Without one, the shared prefix of chosen and rejected up to the last "Assistant:" is the prompt."""
    unlabeled: Union[str, list[str], None] = None
    """distill: files of texts without labels (the text column is found as in train): the teacher labels them,
    and the student trains on them beside train."""

    CHOICES: ClassVar[dict] = {"bad_rows": ("error", "drop")}

    def problems(self, prefix: str = "data.") -> list[TunecardError]:
        problems = choice_problems(self, prefix)
        if self.delimiter is not None and len(self.delimiter) != 1:
            problems.append(TunecardError(f"--{prefix}delimiter", "one character (e.g. ';' or '|')",
                                          repr(self.delimiter), f"set --{prefix}delimiter to one character"))
        if not 0 < self.validation_size < 1:
            problems.append(TunecardError(f"--{prefix}validation_size", "a share between 0 and 1",
                                          repr(self.validation_size), "set e.g. 0.1"))
        return problems


@dataclass
class ModelConfig:
    name: str = "minilm"
    """An embedded alias (minilm; smollm2-135m, an instruct LM), a local Hugging Face model folder, or a hub id.
    A task whose models need another kind (an LM head) replaces minilm by its own default."""
    max_length: int = 256
    """Longest input in tokens: the window the model reads. The card states it."""
    truncation_side: Optional[str] = None
    """Which end of a too-long text is cut: right (keeps the start) or left (keeps the end of a dialogue).
    Unset: the task's choice (right; left for preference, so a long prompt loses its oldest turns)."""
    long_inputs: str = "auto"
    """Texts longer than max_length: truncate (cut them), chunk (read them whole as overlapping windows of
    max_length tokens: a window is trained on with its text's label, and a text's prediction pools its windows'
    logits), or auto (chunk when more than 5% of the training texts are longer than the window, as the truncation
    warning says; else truncate). Classification and multi_label (for a text pair, the second text is split);
    other tasks truncate. The card, config.yaml and the model's settings record the strategy used."""
    stride: Optional[int] = None
    """chunk: tokens shared by consecutive windows of a text. Unset: a quarter of max_length."""
    window_pooling: str = "mean"
    """chunk: how a text's window logits become one: mean, max (per label; one window holding the cue is
    enough), or auto (the one better on validation, chosen after training and saved with the model)."""
    base_model: Optional[str] = None
    """The hub id of a local model folder, for the card's base_model (unset: a tunecard model's own base, else
    the folder's name)."""
    license: Optional[str] = None
    """The base model's licence for the card (unset: the `license` of the model folder's README.md, if any)."""

    CHOICES: ClassVar[dict] = {"truncation_side": (None, "right", "left"), "long_inputs": ("auto", "truncate", "chunk"),
                               "window_pooling": ("mean", "max", "auto")}

    def problems(self, prefix: str = "model.") -> list[TunecardError]:
        problems = positive_problems(self, prefix, ("max_length",)) + choice_problems(self, prefix)
        if self.stride is not None and not 0 <= self.stride < self.max_length // 2:
            problems.append(TunecardError(f"--{prefix}stride", f"0 to {self.max_length // 2 - 1} (under half the "
                                          "window, so each window adds new tokens)", repr(self.stride),
                                          f"set --{prefix}stride (unset: {self.max_length // 4})"))
        return problems

    @property
    def window_stride(self) -> int:
        return self.stride if self.stride is not None else self.max_length // 4


AUTO_EPOCHS = "auto"
AUTO_EPOCHS_CAP = 20
"""`train.epochs: auto` trains at most this many epochs (the learning-rate schedule spans them)."""
AUTO_PATIENCE = 2
"""`train.epochs: auto` stops after this many evaluations without a better kept metric, unless
train.early_stopping_patience says otherwise."""


@dataclass
class TrainConfig:
    epochs: Union[float, Literal["auto"]] = 3.0
    """Training epochs; evaluation runs after each. `auto`: train until the kept metric has not improved for
    early_stopping_patience evaluations (2 when unset), at most 20 epochs; the card says how many ran."""
    learning_rate: Optional[float] = None
    """Peak learning rate. Unset: the task's default for the model's size (5e-5 unless a measured one exists;
    docs: configuration, task defaults); config.yaml and the card record the value used."""
    batch_size: int = 32
    """Training batch size per device."""
    eval_batch_size: int = 64
    """Evaluation batch size per device."""
    seed: int = 42
    """Seed for weight init, shuffling and the validation split."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: Optional[float] = None
    """Share of steps with a linear learning-rate warm-up. Unset: 0.1 for base-size models (100M parameters, BERT's
    recipe), 0 for small ones (docs: configuration, task defaults); config.yaml and the card record the value."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.999
    """AdamW beta2."""
    adam_epsilon: float = 1e-8
    """AdamW epsilon."""
    lr_scheduler: str = "linear"
    """Learning-rate schedule (any transformers SchedulerType: linear, cosine, constant, ...)."""
    gradient_accumulation_steps: int = 1
    """Batches accumulated per optimizer step."""
    group_by_length: bool = True
    """Batch texts of similar length together (less padding, about 2x faster on CPU)."""
    precision: str = "auto"
    """auto (bf16 on GPUs that support it, else fp32), fp32, bf16 or fp16."""
    metric_for_best_model: Optional[str] = None
    """Metric that picks the kept epoch. Unset: the task's headline (macro F1; F1 for 2 classes)."""
    max_steps: int = -1
    """Stop after this many optimizer steps (overrides epochs when > 0); for quick checks."""
    min_steps: Optional[int] = None
    """Train at least this many optimizer steps: on small data the epochs are raised until they reach it (the
    card says to how many). Unset: none (every epoch count is the one asked for)."""
    logging_steps: Optional[int] = None
    """Steps between training-loss logs; unset: about 20 per epoch."""
    class_weights: Optional[str] = None
    """balanced: weight each class's loss by n_rows / (n_classes * class_rows), for imbalanced labels
    (multi_label: each label's positive and negative rows by n_rows / (2 * rows on that side))."""
    early_stopping_patience: Optional[int] = None
    """Stop after this many evaluations without a better kept metric (unset: train all epochs)."""
    reuse_freed_memory: bool = True
    """On a CPU under Linux (glibc): keep freed tensor memory in the process for the next step instead of
    returning it to the OS (1.55x faster 256-token steps here; the process then holds its peak memory)."""
    save_steps: Optional[int] = None
    """Also write a checkpoint (model, optimizer, scheduler, RNG states, data position) every this many
    optimizer steps; unset: at each epoch end only. Checkpoints live in <output>.partial/checkpoints, so
    `--resume` can continue a crashed or stopped run."""
    save_total_limit: int = 2
    """Checkpoints kept: the newest ones (the kept epoch's is never removed)."""
    temperature_scaling: bool = True
    """Fit a softmax temperature on validation; saved with the model and applied to reported probabilities."""
    report_to: Union[str, list[str]] = "none"
    """Experiment trackers Trainer logs to, through its own integrations: none, or one or more of tensorboard,
    wandb, mlflow, trackio (the package installed; each reads its usual environment variables, e.g.
    WANDB_MODE=offline, MLFLOW_TRACKING_URI). They get the run's name, the config, the per-step loss, the
    per-epoch validation metrics and, once the run is judged, every split's final metrics. TensorBoard event
    files go to <output>/logs unless TENSORBOARD_LOGGING_DIR says otherwise."""

    CHOICES: ClassVar[dict] = {"class_weights": (None, "balanced")}
    TRACKERS: ClassVar[tuple] = ("none", "tensorboard", "wandb", "mlflow", "trackio", "all")

    def problems(self, prefix: str = "train.") -> list[TunecardError]:
        problems = []
        if self.epochs != AUTO_EPOCHS and self.epochs <= 0:
            problems.append(TunecardError(f"--{prefix}epochs", f"a positive number or {AUTO_EPOCHS}",
                                          repr(self.epochs), f"set --{prefix}epochs (e.g. 3, or {AUTO_EPOCHS})"))
        problems += positive_problems(self, prefix, ("batch_size",))
        if self.learning_rate is not None and self.learning_rate <= 0:
            problems += positive_problems(self, prefix, ("learning_rate",))
        unknown = [t for t in self.trackers if t not in self.TRACKERS]
        if unknown:
            problems.append(TunecardError(f"--{prefix}report_to", f"none or some of {', '.join(self.TRACKERS[1:])}",
                                          repr(self.report_to), f"set --{prefix}report_to (e.g. tensorboard)"))
        return problems + choice_problems(self, prefix)

    @property
    def trackers(self) -> list[str]:
        """report_to as a list (a comma-separated text is read as several)."""
        names = self.report_to if isinstance(self.report_to, list) else str(self.report_to).split(",")
        return [n.strip() for n in names if n.strip()]

    @property
    def epoch_limit(self) -> float:
        """The epochs asked for: `epochs`, or the cap of `epochs: auto`."""
        return AUTO_EPOCHS_CAP if self.epochs == AUTO_EPOCHS else self.epochs

    def epochs_for(self, steps_per_epoch: int) -> float:
        """The epochs Trainer is asked for: `epoch_limit`, raised to reach `min_steps` on small data."""
        if not self.min_steps:
            return self.epoch_limit
        return max(self.epoch_limit, -(-self.min_steps // max(steps_per_epoch, 1)))

    @property
    def patience(self) -> Optional[int]:
        """Evaluations without a better kept metric before training stops (None: never)."""
        return self.early_stopping_patience or (AUTO_PATIENCE if self.epochs == AUTO_EPOCHS else None)


@dataclass
class RetrievalConfig:
    index: Optional[str] = None
    """multiple_choice: an index folder built by `tunecard index`. Each question's top_k passages (searched
    with the question and its options) are added to its context, and saved with its predictions."""
    top_k: int = 3
    """Passages added per question, best first (what does not fit in model.max_length is trimmed from the end)."""
    query_model: Optional[str] = None
    """Model that embeds the questions; unset: the index's own. Any other is refused (its vectors would
    not be comparable with the passages')."""

    def problems(self, prefix: str = "retrieval.") -> list[TunecardError]:
        return positive_problems(self, prefix, ("top_k",)) if self.index else []


@dataclass
class DistillConfig:
    """`tunecard distill`: a student trained on a teacher's softened probabilities, mixed with the gold labels."""
    teacher: Optional[str] = None
    """The teacher: any run `tunecard.load` opens (a run directory, an ensemble, an LLM-classification run)."""
    temperature: float = 2.0
    """The softmax temperature T of both teacher and student in the distillation term (Hinton et al.: T > 1 shows
    the student how the teacher ranks the wrong labels). The field's usual value; validation chose it over 1 and 4
    on emotion (docs/distill.md)."""
    alpha: float = 0.5
    """The weight of the teacher's term: loss = alpha T^2 KL(teacher_T || student_T) + (1 - alpha) CE(gold,
    student); texts without a gold label (data.unlabeled) have the teacher's term only. Validation chose 0.5 over
    0.2 and 0.9 on emotion (docs/distill.md)."""
    student: str = "encoder"
    """encoder: the student is model.name (MiniLM by default), fine-tuned whole. static: Model2Vec distils
    model.name into static token embeddings (no data needed) and a linear head on their mean is trained: no
    transformer runs at prediction time."""
    static_dims: int = 256
    """static: the embeddings' width after Model2Vec's PCA."""

    CHOICES: ClassVar[dict] = {"student": ("encoder", "static")}

    def problems(self, prefix: str = "distill.") -> list[TunecardError]:
        problems = choice_problems(self, prefix)
        if not 0 <= self.alpha <= 1:
            problems.append(TunecardError(f"--{prefix}alpha", "a weight from 0 to 1", repr(self.alpha),
                                          f"set --{prefix}alpha (e.g. 0.5)"))
        return problems + positive_problems(self, prefix, ("temperature", "static_dims"))


@dataclass
class DiagnosticsConfig:
    """How the run looks for training rows that may be mislabelled."""
    label_issues: str = "in_sample"
    """in_sample (free): the trained model's least likely training rows, diagnostics/label_noise_candidates.csv;
    it has seen those rows, so it misses the noise it memorised and flags hard rows. kfold: K more trainings, each
    on all folds of train but one, score the held-out fold: every training row gets probabilities from a model that
    never saw it, ranked with confident learning (cleanlab) into diagnostics/label_issues.csv."""
    folds: int = 5
    """kfold: the number of folds K (the run trains K extra models, each as the run itself is trained)."""

    CHOICES: ClassVar[dict] = {"label_issues": ("in_sample", "kfold")}

    def problems(self, prefix: str = "diagnostics.") -> list[TunecardError]:
        problems = choice_problems(self, prefix)
        if self.folds < 2:
            problems.append(TunecardError(f"--{prefix}folds", "at least 2 folds", repr(self.folds),
                                          f"set --{prefix}folds (e.g. 5)"))
        return problems


@dataclass
class LoraConfig:
    r: int = 8
    """llm_classification: LoRA rank."""
    alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = 0.05
    """Dropout on the LoRA branch."""
    target_modules: Optional[list[str]] = None
    """Module names that get LoRA adapters. Unset: the attention projections of the model family
    (q_proj, k_proj, v_proj, o_proj for Llama, Mistral, Qwen, SmolLM2; peft's defaults for others)."""
    quantize: Optional[str] = None
    """4bit: QLoRA, the frozen base loaded in 4-bit NF4 through bitsandbytes (needs a CUDA GPU)."""
    merge: bool = False
    """Save the base with the adapter merged in (a plain transformers model) instead of the adapter alone."""


@dataclass
class LlmConfig:
    system_prompt: Optional[str] = "Classify the text. Answer with exactly one of these labels: {labels}."
    """llm_classification: the system prompt; `{labels}` becomes the label words, comma-separated.
    Empty or null: none (a chat template may then add its own default)."""
    template: str = "{text}"
    """The user turn; `{text}` is the input text, `{labels}` the label words."""
    verbalizers: Optional[dict[str, str]] = None
    """Label name -> the words the model answers for it (e.g. {"0": "negative"}). Unset: the label names."""
    chat_template: bool = True
    """Wrap the prompt in the model's chat template when it has one; otherwise (or when false) the prompt
    is "<system>\\n\\n<user turn>\\nAnswer:" and each label is scored as " <label words>"."""
    length_normalized: bool = False
    """Score a label by the mean log-likelihood of its tokens instead of their sum."""
    zero_shot: bool = True
    """Also score every evaluated split with the untuned base model (same prompt), for the card's
    before/after comparison."""
    free_generation: bool = False
    """Also evaluate by free (greedy) generation, base and tuned model: outputs that are not exactly a
    label count as wrong, and the card states the invalid-output rate."""
    max_new_tokens: Optional[int] = None
    """Tokens generated in free generation. Unset: the longest label's tokens + 3."""


@dataclass
class Config:
    task: str = "classification"
    """The task shape: classification (one text or a text pair + a label), multi_label (a text + any number of
    labels), preference (chosen and rejected texts, optional prompt; scores P(chosen)), multiple_choice (a
    question, its options and an answer; ranks the options) or llm_classification (a causal LM tuned with LoRA;
    each label scored by its log-likelihood after a prompt)."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    abstain: AbstainConfig = field(default_factory=AbstainConfig)
    """classification, llm_classification: a confidence cut-off fitted on validation, under which a row abstains."""
    k: Optional[int] = None
    """multiple_choice: also report MAP@k for this cut-off (MAP@3, the headline, is always reported)."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """llm_classification: the LoRA adapter."""
    llm: LlmConfig = field(default_factory=LlmConfig)
    """llm_classification: the prompt and how labels are scored."""
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    """classification, llm_classification: how training rows that may be mislabelled are found."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """tunecard distill: the teacher and how the student learns from it (config.yaml keeps it: the run is
    reproduced, and resumed, with `tunecard distill --config`)."""
    output: Optional[str] = None
    """Run directory to create (built as <output>.partial and renamed when complete)."""
    overwrite: bool = False
    """Replace an existing run directory at `output` (otherwise that is an error)."""
    resume: bool = False
    """Continue the stopped run in <output>.partial from its newest complete checkpoint. The config must be
    the run's own (<output>.partial/config.yaml); only train.learning_rate may differ (e.g. lower, after a
    non-finite loss)."""
    strict: bool = False
    """Exit with status 1 after writing the run when a diagnostic finding has severity error."""

    @property
    def verb(self) -> str:
        """The verb that trains this config: a run with a teacher is a distillation."""
        return "distill" if self.distill.teacher else "train"

    def problems(self) -> list[TunecardError]:
        """Every problem of a training config: what it lacks, then each section's values."""
        problems = []
        if not self.output:
            problems.append(TunecardError("--output", "a run directory to create", "none", "pass --output runs/NAME"))
        if not (self.data.path or self.data.train):
            problems.append(TunecardError("--data", "a data file, folder or hub id", "none",
                                          "pass --data PATH (or --data.train FILE)"))
        for section in (f for f in fields(self) if hasattr(getattr(self, f.name), "problems")):
            problems.extend(getattr(self, section.name).problems())
        return problems


