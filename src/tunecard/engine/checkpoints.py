"""Trainer checkpoints on disk, torch-free: where they live, which are complete, the newest to resume from.
(The callback that writes and marks them is `callbacks.Checkpoints`.)"""

from __future__ import annotations

from pathlib import Path

CHECKPOINTS = "checkpoints"
"""The folder inside <output>.partial that holds a training run's checkpoints."""
COMPLETE = "tunecard_complete"
"""Written into a checkpoint folder once every file of it is on disk: a checkpoint without it is torn."""


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer step of a Trainer checkpoint folder (`checkpoint-<step>`)."""
    return int(checkpoint.name.rsplit("-", 1)[-1])


def complete_checkpoints(folder: Path) -> list[Path]:
    """The checkpoints in `folder` whose every file was written, oldest first."""
    return sorted((p for p in folder.glob("checkpoint-*") if (p / COMPLETE).is_file()), key=checkpoint_step)


def resumable_checkpoint(partial: Path) -> Path | None:
    found = complete_checkpoints(partial / CHECKPOINTS)
    return found[-1] if found else None


ORDER_RNG = "tunecard_order_rng_state"
"""Each process's torch generator state just before its sampler drew the checkpoint's epoch order, saved in every
checkpoint (see callbacks.Checkpoints)."""
