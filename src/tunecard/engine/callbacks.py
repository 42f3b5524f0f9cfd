"""Trainer callbacks: epoch timing, checkpoints for `--resume` with the two ways a run stops early keeping them
(Ctrl-C, a non-finite loss), and progress."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from transformers import Trainer, TrainerCallback

from tunecard.console import progress
from tunecard.engine import distributed
from tunecard.engine.checkpoints import COMPLETE, ORDER_RNG, complete_checkpoints
from tunecard.errors import TunecardError

EVAL_BOOKKEEPING = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step")
"""Keys of a Trainer eval log that are bookkeeping, not metrics."""


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


class Progress(TrainerCallback):
    """Training and evaluation progress (console.progress: a bar on a terminal, lines in a log), with the latest
    logged training loss on the training bar (a long epoch shows whether the loss falls, or sits at chance, hours
    before its evaluation does) and one line per evaluation."""

    def __init__(self):
        self.training_bar = self.prediction_bar = None
        self._step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:  # a resumed run starts at its checkpoint's step
            self.training_bar = progress(total=state.max_steps, initial=state.global_step, desc="Training",
                                         unit="step")
        self._step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            self.training_bar.update(state.global_step - self._step)
        self._step = state.global_step

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if state.is_world_process_zero and eval_dataloader is not None:
            if self.prediction_bar is None:
                self.prediction_bar = progress(total=len(eval_dataloader), desc="Evaluating", unit="batch",
                                               leave=self.training_bar is None)
            self.prediction_bar.update(1)

    def on_evaluate(self, args, state, control, **kwargs):
        self.close_prediction_bar()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero and logs and self.training_bar is not None):
            return
        if "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        if "eval_loss" in logs:
            shown = {k[5:]: round(v, 4) for k, v in logs.items()
                     if k.startswith("eval_") and k not in EVAL_BOOKKEEPING}
            self.training_bar.write(f"epoch {logs.get('epoch', 0):.2f}: {shown}")

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close_prediction_bar(self) -> None:
        if self.prediction_bar is not None:
            self.prediction_bar.close()
            self.prediction_bar = None

    def close(self) -> None:
        """Close the bars (also when training fails: the error then starts on a line of its own)."""
        self.close_prediction_bar()
        if self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


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

    def __init__(self, trainer: Trainer, save_steps: int | None, verb: str = "train"):
        self.trainer, self.save_steps, self.verb = trainer, save_steps, verb
        self.interrupted_at: int | None = None
        self.resume_from: Path | None = None
        self._draws: RecordedDraws | None = None
        self._sigint = False
        self._previous_handler = None

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, train_dataloader=None,
                       **kwargs):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        _rescale_peak(optimizer, lr_scheduler, args.learning_rate)
        self._draws = RecordedDraws.around(train_dataloader)

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
        """A run resumed mid-epoch draws that epoch's order again (Trainer skips the batches already trained, and
        restores the checkpoint's generator only after the draw): the sampler replays the state the order was
        first drawn from. At an epoch's end nothing is replayed: Trainer restores its generator before the draw."""
        if self.resume_from is not None:
            saved = self.resume_from / f"{ORDER_RNG}_{args.process_index}.safetensors"
            if self._draws is not None and saved.is_file() and state.epoch != int(state.epoch):
                from safetensors.torch import load_file

                self._draws.replay = load_file(saved)["cpu"]
            self.resume_from = None

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        loss = self.trainer._tr_loss  # the loss summed since the last log (no .item(): stays on the device)
        if distributed.any_process(not bool(torch.isfinite(loss))):
            raise _non_finite_loss(state, Path(args.output_dir), self.verb)
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
        if self._draws is not None and self._draws.drawn_from is not None:
            save_file({"cpu": self._draws.drawn_from}, folder / f"{ORDER_RNG}_{args.process_index}.safetensors")
        broken = distributed.any_process(not all(bool(torch.isfinite(p).all()) for p in model.parameters()))
        distributed.barrier()  # every process has written its RNG states
        if broken:
            if state.is_world_process_zero:
                shutil.rmtree(folder)
            raise _non_finite_loss(state, Path(args.output_dir), self.verb, "weights")
        if state.is_world_process_zero:
            marker = folder / (COMPLETE + ".partial")
            marker.write_text(str(state.global_step), encoding="utf-8")
            marker.replace(folder / COMPLETE)


class RecordedDraws:
    """Stands in for Trainer's train sampler (length-grouped or random, both drawing each epoch's order from the
    global torch generator when iterated): keeps the generator state each order was drawn from, and replays a
    saved one once. Recorded at the draw itself, since other draws (the data loader's base seed, evaluation) fall
    between an epoch's start and its order."""

    def __init__(self, sampler):
        self.sampler, self.drawn_from, self.replay = sampler, None, None

    @classmethod
    def around(cls, train_dataloader) -> RecordedDraws | None:
        """The sampler of `train_dataloader`, wrapped; None when it has none (an iterable dataset)."""
        holder = getattr(train_dataloader, "batch_sampler", None)
        holder = getattr(holder, "batch_sampler", holder)  # accelerate's BatchSamplerShard wraps the BatchSampler
        if getattr(holder, "sampler", None) is None:
            return None
        if not isinstance(holder.sampler, cls):
            holder.sampler = cls(holder.sampler)
        return holder.sampler

    def __len__(self):
        return len(self.sampler)

    def __getattr__(self, name):  # set_epoch and the like, when the sampler has them
        if name == "sampler":
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __iter__(self):
        import torch

        if self.replay is not None:
            torch.set_rng_state(self.replay)
            self.replay = None
        self.drawn_from = torch.get_rng_state()
        return iter(self.sampler)


def _non_finite_loss(state, checkpoints: Path, verb: str, what: str = "loss") -> NonFiniteLoss:
    found = f"a NaN or infinite {what} at step {state.global_step} (epoch {state.epoch:.2f})"
    if not complete_checkpoints(checkpoints):
        return NonFiniteLoss("training", f"a finite {what}", found, "train again with a lower --train.learning_rate")
    return NonFiniteLoss("training", f"a finite {what}", found, "resume from the last good checkpoint with a lower "
                         f"learning rate: tunecard {verb} --config {checkpoints.parent / 'config.yaml'} --resume true "
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


TRACKERS = ("TensorBoardCallback", "WandbCallback", "MLflowCallback", "TrackioCallback")
"""Trainer's own integrations that train.report_to turns on (transformers.integrations)."""


class HeldTrackers(TrainerCallback):
    """Keeps the experiment trackers of train.report_to open past Trainer's end of training, so the judged run's
    final metrics reach them as well (`finish`). Each tracker's own `on_train_end` (which closes a TensorBoard
    writer, ends an MLflow or Trackio run) is held back until then; nothing else about it changes. TensorBoard
    writes to `logs_dir` unless TENSORBOARD_LOGGING_DIR names another folder."""

    def __init__(self, trainer: Trainer, logs_dir: Path):
        self.trainer, self.held = trainer, []
        for callback in trainer.callback_handler.callbacks:
            if type(callback).__name__ not in TRACKERS:
                continue
            if hasattr(callback, "logging_dir") and callback.logging_dir is None:
                callback.logging_dir = str(logs_dir)
            self.held.append((callback, callback.on_train_end))
            callback.on_train_end = _ignored  # the instance attribute shadows the class's method until `finish`

    def finish(self, final: dict[str, float]) -> None:
        """Log `final` (e.g. eval_accuracy, test_accuracy: the kept model's scores) at the last step, then end
        every tracker as Trainer would have."""
        trainer = self.trainer
        args, state, control = trainer.args, trainer.state, trainer.control
        for callback, end in self.held:
            callback.on_log(args, state, control, model=trainer.model, logs=dict(final))
            del callback.on_train_end
            end(args, state, control, model=trainer.model, processing_class=trainer.processing_class)
        self.held = []


def _ignored(*args, **kwargs):
    return None
