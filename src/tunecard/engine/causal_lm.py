"""Scoring with a causal language model: the log-likelihood of candidate continuations (class labels,
answer options) after each prompt, and greedy generation for the free-generation comparison.

The prompt prefix shared by every row (system turn, chat header) runs once; its KV cache is copied
into each batch. Prompts are left-padded with explicit position ids, so every row ends at the same
column and the next-token distribution of all rows sits in the last position. Rows are sorted by
length (longest first) and results come back in input order.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from tunecard.engine import prompting
from tunecard.engine.prompting import cut, pad_id
from tunecard.errors import TunecardError

STRATEGIES = ("auto", "cache", "concat")


def cache_kwarg(model) -> str:
    """The name the model's forward takes a KV cache under: transformers 5.2x renamed past_key_values
    to cache (an unknown name would be swallowed by **kwargs and silently ignored)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _returned_cache(output):
    return output.get("cache") if output.get("cache") is not None else output.get("past_key_values")


def score_candidates(model, prompts: list[list[int]], candidates, prefix: list[int] = (), *, pad_id: int = 0,
                     batch_size: int = 32, length_normalized: bool = False, strategy: str = "auto",
                     bar=None) -> np.ndarray:
    """log P(candidate | prefix + prompt), summed over the candidate's tokens (length_normalized: their
    mean), as an array [n_prompts, n_candidates].

    `candidates` is one list of token-id lists shared by every row (class labels), or one such list per
    row (answer options; rows may have different counts: a row's missing candidates score -inf, so
    they are never chosen and get probability 0). Strategies for candidates of several tokens:
    "cache" runs each prompt once and the candidates' continuations on copies of its KV cache; "concat"
    runs every prompt + candidate sequence; "auto" is "cache". Single-token shared candidates need one
    forward of the prompt only, whatever the strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    shared = bool(candidates) and isinstance(candidates[0][0], int)
    present = None if shared else np.array([len(row) for row in candidates])  # candidates per row
    n_candidates = len(candidates) if shared else int(present.max(initial=0))
    order = np.argsort(-np.array([len(p) for p in prompts]), kind="stable")
    scores = np.empty((len(prompts), n_candidates), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        prefix_states = _prefix_states(model, list(prefix))
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            rows = [candidates if shared else _padded(candidates[i], n_candidates) for i in index]
            batch = _Batch(model, [prompts[i] for i in index], prefix_states, len(prefix), pad_id)
            run = batch.concat if strategy == "concat" else batch.cached
            total, counts = run(rows)
            scores[index] = (total / counts if length_normalized else total).cpu().numpy()
            if bar is not None:
                bar.update(len(index))
    if present is not None:
        scores[np.arange(n_candidates)[None, :] >= present[:, None]] = -np.inf
    return scores


def _padded(row: list[list[int]], width: int) -> list[list[int]]:
    """A row's candidates filled up to `width` with copies of its first (scored, then set to -inf): every row
    of a batch then has the same count, which the batched forward needs."""
    return list(row) + [row[0]] * (width - len(row))


def _prefix_states(model, prefix: list[int]):
    """Per layer (keys, values) of the shared prefix, computed once; None without a prefix."""
    if not prefix:
        return None
    device = next(model.parameters()).device
    out = model(input_ids=torch.tensor([prefix], device=device), use_cache=True)
    return [(layer.keys, layer.values) for layer in _returned_cache(out).layers]


def left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """ids [B, T] and mask [B, T], shorter rows padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def right_pad(rows: list[list[int]], pad_id: int, width: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids.to(device), mask.to(device)


class _Batch:
    """One batch of left-padded prompts after the shared prefix (P tokens, positions 0..P-1)."""

    def __init__(self, model, prompts, prefix_states, prefix_length: int, pad_id: int):
        self.model, self.prefix_states, self.P, self.pad_id = model, prefix_states, prefix_length, pad_id
        self.device = next(model.parameters()).device
        self.cache_name = cache_kwarg(model)
        self.ids, self.mask = left_pad(prompts, pad_id, self.device)       # [B, T]
        self.lengths = self.mask.sum(-1)                                   # real prompt tokens per row
        self.positions = self.P + (self.mask.cumsum(-1) - 1).clamp(min=0)  # pads reuse position P
        ones = torch.ones((len(prompts), self.P), dtype=torch.long, device=self.device)
        self.full_mask = torch.cat([ones, self.mask], dim=1)               # [B, P + T]

    def _cache(self, rows: int):
        """A fresh cache holding the prefix for `rows` rows (a view: no copy until it grows)."""
        from transformers import DynamicCache

        if self.prefix_states is None:
            return DynamicCache(config=self.model.config)
        data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in self.prefix_states]
        return DynamicCache(ddp_cache_data=data, config=self.model.config)

    def cached(self, rows_candidates):
        """Prompt once; first candidate tokens from its last position; later tokens on the cache."""
        B, C = len(rows_candidates), len(rows_candidates[0])
        out = self.model(input_ids=self.ids, attention_mask=self.full_mask, position_ids=self.positions,
                         use_cache=True, logits_to_keep=1, **{self.cache_name: self._cache(B)})
        first_logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)                  # [B, V]
        firsts = torch.tensor([[c[0] for c in cands] for cands in rows_candidates], device=self.device)
        total = first_logp.gather(1, firsts)                                               # [B, C]
        flat = [c for cands in rows_candidates for c in cands]                            # B*C, row-major
        counts = torch.tensor([[len(c) for c in cands] for cands in rows_candidates], device=self.device)
        width = max(len(c) for c in flat) - 1
        if width == 0:
            return total, counts
        cache = _returned_cache(out)
        cache.batch_repeat_interleave(C)
        inputs, input_mask = right_pad([c[:-1] for c in flat], self.pad_id, width, self.device)
        targets, target_mask = right_pad([c[1:] for c in flat], self.pad_id, width, self.device)
        start = (self.P + self.lengths).repeat_interleave(C)[:, None]
        positions = start + torch.arange(width, device=self.device)[None]
        attention = torch.cat([self.full_mask.repeat_interleave(C, dim=0), input_mask], dim=1)
        logits = self.model(input_ids=inputs, attention_mask=attention, position_ids=positions,
                            use_cache=True, **{self.cache_name: cache}).logits
        rest = torch.log_softmax(logits.float(), dim=-1).gather(2, targets[..., None])[..., 0]
        return total + (rest * target_mask).sum(-1).view(B, C), counts

    def concat(self, rows_candidates):
        """Every prompt + candidate sequence in one forward (the prompt recomputed per candidate)."""
        B, C = len(rows_candidates), len(rows_candidates[0])
        flat = [c for cands in rows_candidates for c in cands]
        width = max(len(c) for c in flat)
        inputs, input_mask = right_pad([c[:-1] for c in flat], self.pad_id, width - 1, self.device)
        targets, target_mask = right_pad(flat, self.pad_id, width, self.device)
        ids = torch.cat([self.ids.repeat_interleave(C, dim=0), inputs], dim=1)
        mask = torch.cat([self.full_mask.repeat_interleave(C, dim=0), input_mask], dim=1)
        start = (self.P + self.lengths).repeat_interleave(C)[:, None]
        positions = torch.cat([self.positions.repeat_interleave(C, dim=0),
                               start + torch.arange(width - 1, device=self.device)[None]], dim=1)
        # The last `width` positions (last prompt token, candidate tokens but the last) predict the candidate.
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                            logits_to_keep=width, **{self.cache_name: self._cache(B * C)}).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(2, targets[..., None])[..., 0]
        counts = torch.tensor([[len(c) for c in cands] for cands in rows_candidates], device=self.device)
        return (logp * target_mask).sum(-1).view(B, C), counts


def generate(model, prompts: list[list[int]], *, max_new_tokens: int, stop_ids: list[int], pad_id: int,
             batch_size: int = 32, bar=None) -> list[list[int]]:
    """Greedy continuations of each prompt (token ids, stopped at the first stop id, which is dropped)."""
    order = np.argsort(-np.array([len(p) for p in prompts]), kind="stable")
    outputs: list[list[int]] = [[] for _ in prompts]
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            ids, mask = left_pad([prompts[i] for i in index], pad_id, device)
            new = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                 do_sample=False, eos_token_id=stop_ids, pad_token_id=pad_id)[:, ids.shape[1]:]
            for i, row in zip(index, new.tolist()):
                cut = next((k for k, t in enumerate(row) if t in stop_ids), len(row))
                outputs[i] = row[:cut]
            if bar is not None:
                bar.update(len(index))
    return outputs


# ---- multiple choice by likelihood ---------------------------------------------------------------

def score_options(model, tokenizer, questions: list[str], options: list[list[str]], *,
                  system_prompt: str | None = None, template: str = "{text}", chat_template: bool = True,
                  answer_cue: str = prompting.PLAIN_ANSWER_CUE, batch_size: int = 16, length_normalized: bool = False,
                  max_length: int = 512, bar=None) -> np.ndarray:
    """Multiple choice by likelihood: the log-likelihood of each option as the model's answer to its
    question, [n_questions, most options] (argmax = the chosen option; a question with fewer options than
    the most scores -inf for the ones it lacks). `questions` hold whatever the prompt should show (question,
    retrieved context); `model` is a base causal LM (zero-shot) or a tuned one (`tunecard.load(run).model`).
    `answer_cue=""` with `chat_template=False` is lm-evaluation-harness's multiple-choice prompt: the option
    follows the question directly (" <option>"). Each question runs once; its options are scored on copies of
    its KV cache, in batches."""
    fmt = prompting.build_format(tokenizer, [], system_prompt, template, chat_template, answer_cue)
    question_ids = tokenizer(list(questions), add_special_tokens=False)["input_ids"]
    prompts, candidates = choice_inputs(tokenizer, fmt, question_ids, options, max_length)
    return score_candidates(model, prompts, candidates, fmt.prefix, pad_id=pad_id(tokenizer),
                                      batch_size=batch_size, length_normalized=length_normalized, bar=bar)


def choice_inputs(tokenizer, fmt: prompting.PromptFormat, question_ids: list[list[int]], options: list[list[str]],
                  max_length: int) -> tuple[list[list[int]], list[list[list[int]]]]:
    """What `causal_lm.score_candidates` takes: each question's prompt ids after the shared prefix (its
    tokens cut to `max_length`) and each of its options' ids as the answer."""
    if any(not row for row in options) or any(not str(o).strip() for row in options for o in row):
        raise TunecardError("options", "a text for every option, at least one per question",
                            "an empty option (or a question without options)", "fill or drop it")
    prompts = [fmt.prompt(cut(x, max_length, tokenizer.truncation_side))[len(fmt.prefix):] for x in question_ids]
    candidates = [[fmt.encode_answer(tokenizer, o) for o in row] for row in options]
    return prompts, candidates
