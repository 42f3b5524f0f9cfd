"""Trainer assembly by composition: arguments from the config, callbacks, and the per-epoch
history read back from the Trainer's own log."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from tunecard.config import TrainConfig
from tunecard.engine import distributed
from tunecard.engine.callbacks import EVAL_BOOKKEEPING, Checkpoints, EpochLogCallback, HeldTrackers, Progress
from tunecard.engine.checkpoints import checkpoint_step
from tunecard.engine.cpu_memory import reuse_freed_memory
from tunecard.judging import metrics


@dataclass
class TrainerParts:
    """What a task gives Trainer: its model, data and the pieces its shape changes."""
    model: Any
    tokenizer: Any
    train: Any
    validation: Any
    collator: Any = None
    """The task's data collator (default: dynamic padding)."""
    loss: Any = None
    """A Trainer `compute_loss_func`; without one, train.class_weights may supply a weighted loss."""
    preprocess_logits: Any = None
    collator_drops_columns: bool = False
    """Trainer keeps every dataset column, so its length-grouped sampler reads the `length` column (Trainer
    would otherwise drop it first and measure len(input_ids), which for a multiple-choice row is its option
    count), and the collator drops what the model does not take."""
    model_loss_sums_items: bool = False
    """See Task.model_loss_sums_items; when false, Trainer normalises the model's mean loss itself, which makes N
    processes x batch b (or accumulation) train as one process x batch N*b."""


@dataclass
class TrainingResult:
    history: list[dict]
    """One row per epoch: epoch, step, train_loss, eval_loss and each validation metric."""
    best_epoch: float | None
    train_seconds: float
    """Time spent in training steps only (evaluation and checkpoint saving excluded)."""
    samples_per_second: float
    log_history: list[dict]
    interrupted_at: int | None = None
    """The step at which Ctrl-C stopped the run (its checkpoint was written); None when it ran to the end."""
    resumed_from: int | None = None
    """The checkpoint step this run was resumed from."""


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
                       keep_columns: bool = False, run_name: str | None = None) -> TrainingArguments:
    steps_per_epoch = math.ceil(n_train / (cfg.batch_size * cfg.gradient_accumulation_steps))
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs_for(steps_per_epoch), max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio in 5.x
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2, adam_epsilon=cfg.adam_epsilon,
        lr_scheduler_type=cfg.lr_scheduler, seed=cfg.seed, data_seed=cfg.seed,
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True, metric_for_best_model=best_metric, greater_is_better=True,
        ddp_find_unused_parameters=False,  # every parameter of a tunecard model gets a gradient (or none: frozen)
        logging_nan_inf_filter=False,  # a non-finite loss must reach the Checkpoints callback, not be averaged away
        logging_strategy="steps", logging_steps=cfg.logging_steps or max(1, steps_per_epoch // 20),
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        report_to=cfg.trackers if cfg.trackers != ["none"] else "none", run_name=run_name, disable_tqdm=False,
        use_cpu=distributed.cpu_only(), dataloader_pin_memory=_has_cuda(),
        **precision_flags(cfg.precision),
        remove_unused_columns=not keep_columns,
    )


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


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


def build_trainer(parts: TrainerParts, cfg: TrainConfig, workdir: str, best_metric: str,
                  run_name: str | None = None, logs_dir: Path | None = None,
                  verb: str = "train") -> tuple[Trainer, EpochLogCallback]:
    """A Trainer for the task's parts, with tunecard's callbacks: epoch timing, progress, early stopping when
    asked, and checkpoints for --resume. `workdir` holds the checkpoints; the trackers of train.report_to log
    under `run_name` (TensorBoard into `logs_dir`, by default <workdir>/../logs) and stay open for
    `finish_trackers`. `verb` (train, distill) is the one a stopped run's messages tell users to resume with."""
    from transformers import EarlyStoppingCallback

    model, loss = parts.model, parts.loss
    epoch_log = EpochLogCallback()
    callbacks = [epoch_log]
    if cfg.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    if loss is None and cfg.class_weights == "balanced":
        loss = weighted_loss(metrics.balanced_class_weights(parts.train["label"], model.config.num_labels))
    if loss is None and not parts.model_loss_sums_items:
        model.accepts_loss_kwargs = False  # read by Trainer (the attribute transformers' models set for this)
    args = training_arguments(cfg, workdir, len(parts.train), best_metric, parts.collator_drops_columns, run_name)
    trainer = Trainer(
        model=model, args=args, data_collator=parts.collator or DataCollatorWithPadding(parts.tokenizer),
        train_dataset=parts.train, eval_dataset=parts.validation, processing_class=parts.tokenizer,
        compute_loss_func=loss, preprocess_logits_for_metrics=parts.preprocess_logits, callbacks=callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(Progress())
    trainer.add_callback(HeldTrackers(trainer, logs_dir or Path(workdir).parent / "logs"))
    trainer.add_callback(Checkpoints(trainer, cfg.save_steps, verb))  # last: its epoch-end decisions win
    if cfg.reuse_freed_memory and trainer.args.device.type == "cpu":
        reuse_freed_memory()
    return trainer, epoch_log


def finish_trackers(trainer: Trainer, final: dict[str, float]) -> None:
    """Log the judged run's final metrics to train.report_to's trackers and close them (see HeldTrackers)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, HeldTrackers):
            callback.finish(final)


def eval_row_order(trainer: Trainer):
    """The order in which Trainer's evaluation visits the eval dataset's rows (with length grouping
    its sampler is seeded afresh at each evaluation, so the order is the same every epoch)."""
    import numpy as np

    sampler = trainer._get_eval_sampler(trainer.eval_dataset)
    return np.array(list(sampler)) if sampler is not None else np.arange(len(trainer.eval_dataset))


def train(trainer: Trainer, epoch_log: EpochLogCallback, resume_from: Path | None = None) -> TrainingResult:
    """Run Trainer (from the checkpoint `resume_from`, if given) and read back the per-epoch history.
    Samples/s counts the samples of this call's steps only."""
    checkpoints = next(c for c in trainer.callback_handler.callbacks if isinstance(c, Checkpoints))
    checkpoints.resume_from = resume_from
    start_step = checkpoint_step(resume_from) if resume_from is not None else 0
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except BaseException:
        _close_bars(trainer)  # the error is printed on a line of its own
        raise
    finally:
        checkpoints.restore_sigint()
    state = trainer.state
    samples = (state.global_step - start_step) * trainer.args.train_batch_size * trainer.args.world_size \
        * trainer.args.gradient_accumulation_steps if resume_from else state.epoch * len(trainer.train_dataset)
    return TrainingResult(
        history=epoch_history(state.log_history), best_epoch=_best_epoch(state),
        train_seconds=epoch_log.train_seconds,
        samples_per_second=samples / epoch_log.train_seconds if epoch_log.train_seconds else 0.0,
        log_history=list(state.log_history), interrupted_at=checkpoints.interrupted_at,
        resumed_from=start_step if resume_from else None)


def _close_bars(trainer: Trainer) -> None:
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, Progress):
            callback.close()


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
    # A resumed run's earlier entries come back from trainer_state.json with sorted keys: every row takes the
    # column order of the last one, which compute_metrics produced in this process.
    return [{k: row.get(k) for k in rows[-1]} for row in rows] if rows else []


def _best_epoch(state) -> float | None:
    if not state.best_model_checkpoint:
        return None
    best_step = checkpoint_step(Path(state.best_model_checkpoint))
    return next((round(e["epoch"], 2) for e in state.log_history
                 if "eval_loss" in e and e["step"] == best_step), None)
