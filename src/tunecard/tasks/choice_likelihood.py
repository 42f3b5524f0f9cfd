"""Multiple choice answered by a causal language model never trained for it (zero-shot): each option scored
by its log-likelihood as the continuation of the question, the way lm-evaluation-harness scores its
multiple-choice tasks. `MultipleChoice.zero_shot` builds it for
`tunecard evaluate --task multiple_choice --model <causal LM>`.

It is the multiple-choice task scored by another kind of model, so it subclasses it (the one task that does): the
data contract, the ranking metrics (accuracy, MAP@3) and the baselines are inherited; what differs is how options
are scored, the normalized accuracy beside accuracy, the predictions' per-option log-likelihoods, and what the
card says.

The prompt is lm-evaluation-harness's (its openbookqa task: `doc_to_text: question_stem`, each choice
scored as the continuation `" " + choice`, no chat template unless asked): the question alone, with no
system prompt and no answer cue; a context (the row's, or retrieved passages) comes first, on its own line.
Its metrics, from the same log-likelihoods (lm_eval/api/task.py, `process_results` for multiple choice):
`acc` = argmax of the log-likelihoods, `acc_norm` = argmax of each log-likelihood divided by its choice's
length in characters (`len(choice)`, the space before it not counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunecard.data import questions
from tunecard.data.questions import largest_option_count
from tunecard.data.texts import map_fingerprint
from tunecard.engine import causal_lm, prompting
from tunecard.judging import metrics
from tunecard.tasks.multiple_choice import MultipleChoice, random_map, with_positions

NORMALIZED = "accuracy_norm"
"""lm-evaluation-harness's acc_norm: the option with the highest log-likelihood per character."""
PROMPT = {"system_prompt": None, "template": "{text}", "chat_template": False, "answer_cue": ""}
"""lm-evaluation-harness's zero-shot multiple-choice prompt, as `engine.causal_lm.score_options` takes it."""
CONTEXT_SEPARATOR = "\n"


def prompt_format(tokenizer) -> prompting.PromptFormat:
    return prompting.build_format(tokenizer, [], PROMPT["system_prompt"], PROMPT["template"],
                                  PROMPT["chat_template"], PROMPT["answer_cue"])


def prompt_texts(questions: list[str], contexts: list[str] | None) -> list[str]:
    """What the model reads before the options: the question, after its context when it has one."""
    contexts = contexts or [""] * len(questions)
    return [f"{c}{CONTEXT_SEPARATOR}{q}" if c else q for q, c in zip(questions, contexts)]


def normalized_choices(logits: np.ndarray, options: list[list[str]]) -> np.ndarray:
    """Each question's option with the highest log-likelihood per character (acc_norm's choice); an option
    a question lacks (log-likelihood -inf) is never chosen."""
    lengths = np.ones(logits.shape)
    for i, row in enumerate(options):
        lengths[i, :len(row)] = [max(len(option), 1) for option in row]
    return np.argmax(np.asarray(logits, dtype=np.float64) / lengths, axis=-1)


def chance_levels(options: list[list[str]], keys: list[str]) -> dict[str, float]:
    """Each metric's expected value under a uniformly random choice (ranking) of each question's options."""
    counts = np.array([len(row) for row in options])
    levels = {"accuracy": float(np.mean(1 / counts)), NORMALIZED: float(np.mean(1 / counts))}
    for key in (k for k in keys if k.startswith("map_at_")):
        cut = int(key.removeprefix("map_at_"))
        levels[key] = float(np.mean([random_map(int(n), cut) for n in counts]))
    return {key: round(levels[key], 6) for key in keys if key in levels}


@dataclass(frozen=True)
class ChoiceLikelihood(MultipleChoice):
    """A causal LM ranking each question's options by their log-likelihood as its continuation (zero-shot)."""

    metric_info = {**MultipleChoice.metric_info, NORMALIZED: ("acc_norm", "Normalized accuracy", None)}
    """acc_norm as the Open LLM Leaderboard's model-index files it."""
    zero_shot_models = "a causal language model (each option scored by its log-likelihood)"

    @classmethod
    def zero_shot(cls, model: str, raw: dict, columns: dict, batch_size: int, **options):
        """(ChoiceLikelihood, LikelihoodRanker) for causal LM `model` on the questions of `raw`: the option letters
        from the data (A, B, ... up to the most options a question has in any split), the model as published.
        Takes --k like a trained model; refuses any other option."""
        from tunecard.data import choices
        from tunecard.engine import lora, models

        task = cls.from_model(None, **options)
        found = {name: choices.find_choice_columns(ds.features, columns.get("text_column"),
                                                   columns.get("label_column"), where="data to evaluate")
                 for name, ds in raw.items()}
        names = choices.option_letters(largest_option_count(raw, found))
        ref = models.resolve_model(model)
        lm, tokenizer = lora.load_scoring_lm(ref)
        return task, LikelihoodRanker(lm, tokenizer, ref, names, batch_size)

    def tokenize(self, dataset, tokenizer, max_length: int):
        """input_ids: each question's prompt after the shared prefix (context and question cut to max_length
        tokens); option_ids: each option's tokens as the continuation; length; full_length (uncut)."""
        fmt = prompt_format(tokenizer)

        def encode(batch):
            texts = prompt_texts(batch["question"], batch["context"])
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            prompts, options = causal_lm.choice_inputs(tokenizer, fmt, ids, batch["options"], max_length)
            return {"input_ids": prompts, "option_ids": options, "full_length": [len(x) for x in ids],
                    "length": [len(p) + max(len(o) for o in row) for p, row in zip(prompts, options)]}
        return dataset.map(encode, batched=True, desc="Tokenizing",
                           new_fingerprint=map_fingerprint(dataset, encode, tokenizer))

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        """Option log-likelihoods [n_questions, n_options] in row order; -inf for an option a question lacks."""
        from tunecard.console import progress
        from tunecard.engine import causal_lm

        n_options = len(tokenized.features["label"].names)
        with progress(total=len(tokenized), desc=desc, unit="question") as bar:
            scores = causal_lm.score_candidates(model, list(tokenized["input_ids"]), list(tokenized["option_ids"]),
                                                prompt_format(tokenizer).prefix,
                                                pad_id=prompting.pad_id(tokenizer), batch_size=batch_size,
                                                bar=bar)
        # a share of rows may lack the data's longest option list: every share has all the columns
        missing = np.full((len(scores), n_options - scores.shape[1]), -np.inf, dtype=scores.dtype)
        return np.concatenate([scores, missing], axis=1)

    # ---- metrics -------------------------------------------------------------------------------

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return [*super().metric_keys(label_names), NORMALIZED]

    def headline_metric(self, label_names: list[str]) -> str:
        """Normalized accuracy, lm-evaluation-harness's acc_norm: what its multiple-choice leaderboards lead with
        (the sum of an option's token log-likelihoods favours short options; per character it does not)."""
        return NORMALIZED

    def judge(self, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict[str, int],
              temperature, seed: int):
        """The multiple-choice evaluation plus the normalized accuracy, drawn from the same question resamples as
        the other metrics', the model's lead over each baseline on it included. The blind baselines choose an
        answer without likelihoods, so their normalized accuracy is their accuracy."""
        from tunecard.judging import judge

        own = questions.own_options(dataset, np.asarray(logits, dtype=np.float64))
        chosen, gold = normalized_choices(own, list(dataset["options"])), np.asarray(dataset["label"])

        def normalized(scorer: str, predicted: np.ndarray) -> dict[str, np.ndarray]:
            return {NORMALIZED: ((chosen if scorer == "model" else predicted) == gold).astype(float)}  # a question each
        judged = judge.judge_split(self, name, dataset, own, names, train_counts, temperature, seed, normalized)
        return with_positions(judged, dataset, names)

    # ---- outputs -------------------------------------------------------------------------------

    def prediction_frame(self, ids, judged, names: list[str]):
        """The multiple-choice rows plus `loglik_<letter>`, each option's log-likelihood (-inf for an option a
        question lacks): with the option texts, lm-evaluation-harness's acc and acc_norm recompute from them."""
        frame = super().prediction_frame(ids, judged, names)
        for i, letter in enumerate(names):
            frame[f"loglik_{letter}"] = judged.logits[:, i]
        return frame

    def zero_shot_description(self, predictor, splits: dict) -> dict:
        keys = self.metric_keys(predictor.labels)
        chance = {name: chance_levels(list(ds["options"]), keys) for name, ds in splits.items()}
        first = next((ds[0] for ds in splits.values() if len(ds)), {"question": "", "context": "", "options": []})
        example = (prompt_texts([first["question"]], [first["context"]])[0], first["options"])
        return {"model": predictor.name, "base_model": predictor.base_model, "training": predictor.training[0],
                "prompt": {**PROMPT, "format": "lm-evaluation-harness multiple choice: the question, then "
                                               "\" <option>\""},
                "scoring": "each option's log-likelihood as the continuation of the prompt, summed over its tokens",
                "chance": chance, "notes": _card_notes(predictor, keys, chance, example)}


def _card_notes(predictor, keys: list[str], chance: dict, example: tuple[str, list[str]]) -> list[str]:
    info = {**metrics.METRIC_INFO, **ChoiceLikelihood.metric_info}
    names = {key: info[key][1] for key in keys}
    levels = "; ".join(f"{split}: " + ", ".join(f"{names[k]} {v:.4f}" for k, v in values.items())
                       for split, values in chance.items())
    text, options = example
    shown = " / ".join(f"` {o}`" for o in options)
    return [
        f"{predictor.training[1]} tunecard did not train it for this task. Each option is scored by its "
        "log-likelihood as the continuation of the question (summed over the option's tokens); the probabilities "
        "are the softmax of a question's log-likelihoods, and MAP@3 ranks by them.",
        "**Prompt.** lm-evaluation-harness's multiple-choice prompt (its openbookqa task): the question alone "
        "(after its context, on its own line, when it has one), no chat template, no system prompt, no answer "
        f"cue; each option follows as ` <option>`. First question: `{text}` followed by {shown}.",
        "**Accuracy** picks the option with the highest log-likelihood (lm-evaluation-harness `acc`); "
        "**normalized accuracy** the highest log-likelihood per character of the option text "
        "(`acc_norm`: divided by `len(option)`). Per-option log-likelihoods are in `predictions/<split>.csv` "
        "(`loglik_<letter>`). The headline is **normalized accuracy**, as lm-evaluation-harness leads with it: "
        "the lead over each baseline and the collapse checks are judged on it. The baselines choose an answer "
        "without likelihoods, so their normalized accuracy is their accuracy.",
        f"**Chance** (a uniformly random choice, or ranking, of each question's options): {levels}.",
    ]


class LikelihoodRanker:
    """The predictor `ChoiceLikelihood.zero_shot` returns: a causal LM ranking options by likelihood, with what
    `tunecard evaluate` reads of a trained model's ranker (model, tokenizer, labels, max_length, temperature) and
    its `predict_proba(questions, options, contexts)`."""

    def __init__(self, model, tokenizer, ref, labels: list[str], batch_size: int = 16):
        from tunecard.engine import lora, models

        self.model, self.tokenizer, self.labels, self.batch_size = model, tokenizer, list(labels), batch_size
        self.max_length = lora.zero_shot_max_length(tokenizer)
        self.temperature = None
        self.name, self.base_model = ref.name, ref.base_model
        self.training = models.untrained_scoring(ref)

    def predict_logits(self, questions, options, contexts=None, bar=None) -> np.ndarray:
        """Option log-likelihoods [n_questions, n_options] (-inf for an option a question lacks)."""
        scores = causal_lm.score_options(
            self.model, self.tokenizer, prompt_texts(list(questions), contexts and list(contexts)),
            [list(row) for row in options], **PROMPT, batch_size=self.batch_size, max_length=self.max_length, bar=bar)
        missing = np.full((len(scores), len(self.labels) - scores.shape[1]), -np.inf, dtype=scores.dtype)
        return np.concatenate([scores, missing], axis=1)

    def predict_proba(self, questions, options, contexts=None, bar=None) -> np.ndarray:
        return metrics.softmax(self.predict_logits(questions, options, contexts, bar).astype(np.float64))
