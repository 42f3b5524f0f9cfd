"""How to score labels by likelihood fast: the embedded SmolLM2-135M-Instruct on TweetEval tweets.

    python benchmarks/llm_scoring_speed.py [--datasets ../shared/datasets] [--limit 64] [--repeats 3]

Compares, on the same tweets and prompts (chat template + system prompt), in ms per tweet:
- naive: one forward of prompt + label per label per tweet, unbatched, no reuse (the issue's reference);
- sentiment labels (negative / neutral / positive, one token each): one batched forward per batch of
  tweets reads all labels from the last position, with and without the shared-prefix KV cache;
- emotion labels (anger / joy / optimism / sadness: optim+ism and s+ad+ness are several tokens):
  "cache" (prompt once, continuations on copies of its KV cache) against "concat" (prompt + label
  sequences, the prompt recomputed per label), both batched with the prefix cache;
- the best path with eager against sdpa attention.
Every method's scores are checked against the naive ones. Methods run interleaved, `--repeats` times,
and the median is reported (the machine may be shared). Writes benchmarks/results/llm_scoring_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from tunecard.engine import causal_lm, models
from tunecard.engine.prompting import pad_id
from tunecard.tasks.llm_classification import LlmClassification
from tunecard.config import LlmConfig

HERE = Path(__file__).parent
LABELS = {"sentiment": ["negative", "neutral", "positive"], "emotion": ["anger", "joy", "optimism", "sadness"]}
SYSTEM = "Classify the tweet. Answer with exactly one word: {labels}."


def naive(model, fmt, prompts) -> np.ndarray:
    """One forward per tweet and label of the whole sequence, batch 1, nothing reused."""
    scores = np.zeros((len(prompts), len(fmt.answers)), dtype=np.float32)
    with torch.inference_mode():
        for i, prompt in enumerate(prompts):
            for c, answer in enumerate(fmt.answers):
                logits = model(torch.tensor([prompt + answer])).logits[0]
                logp = torch.log_softmax(logits.float(), -1)
                scores[i, c] = sum(logp[len(prompt) - 1 + j, t].item() for j, t in enumerate(answer))
    return scores


def engine(model, fmt, prompts, batch_size, pad, strategy="auto", prefix_cache=True) -> np.ndarray:
    """tunecard's scorer; without the prefix cache the whole prompt is each row's input."""
    prefix = fmt.prefix if prefix_cache else []
    return causal_lm.score_candidates(model, [p[len(prefix):] for p in prompts], fmt.answers, prefix, pad_id=pad,
                                      batch_size=batch_size, strategy=strategy)


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--limit", type=int, default=64, help="tweets scored by each method")
    parser.add_argument("--naive-limit", type=int, default=16, help="tweets for the (slow) naive method")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ref = models.resolve_model("smollm2-135m")
    tokenizer = models.load_tokenizer(ref)
    loaded = {impl: models.from_pretrained(__import__("transformers").AutoModelForCausalLM, ref,
                                           attn_implementation=impl).eval() for impl in ("sdpa", "eager")}
    texts = (Path(args.datasets) / "tweet_eval/datasets/sentiment/test_text.txt").read_text().splitlines()[:args.limit]
    formats, prompts = {}, {}
    for task, labels in LABELS.items():
        formats[task] = LlmClassification(LlmConfig(system_prompt=SYSTEM)).prompt_format(tokenizer, labels)
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        prompts[task] = [formats[task].prompt(x[:64]) for x in ids]
    model, bs, pad = loaded["sdpa"], args.batch_size, pad_id(tokenizer)
    methods = {
        "sentiment/naive": lambda: naive(model, formats["sentiment"], prompts["sentiment"][:args.naive_limit]),
        "sentiment/one_forward_prefix_cache": lambda: engine(model, formats["sentiment"], prompts["sentiment"], bs, pad),
        "sentiment/one_forward_no_prefix_cache": lambda: engine(model, formats["sentiment"], prompts["sentiment"], bs,
                                                                pad, prefix_cache=False),
        "sentiment/one_forward_prefix_cache_eager": lambda: engine(loaded["eager"], formats["sentiment"],
                                                                   prompts["sentiment"], bs, pad),
        "emotion/naive": lambda: naive(model, formats["emotion"], prompts["emotion"][:args.naive_limit]),
        "emotion/cache": lambda: engine(model, formats["emotion"], prompts["emotion"], bs, pad, "cache"),
        "emotion/concat": lambda: engine(model, formats["emotion"], prompts["emotion"], bs, pad, "concat"),
        "emotion/cache_eager": lambda: engine(loaded["eager"], formats["emotion"], prompts["emotion"], bs, pad, "cache"),
    }
    seconds = {name: [] for name in methods}
    scores = {}
    for _ in range(args.repeats):
        for name, method in methods.items():
            elapsed, scores[name] = timed(method)
            seconds[name].append(elapsed / len(scores[name]) * 1000)
    results = {"tweets": args.limit, "naive_tweets": args.naive_limit, "batch_size": bs, "repeats": args.repeats,
               "torch_threads": torch.get_num_threads(), "prompt_tokens_mean": float(np.mean([len(p) for p in
                                                                                              prompts["sentiment"]])),
               "shared_prefix_tokens": len(formats["sentiment"].prefix),
               "label_tokens": {t: [len(a) for a in formats[t].answers] for t in LABELS}, "methods": {}}
    for name in methods:
        task = name.split("/")[0]
        reference = scores[f"{task}/naive"]
        n = len(reference)
        results["methods"][name] = {
            "ms_per_tweet": round(statistics.median(seconds[name]), 1), "per_repeat": [round(s, 1) for s in seconds[name]],
            "max_abs_diff_vs_naive": float(np.abs(scores[name][:n] - reference).max()),
            "same_predictions_as_naive": bool((scores[name][:n].argmax(-1) == reference.argmax(-1)).all())}
    for task in LABELS:
        base = results["methods"][f"{task}/naive"]["ms_per_tweet"]
        for name, row in results["methods"].items():
            if name.startswith(task):
                row["speedup_vs_naive"] = round(base / row["ms_per_tweet"], 2)
    (HERE / "results" / "llm_scoring_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
