"""Several processes (torchrun / accelerate launch): who writes, waiting for each other, and scoring rows in
shares gathered back in row order. In a single process every function here is a no-op or the identity.

The process group is accelerate's (`PartialState`), the one Trainer uses: gloo on CPUs, NCCL on GPUs.
"""

from __future__ import annotations

import numpy as np


def cpu_only() -> bool:
    """No accelerator (GPU, MPS...): processes then train on CPUs with gloo, which accelerate and Trainer only
    do when told `cpu=True` (otherwise each of N processes runs alone, as if N separate runs)."""
    import torch

    return torch.accelerator.current_accelerator() is None


def state():
    """accelerate's process state (it starts the process group under torchrun / accelerate launch). It is
    one shared state: Trainer's TrainingArguments get the same one (`use_cpu=cpu_only()`)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu_only())


def device():
    """This process's device (under several processes on GPUs, its own GPU)."""
    return state().device


def is_main() -> bool:
    return state().is_main_process


def world_size() -> int:
    return state().num_processes


def finish() -> None:
    """The end of a command under several processes: wait until the main one has written everything, then
    close the process group (a process that leaves with it open can abort at exit, and lose nothing only
    by luck)."""
    if world_size() > 1:
        import torch.distributed as dist

        barrier()
        dist.destroy_process_group()


def kind() -> str:
    """How the processes run, in the Trainer cards' words: "multi-GPU", "multi-CPU"... ("single" alone)."""
    value = state().distributed_type.value  # e.g. "MULTI_CPU"
    return "single" if value == "NO" else value.replace("MULTI_", "multi-")


def barrier() -> None:
    if world_size() > 1:
        state().wait_for_everyone()


def share(n_rows: int) -> range:
    """This process's contiguous share of n rows (the first processes take one row more when n does not
    divide); the shares, in process order, are the rows in order."""
    s = state()
    per, extra = divmod(n_rows, s.num_processes)
    start = s.process_index * per + min(s.process_index, extra)
    return range(start, start + per + (1 if s.process_index < extra else 0))


def gather(value) -> list:
    """Every process's `value`, in process order (a list of one in a single process)."""
    if world_size() == 1:
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])


def any_process(flag: bool) -> bool:
    """True on every process when `flag` is true on any (so all of them stop at the same step)."""
    if world_size() == 1:
        return flag
    import torch
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=state().device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def score_in_shares(score, dataset) -> np.ndarray:
    """`score(rows)` (an array with one row per dataset row, in row order) run on this process's share of
    `dataset`'s rows, gathered from every process back into row order: every row exactly once."""
    if world_size() == 1:
        return score(dataset)
    return np.concatenate(gather(score(dataset.select(share(len(dataset))))), axis=0)


def machine() -> str:
    """This machine in words, for the speeds measured on it: the GPU, or the CPU with its cores and torch's
    threads."""
    import os
    import platform

    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} ({world_size()} process{'es' if world_size() > 1 else ''})"
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
