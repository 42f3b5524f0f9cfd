"""`tunecard tune`: an Optuna study over `train()`. Each trial is a training run scored on validation only
(its per-epoch validation metric feeds the pruner); the study lives in SQLite inside the output, so an
interrupted search resumes where it stopped; the best trial is trained again, the one run that scores test.

<output>/study.db        the Optuna study (resume: run the same command again)
<output>/trials.csv      one row per trial: state, value, parameters, seed, epochs, seconds
<output>/plots/          optimisation history and parameter importances (Optuna's matplotlib plots)
<output>/README.md       the study's card: the space, the trials, the choice
<output>/best/           the chosen trial as a normal run directory (its card says how it was chosen)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import time
import warnings
from pathlib import Path

from tunecard.config import Config, TuneConfig
from tunecard.errors import TunecardError

STUDY_NAME = "tunecard"
STARTUP_TRIALS = 3
"""Complete trials before the median pruner stops any (and before TPE leaves random sampling: Optuna's 10
would leave a 12-trial budget almost all random)."""
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")


def default_space(config: Config, task) -> dict:
    """The space searched when tune.space is unset: learning rate log-uniform around the task's default for
    this model (a quarter to four times it), batch size, epochs, warmup and weight decay, plus the task's own."""
    rate = config.train.learning_rate
    return {"train.learning_rate": {"low": rate / 4, "high": rate * 4, "log": True},
            "train.batch_size": [16, 32], "train.epochs": {"low": 2, "high": 5},
            "train.warmup_ratio": {"low": 0.0, "high": 0.1}, "train.weight_decay": {"low": 0.0, "high": 0.1},
            **task.tune_space}


def check_space(space: dict, config: Config) -> None:
    """Every key names an option of the config, and every range is a list or {low, high[, log]}."""
    for key, spec in space.items():
        section, _, name = key.partition(".")
        if not hasattr(getattr(config, section, None), name or "-"):
            raise TunecardError(f"--tune.space {key}", "an option of the training config (e.g. train.learning_rate)",
                                f"'{key}'", "name options as in config.yaml: section.option")
        if isinstance(spec, list) and spec:
            continue
        if not (isinstance(spec, dict) and {"low", "high"} <= set(spec) <= {"low", "high", "log"}
                and spec["low"] < spec["high"]):
            raise TunecardError(f"--tune.space {key}", "a list of choices or {low, high, log} with low < high",
                                repr(spec), f"e.g. {key}: {{low: 1e-5, high: 3e-4, log: true}}")


def suggest(trial, space: dict) -> dict:
    """The trial's values for every option of the space."""
    values = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            values[key] = trial.suggest_categorical(key, spec)
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[key] = trial.suggest_int(key, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            values[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=spec.get("log", False))
    return values


def with_values(config: Config, values: dict, output: Path) -> Config:
    """A copy of the config with the trial's values and output (a folder inside the study, which tune owns and
    replaces); the caller's config is not changed."""
    trial_config = copy.deepcopy(config)
    for key, value in values.items():
        section, _, name = key.partition(".")
        setattr(getattr(trial_config, section), name, value)
    trial_config.output = str(output)
    trial_config.resume, trial_config.overwrite = False, True
    return trial_config


def pruning_callback(trial, metric: str):
    """A Trainer callback that reports the validation metric after each epoch and stops the trial when the
    pruner says so (optuna.TrialPruned propagates out of Trainer.train)."""
    import optuna
    from transformers import TrainerCallback

    class PruneOnValidation(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            key = f"eval_{metric}"
            if metrics and key in metrics:
                epoch = int(round(state.epoch))
                trial.report(float(metrics[key]), step=epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")
    return PruneOnValidation()


def open_study(output: Path, tune: TuneConfig, direction: str, seed: int):
    """The study in <output>/study.db: created, or loaded to resume. Trials a killed process left running are
    marked failed, and their parameters queued again."""
    import optuna
    from optuna.trial import TrialState

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS) if tune.sampler == "tpe" \
        else optuna.samplers.RandomSampler(seed=seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS) if tune.pruner == "median" \
        else optuna.pruners.NopPruner()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # tunecard prints one line per trial
    study = optuna.create_study(storage=f"sqlite:///{output / 'study.db'}", study_name=STUDY_NAME,
                                direction=direction, sampler=sampler, pruner=pruner, load_if_exists=True)
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(stale.number, state=TrialState.FAIL)
        study.enqueue_trial(stale.params, skip_if_exists=True)
        print(f"trial {stale.number}: interrupted before it finished; marked failed and queued again")
    return study


def finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_trial(trial, config: Config, space: dict, metric: str, trials_dir: Path, train) -> float:
    """Train the trial's configuration on train, judge it on validation (test is neither scored nor read)."""
    import optuna

    values = suggest(trial, space)
    output = trials_dir / f"trial_{trial.number:03d}"
    shutil.rmtree(output, ignore_errors=True)
    trial.set_user_attr("seed", config.train.seed)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # one line per trial, printed by the study
            run = train(with_values(config, values, output), callbacks=[pruning_callback(trial, metric)],
                        score_test=False)
    except optuna.TrialPruned:
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        raise
    finally:
        shutil.rmtree(output, ignore_errors=True)
        shutil.rmtree(output.with_name(output.name + ".partial"), ignore_errors=True)
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
    trial.set_user_attr("epochs", len(run.history))
    trial.set_user_attr("best_epoch", run.metrics["best_epoch"])
    return float(run.metrics["splits"]["validation"]["metrics"][metric])


def progress_line(study, trial, total) -> str:
    """`trial 2 (3/12): 0.9012 (best 0.9101, trial 1) | train.learning_rate=0.00012 ... | 95 s` (Optuna's trial
    numbers, from 0; then how many have finished of the budget)."""
    from optuna.trial import TrialState

    shown = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    seconds = trial.user_attrs.get("seconds", 0)
    of = f" ({finished(study)}/{total})" if total else ""  # the trial itself is already told
    if trial.state == TrialState.PRUNED:
        outcome = f"pruned after epoch {trial.last_step}"
    elif trial.state == TrialState.COMPLETE:
        outcome = f"{trial.value:.4f}"
    else:
        outcome = trial.state.name.lower()
    best = best_trial(study)
    best_text = f" (best {best.value:.4f}, trial {best.number})" if best else ""
    return f"trial {trial.number}{of}: {outcome}{best_text} | {shown} | {seconds:.0f} s"


def best_trial(study):
    with contextlib.suppress(ValueError):
        return study.best_trial
    return None


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trials_frame(study):
    """One row per trial: number, state, value, each parameter, seed, epochs run, seconds."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "pruned_after_epoch": t.last_step if t.state.name == "PRUNED" else None,
                     **t.params, "seed": t.user_attrs.get("seed"), "epochs": t.user_attrs.get("epochs"),
                     "seconds": t.user_attrs.get("seconds")})
    return pd.DataFrame(rows)


def write_plots(study, folder: Path) -> list[str]:
    """Optuna's optimisation history and (with two or more complete trials) parameter importances, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    plots = [("optimization_history", optuna_plots.plot_optimization_history)]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) >= 2 and len({json.dumps(t.params, sort_keys=True) for t in complete}) >= 2:
        plots.append(("param_importances", optuna_plots.plot_param_importances))
    for name, plot in plots:
        with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental; nothing for the user to do
            warnings.simplefilter("ignore")
            axes = plot(study)
        axes.figure.set_size_inches(8, 4.5)
        axes.figure.tight_layout()
        axes.figure.savefig(folder / f"{name}.png", dpi=100)
        plt.close(axes.figure)
        written.append(name)
    return written


def direction_of(metric: str) -> str:
    return "minimize" if metric.endswith("loss") else "maximize"


def check_tune_config(tune: TuneConfig) -> None:
    problems = []
    for name, value, allowed in (("sampler", tune.sampler, SAMPLERS), ("pruner", tune.pruner, PRUNERS)):
        if value not in allowed:
            problems.append(TunecardError(f"--tune.{name}", f"one of {', '.join(allowed)}", repr(value),
                                          f"set --tune.{name} to one of those"))
    if tune.trials is None and tune.timeout is None:
        problems.append(TunecardError("--tune.trials", "a number of trials, or --tune.timeout", "neither",
                                      "set --tune.trials (e.g. 12) or --tune.timeout (seconds)"))
    if tune.trials is not None and tune.trials < 1:
        problems.append(TunecardError("--tune.trials", "a positive number", repr(tune.trials), "set --tune.trials"))
    if problems:
        from tunecard.errors import TunecardErrors

        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)


def selection_note(study, space: dict, metric: str) -> str:
    """What the chosen run's card says about how it was chosen."""
    best = study.best_trial
    ranges = "; ".join(f"{k} in {v if isinstance(v, list) else _range(v)}" for k, v in space.items())
    return (f"These hyperparameters were chosen by an Optuna search ({study.sampler.__class__.__name__}, "
            f"{type(study.pruner).__name__}) over {finished(study)} trials, by validation {metric}: trial "
            f"{best.number} scored {best.value:.4f}. The search space: {ranges}. Every trial was judged on "
            "validation only; this run, the chosen trial trained again with the same seed, is the only one that "
            "scored the test split.")


def _range(spec: dict) -> str:
    return f"[{spec['low']:g}, {spec['high']:g}]" + (" (log)" if spec.get("log") else "")
