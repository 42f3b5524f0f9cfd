"""Zero-shot multiple choice from the CLI: the embedded SmolLM2-135M-Instruct on the OpenBookQA test set, each
option scored by its log-likelihood (`tunecard evaluate --task multiple_choice --model smollm2-135m`), against
chance and against lm-evaluation-harness's acc / acc_norm recomputed from the same log-likelihoods.

    python benchmarks/zero_shot_obqa.py [--datasets ../shared/datasets] [--limit N]

OpenBookQA Main test (500 questions, 4 options each), read as published (`question.stem`,
`question.choices`, `answerKey`). The evaluation is one `tunecard.evaluate(..., task="multiple_choice")`
call: lm-evaluation-harness's prompt (the question stem, then each choice as " <choice>", no chat template).
From the predictions it writes (`loglik_<letter>` per option), lm-evaluation-harness's `process_results` for
multiple choice is applied as its code does it (lm_eval/api/task.py: acc = argmax of the log-likelihoods,
acc_norm = argmax of each divided by `len(choice)`; the stderr of a mean, as its `mean_stderr`), on the
choices read from the original file, and compared question by question with tunecard's numbers.

Writes benchmarks/results/zero_shot_obqa.json (or zero_shot_obqa_limit<N>.json) and copies the evaluation's
README.md, metrics.json, predictions and plots to benchmarks/results/zero_shot_obqa[_limit<N>]/. The evaluation
folder goes to benchmarks/runs/ (ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path
from yardstick import matmul_gflops  # benchmarks/ is on sys.path when a script runs

HERE = Path(__file__).parent
CHANCE = 0.25
"""Four options per OpenBookQA question: a uniformly random choice is right one time in four."""


def read_questions(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def lm_eval_scores(docs: list[dict], logliks: list[list[float]]) -> dict:
    """lm-evaluation-harness's openbookqa metrics from per-choice log-likelihoods, as its multiple-choice
    `process_results` computes them (doc_to_choice: choices.text; doc_to_target: the answerKey's index)."""
    import numpy as np

    acc, acc_norm, pred, pred_norm = [], [], [], []
    for doc, lls in zip(docs, logliks):
        choices = [c["text"] for c in doc["question"]["choices"]]
        gold = [c["label"] for c in doc["question"]["choices"]].index(doc["answerKey"].lstrip())
        lls = np.array(lls[:len(choices)])
        completion_len = np.array([float(len(i)) for i in choices])
        pred.append(int(np.argmax(lls)))
        pred_norm.append(int(np.argmax(lls / completion_len)))
        acc.append(1.0 if pred[-1] == gold else 0.0)
        acc_norm.append(1.0 if pred_norm[-1] == gold else 0.0)
    return {"acc": float(np.mean(acc)), "acc_stderr": mean_stderr(acc), "acc_norm": float(np.mean(acc_norm)),
            "acc_norm_stderr": mean_stderr(acc_norm), "pred": pred, "pred_norm": pred_norm}


def mean_stderr(values: list[float]) -> float:
    """lm-evaluation-harness's stderr of a mean: the sample standard deviation over sqrt(n)."""
    n = len(values)
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def evaluate(args) -> tuple[dict, Path, float]:
    """Run the zero-shot evaluation on the test file (in a folder of its own, so its split is named test)."""
    import tunecard

    stem = result_stem(args)
    data = HERE / "runs" / stem / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    rows = read_questions(Path(args.datasets) / "openbookqa" / "Data" / "Main" / "test.jsonl", args.limit)
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    output = HERE / "runs" / stem / "evaluation"
    start = time.perf_counter()
    report = tunecard.evaluate("smollm2-135m", str(data), output=str(output), task="multiple_choice",
                               batch_size=args.batch_size, overwrite=True)
    return report, output, time.perf_counter() - start


def compare(report: dict, output: Path, docs: list[dict]) -> dict:
    """tunecard's numbers beside lm-evaluation-harness's recomputed from tunecard's own log-likelihoods."""
    import pandas as pd

    test = report["splits"]["test"]
    frame = pd.read_csv(output / "predictions" / "test.csv")
    logliks = frame[[c for c in frame.columns if c.startswith("loglik_")]].to_numpy().tolist()
    harness = lm_eval_scores(docs, logliks)
    letters = [c.removeprefix("loglik_") for c in frame.columns if c.startswith("loglik_")]
    same_pred = sum(letters[p] == t for p, t in zip(harness["pred"], frame["prediction"]))

    def metric(key: str) -> dict:
        return {"value": round(test["metrics"][key], 4), "interval_95": test["intervals"]["metrics"][key]}
    return {
        "questions": test["size"],
        "tunecard": {"accuracy": metric("accuracy"), "accuracy_norm": metric("accuracy_norm"),
                     "map_at_3": metric("map_at_3")},
        "chance": {"accuracy": CHANCE, "accuracy_norm": CHANCE, "map_at_3": round((1 + 1 / 2 + 1 / 3) / 4, 4),
                   "as_card_states": report["zero_shot"]["chance"]["test"]},
        "baselines": {"majority_letter": test["baselines"]["majority"],
                      "stratified_random": test["baselines"]["stratified"]},
        "lead_over_baselines_map_at_3": test["intervals"]["differences"],
        "lm_eval_recomputed": {k: round(v, 4) for k, v in harness.items() if not isinstance(v, list)},
        "agreement": {
            "acc_equal": math.isclose(harness["acc"], test["metrics"]["accuracy"], abs_tol=1e-9),
            "acc_norm_equal": math.isclose(harness["acc_norm"], test["metrics"]["accuracy_norm"], abs_tol=1e-9),
            "same_prediction_questions": int(same_pred)},
        "prediction_counts": frame["prediction"].value_counts().sort_index().to_dict(),
    }


def direct_logliks(docs: list[dict], n: int) -> list[list[float]]:
    """For the first `n` questions, each choice's log-likelihood computed the way lm-evaluation-harness's HF
    model does it, independently of tunecard's batched KV-cache scoring: one forward of the whole
    context + continuation (no BOS; the continuation's ids are those after the context's), summing the
    log-probabilities of the continuation tokens."""
    import torch

    from tunecard.engine import lora, models

    ref = models.resolve_model("smollm2-135m")
    model, tokenizer = lora.load_causal_lm(ref).eval(), models.load_tokenizer(ref)
    out = []
    with torch.inference_mode():
        for doc in docs[:n]:
            context = doc["question"]["stem"]
            context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
            row = []
            for choice in (c["text"] for c in doc["question"]["choices"]):
                whole = tokenizer(context + " " + choice, add_special_tokens=False)["input_ids"]
                logp = torch.log_softmax(model(torch.tensor([whole])).logits[0, :-1].float(), -1)
                targets = torch.tensor(whole[len(context_ids):])
                row.append(float(logp[len(context_ids) - 1:].gather(1, targets[:, None]).sum()))
            out.append(row)
    return out


def direct_check(output: Path, docs: list[dict], n: int) -> dict:
    """How far tunecard's written log-likelihoods are from `direct_logliks` on the first `n` questions."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(output / "predictions" / "test.csv").head(n)
    written = frame[[c for c in frame.columns if c.startswith("loglik_")]].to_numpy()
    direct = np.array(direct_logliks(docs, n))
    return {"questions": n, "max_abs_difference": float(np.abs(written - direct).max()),
            "same_argmax": int((written.argmax(-1) == direct.argmax(-1)).sum())}


def result_stem(args) -> str:
    return f"zero_shot_obqa_limit{args.limit}" if args.limit else "zero_shot_obqa"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--limit", type=int, default=None, help="the first N test questions (smoke run)")
    parser.add_argument("--batch-size", type=int, default=32, help="questions scored together")
    parser.add_argument("--check", type=int, default=25,
                        help="questions whose log-likelihoods are recomputed one forward per choice")
    args = parser.parse_args()
    import torch

    gflops_before = matmul_gflops()
    report, output, seconds = evaluate(args)
    docs = read_questions(Path(args.datasets) / "openbookqa" / "Data" / "Main" / "test.jsonl", args.limit)
    results = {"model": "smollm2-135m (HuggingFaceTB/SmolLM2-135M-Instruct, embedded GGUF Q4_1 dequantised to fp32)",
               "data": "OpenBookQA Main test", "settings": {"batch_size": args.batch_size, "limit": args.limit},
               "torch_threads": torch.get_num_threads(), "seconds_evaluate": round(seconds, 1),
               "matmul_gflops": {"before": gflops_before, "after": matmul_gflops()},
               "prompt": report["zero_shot"]["prompt"], **compare(report, output, docs)}
    results["direct_check"] = direct_check(output, docs, args.check)
    stem = result_stem(args)
    keep = HERE / "results" / stem
    shutil.rmtree(keep, ignore_errors=True)
    (keep / "predictions").mkdir(parents=True)
    for file in ("README.md", "metrics.json", "predictions/test.csv"):
        shutil.copy(output / file, keep / file)
    shutil.copytree(output / "plots", keep / "plots")  # the card links them
    (HERE / "results" / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
