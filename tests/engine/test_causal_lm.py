"""engine/causal_lm.py on the session's tiny Llama: likelihood scores, batched and cached, equal one plain forward
per candidate; generation does not depend on the batch; options of a question scored by likelihood, of different
counts per question."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import encode
from tunecard.engine import causal_lm, prompting
from tunecard.tasks import choice_likelihood


def naive_scores(model, prefix, prompts, candidates) -> np.ndarray:
    """One forward per prompt and candidate, unbatched, no cache: the reference."""
    scores = np.zeros((len(prompts), len(candidates[0]) if isinstance(candidates[0][0], list) else len(candidates)))
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            row = candidates[i] if isinstance(candidates[0][0], list) else candidates
            for c, cand in enumerate(row):
                logp = torch.log_softmax(model(torch.tensor([prefix + prompt + cand])).logits[0], -1)
                start = len(prefix) + len(prompt)
                scores[i, c] = sum(logp[start - 1 + j, t].item() for j, t in enumerate(cand))
    return scores


@pytest.mark.parametrize("kind", ["single-token labels", "multi-token labels", "options per row"])
def test_batched_cached_scores_equal_one_forward_per_label(loaded, kind):
    model, tokenizer = loaded
    fmt = prompting.build_format(tokenizer, [], "classify", "{text}")
    texts = ["the film was great", "awful", "really quite boring plot and music and the acting", "a lovely story"]
    prompts = [encode(tokenizer, t) + fmt.suffix for t in texts]
    words = {"single-token labels": ["negative", "positive", "good"],
             "multi-token labels": ["very good", "not good", "bad", "very very bad"]}
    if kind == "options per row":
        candidates = [[encode(tokenizer, w) for w in ws] for ws in
                      (["good", "not bad"], ["awful plot", "great"], ["music", "very good"], ["bad", "lovely story"])]
    else:
        candidates = [encode(tokenizer, w) for w in words[kind]]
    reference = naive_scores(model, fmt.prefix, prompts, candidates)
    for strategy in ("cache", "concat"):
        for batch_size in (1, 3):
            scores = causal_lm.score_candidates(model, prompts, candidates, fmt.prefix, pad_id=0,
                                                batch_size=batch_size, strategy=strategy)
            np.testing.assert_allclose(scores, reference, atol=1e-4)
    normalised = causal_lm.score_candidates(model, prompts, candidates, fmt.prefix, length_normalized=True)
    lengths = np.array([[len(c) for c in (candidates[i] if kind == "options per row" else candidates)]
                        for i in range(len(prompts))])
    np.testing.assert_allclose(normalised, reference / lengths, atol=1e-4)


def test_generation_does_not_depend_on_the_batch(loaded):
    model, tokenizer = loaded
    fmt = prompting.build_format(tokenizer, ["negative", "positive"], "classify", "{text}")
    prompts = [fmt.prompt(encode(tokenizer, t)) for t in ["great", "the plot was awful and boring", "a film"]]
    one = causal_lm.generate(model, prompts, max_new_tokens=4, stop_ids=fmt.end, pad_id=0, batch_size=1)
    many = causal_lm.generate(model, prompts, max_new_tokens=4, stop_ids=fmt.end, pad_id=0, batch_size=3)
    assert one == many and all(len(o) <= 4 for o in one)


def test_multiple_choice_options_scored_by_likelihood(loaded):
    model, tokenizer = loaded
    questions = ["the film was", "the plot was"]
    options = [["great", "awful", "very good"], ["boring", "superb", "not bad"]]
    scores = causal_lm.score_options(model, tokenizer, questions, options, system_prompt="answer")
    fmt = prompting.build_format(tokenizer, [], "answer", "{text}")
    reference = naive_scores(model, fmt.prefix, [encode(tokenizer, q) + fmt.suffix for q in questions],
                             [[encode(tokenizer, o) for o in row] for row in options])
    assert scores.shape == (2, 3)
    np.testing.assert_allclose(scores, reference, atol=1e-4)


def test_options_of_different_counts_score_minus_infinity_where_missing(loaded):
    model, tokenizer = loaded
    questions = ["the film was", "the plot was"]
    options = [["great", "very good"], ["boring", "superb", "not bad"]]
    together = causal_lm.score_options(model, tokenizer, questions, options, **choice_likelihood.PROMPT)
    alone = [causal_lm.score_options(model, tokenizer, [q], [o], **choice_likelihood.PROMPT)[0]
             for q, o in zip(questions, options)]
    assert together.shape == (2, 3) and together[0, 2] == -np.inf
    np.testing.assert_allclose(together[0, :2], alone[0], atol=1e-4)
    np.testing.assert_allclose(together[1], alone[1], atol=1e-4)
