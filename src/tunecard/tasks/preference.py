"""Preference (chosen vs rejected) as binary classification: `AutoModelForSequenceClassification`
with label 1 = chosen and 0 = rejected, so the score of a text is P(label = chosen).

Input rows are pairs: a `chosen` and a `rejected` text and an optional shared `prompt`. Without a
prompt column the prompt is the texts' shared prefix up to the last "Assistant:" (HH-RLHF
dialogues); without such a marker the texts are scored whole. Each pair becomes two rows
(text = prompt, text_pair = response) sharing a `pair_id`. Splits are drawn by pair, before the
expansion, so the two texts of a pair never land in different splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tunecard.data import checks
from tunecard.data.columns import Columns
from tunecard.data.columns import id_column as find_id_column
from tunecard.data.splits import hold_out_missing, random_holdout, read_training_splits
from tunecard.data.texts import map_fingerprint
from tunecard.errors import TunecardError
from tunecard.judging import metrics
from tunecard.judging.diagnostics import Finding
from tunecard.tasks.base import PreparedData, Task
from tunecard.tasks.cards import TaskCard, classifier_card

LABEL_NAMES = ["rejected", "chosen"]
PROMPT_SHARE = 0.25
"""A long prompt keeps at least this share of max_length (its last tokens: the turns the response
answers); the response gets the rest (its first tokens)."""
PROMPT_COLUMNS = ("prompt", "context", "question", "instruction", "history")
ASSISTANT_MARKER = "Assistant:"


@dataclass(frozen=True)
class PairColumns:
    chosen: str
    rejected: str
    prompt: str | None = None


def find_pair_columns(available: list[str], chosen: str | None = None, rejected: str | None = None,
                      prompt: str | None = None, where: str = "train data") -> PairColumns:
    """The chosen, rejected and (optional) prompt columns, named or found by their usual names."""
    if prompt is not None and prompt not in available:
        raise TunecardError("--data.prompt_column", f"a column of the {where}",
                            f"'{prompt}' among {', '.join(available)}", f"use one of {', '.join(available)}")
    chosen, rejected = chosen or "chosen", rejected or "rejected"
    missing = [c for c in (chosen, rejected) if c not in available]
    if missing:
        raise TunecardError(where, "preference pairs: a chosen and a rejected text column (and optionally a prompt)",
                            f"no {' or '.join(repr(c) for c in missing)} column among {', '.join(available)}",
                            "rename the columns, or name them with --data.chosen_column/--data.rejected_column")
    prompt = prompt or next((c for c in PROMPT_COLUMNS if c in available), None)
    return PairColumns(chosen, rejected, prompt)


def split_prompt(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(prompt, chosen response, rejected response) for two dialogues with a shared history: the
    prompt runs to the last "Assistant:" of their common prefix; without one it is empty."""
    prefix = os.path.commonprefix([chosen, rejected])
    marker = prefix.rfind(ASSISTANT_MARKER)
    cut = marker + len(ASSISTANT_MARKER) if marker >= 0 else 0
    return chosen[:cut], chosen[cut:].strip(), rejected[cut:].strip()


def pair_texts(batch: dict, columns: PairColumns) -> tuple[list[str], list[str], list[str]]:
    """Prompts, chosen responses and rejected responses for a batch of pair rows."""
    if columns.prompt:
        return ([p or "" for p in batch[columns.prompt]], batch[columns.chosen], batch[columns.rejected])
    parts = [split_prompt(c, r) for c, r in zip(batch[columns.chosen], batch[columns.rejected])]
    return [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]


def single_text_inputs(texts: list[str], prompts: list[str] | None, pair_input: bool):
    """Model inputs (first texts, second texts or None) for texts to score on their own, built as in
    training: with a prompt column (prompt, text); else a dialogue splits at its last "Assistant:"."""
    if not pair_input:
        return list(texts), None
    if prompts is not None:
        return [p or "" for p in prompts], list(texts)
    parts = [split_prompt(t, t) for t in texts]
    return [p[0] for p in parts], [p[1] for p in parts]


def _check_pairs(dataset, columns: PairColumns, split: str):
    missing = [c for c in (columns.chosen, columns.rejected) if c not in dataset.column_names]
    if missing:
        find_pair_columns(dataset.column_names, columns.chosen, columns.rejected, where=f"{split} data")
    for column in (columns.chosen, columns.rejected):
        checks.check_texts(dataset, column, split)
    if columns.prompt and columns.prompt not in dataset.column_names:
        raise TunecardError(f"{split} data", f"the prompt column '{columns.prompt}' found in train",
                            f"columns {', '.join(dataset.column_names)}", "give every split the same columns")
    # Name each pair before any hold-out, so ids follow pairs into whichever split they land in.
    id_column = find_id_column(dataset.column_names)
    return dataset.map(lambda batch, idx: {"pair_id": [str(v) for v in (batch[id_column] if id_column else idx)]},
                       batched=True, with_indices=True)


def pair_holdout(pairs, size: float, seed: int, split: str) -> tuple:
    """(rest, held out): a seeded random share of the pairs (whole pairs, never single texts)."""
    return random_holdout(pairs, size, seed, split, unit="pair")


def expand_pairs(pairs, columns: PairColumns):
    """Two rows per pair (chosen: label 1, rejected: label 0) with a shared pair_id; pairs whose two
    responses are identical cannot be ordered and are dropped. Returns (rows, pairs dropped)."""
    import datasets

    def expand(batch):
        prompts, chosen, rejected = pair_texts(batch, columns)
        ids = batch["pair_id"]
        rows = {"id": [], "pair_id": [], "text": [], "text_pair": [], "label": []}
        for pair_id, prompt, good, bad in zip(ids, prompts, chosen, rejected):
            if good == bad:
                continue
            for response, label, kind in ((good, 1, "chosen"), (bad, 0, "rejected")):
                rows["id"].append(f"{pair_id}-{kind}")
                rows["pair_id"].append(pair_id)
                rows["text"].append(prompt)
                rows["text_pair"].append(response)
                rows["label"].append(label)
        return rows

    features = datasets.Features({"id": datasets.Value("string"), "pair_id": datasets.Value("string"),
                                  "text": datasets.Value("string"), "text_pair": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=LABEL_NAMES)})
    rows = pairs.map(expand, batched=True, remove_columns=pairs.column_names,
                     features=features, desc="Expanding pairs")
    return rows, len(pairs) - len(rows) // 2


def _identical_finding(dropped: dict[str, int]) -> Finding | None:
    if not dropped:
        return None
    shown = ", ".join(f"{split}: {n}" for split, n in dropped.items())
    return Finding("data.identical_pairs", "warning",
                   f"{sum(dropped.values())} pairs whose chosen and rejected responses are identical were "
                   f"dropped ({shown})", {"dropped": dropped},
                   "check the source data: such pairs carry no preference")


def card_notes(prepared: PreparedData) -> list[str]:
    pair_input = "the prompt and one response as a text pair" if prepared.columns.text_pair else "one response"
    return [
        "**Score.** The model reads " + pair_input + " and its softmax probability of label `chosen` "
        "(id 1; `rejected` is id 0) is the response's preference score: P(label = chosen). Accuracy, "
        "precision, recall and F1 treat each text on its own; **pairwise accuracy** is the share of pairs "
        "whose chosen response scores strictly higher than its rejected one (uniformly random scores, in the "
        "Stratified random column, reach about 0.5).",
        "Each pair of the data became two labelled texts, and splits were drawn by pair, so the two texts "
        "of a pair are always in the same split.",
        "Training minimised a pairwise (Bradley-Terry) loss on the margin between the two texts of each "
        "pair, plus the per-text cross-entropy, with dropout off (as reward-model recipes do); a training "
        "sample is one pair.",
    ]


# ---- model ---------------------------------------------------------------------------------------

# ---- tokenizing ---------------------------------------------------------------------------------

def encode(tokenizer, prompts: list[str] | None, responses: list[str], max_length: int) -> dict:
    """Model inputs for (prompt, response) pairs cut to max_length by a budget rather than by the
    tokenizer's longest-first rule: the end of the prompt and the start of the response survive.
    Without prompts, the response alone, cut by the tokenizer on the configured side."""
    if prompts is None:
        return dict(tokenizer(list(responses), truncation=True, max_length=max_length))
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()  # the wrapper leaves its last call's truncation set on the backend
    backend.no_padding()
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    encoded: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    pieces = zip(backend.encode_batch(list(prompts), add_special_tokens=False),
                 backend.encode_batch(list(responses), add_special_tokens=False))
    for prompt, response in pieces:
        keep_prompt, keep_response = token_budget(len(prompt.ids), len(response.ids), room)
        prompt.truncate(keep_prompt, direction="left")
        response.truncate(keep_response, direction="right")
        pair = backend.post_process(prompt, response, add_special_tokens=True)
        for key, value in (("input_ids", pair.ids), ("token_type_ids", pair.type_ids),
                           ("attention_mask", pair.attention_mask)):
            encoded[key].append(value)
    if "token_type_ids" not in tokenizer.model_input_names:
        del encoded["token_type_ids"]
    return encoded


def _encode_inputs(tokenizer, texts: list[str], text_pairs: list[str] | None, max_length: int) -> dict:
    """Classifier inputs: (prompts, responses) for models trained with prompts, else responses alone."""
    if text_pairs is None:
        return encode(tokenizer, None, texts, max_length)
    return encode(tokenizer, texts, text_pairs, max_length)


def token_budget(prompt_tokens: int, response_tokens: int, room: int) -> tuple[int, int]:
    """(prompt tokens kept, response tokens kept) within `room`: the prompt keeps at most PROMPT_SHARE
    of it (its end), so the two texts of a pair differ in most of what the model reads; the response
    takes the rest (its start)."""
    keep_prompt = min(prompt_tokens, int(room * PROMPT_SHARE))
    return keep_prompt, min(response_tokens, room - keep_prompt)


def _token_counts(tokenizer, texts) -> list[int]:
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


# ---- training: pairs stay together --------------------------------------------------------------

def _pair_rows(rows):
    """Expanded rows come in (chosen, rejected) order per pair: fold each two into one."""
    inputs = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in rows.column_names]

    def fold(batch):
        folded = {c: [[a, b] for a, b in zip(batch[c][0::2], batch[c][1::2])] for c in inputs}
        folded["labels"] = [[a, b] for a, b in zip(batch["label"][0::2], batch["label"][1::2])]  # [1, 0]
        folded["length"] = [max(a, b) for a, b in zip(batch["length"][0::2], batch["length"][1::2])]
        return folded

    assert rows["label"][:2] in ([1, 0], []), "expanded rows must alternate chosen, rejected"
    return rows.map(fold, batched=True, batch_size=1000, remove_columns=rows.column_names, desc="Pairing")


class PairCollator:
    """Flatten pair rows [batch, 2, tokens] into texts [2 * batch, tokens] (chosen, rejected,
    chosen, ...), padded to the batch's longest text. Labels stay per pair, [batch, 2]: Trainer
    gathers and trims evaluation outputs per dataset row, and a row here is a pair."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        import torch

        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features[0]]
        texts = [{k: f[k][side] for k in keys} for f in features for side in (0, 1)]
        batch = self.tokenizer.pad(texts, return_tensors="pt")
        batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch


def pair_logits(logits, labels):
    """Evaluation logits per pair, [pairs, 2 texts, 2 labels], so they line up with the pair rows."""
    return logits.reshape(-1, 2, logits.shape[-1])


# ---- predict ----------------------------------------------------------------------------------

def _pair_scorer(predictor, pair_columns: PairColumns, pair_input: bool):
    def score_pairs(chunk, ids, bar):
        import pandas as pd

        prompts, good, bad = pair_texts(chunk, pair_columns)
        scores = [predictor.predict_proba(prompts, texts)[:, 1] if pair_input
                  else predictor.predict_proba(texts)[:, 1] for texts in (good, bad)]
        bar.update(len(good))
        return pd.DataFrame({"id": list(ids), "score_chosen": scores[0].round(6),
                             "score_rejected": scores[1].round(6), "prefers_chosen": scores[0] > scores[1]})
    return score_pairs


@dataclass(frozen=True)
class Preference(Task):
    """Chosen vs rejected texts (optional prompt) as a binary classifier; the score is P(chosen)."""

    name = "preference"
    truncation_side = "left"
    reads_windows = False
    """Without a prompt, keeps the end of a long dialogue."""
    holdout = "by pair (the two texts of a pair always share a split)"
    serve_example = {"prompt": "Human: How do I boil an egg? Assistant:",
                     "chosen": "Put it in boiling water for about eight minutes.", "rejected": "I won't help."}
    score_histogram = True
    exports_onnx = True
    out_of_fold_issues = "a pair has no label that could be wrong: the chosen text is the label"
    abstention = "a prediction scores how preferable a response is (P(chosen)), with no label to withhold"
    metric_info = {"pairwise_accuracy": ("pairwise_accuracy", "Pairwise accuracy", None)}
    interval_unit = "pairs"
    learning_rate = 3e-5
    """Measured on HH-RLHF with minilm (benchmarks/preference_hh_rlhf.py): the pairwise loss collapses the
    score margin at the classifier rate 1.5e-4, and learns at 3e-5 to 5e-5."""

    pair_input: bool = False
    """A trained model reads (prompt, response) pairs (ModelSettings.text_pair): predict builds its inputs so."""

    @classmethod
    def from_model(cls, settings, **options) -> "Preference":
        super().from_model(settings, **options)  # refuses any option
        return cls(pair_input=settings.text_pair)

    def prepare(self, data_config, seed: int) -> PreparedData:
        """Read pairs, hold out validation (and test) pairs when missing, expand to labelled texts."""
        raw = read_training_splits(data_config)
        columns = find_pair_columns(raw["train"].column_names, data_config.chosen_column,
                                    data_config.rejected_column, data_config.prompt_column)
        pairs = {name: _check_pairs(ds, columns, name) for name, ds in raw.items()}
        pairs, held_out, test_held_out, together = hold_out_missing(pairs, data_config, seed, pair_holdout,
                                                                    (columns.prompt, columns.chosen, columns.rejected))
        identical = {}
        splits = {}
        for name, ds in pairs.items():
            splits[name], identical[name] = expand_pairs(ds, columns)
            if not len(splits[name]):
                raise TunecardError(f"{name} pairs", "pairs whose chosen and rejected responses differ",
                                    f"all {len(ds)} identical", "check the chosen and rejected columns")
        findings = [_identical_finding({k: v for k, v in identical.items() if v})]
        has_prompt = any(any(splits[name]["text"]) for name in splits)
        if not has_prompt:
            splits = {name: ds.remove_columns("text").rename_column("text_pair", "text") for name, ds in splits.items()}
        text_columns = Columns(text="text", label="label", text_pair="text_pair" if has_prompt else None)
        return PreparedData(splits, list(LABEL_NAMES), text_columns, held_out,
                            findings=[f for f in findings if f], test_held_out=test_held_out,
                            held_out_together=together)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        """Labelled pair files to evaluate a trained preference model on, expanded to labelled texts."""
        first = next(iter(raw.values()))
        columns = find_pair_columns(first.column_names, where="data to evaluate")
        splits = {name: expand_pairs(_check_pairs(ds, columns, name), columns)[0] for name, ds in raw.items()}
        if not any(any(ds["text"]) for ds in splits.values()):
            splits = {name: ds.remove_columns("text").rename_column("text_pair", "text") for name, ds in splits.items()}
        return splits

    def tokenize(self, dataset, tokenizer, max_length: int):
        """Model inputs for each expanded text, with the `length`, `full_length` and (for prompt +
        response) `cut_text` / `cut_text_pair` columns the truncation diagnostics read."""
        has_prompt = "text_pair" in dataset.column_names
        special = tokenizer.num_special_tokens_to_add(pair=has_prompt)
        room = max_length - special

        def encode_batch(batch):
            responses = batch["text_pair"] if has_prompt else batch["text"]
            encoded = encode(tokenizer, batch["text"] if has_prompt else None, responses, max_length)
            encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
            response_tokens = _token_counts(tokenizer, responses)
            prompt_tokens = _token_counts(tokenizer, batch["text"]) if has_prompt else [0] * len(responses)
            encoded["full_length"] = [p + r + special for p, r in zip(prompt_tokens, response_tokens)]
            if has_prompt:
                kept = [token_budget(p, r, room) for p, r in zip(prompt_tokens, response_tokens)]
                encoded["cut_text"] = [k[0] < p for k, p in zip(kept, prompt_tokens)]
                encoded["cut_text_pair"] = [k[1] < r for k, r in zip(kept, response_tokens)]
            return encoded

        return dataset.map(encode_batch, batched=True, desc="Tokenizing",
                           new_fingerprint=map_fingerprint(dataset, encode_batch, tokenizer))

    def build_model(self, ref, label_names: list[str]):
        """The binary classifier, with dropout off: dropout draws a different mask for each text of a
        pair, and that noise in the score margin drowns the small differences a preference model learns
        from (reward-model recipes such as trl's disable it for the same reason)."""
        import torch

        from tunecard.engine import models

        model = models.build_classifier(ref, label_names)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return model

    def trainer_datasets(self, tokenized: dict) -> tuple:
        """Train and validation sets for Trainer with one row per pair: `input_ids` etc. hold the chosen
        then the rejected text, so a batch always carries both texts of its pairs (the pairwise loss needs
        them side by side); `length` is the longer of the two, for length-grouped batches."""
        return _pair_rows(tokenized["train"]), _pair_rows(tokenized["validation"])

    def model_settings(self, prepared: PreparedData, ref) -> dict:
        """Whether the model reads (prompt, response) pairs: predict builds its inputs the same way."""
        return {"text_pair": bool(prepared.columns.text_pair)}

    def data_collator(self, tokenizer):
        return PairCollator(tokenizer)

    def loss_function(self, train_config, train):
        """Pairwise (Bradley-Terry) loss on the score margin r = logit(chosen) - logit(rejected) of each
        text, plus the pointwise cross-entropy that anchors P(chosen) near 0.5 for an undecided pair.
        The pairwise term is what learns: the shared prompt cancels in the difference of a pair."""
        import torch.nn.functional as F

        def loss(outputs, labels, num_items_in_batch=None):
            logits, labels = outputs["logits"].float(), labels.reshape(-1)  # texts [2 * pairs, 2], [2 * pairs]
            margin = logits[:, 1] - logits[:, 0]
            pairwise = -F.logsigmoid(margin[0::2] - margin[1::2]).sum() * 2
            pointwise = F.cross_entropy(logits, labels, reduction="sum")
            # Trainer treats the result as normalised over every text of the accumulated batch.
            return (pairwise + pointwise) / (num_items_in_batch if num_items_in_batch is not None else len(labels))
        return loss

    def preprocess_logits(self, tokenizer, label_names: list[str]):
        return pair_logits

    def compute_metrics_fn(self, label_names: list[str], validation, row_order):
        """The `compute_metrics` Trainer calls after each evaluation: predictions come as texts in
        (chosen, rejected) order per pair, whatever order the pairs were visited in."""
        def compute(eval_prediction) -> dict:
            logits = eval_prediction.predictions  # [pairs, 2 texts (chosen, rejected), 2 labels]
            logits = (logits[0] if isinstance(logits, tuple) else logits).reshape(-1, 2)
            labels = np.asarray(eval_prediction.label_ids).reshape(-1)
            result = metrics.classification_metrics(labels, np.argmax(logits, -1), 2)
            margin = logits[:, 1] - logits[:, 0]
            result["pairwise_accuracy"] = float(np.mean(margin[0::2] > margin[1::2]))
            return result
        return compute

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return ["pairwise_accuracy", *metrics.metric_keys(2)]

    def headline_metric(self, label_names: list[str]) -> str:
        return "pairwise_accuracy"

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        """Metrics that need the pair structure: pairwise accuracy over the split's pairs."""
        return {"pairwise_accuracy": metrics.pairwise_accuracy(dataset["pair_id"], dataset["label"], probs[:, 1])}

    def chance_scores(self, dataset, seed: int) -> np.ndarray:
        """Uniformly random scores (seeded) as P(chosen): pairwise accuracy at the chance level, about 0.5."""
        scores = np.random.default_rng(seed).random(len(dataset))
        return np.stack([1 - scores, scores], axis=1)

    def resampling_units(self, dataset) -> np.ndarray:
        """A bootstrap resample draws pairs: the two texts of a pair are never split."""
        import pandas as pd

        return pd.factorize(np.asarray(dataset["pair_id"]))[0]

    def unit_terms(self, dataset, scores: np.ndarray) -> dict[str, np.ndarray]:
        return {"pairwise_accuracy": metrics.pairwise_wins(dataset["pair_id"], dataset["label"], scores[:, 1])}

    def prediction_extras(self, dataset, probs: np.ndarray) -> dict[str, list]:
        """The pair each text belongs to: pairwise accuracy (and `tunecard verify`) read it."""
        return {"pair_id": dataset["pair_id"]}

    def chance_loss(self, label_names, train_counts, validation_labels, train_config) -> float:
        """2 ln 2: a model blind to the text scores both texts of a pair alike, so the pairwise term is ln 2,
        and the pointwise term over one chosen and one rejected text per pair is ln 2 too (see loss_function)."""
        return float(2 * np.log(2))

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        return classifier_card(prepared, "preference scoring (chosen vs rejected responses)", card_notes(prepared))

    def load_predictor(self, saved, batch_size: int = 64, backend: str = "torch"):
        """A classifier that encodes (prompt, response) inputs as training did."""
        from functools import partial

        from tunecard.engine import inference

        runner, tokenizer, config = inference.open_runner(saved.folder, backend, saved.onnx_file)
        settings = saved.settings
        max_length = inference.scoring_length(tokenizer, settings.max_length, settings.truncation_side)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        encode = partial(_encode_inputs, tokenizer, max_length=max_length)
        return inference.Classifier(runner, tokenizer, labels, max_length, settings.temperature, batch_size, encode)

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        """Pair files (chosen + rejected columns) get score_chosen, score_rejected and prefers_chosen;
        single texts get prediction and score = P(chosen)."""
        from tunecard.data.columns import infer_text_columns

        pair_input = self.pair_input
        if "chosen" in columns or "rejected" in columns:
            return _pair_scorer(predictor, find_pair_columns(columns, where="data to score"), pair_input)
        prompt = next((c for c in PROMPT_COLUMNS if c in columns), None)
        text, _ = infer_text_columns(columns, options.get("text_column"), None)

        def score_texts(chunk, ids, bar):
            import pandas as pd

            first, second = single_text_inputs(chunk[text], chunk[prompt] if prompt else None, pair_input)
            probs = predictor.predict_proba(first, second, bar=bar)
            return pd.DataFrame({"id": list(ids), "prediction": [predictor.labels[i] for i in probs.argmax(-1)],
                                 "score": probs[:, 1].round(6)})
        return score_texts

    def input_lengths(self, predictor, rows: dict[str, list]) -> list[list[int]]:
        """Token counts, before truncation, of the sequences the model reads for each row: a pair's two
        (prompt, response) inputs, or one text's input, built as `chunk_scorer` builds them."""
        from tunecard.data.columns import infer_text_columns

        pair_input = self.pair_input
        if "chosen" in rows or "rejected" in rows:
            prompts, good, bad = pair_texts(rows, find_pair_columns(list(rows), where="request"))
            sides = [(prompts, texts) if pair_input else (texts, None) for texts in (good, bad)]
        else:
            prompt = next((c for c in PROMPT_COLUMNS if c in rows), None)
            text, _ = infer_text_columns(list(rows), None, None)
            sides = [single_text_inputs(rows[text], rows[prompt] if prompt else None, pair_input)]
        counts = [[len(ids) for ids in predictor.tokenizer(first, second)["input_ids"]] for first, second in sides]
        return [list(row) for row in zip(*counts)]
