"""Trainer assembly by composition: arguments from the config, callbacks, and the per-epoch
history read back from the Trainer's own log."""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import (DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments)
from transformers.trainer_callback import ProgressCallback

from tunecard import distributed, metrics
from tunecard.config import TrainConfig
from tunecard.cpu_memory import reuse_freed_memory
from tunecard.errors import TunecardError
from tunecard.run_directory import COMPLETE, checkpoint_step, complete_checkpoints

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
                       keep_columns: bool = False) -> TrainingArguments:
    steps_per_epoch = math.ceil(n_train / (cfg.batch_size * cfg.gradient_accumulation_steps))
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=cfg.epoch_limit, max_steps=cfg.max_steps,
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
        report_to="none", disable_tqdm=False, use_cpu=distributed.cpu_only(), dataloader_pin_memory=_has_cuda(),
        **precision_flags(cfg.precision),
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


EPOCH_RNG = "tunecard_epoch_rng_state"
"""Each process's torch generator state at the start of the checkpoint's epoch (see Checkpoints)."""


class NonFiniteLoss(TunecardError):
    """Training produced a NaN or infinite loss."""


class Checkpoints(TrainerCallback):
    """Checkpoints for `--resume`, and the two ways a run stops early keeping them.

    - every `save_steps` steps a checkpoint (the epoch-end ones come from save_strategy "epoch"), logged at
      the same step so a resumed run's loss windows tile the epoch as the uninterrupted run's do;
    - each finished checkpoint gets the COMPLETE marker (after every process has written its files);
    - Ctrl-C (SIGINT) finishes the current step, checkpoints it and stops (`interrupted_at` is its step);
    - a non-finite training loss stops the run at once with NonFiniteLoss (nothing more is saved).
    Under several processes the stop decisions are agreed on by all, so every process stops at the same step.
    """

    def __init__(self, trainer: Trainer, save_steps: int | None):
        self.trainer, self.save_steps = trainer, save_steps
        self.interrupted_at: int | None = None
        self.resume_from: Path | None = None
        self._epoch_rng = None
        self._sigint = False
        self._previous_handler = None

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        _rescale_peak(optimizer, lr_scheduler, args.learning_rate)

    def _on_sigint(self, signum, frame):
        import signal

        self._sigint = True
        signal.signal(signal.SIGINT, self._previous_handler)  # a second Ctrl-C stops at once

    def on_train_end(self, args, state, control, **kwargs):
        self.restore_sigint()

    def restore_sigint(self) -> None:
        import signal

        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_epoch_begin(self, args, state, control, **kwargs):
        """The generator state each epoch's data order is drawn from (Trainer's length-grouped sampler draws
        its permutation from the global torch generator when the epoch's iterator starts). Trainer restores
        the checkpoint's generator only after that draw when it resumes mid-epoch, so the resumed epoch would
        see another order: the state recorded at the epoch's start is saved with each checkpoint and put back
        here, before the draw (Trainer then restores the checkpoint's own state as usual)."""
        import torch

        if self.resume_from is not None:
            saved = self.resume_from / f"{EPOCH_RNG}_{args.process_index}.safetensors"
            if saved.is_file():
                from safetensors.torch import load_file

                torch.set_rng_state(load_file(saved)["cpu"])
            self.resume_from = None
        self._epoch_rng = torch.get_rng_state()

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        loss = self.trainer._tr_loss  # the loss summed since the last log (no .item(): stays on the device)
        if distributed.any_process(not bool(torch.isfinite(loss))):
            raise _non_finite_loss(state, Path(args.output_dir))
        if self.save_steps and state.global_step % self.save_steps == 0:
            control.should_save = control.should_log = True
        if distributed.any_process(self._sigint):
            self.interrupted_at = state.global_step
            control.should_save = control.should_log = control.should_training_stop = True

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.interrupted_at is not None:  # stopped mid-epoch: no evaluation of a partial epoch
            control.should_evaluate = control.should_log = control.should_save = False

    def on_save(self, args, state, control, model=None, **kwargs):
        """Mark the checkpoint complete once every process has written its part, unless its weights are
        not finite (an update after the last finite loss can break them): such a checkpoint is never resumed."""
        import torch
        from safetensors.torch import save_file

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        save_file({"cpu": self._epoch_rng}, folder / f"{EPOCH_RNG}_{args.process_index}.safetensors")
        broken = distributed.any_process(not all(bool(torch.isfinite(p).all()) for p in model.parameters()))
        distributed.barrier()  # every process has written its RNG states
        if broken:
            if state.is_world_process_zero:
                shutil.rmtree(folder)
            raise _non_finite_loss(state, Path(args.output_dir), "weights")
        if state.is_world_process_zero:
            marker = folder / (COMPLETE + ".partial")
            marker.write_text(str(state.global_step), encoding="utf-8")
            marker.replace(folder / COMPLETE)


def _non_finite_loss(state, checkpoints: Path, what: str = "loss") -> NonFiniteLoss:
    found = f"a NaN or infinite {what} at step {state.global_step} (epoch {state.epoch:.2f})"
    if not complete_checkpoints(checkpoints):
        return NonFiniteLoss("training", f"a finite {what}", found, "train again with a lower --train.learning_rate")
    return NonFiniteLoss("training", f"a finite {what}", found, "resume from the last good checkpoint with a lower "
                         f"learning rate: tunecard train --config {checkpoints.parent / 'config.yaml'} --resume true "
                         "--train.learning_rate <lower>")


def _rescale_peak(optimizer, scheduler, learning_rate: float) -> None:
    """A run resumed with another peak learning rate: the restored optimizer and schedule go on from where
    they were, scaled to the new peak (a fresh run's peak is already the configured one)."""
    for i, group in enumerate(optimizer.param_groups):
        ratio = learning_rate / group.get("initial_lr", learning_rate)
        if ratio != 1.0:
            group["lr"] *= ratio
            group["initial_lr"] = learning_rate
            scheduler.base_lrs[i] = learning_rate


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
                  collator_drops_columns: bool = False,
                  model_loss_sums_items: bool = False) -> tuple[Trainer, EpochLogCallback]:
    """A Trainer for the task's model and collator (default: dynamic padding). `loss_func` is a
    Trainer `compute_loss_func`; without one, `train.class_weights` may supply a weighted loss.
    `collator_drops_columns`: Trainer keeps every dataset column, so its length-grouped sampler reads
    the `length` column (Trainer would otherwise drop it first and measure len(input_ids), which for a
    multiple-choice row is its option count), and the collator drops what the model does not take.
    `model_loss_sums_items`: see Task.model_loss_sums_items; when false, Trainer normalises the model's mean
    loss itself, which makes N processes x batch b (or accumulation) train as one process x batch N*b."""
    from transformers import EarlyStoppingCallback

    epoch_log = EpochLogCallback()
    callbacks = [epoch_log]
    if cfg.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    if loss_func is None and cfg.class_weights == "balanced":
        loss_func = weighted_loss(metrics.balanced_class_weights(train["label"], model.config.num_labels))
    if loss_func is None and not model_loss_sums_items:
        model.accepts_loss_kwargs = False  # read by Trainer (the attribute transformers' models set for this)
    trainer = Trainer(
        model=model, args=training_arguments(cfg, workdir, len(train), best_metric, collator_drops_columns),
        data_collator=data_collator or DataCollatorWithPadding(tokenizer), train_dataset=train,
        eval_dataset=validation, processing_class=tokenizer, compute_metrics=compute_metrics,
        compute_loss_func=loss_func, preprocess_logits_for_metrics=preprocess_logits, callbacks=callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress())
    trainer.add_callback(Checkpoints(trainer, cfg.save_steps))  # last: its epoch-end decisions win
    if cfg.reuse_freed_memory and trainer.args.device.type == "cpu":
        reuse_freed_memory()
    return trainer, epoch_log


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
        if isinstance(callback, ProgressCallback):
            for bar in (callback.training_bar, callback.prediction_bar):
                if bar is not None:
                    bar.close()


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
