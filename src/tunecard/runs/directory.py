"""The run directory: built in `<output>.partial` and renamed to `<output>` only when every file is written,
so a failed run never leaves a half-written run directory, and nothing the user had is replaced unasked.

A training run's `<output>.partial` also holds its checkpoints while it trains. When a run stops with a
complete checkpoint (a crash, Ctrl-C, a non-finite loss), the partial folder stays for `--resume`; without
one it is removed. Under several processes only the main one creates, fills and renames it.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from tunecard.config import Config, config_to_dict, load_config, save_config
from tunecard.engine.checkpoints import CHECKPOINTS, checkpoint_step, resumable_checkpoint
from tunecard.errors import TunecardError

RESUMABLE_DIFFERENCES = {"overwrite", "resume", "strict", "train.learning_rate"}
"""Config keys a resumed run may change: they do not change what the checkpoint's run computes (a new
learning rate applies from the checkpoint on, as after a non-finite loss)."""


def partial_of(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise TunecardError(f"output {output}", "a path that does not exist yet",
                            "an existing file or folder", "choose another --output or pass --overwrite")


@contextlib.contextmanager
def run_directory(output: Path, overwrite: bool):
    """Yield `<output>.partial`; on success replace `<output>` with it, on failure remove it."""
    check_output(output, overwrite)
    partial = partial_of(output)
    shutil.rmtree(partial, ignore_errors=True)  # a previous crashed run's leftovers, never user data
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _replace(output, partial)


@contextlib.contextmanager
def optional_run_directory(output: Path | None, overwrite: bool):
    """`run_directory(output)`, or None when there is no output to write."""
    if output is None:
        yield None
        return
    with run_directory(output, overwrite) as workdir:
        yield workdir


def _replace(output: Path, partial: Path) -> None:
    if output.exists():
        shutil.rmtree(output) if output.is_dir() else output.unlink()
    partial.rename(output)


# ---- training runs -------------------------------------------------------------------------------

def check_training_output(config: Config) -> list[TunecardError]:
    """Problems with where a training run goes: a finished run, or a stopped one that would be lost."""
    output = Path(config.output)
    partial = partial_of(output)
    if config.resume:
        if output.exists():
            return [TunecardError("--resume", f"a stopped run in {partial}", f"the finished run directory {output}",
                                  "drop --resume (a finished run is not resumed), or train again with --overwrite")]
        if not (partial / "config.yaml").is_file():
            return [TunecardError("--resume", f"a stopped run in {partial}", "no stopped run there",
                                  "drop --resume to start the run")]
        return []
    problems = []
    try:
        check_output(output, config.overwrite)
    except TunecardError as exc:
        problems.append(exc)
    if resumable_checkpoint(partial) is not None and not config.overwrite:
        problems.append(TunecardError(f"output {output}", "no stopped run in the way",
                                      f"a stopped run with checkpoints in {partial}",
                                      "pass --resume true to continue it, or --overwrite to start again"))
    return problems



def resume_point(config: Config) -> Path:
    """The newest complete checkpoint of the stopped run `config` continues; its saved config must match."""
    partial = partial_of(Path(config.output))
    saved = _flat(config_to_dict(load_config(partial / "config.yaml")))
    given = _flat(config_to_dict(config))
    differing = sorted(k for k in saved.keys() | given.keys()
                       if saved.get(k) != given.get(k) and k not in RESUMABLE_DIFFERENCES)
    if differing:
        shown = ", ".join(f"{k} ({saved.get(k)!r} -> {given.get(k)!r})" for k in differing)
        raise TunecardError("--resume", f"the stopped run's config ({partial / 'config.yaml'})",
                            f"other values for {shown}", f"resume with --config {partial / 'config.yaml'}")
    checkpoint = resumable_checkpoint(partial)
    if checkpoint is None:
        raise TunecardError("--resume", f"a complete checkpoint in {partial / CHECKPOINTS}", "none",
                            "drop --resume and --overwrite the stopped run to start it again")
    return checkpoint


def _flat(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@contextlib.contextmanager
def training_directory(config: Config, resume_from: Path | None):
    """Yield `<output>.partial` for a training run (the stopped run's own, when resuming). Every process
    gets it; only the main one creates it, records the config, and on success renames it."""
    from tunecard.engine import distributed

    output = Path(config.output)
    partial = partial_of(output)
    main = distributed.is_main()
    if main:
        _prepare_partial(partial, config, resume_from)
    distributed.barrier()  # the folder exists before any process writes into it
    try:
        yield partial
    except BaseException:
        if main:
            _keep_if_resumable(partial, config.verb)
        raise
    if main:
        _replace(output, partial)


def _prepare_partial(partial: Path, config: Config, resume_from: Path | None) -> None:
    if resume_from is None:
        shutil.rmtree(partial, ignore_errors=True)  # leftovers without a checkpoint (checked before)
        partial.mkdir(parents=True)
        save_config(config, partial / "config.yaml")  # what --resume compares against
        return
    for torn in (partial / CHECKPOINTS).glob("checkpoint-*"):  # written after the newest complete one
        if checkpoint_step(torn) > checkpoint_step(resume_from):
            shutil.rmtree(torn)


def _keep_if_resumable(partial: Path, verb: str) -> None:
    checkpoint = resumable_checkpoint(partial)
    if checkpoint is None:
        shutil.rmtree(partial, ignore_errors=True)
        return
    print(f"tunecard: the run stopped; its checkpoint at step {checkpoint_step(checkpoint)} is kept in "
          f"{partial}. Continue it with: tunecard {verb} --config {partial / 'config.yaml'} --resume true",
          file=sys.stderr)
