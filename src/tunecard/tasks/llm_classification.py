"""Text classification with a causal language model: a prompt, then each label scored by the
log-likelihood of its words as the answer. Tuned with LoRA (peft), the loss on the answer tokens only.

Data follows the classification contract (id, text, optional text_pair, label). Every prediction is
a label and every label has a probability (the softmax of the label log-likelihoods), so the usual
evaluation (baselines, per-class report, calibration, collapse checks) applies unchanged. Beside the
tuned model, the card shows the untuned base model on the same prompt (zero-shot) and, on request,
free generation with its invalid-output rate.

The hooks need the run's prompt and LoRA settings: `bind(config)` returns them bound in an
`LlmClassification`; a loaded model (`load_predictor`) carries its own, saved in its config.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np

from tunecard import metrics, prompting
from tunecard.config import LlmConfig, LoraConfig, ModelConfig
from tunecard.errors import TunecardError
from tunecard.tasks import classification
from tunecard.tasks.classification import (HOLDOUT, PreparedData, baseline_metrics, evaluation_splits,  # noqa: F401
                                           headline_metric, prepare)

PIPELINE_TAG = "text-generation"
DEFAULT_TRUNCATION_SIDE = "right"
SCORE_HISTOGRAM = False
DEFAULT_MODEL = "smollm2-135m"
LORA_LEARNING_RATE = 2e-4
"""Default learning rate for LoRA on a model without its own default (the embedded LM has one)."""
EXAMPLES = 8
"""Rows of each evaluated split shown in the card with gold, before and after labels."""
ANSWER_STRIP = " \t\n\"'`*.,:;!?()[]"
"""Stripped from both ends of a generated answer before it is compared with the label words."""


def metric_keys(label_names: list[str]) -> list[str]:
    return [*metrics.metric_keys(len(label_names)), "invalid_output_rate"]


def split_metrics(dataset, probs: np.ndarray) -> dict[str, float]:
    """Likelihood scoring always names a label: the invalid-output rate is 0 by construction."""
    return {"invalid_output_rate": 0.0}


def bind(config) -> "LlmClassification":
    """The task's hooks bound to a run's config. Resolves the task's defaults into the config (so
    config.yaml shows them): the embedded LM instead of the generic default model, and a LoRA
    learning rate."""
    from tunecard import models

    if config.model.name == ModelConfig().name:
        config.model.name = DEFAULT_MODEL  # the generic default (a BERT encoder) has no LM head
    if config.train.learning_rate is None:
        embedded = config.model.name in models.EMBEDDED_MODELS
        config.train.learning_rate = models.default_learning_rate(config.model.name) if embedded else LORA_LEARNING_RATE
    check_options(config.llm, config.lora)
    return LlmClassification(config.llm, config.lora, config.train.seed)


def check_options(llm: LlmConfig, lora: LoraConfig) -> None:
    """LoRA and prompt options that cannot work, before any model is loaded."""
    import importlib.util

    import torch

    prompting.check_template(llm.template)
    if lora.quantize not in (None, "4bit"):
        raise TunecardError("--lora.quantize", "4bit or unset", repr(lora.quantize), "set --lora.quantize 4bit or drop it")
    if lora.quantize and not torch.cuda.is_available():
        raise TunecardError("--lora.quantize 4bit", "a CUDA GPU (bitsandbytes 4-bit QLoRA runs on CUDA only)",
                            "no CUDA device", "drop --lora.quantize to train LoRA on the full-precision base here")
    if lora.quantize and importlib.util.find_spec("bitsandbytes") is None:
        raise TunecardError("--lora.quantize 4bit", "the bitsandbytes package", "it is not installed",
                            "run: pip install bitsandbytes")
    if lora.quantize and lora.merge:
        raise TunecardError("--lora.merge", "a full-precision base to merge into", "a 4-bit base (--lora.quantize)",
                            "drop --lora.merge (the adapter is saved on its own) or --lora.quantize")


class LlmClassification:
    """The task hooks (see tasks/__init__.py) with the prompt and LoRA settings of one run or model."""

    PIPELINE_TAG, DEFAULT_TRUNCATION_SIDE, HOLDOUT, SCORE_HISTOGRAM = (PIPELINE_TAG, DEFAULT_TRUNCATION_SIDE,
                                                                       HOLDOUT, SCORE_HISTOGRAM)
    prepare = staticmethod(prepare)
    evaluation_splits = staticmethod(evaluation_splits)
    metric_keys = staticmethod(metric_keys)
    headline_metric = staticmethod(headline_metric)
    split_metrics = staticmethod(split_metrics)
    baseline_metrics = staticmethod(baseline_metrics)
    trainer_datasets = staticmethod(classification.trainer_datasets)
    loss_function = staticmethod(classification.loss_function)  # the LM's own loss on the unmasked answer tokens

    def __init__(self, llm: LlmConfig, lora: LoraConfig | None = None, seed: int = 42):
        self.llm, self.lora, self.seed = llm, lora or LoraConfig(), seed
        self.format: prompting.PromptFormat | None = None
        """Built from the tokenizer and label names by the first `tokenize` (or `prompt_format`)."""

    @property
    def LIBRARY_NAME(self) -> str:  # noqa: N802 (a task constant, computed)
        return "transformers" if self.lora.merge else "peft"

    # ---- prompt and tokens -------------------------------------------------------------------

    def prompt_format(self, tokenizer, label_names: list[str]) -> prompting.PromptFormat:
        words = prompting.label_words(label_names, self.llm.verbalizers)
        self.format = prompting.build_format(tokenizer, words, self.llm.system_prompt, self.llm.template,
                                             self.llm.chat_template)
        return self.format

    def tokenize(self, dataset, tokenizer, max_length: int):
        """input_ids: the prompt (prefix + text cut to max_length tokens + suffix); labels: the gold
        answer's ids (label words + end of answer); length; full_length: the text's tokens uncut."""
        fmt = self.prompt_format(tokenizer, dataset.features["label"].names)

        def encode(batch):
            texts = _input_texts(batch)
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            prompts = [fmt.prompt(cut(x, max_length, tokenizer.truncation_side)) for x in ids]
            answers = [fmt.answer(label) for label in batch["label"]]
            return {"input_ids": prompts, "labels": answers, "length": [len(p) + len(a) for p, a in zip(prompts, answers)],
                    "full_length": [len(x) for x in ids]}

        return dataset.map(encode, batched=True, desc="Tokenizing")

    def data_collator(self, tokenizer):
        return AnswerCollator(pad_id(tokenizer))

    # ---- model -------------------------------------------------------------------------------

    def build_model(self, ref, label_names: list[str]):
        """The causal LM with LoRA adapters; its config carries what is needed to load and score it again."""
        from tunecard import models

        model = models.load_causal_lm(ref, self.lora.quantize)
        model.config.tunecard_base_model = ref.base_model
        model.config.tunecard_base_ref = _portable_ref(ref)
        model.config.tunecard_labels = list(label_names)
        resolved = dict(zip(label_names, prompting.label_words(label_names, self.llm.verbalizers)))
        model.config.tunecard_llm = dataclasses.asdict(dataclasses.replace(self.llm, verbalizers=resolved))
        model.config.tunecard_lora = dataclasses.asdict(self.lora)
        return models.apply_lora(model, self.lora)

    def save_model(self, trainer, tokenizer, folder: Path) -> None:
        """The adapter with config.json (the base config plus tunecard's fields), or with --lora.merge
        the base with the adapter merged in."""
        model = trainer.model
        for adapter in model.peft_config.values():
            adapter.base_model_name_or_path = model.config.tunecard_base_model  # the hub id, not a cache path
        if self.lora.merge:
            model.merge_and_unload().save_pretrained(folder)
        else:
            model.save_pretrained(folder, save_embedding_layers=False)  # never trained; no hub lookup to check
            model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    # ---- scoring -----------------------------------------------------------------------------

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        """Label log-likelihoods [n_rows, n_labels] in row order."""
        from tqdm.auto import tqdm

        from tunecard import causal_lm

        fmt = self.format
        prompts = [ids[len(fmt.prefix):] for ids in tokenized["input_ids"]]
        with tqdm(total=len(prompts), desc=desc, unit="text") as bar:
            return causal_lm.score_candidates(model, prompts, fmt.answers, fmt.prefix, pad_id=pad_id(tokenizer),
                                              batch_size=batch_size, length_normalized=self.llm.length_normalized,
                                              bar=bar)

    def generate(self, model, tokenizer, prompts: list[list[int]], batch_size: int, desc: str) -> list[str]:
        """Free (greedy) generation after each prompt, decoded; it stops at the end of the answer."""
        from tqdm.auto import tqdm

        from tunecard import causal_lm

        fmt = self.format
        longest = max(len(a) for a in fmt.answers)
        stop = sorted({*fmt.end, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])})
        with tqdm(total=len(prompts), desc=desc, unit="text") as bar:
            outputs = causal_lm.generate(model, prompts, max_new_tokens=self.llm.max_new_tokens or longest + 3,
                                         stop_ids=stop, pad_id=pad_id(tokenizer), batch_size=batch_size, bar=bar)
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]

    def preprocess_logits(self, logits, labels):
        """Per-epoch validation inside Trainer: from each row's forward on its gold answer, the scores
        of every label's first token at the answer's first position, [B, n_labels]. Equal to the full
        scores when labels are single tokens; an approximation (used only to pick the kept epoch) otherwise."""
        import torch

        logits = logits[0] if isinstance(logits, tuple) else logits
        first = (labels != -100).int().argmax(-1)  # the first answer token in the kept window
        rows = torch.arange(len(labels), device=logits.device)
        logp = torch.log_softmax(logits[rows, first - 1].float(), dim=-1)
        firsts = torch.tensor([a[0] for a in self.format.answers], device=logits.device)
        return logp[:, firsts]

    def compute_metrics_fn(self, label_names: list[str], validation, row_order: np.ndarray):
        gold = np.asarray(validation["label"])[row_order]

        def compute(eval_prediction) -> dict:
            scores = eval_prediction.predictions
            scores = scores[0] if isinstance(scores, tuple) else scores
            return {**metrics.classification_metrics(gold, np.argmax(scores, -1), len(label_names)),
                    "invalid_output_rate": 0.0}
        return compute

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
            for who, context in (("tuned", contextlib.nullcontext()), ("base", model.disable_adapter())):
                with context:
                    outputs[who] = self.generate(model, tokenizer, tokenized["input_ids"], batch_size,
                                                 f"Generating {name} ({who} model)")
                parsed = np.array([parse_answer(o, self.format.words) for o in outputs[who]])
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
            example = {"id": dataset[int(row)]["id"], "text": _clip(texts[k]), "gold": names[dataset[int(row)]["label"]]}
            example.update({key: names[pred[row]] for key, pred in predictions.items()})
            example.update({f"{who}_output": _clip(out[row], 60) for who, out in outputs.items()})
            examples.append(example)
        return examples

    def card_notes(self, prepared: PreparedData) -> list[str]:
        fmt, llm, lora = self.format, self.llm, self.lora
        words = ", ".join(f"`{n}` → \"{w}\"" for n, w in zip(prepared.label_names, fmt.words))
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
            f"**LoRA.** rank {lora.r}, alpha {lora.alpha}, dropout {lora.dropout}, on "
            f"{', '.join(lora.target_modules) if lora.target_modules else 'the attention projections'}"
            f"{', 4-bit NF4 base (QLoRA)' if lora.quantize else ''}; the loss is on the answer tokens only "
            "(label words and end of answer; the prompt is masked). "
            + ("The adapter is merged into the base weights." if lora.merge else
               "The model folder holds the adapter; `tunecard.load` puts it back on its base."),
            "Per-epoch validation metrics (which pick the kept epoch) score each label by its first token; "
            "the evaluation below scores whole labels.",
        ]


class AnswerCollator:
    """Left-pads prompt + answer rows and keeps the loss on the answer: `labels` covers only the
    last K positions (K = longest answer + 1) and the model computes logits only there
    (`logits_to_keep`), so the LM head never runs over prompt positions. Works for any rows of
    input_ids (the prompt) and labels (the answer ids), e.g. multiple-choice answers."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        from tunecard.causal_lm import left_pad

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
    """A trained llm_classification model for new text, as `tunecard.load(path)` returns it."""

    def __init__(self, model, tokenizer, config, batch_size: int = 32):
        self.model, self.tokenizer, self.config, self.batch_size = model, tokenizer, config, batch_size
        self.labels = list(config.tunecard_labels)
        self.max_length = config.tunecard_max_length
        self.temperature = getattr(config, "tunecard_temperature", None)
        tokenizer.truncation_side = getattr(config, "tunecard_truncation_side", None) or "right"
        self.task = LlmClassification(LlmConfig(**config.tunecard_llm))
        self.format = self.task.prompt_format(tokenizer, self.labels)

    def prompts(self, texts: list[str], text_pairs: list[str] | None = None) -> list[list[int]]:
        texts = _input_texts({"text": list(texts), **({"text_pair": list(text_pairs)} if text_pairs else {})})
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [self.format.prompt(cut(x, self.max_length, self.tokenizer.truncation_side)) for x in ids]

    def predict_logits(self, texts, text_pairs=None, bar=None) -> np.ndarray:
        """Label log-likelihoods [n_texts, n_labels]."""
        from tunecard import causal_lm

        prompts = [p[len(self.format.prefix):] for p in self.prompts(texts, text_pairs)]
        return causal_lm.score_candidates(self.model, prompts, self.format.answers, self.format.prefix,
                                          pad_id=pad_id(self.tokenizer), batch_size=self.batch_size,
                                          length_normalized=self.task.llm.length_normalized, bar=bar)

    def predict_proba(self, texts, text_pairs=None, bar=None) -> np.ndarray:
        logits = self.predict_logits(texts, text_pairs, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, texts, text_pairs=None) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, text_pairs).argmax(-1)]

    def generate(self, texts, text_pairs=None) -> list[str]:
        """Free generation (greedy): the raw answers; `parse_answer` tells which are labels."""
        return self.task.generate(self.model, self.tokenizer, self.prompts(texts, text_pairs), self.batch_size,
                                  "Generating")


def load_predictor(path: str, batch_size: int = 32, backend: str = "torch") -> LlmClassifier:
    import torch

    from tunecard import models

    if backend != "torch":
        raise TunecardError("--backend", "torch for an llm_classification model", repr(backend), "drop --backend")
    model, tokenizer, config = models.load_tuned_causal_lm(path)
    if torch.cuda.is_available():
        model = model.to("cuda")
    return LlmClassifier(model, tokenizer, config, batch_size)


def chunk_scorer(classifier: LlmClassifier, columns: list[str], options: dict):
    """Rows of a predict file: id, prediction, prob_<label> per label, and the top-k labels."""
    from tunecard.data.columns import infer_text_columns

    text, pair = infer_text_columns(columns, options.get("text_column"), options.get("text_pair_column"))

    def score_chunk(chunk, ids, bar):
        probs = classifier.predict_proba(chunk[text], chunk[pair] if pair else None, bar)
        return classification.prediction_frame(ids, probs, classifier.labels, options.get("top_k", 1))
    return score_chunk


# ---- multiple choice --------------------------------------------------------------------------

def score_options(model, tokenizer, questions: list[str], options: list[list[str]], *,
                  system_prompt: str | None = None, template: str = "{text}", chat_template: bool = True,
                  batch_size: int = 16, length_normalized: bool = False, max_length: int = 512) -> np.ndarray:
    """Multiple choice by likelihood: the log-likelihood of each option as the model's answer to its
    question, [n_questions, n_options] (every question the same number of options; argmax = the
    chosen option). `questions` hold whatever the prompt should show (question, retrieved context);
    `model` is a base causal LM (zero-shot) or a tuned one (`tunecard.load(run).model`). Each question
    runs once; its options are scored on copies of its KV cache, in batches."""
    from tunecard import causal_lm

    if len({len(o) for o in options}) > 1:
        raise TunecardError("options", "the same number of options for every question",
                            f"counts {sorted({len(o) for o in options})}", "pad or drop questions")
    if any(not str(o).strip() for row in options for o in row):
        raise TunecardError("options", "a text for every option", "an empty option", "fill or drop it")
    fmt = prompting.build_format(tokenizer, [], system_prompt, template, chat_template)
    ids = tokenizer(list(questions), add_special_tokens=False)["input_ids"]
    prompts = [fmt.prompt(cut(x, max_length, tokenizer.truncation_side))[len(fmt.prefix):] for x in ids]
    candidates = [[fmt.encode_answer(tokenizer, o) for o in row] for row in options]
    return causal_lm.score_candidates(model, prompts, candidates, fmt.prefix, pad_id=pad_id(tokenizer),
                                      batch_size=batch_size, length_normalized=length_normalized)


# ---- helpers ----------------------------------------------------------------------------------

def parse_answer(output: str, words: list[str]) -> int:
    """The label whose words the generated output is (case, surrounding spaces, quotes and
    punctuation ignored); -1 when it is not exactly one label."""
    answer = output.strip(ANSWER_STRIP).casefold()
    folded = [w.casefold() for w in words]
    return folded.index(answer) if answer in folded else -1


def cut(ids: list[int], max_length: int, side: str) -> list[int]:
    return list(ids[-max_length:]) if side == "left" else list(ids[:max_length])


def pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return candidate
    return 0


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
