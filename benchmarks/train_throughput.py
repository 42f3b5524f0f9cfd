"""Training throughput: tunecard's Trainer set-up vs HF Trainer with default settings.

    python benchmarks/train_throughput.py [--datasets ../shared/datasets] [--steps 100] [--repeats 3]

Same model (embedded all-MiniLM-L6-v2 + a new 6-way head), same data (emotion train, tokenized
once, max_length 256), same batch size (tunecard's default), same threads, same learning rate,
fp32 on CPU.
The only difference is what each set-up does by default:
  - HF Trainer defaults: `train_sampling_strategy="random"` (random batches), dynamic padding;
  - tunecard: `tunecard.engine.training.build_trainer` exactly as `tunecard train` uses it
    (length-grouped batches, dynamic padding).
Each repeat trains a fresh model for --steps optimizer steps; only the training steps are timed
(both with the same callback). Runs alternate so drift in machine load hits both alike.
Writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from tunecard.engine import models, callbacks, training
from tunecard.config import DataConfig, TrainConfig
from tunecard.data import texts
from tunecard.tasks.classification import Classification

HERE = Path(__file__).parent


BATCH = TrainConfig().batch_size
LR = Classification.default_learning_rate("minilm", models.non_embedding_parameters("minilm"))


def hf_default_run(model, tokenizer, train, steps, workdir) -> float:
    timer = callbacks.EpochLogCallback()
    args = TrainingArguments(output_dir=workdir, per_device_train_batch_size=BATCH, max_steps=steps,
                             learning_rate=LR, report_to="none", save_strategy="no", disable_tqdm=True,
                             dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[timer])
    trainer.train()
    return steps * BATCH / timer.train_seconds


def tunecard_run(model, tokenizer, train, validation, names, steps, workdir) -> float:
    cfg = TrainConfig(learning_rate=LR, max_steps=steps)
    parts = training.TrainerParts(model=model, tokenizer=tokenizer, train=train, validation=validation)
    trainer, timer = training.build_trainer(parts, cfg, workdir, "f1_macro")
    trainer.compute_metrics = Classification().compute_metrics_fn(names, None, None)
    trainer.args.disable_tqdm = True
    trainer.args.save_strategy = "no"
    trainer.args.eval_strategy = "no"
    trainer.args.load_best_model_at_end = False
    trainer.train()
    return steps * BATCH / timer.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    prepared = texts.prepare(DataConfig(path=str(Path(args.datasets) / "emotion")), seed=42)
    ref = models.resolve_model("minilm")
    tokenizer = models.load_tokenizer(ref)
    train = texts.tokenize(prepared.splits["train"], tokenizer, 256)
    validation = texts.tokenize(prepared.splits["validation"].select(range(64)), tokenizer, 256)
    results: dict[str, list[float]] = {"hf_trainer_default": [], "tunecard": []}
    with tempfile.TemporaryDirectory() as workdir:
        for repeat in range(args.repeats):
            torch.manual_seed(repeat)
            model = models.build_classifier(ref, prepared.label_names)
            results["hf_trainer_default"].append(hf_default_run(model, tokenizer, train, args.steps, workdir))
            torch.manual_seed(repeat)
            model = models.build_classifier(ref, prepared.label_names)
            results["tunecard"].append(tunecard_run(model, tokenizer, train, validation,
                                                    prepared.label_names, args.steps, workdir))
            print(f"repeat {repeat}: " + ", ".join(f"{k} {v[-1]:.1f} samples/s" for k, v in results.items()))
    medians = {k: statistics.median(v) for k, v in results.items()}
    paired = [t / h for t, h in zip(results["tunecard"], results["hf_trainer_default"])]
    summary = {
        "samples_per_second": {k: [round(x, 1) for x in v] for k, v in results.items()},
        "median_samples_per_second": {k: round(v, 1) for k, v in medians.items()},
        "speedup_of_medians": round(medians["tunecard"] / medians["hf_trainer_default"], 2),
        "speedup_per_repeat": [round(r, 2) for r in paired],
        "steps_per_repeat": args.steps, "batch_size": BATCH, "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "train_throughput.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
