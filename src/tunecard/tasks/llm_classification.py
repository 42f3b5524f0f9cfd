"""Text classification with a causal language model: a prompt, then each label scored by the
log-likelihood of its words as the answer. Tuned with LoRA (peft), the loss on the answer tokens only.

Data follows the classification contract (id, text, optional text_pair, label). Every prediction is
a label and every label has a probability (the softmax of the label log-likelihoods), so the usual
evaluation (baselines, per-class report, calibration, collapse checks) applies unchanged. Beside the
tuned model, the card shows the untuned base model on the same prompt (zero-shot) and, on request,
free generation with its invalid-output rate.

The hooks need the run's prompt and LoRA settings: `bind(config)` returns an `LlmClassification` holding
them; a trained model's own (saved in its config.json) come back through `from_model`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunecard.config import LlmConfig, LoraConfig
from tunecard.data.splits import PreparedData
from tunecard.data.texts import map_fingerprint
from tunecard.engine import prompting
from tunecard.engine.prompting import cut, pad_id
from tunecard.errors import TunecardError
from tunecard.judging import abstention, metrics
from tunecard.tasks.base import Task
from tunecard.tasks.cards import TaskCard, classifier_metrics_note, example_input, input_description

EXAMPLES = 8
"""Rows of each evaluated split shown in the card with gold, before and after labels."""
ANSWER_STRIP = " \t\n\"'`*.,:;!?()[]"
"""Stripped from both ends of a generated answer before it is compared with the label words."""
ZERO_SHOT_PROMPT = ("system_prompt", "template", "verbalizers", "chat_template", "length_normalized")
"""The llm options a zero-shot evaluation takes: the prompt and how labels are scored (the others are about
training and the run's comparisons)."""
USAGE = """import tunecard

classifier = tunecard.load("{model_path}")
classifier.predict([{example}])  # label names; predict_proba gives probabilities"""


def check_options(llm: LlmConfig, lora: LoraConfig) -> None:
    """LoRA and prompt options that cannot work, before any model is loaded."""
    import importlib.util

    import torch

    prompting.check_template(llm.template)
    if lora.quantize not in (None, "4bit"):
        raise TunecardError("--lora.quantize", "4bit or unset", repr(lora.quantize),
                            "set --lora.quantize 4bit or drop it")
    if lora.quantize and not torch.cuda.is_available():
        raise TunecardError("--lora.quantize 4bit", "a CUDA GPU (bitsandbytes 4-bit QLoRA runs on CUDA only)",
                            "no CUDA device", "drop --lora.quantize to train LoRA on the full-precision base here")
    if lora.quantize and importlib.util.find_spec("bitsandbytes") is None:
        raise TunecardError("--lora.quantize 4bit", "the bitsandbytes package", "it is not installed",
                            "run: pip install bitsandbytes")
    if lora.quantize and lora.merge:
        raise TunecardError("--lora.merge", "a full-precision base to merge into", "a 4-bit base (--lora.quantize)",
                            "drop --lora.merge (the adapter is saved on its own) or --lora.quantize")


@dataclass(frozen=True)
class LlmClassification(Task):
    """A causal LM tuned with LoRA; each label scored by the log-likelihood of its words after a prompt."""

    name = "llm_classification"
    student_task = "classification"
    pipeline_tag = "text-generation"
    extra_frameworks = ("peft",)
    model_loss_sums_items = True
    reads_windows = False
    config_sections = ("lora", "llm")
    metric_info = {"invalid_output_rate": ("invalid_output_rate", "Invalid-output rate", None)}
    tune_space = {"lora.r": [4, 8, 16]}
    default_model = "smollm2-135m"
    """The generic default model (a BERT encoder) has no LM head."""
    learning_rate = 2e-4
    """LoRA on a model without a measured default."""
    model_learning_rates = {"smollm2-135m": 5e-4}

    llm: LlmConfig = field(default_factory=LlmConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    seed: int = 42
    """Draws the card's example rows."""

    @classmethod
    def bind(cls, config) -> "LlmClassification":
        check_options(config.llm, config.lora)
        return cls(llm=config.llm, lora=config.lora, seed=config.train.seed)

    @classmethod
    def from_model(cls, settings, **options) -> "LlmClassification":
        super().from_model(settings, **options)  # refuses any option
        return cls(llm=LlmConfig(**settings.llm), lora=LoraConfig(**(settings.lora or {})))

    @property
    def library_name(self) -> str:
        return "transformers" if self.lora.merge else "peft"

    # ---- prompt and tokens -------------------------------------------------------------------

    def prompt_format(self, tokenizer, label_names: list[str]) -> prompting.PromptFormat:
        words = prompting.label_words(label_names, self.llm.verbalizers)
        return prompting.build_format(tokenizer, words, self.llm.system_prompt, self.llm.template,
                                      self.llm.chat_template)

    def tokenize(self, dataset, tokenizer, max_length: int):
        """input_ids: the prompt (prefix + text cut to max_length tokens + suffix); labels: the gold
        answer's ids (label words + end of answer); length; full_length: the text's tokens uncut."""
        fmt = self.prompt_format(tokenizer, dataset.features["label"].names)

        def encode(batch):
            texts = _input_texts(batch)
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            prompts = [fmt.prompt(cut(x, max_length, tokenizer.truncation_side)) for x in ids]
            answers = [fmt.answer(label) for label in batch["label"]]
            return {"input_ids": prompts, "labels": answers,
                    "length": [len(p) + len(a) for p, a in zip(prompts, answers)],
                    "full_length": [len(x) for x in ids]}

        return dataset.map(encode, batched=True, desc="Tokenizing",
                           new_fingerprint=map_fingerprint(dataset, encode, tokenizer))

    def data_collator(self, tokenizer):
        return AnswerCollator(pad_id(tokenizer))

    # ---- model -------------------------------------------------------------------------------

    def build_model(self, ref, label_names: list[str]):
        """The causal LM with LoRA adapters."""
        from tunecard.engine import lora

        return lora.apply_lora(lora.load_causal_lm(ref, self.lora.quantize), self.lora)

    def model_settings(self, prepared: PreparedData, ref) -> dict:
        """What is needed to load and score the model again: its base, labels, prompt and adapter."""
        names = prepared.label_names
        resolved = dict(zip(names, prompting.label_words(names, self.llm.verbalizers)))
        return {"base_ref": _portable_ref(ref), "labels": list(names),
                "llm": dataclasses.asdict(dataclasses.replace(self.llm, verbalizers=resolved)),
                "lora": dataclasses.asdict(self.lora)}

    def save_model(self, trainer, tokenizer, folder: Path, settings) -> None:
        """The adapter with config.json (the base config plus tunecard's settings), or with --lora.merge
        the base with the adapter merged in."""
        model = trainer.model
        for adapter in model.peft_config.values():
            adapter.base_model_name_or_path = settings.base_model  # the hub id, not a cache path
        if self.lora.merge:
            model.merge_and_unload().save_pretrained(folder)
        else:
            model.save_pretrained(folder, save_embedding_layers=False)  # never trained; no hub lookup to check
            model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    # ---- scoring -----------------------------------------------------------------------------

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        """Label log-likelihoods [n_rows, n_labels] in row order."""
        from tunecard.console import progress
        from tunecard.engine import causal_lm

        fmt = self.prompt_format(tokenizer, tokenized.features["label"].names)
        prompts = [ids[len(fmt.prefix):] for ids in tokenized["input_ids"]]
        with progress(total=len(prompts), desc=desc, unit="text") as bar:
            return causal_lm.score_candidates(model, prompts, fmt.answers, fmt.prefix, pad_id=pad_id(tokenizer),
                                              batch_size=batch_size, length_normalized=self.llm.length_normalized,
                                              bar=bar)

    def generate(self, model, tokenizer, fmt: prompting.PromptFormat, prompts: list[list[int]], batch_size: int,
                 desc: str) -> list[str]:
        """Free (greedy) generation after each prompt, decoded; it stops at the end of the answer."""
        from tunecard.console import progress
        from tunecard.engine import causal_lm

        longest = max(len(a) for a in fmt.answers)
        stop = sorted({*fmt.end, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])})
        with progress(total=len(prompts), desc=desc, unit="text") as bar:
            outputs = causal_lm.generate(model, prompts, max_new_tokens=self.llm.max_new_tokens or longest + 3,
                                         stop_ids=stop, pad_id=pad_id(tokenizer), batch_size=batch_size, bar=bar)
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]

    def preprocess_logits(self, tokenizer, label_names: list[str]):
        """Per-epoch validation inside Trainer: from each row's forward on its gold answer, the scores
        of every label's first token at the answer's first position, [B, n_labels]. Equal to the full
        scores when labels are single tokens; an approximation (used only to pick the kept epoch) otherwise."""
        first_tokens = [a[0] for a in self.prompt_format(tokenizer, label_names).answers]

        def first_token_scores(logits, labels):
            import torch

            logits = logits[0] if isinstance(logits, tuple) else logits
            first = (labels != -100).int().argmax(-1)  # the first answer token in the kept window
            rows = torch.arange(len(labels), device=logits.device)
            logp = torch.log_softmax(logits[rows, first - 1].float(), dim=-1)
            return logp[:, torch.tensor(first_tokens, device=logits.device)]
        return first_token_scores

    def compute_metrics_fn(self, label_names: list[str], validation, row_order: np.ndarray):
        gold = np.asarray(validation["label"])[row_order]

        def compute(eval_prediction) -> dict:
            scores = eval_prediction.predictions
            scores = scores[0] if isinstance(scores, tuple) else scores
            return {**metrics.classification_metrics(gold, np.argmax(scores, -1), len(label_names)),
                    "invalid_output_rate": 0.0}
        return compute

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return [*metrics.metric_keys(len(label_names)), "invalid_output_rate"]

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        """Likelihood scoring always names a label: the invalid-output rate is 0 by construction."""
        return {"invalid_output_rate": 0.0}

    # ---- before / after ----------------------------------------------------------------------

    def comparisons(self, name: str, model, tokenizer, dataset, tokenized, probs: np.ndarray,
                    batch_size: int) -> tuple[dict, list[dict]]:
        """Other scorers of the same split for the card: the base model zero-shot (adapters off, same
        prompt) and, with llm.free_generation, free generation by the tuned and the base model.
        Returns ({key: {"label", "metrics"}}, example rows)."""
        names = dataset.features["label"].names
        gold = np.asarray(dataset["label"])
        predictions = {"after": probs.argmax(-1)}
        columns, outputs = {}, {}
        if self.llm.zero_shot:
            with model.disable_adapter():
                base = self.score(model, tokenizer, tokenized, batch_size, f"Scoring {name} (base model)")
            predictions["before"] = base.argmax(-1)
            columns["base_zero_shot"] = {"label": "Base model (zero-shot)", "metrics": {
                **metrics.classification_metrics(gold, predictions["before"], len(names)), "invalid_output_rate": 0.0}}
        if self.llm.free_generation:
            fmt = self.prompt_format(tokenizer, names)
            for who, context in (("tuned", contextlib.nullcontext()), ("base", model.disable_adapter())):
                with context:
                    outputs[who] = self.generate(model, tokenizer, fmt, tokenized["input_ids"], batch_size,
                                                 f"Generating {name} ({who} model)")
                parsed = np.array([parse_answer(o, fmt.words) for o in outputs[who]])
                columns[f"free_generation_{who}"] = {"label": f"Free generation ({who} model)",
                                                     "metrics": metrics.metrics_with_invalid(gold, parsed, len(names))}
        return columns, self._examples(dataset, names, predictions, outputs)

    def _examples(self, dataset, names: list[str], predictions: dict, outputs: dict) -> list[dict]:
        """A seeded sample of rows (not picked by outcome) with gold, before and after labels."""
        rows = np.sort(np.random.default_rng(self.seed).choice(len(dataset), min(EXAMPLES, len(dataset)),
                                                               replace=False))
        texts = _input_texts(dataset[rows.tolist()])
        examples = []
        for k, row in enumerate(rows):
            record = dataset[int(row)]
            example = {"id": record["id"], "text": _clip(texts[k]), "gold": names[record["label"]]}
            example.update({key: names[pred[row]] for key, pred in predictions.items()})
            example.update({f"{who}_output": _clip(out[row], 60) for who, out in outputs.items()})
            examples.append(example)
        return examples

    # ---- trained models ------------------------------------------------------------------------

    def load_predictor(self, saved, batch_size: int = 32, backend: str = "torch") -> "LlmClassifier":
        import torch

        from tunecard.engine import distributed, lora

        if backend != "torch":
            raise TunecardError("--backend", "torch for an llm_classification model", repr(backend), "drop --backend")
        settings = saved.settings
        quantize = (settings.lora or {}).get("quantize")
        model, tokenizer = lora.load_tuned_causal_lm(saved.folder, settings.base_ref, quantize)
        settings.write(model.config)  # the tuned model's settings travel with it (e.g. to a merge)
        if torch.cuda.is_available():
            model = model.to(distributed.device())  # under several processes, this process's GPU
        tokenizer.truncation_side = settings.truncation_side or "right"
        return LlmClassifier(model, tokenizer, settings.labels, settings.max_length, self, settings.temperature,
                             batch_size, abstain_below=abstention.threshold_of(settings.abstention))

    # ---- the card ----------------------------------------------------------------------------

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        names = prepared.label_names
        kind = "LoRA-tuned" if self.library_name == "peft" else "LoRA-tuned and merged"
        return TaskCard(
            description=f"text classification by label likelihood ({kind} causal language model)",
            intended_use=(f"Classifies {input_description(prepared)} into one of {len(names)} "
                          f"labels: {', '.join(names)}."),
            usage=USAGE.replace("{example}", example_input(prepared)),
            metrics_note=classifier_metrics_note(names),
            notes=self._card_notes(self.prompt_format(tokenizer, names), names))

    def _card_notes(self, fmt: prompting.PromptFormat, label_names: list[str]) -> list[str]:
        lora = self.lora
        return [
            *self._prompt_notes(fmt, label_names),
            f"**LoRA.** rank {lora.r}, alpha {lora.alpha}, dropout {lora.dropout}, on "
            f"{', '.join(lora.target_modules) if lora.target_modules else 'the attention projections'}"
            f"{', 4-bit NF4 base (QLoRA)' if lora.quantize else ''}; the loss is on the answer tokens only "
            "(label words and end of answer; the prompt is masked). "
            + ("The adapter is merged into the base weights." if lora.merge else
               "The model folder holds the adapter; `tunecard.load` puts it back on its base."),
            "Per-epoch validation metrics (which pick the kept epoch) score each label by its first token; "
            "the evaluation below scores whole labels.",
        ]

    def _prompt_notes(self, fmt: prompting.PromptFormat, label_names: list[str]) -> list[str]:
        """How labels are predicted and the prompt, for the card."""
        llm = self.llm
        words = ", ".join(f"`{n}` → \"{w}\"" for n, w in zip(label_names, fmt.words))
        how = "mean" if llm.length_normalized else "sum"
        chat = "the model's chat template" if not fmt.answer_space else "a plain format (no chat template)"
        return [
            f"**How labels are predicted.** The text is put in a prompt ({chat}; system prompt and user turn "
            "below) and each label is scored by the log-likelihood of its words as the model's answer "
            f"({how} over the label's tokens): {words}. The prediction is the label with the highest score, "
            "and the label probabilities are the softmax of the scores, so every prediction is a valid label "
            "(invalid-output rate 0).",
            f"System prompt: `{_one_line(llm.system_prompt).replace('{labels}', ', '.join(fmt.words)) or '(none)'}`; "
            f"user turn: `{_one_line(llm.template)}`.",
        ]

    # ---- zero-shot: the base model, never tuned ------------------------------------------------

    zero_shot_models = "a causal language model (each label scored by the log-likelihood of its words)"

    @classmethod
    def zero_shot(cls, model: str, raw: dict, columns: dict, batch_size: int, **options):
        """The untuned causal LM scoring each label of the data (its names, or --llm.verbalizers) by the
        log-likelihood of its words after the prompt, as the card's before-tuning column does; `llm.*`
        options (the prompt, as for training) are given as "llm.<field>" keys; any other option is refused."""
        prompt = {key: options.pop(f"llm.{key}") for key in ZERO_SHOT_PROMPT if f"llm.{key}" in options}
        super().from_model({}, **options)  # refuses any other option (e.g. --k, --llm.free_generation)
        llm = dataclasses.replace(LlmConfig(), **prompt)
        check_options(llm, LoraConfig())
        task = cls(llm=llm, lora=LoraConfig())
        return task, zero_shot_predictor(model, task, zero_shot_label_names(raw, columns), batch_size)

    def zero_shot_description(self, predictor, splits: dict) -> dict:
        names, fmt, source = predictor.labels, predictor.format, predictor.source
        chance = {split: {"accuracy": round(1 / len(names), 6)} for split in splits}
        notes = [
            f"{source['training'][1]} tunecard did not tune it for these labels.",
            *self._prompt_notes(fmt, names),
            f"**Chance.** A uniformly random label is right 1 time in {len(names)} (accuracy {1 / len(names):.4f}); "
            "the Majority class and Stratified random columns are the chance baselines with this data's own label "
            "frequencies.",
        ]
        return {"model": source["model"], "base_model": source["base_model"], "training": source["training"][0],
                "prompt": {"system_prompt": self.llm.system_prompt, "template": self.llm.template,
                           "chat_template": not fmt.answer_space, "label_words": dict(zip(names, fmt.words))},
                "scoring": f"each label's words by their log-likelihood as the answer "
                           f"({'mean' if self.llm.length_normalized else 'sum'} over tokens)",
                "chance": chance, "notes": notes}


def zero_shot_label_names(raw: dict, columns: dict) -> list[str]:
    """The labels of data scored zero-shot: a ClassLabel's (or label/label_text pair's) names, else every
    value of the label column in any split, sorted (numbers by value)."""
    import datasets

    from tunecard.data import labels
    from tunecard.data.columns import resolve_columns

    first = next(iter(raw.values()))
    found = resolve_columns(first.column_names, columns.get("text_column"), columns.get("text_pair_column"),
                            columns.get("label_column"))
    if isinstance(first.features[found.label], datasets.ClassLabel) or found.label_name:
        return labels.label_names(first, found, None)
    values = {str(v) for ds in raw.values() for v in ds.unique(found.label) if v is not None}
    return sorted(values, key=labels.sort_key)


def zero_shot_predictor(model: str, task: LlmClassification, names: list[str], batch_size: int) -> "LlmClassifier":
    """The base causal LM as an `LlmClassifier` over `names` (the length limit: the model's, at most 512 tokens),
    with what the card says of it (the model as named, its hub id, how it was trained)."""
    from tunecard.engine import lora, models

    ref = models.resolve_model(model)
    lm, tokenizer = lora.load_scoring_lm(ref)
    source = {"model": ref.name, "base_model": ref.base_model, "training": models.untrained_scoring(ref)}
    tokenizer.truncation_side = "right"
    return LlmClassifier(lm, tokenizer, names, lora.zero_shot_max_length(tokenizer), task, None, batch_size, source)


class AnswerCollator:
    """Left-pads prompt + answer rows and keeps the loss on the answer: `labels` covers only the
    last K positions (K = longest answer + 1) and the model computes logits only there
    (`logits_to_keep`), so the LM head never runs over prompt positions. Works for any rows of
    input_ids (the prompt) and labels (the answer ids), e.g. multiple-choice answers."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        from tunecard.engine.causal_lm import left_pad

        answers = [list(f["labels"]) for f in features]
        ids, mask = left_pad([list(f["input_ids"]) + a for f, a in zip(features, answers)], self.pad_id, "cpu")
        window = max(len(a) for a in answers) + 1
        labels = torch.full((len(features), window), -100, dtype=torch.long)
        for i, answer in enumerate(answers):
            labels[i, window - len(answer):] = torch.tensor(answer)
        return {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
                "labels": labels, "logits_to_keep": window, "use_cache": False}


# ---- loading and predicting -------------------------------------------------------------------

class LlmClassifier:
    """A trained llm_classification model for new text, as `tunecard.load(path)` returns it (None for a text whose
    top probability is below the model's abstention cut-off, `abstain_below`)."""

    def __init__(self, model, tokenizer, labels: list[str], max_length: int, task: LlmClassification,
                 temperature: float | None = None, batch_size: int = 32, source: dict | None = None,
                 abstain_below: float | None = None):
        self.model, self.tokenizer, self.labels, self.batch_size = model, tokenizer, list(labels), batch_size
        self.max_length, self.temperature, self.task = max_length, temperature, task
        self.abstain_below = abstain_below
        self.source = source
        """A model scored zero-shot: {"model", "base_model", "training"} for the card."""
        self.format = task.prompt_format(tokenizer, self.labels)

    def prompts(self, texts: list[str], text_pairs: list[str] | None = None) -> list[list[int]]:
        texts = _input_texts({"text": list(texts), **({"text_pair": list(text_pairs)} if text_pairs else {})})
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [self.format.prompt(cut(x, self.max_length, self.tokenizer.truncation_side)) for x in ids]

    def predict_logits(self, texts, text_pairs=None, bar=None) -> np.ndarray:
        """Label log-likelihoods [n_texts, n_labels]."""
        from tunecard.engine import causal_lm

        prompts = [p[len(self.format.prefix):] for p in self.prompts(texts, text_pairs)]
        return causal_lm.score_candidates(self.model, prompts, self.format.answers, self.format.prefix,
                                          pad_id=pad_id(self.tokenizer), batch_size=self.batch_size,
                                          length_normalized=self.task.llm.length_normalized, bar=bar)

    def predict_proba(self, texts, text_pairs=None, bar=None) -> np.ndarray:
        logits = self.predict_logits(texts, text_pairs, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, texts, text_pairs=None) -> list:
        return abstention.labels_or_none(self.predict_proba(texts, text_pairs), self.labels, self.abstain_below)

    def abstains(self, probs: np.ndarray) -> np.ndarray:
        return abstention.abstains(probs, self.abstain_below)

    def generate(self, texts, text_pairs=None) -> list[str]:
        """Free generation (greedy): the raw answers; `parse_answer` tells which are labels."""
        return self.task.generate(self.model, self.tokenizer, self.format, self.prompts(texts, text_pairs),
                                  self.batch_size, "Generating")


# ---- helpers ----------------------------------------------------------------------------------

def parse_answer(output: str, words: list[str]) -> int:
    """The label whose words the generated output is (case, surrounding spaces, quotes and
    punctuation ignored); -1 when it is not exactly one label."""
    answer = output.strip(ANSWER_STRIP).casefold()
    folded = [w.casefold() for w in words]
    return folded.index(answer) if answer in folded else -1


def _input_texts(batch) -> list[str]:
    """A text pair fills the prompt's text slot as two lines."""
    if "text_pair" in batch and batch["text_pair"] is not None:
        return [f"{a}\n{b}" for a, b in zip(batch["text"], batch["text_pair"])]
    return list(batch["text"])


def _portable_ref(ref) -> str:
    """How to find the base again: an alias or hub id as typed, a local folder as an absolute path."""
    path = Path(ref.location)
    return str(path.resolve()) if path.is_dir() and ref.name == ref.location else ref.name


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()).replace("`", "'")
