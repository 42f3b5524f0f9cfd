"""Trainer assembly by composition: arguments from the config, callbacks, and the per-epoch
history read back from the Trainer's own log."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from transformers import (DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments)
from transformers.trainer_callback import ProgressCallback

from tunecard import metrics
from tunecard.config import TrainConfig
from tunecard.cpu_memory import reuse_freed_memory

# Keys of a Trainer eval log that are bookkeeping, not metrics.
EVAL_BOOKKEEPING = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step")


@dataclass
class TrainingResult:
    history: list[dict]
    """One row per epoch: epoch, step, train_loss, eval_loss and each validation metric."""
    best_epoch: float | None
    train_seconds: float
    """Time spent in training steps only (evaluation and checkpoint saving excluded)."""
    samples_per_second: float
    log_history: list[dict]


def precision_flags(precision: str) -> dict:
    """fp32 on CPUs (no native bf16 there: bf16 matmuls run ~100x slower); bf16/fp16 on GPUs."""
    import torch

    if precision == "auto":
        if not torch.cuda.is_available():
            return {}
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": True} if precision == "bf16" else {"fp16": True} if precision == "fp16" else {}


def precision_of(args: TrainingArguments) -> str:
    """The precision Trainer trains in: bf16, fp16 or fp32."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def training_arguments(cfg: TrainConfig, output_dir: str, n_train: int, best_metric: str,
                       keep_columns: bool = False) -> TrainingArguments:
    steps_per_epoch = math.ceil(n_train / (cfg.batch_size * cfg.gradient_accumulation_steps))
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio in 5.x
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2, adam_epsilon=cfg.adam_epsilon,
        lr_scheduler_type=cfg.lr_scheduler, seed=cfg.seed, data_seed=cfg.seed,
        eval_strategy="epoch", save_strategy="epoch", save_only_model=True, save_total_limit=1,
        load_best_model_at_end=True, metric_for_best_model=best_metric, greater_is_better=True,
        logging_strategy="steps", logging_steps=cfg.logging_steps or max(1, steps_per_epoch // 20),
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        report_to="none", disable_tqdm=False, dataloader_pin_memory=_has_cuda(), **precision_flags(cfg.precision),
        remove_unused_columns=not keep_columns,
    )


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class EpochLogCallback(TrainerCallback):
    """Log the training loss at each epoch end too, so the loss windows tile every epoch exactly,
    and time the training steps of each epoch."""

    def __init__(self):
        self.train_seconds = 0.0
        self._epoch_start = None

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.train_seconds += time.perf_counter() - self._epoch_start
        control.should_log = True


class QuietProgress(ProgressCallback):
    """Trainer's progress bars, printing one line per evaluation instead of every log dict, with the
    latest logged training loss on the bar: a long epoch shows whether the loss falls (or sits at
    chance) hours before its evaluation does."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero and logs and self.training_bar is not None):
            return
        if "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        if "eval_loss" in logs:
            shown = {k[5:]: round(v, 4) for k, v in logs.items()
                     if k.startswith("eval_") and k not in EVAL_BOOKKEEPING}
            self.training_bar.write(f"epoch {logs.get('epoch', 0):.2f}: {shown}")


def weighted_loss(weights):
    """A `compute_loss_func` for Trainer: cross-entropy with per-class weights."""
    import torch

    weight = torch.tensor(weights, dtype=torch.float32)

    def loss(outputs, labels, num_items_in_batch=None):
        # Trainer treats a compute_loss_func's loss as already normalised over the accumulated
        # batch: sum the weighted per-row losses and divide by the rows in all micro-batches.
        logits = outputs["logits"]
        per_row = torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight.to(logits.device),
                                                    reduction="sum")
        return per_row / (num_items_in_batch if num_items_in_batch is not None else len(labels))
    return loss


def build_trainer(model, tokenizer, train, validation, cfg: TrainConfig, workdir: str,
                  compute_metrics, best_metric: str, data_collator=None,
                  loss_func=None, preprocess_logits=None,
                  collator_drops_columns: bool = False) -> tuple[Trainer, EpochLogCallback]:
    """A Trainer for the task's model and collator (default: dynamic padding). `loss_func` is a
    Trainer `compute_loss_func`; without one, `train.class_weights` may supply a weighted loss.
    `collator_drops_columns`: Trainer keeps every dataset column, so its length-grouped sampler reads
    the `length` column (Trainer would otherwise drop it first and measure len(input_ids), which for a
    multiple-choice row is its option count), and the collator drops what the model does not take."""
    from transformers import EarlyStoppingCallback

    epoch_log = EpochLogCallback()
    callbacks = [epoch_log]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    if loss_func is None and cfg.class_weights == "balanced":
        loss_func = weighted_loss(metrics.balanced_class_weights(train["label"], model.config.num_labels))
    trainer = Trainer(
        model=model, args=training_arguments(cfg, workdir, len(train), best_metric, collator_drops_columns),
        data_collator=data_collator or DataCollatorWithPadding(tokenizer), train_dataset=train,
        eval_dataset=validation, processing_class=tokenizer, compute_metrics=compute_metrics,
        compute_loss_func=loss_func, preprocess_logits_for_metrics=preprocess_logits, callbacks=callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress())
    if cfg.reuse_freed_memory and trainer.args.device.type == "cpu":
        reuse_freed_memory()
    return trainer, epoch_log


def eval_row_order(trainer: Trainer):
    """The order in which Trainer's evaluation visits the eval dataset's rows (with length grouping
    its sampler is seeded afresh at each evaluation, so the order is the same every epoch)."""
    import numpy as np

    sampler = trainer._get_eval_sampler(trainer.eval_dataset)
    return np.array(list(sampler)) if sampler is not None else np.arange(len(trainer.eval_dataset))


def train(trainer: Trainer, epoch_log: EpochLogCallback) -> TrainingResult:
    trainer.train()
    state = trainer.state
    samples = state.epoch * len(trainer.train_dataset)
    return TrainingResult(
        history=epoch_history(state.log_history), best_epoch=_best_epoch(state),
        train_seconds=epoch_log.train_seconds,
        samples_per_second=samples / epoch_log.train_seconds if epoch_log.train_seconds else 0.0,
        log_history=list(state.log_history))


def epoch_history(log_history: list[dict]) -> list[dict]:
    """Per-epoch rows. The train loss of an epoch is the step-weighted mean of the loss windows
    logged inside it (each logged loss is the mean over the steps since the previous log)."""
    rows, window_losses, last_step = [], [], 0
    for entry in log_history:
        if "loss" in entry and "eval_loss" not in entry:
            window_losses.append((entry["loss"], entry["step"] - last_step))
            last_step = entry["step"]
        elif "eval_loss" in entry:
            steps = sum(n for _, n in window_losses)
            row = {"epoch": round(entry["epoch"], 2), "step": entry["step"],
                   "train_loss": sum(loss * n for loss, n in window_losses) / steps if steps else None,
                   "eval_loss": entry["eval_loss"]}
            row.update({k[5:]: v for k, v in entry.items()
                        if k.startswith("eval_") and k not in EVAL_BOOKKEEPING and k != "eval_loss"})
            rows.append(row)
            window_losses = []
    return rows


def _best_epoch(state) -> float | None:
    if not state.best_model_checkpoint:
        return None
    best_step = int(state.best_model_checkpoint.rstrip("/").rsplit("-", 1)[-1])
    return next((round(e["epoch"], 2) for e in state.log_history
                 if "eval_loss" in e and e["step"] == best_step), None)
