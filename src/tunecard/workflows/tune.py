"""`tunecard tune`: an Optuna study over `train()`. Each trial is a training run scored on validation only
(its per-epoch validation metric feeds the pruner); the study lives in SQLite inside the output, so an
interrupted search resumes where it stopped; the best trial is trained again, the one run that scores test.
An option given explicitly (on the command line, in the config file or dict) is fixed: it is taken out of the
search space, and the study's card says so.

Read top to bottom: `tune` checks the options and the space, opens (or resumes) the study, runs the trials, and
`_write_study` writes the trials, the plots, the chosen run and the card.

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

from tunecard.config import Config, TuneConfig, as_config
from tunecard.errors import TunecardError, raise_all

STUDY_NAME = "tunecard"
STARTUP_TRIALS = 3
"""Complete trials before the median pruner stops any (and before TPE leaves random sampling: Optuna's 10
would leave a 12-trial budget almost all random)."""


def tune(config: Config, tune: TuneConfig | None = None, *, fixed: list[str] | None = None) -> Path:
    """An Optuna search over training options (docs/best-model.md): trials judged on validation, the study in
    <output>/study.db (run again to resume), the best trial trained again as <output>/best, the one run that
    scores test. `config.output` is the study folder; `config` (a Config, a nested dict or a YAML path) is not
    changed. `fixed`: the options given explicitly (section.option), kept out of the space; unset, those a dict
    or YAML file names, or those of a Config that differ from the defaults. Returns <output>/best."""
    from tunecard import tasks
    from tunecard.workflows.train import checked_config

    fixed = sorted(fixed if fixed is not None else explicit_options(config))
    config = tasks.resolve_config(as_config(config))
    tune = tune if isinstance(tune, TuneConfig) else TuneConfig(**(tune or {}))
    raise_all(tune.problems())
    study_dir = _check_study_output(config, tune)
    checked_config(with_values(config, {}, study_dir / "trials" / "check"))
    task = tasks.bind(config)
    space = _space(tune, config, task, fixed)
    metric = tune.metric or config.train.metric_for_best_model or task.headline_metric(
        task.prepare(config.data, config.train.seed).label_names)
    study_dir.mkdir(parents=True, exist_ok=True)
    study = open_study(study_dir, tune, direction_of(metric), config.train.seed)
    _run_trials(study, tune, config, space, metric, study_dir)
    searchable = tune.space or default_space(config, task)
    return _write_study(study, study_dir, config, space, metric,
                        {k: _value(config, k) for k in fixed if k in searchable and k not in space})


def _space(tune: TuneConfig, config: Config, task, fixed: list[str]) -> dict:
    """The space searched: tune.space, or the default one without the options given explicitly."""
    if tune.space is None:
        return {k: v for k, v in default_space(config, task).items() if k not in fixed}
    check_space(tune.space, config)
    clash = [k for k in tune.space if k in fixed]
    if clash:
        raise TunecardError(f"--tune.space {clash[0]}", "options that are not fixed",
                            f"{clash[0]} fixed at {_value(config, clash[0])!r} by its own option",
                            f"drop --{clash[0]} to search it, or take it out of --tune.space")
    return dict(tune.space)


def _run_trials(study, tune: TuneConfig, config: Config, space: dict, metric: str, study_dir: Path) -> None:
    from tunecard.workflows.train import train

    remaining = None if tune.trials is None else max(tune.trials - finished(study), 0)
    print(f"tunecard tune: {metric} on validation ({direction_of(metric)}), {finished(study)} trials done, "
          f"{remaining if remaining is not None else 'more'} to run; study: {study_dir / 'study.db'}")
    if remaining != 0:
        study.optimize(lambda trial: run_trial(trial, config, space, metric, study_dir / "trials", train),
                       n_trials=remaining, timeout=tune.timeout, catch=(),
                       callbacks=[lambda s, t: print(progress_line(s, t, tune.trials), flush=True)])


def _write_study(study, study_dir: Path, config: Config, space: dict, metric: str, fixed: dict) -> Path:
    """trials.csv, the plots, the best trial trained again into best/ (scoring test once), and the card."""
    from tunecard.report.study_card import render_study_card
    from tunecard.workflows.train import train

    if best_trial(study) is None:
        raise TunecardError(f"study {study_dir}", "at least one complete trial", "none (all pruned or failed)",
                            "run more trials (raise --tune.trials) or widen --tune.space")
    shutil.rmtree(study_dir / "trials", ignore_errors=True)  # each trial's own run folder is removed as it ends
    frame = trials_frame(study)
    frame.to_csv(study_dir / "trials.csv", index=False)
    plots = write_plots(study, study_dir / "plots")
    best = study.best_trial
    best_dir = study_dir / "best"
    chosen = json.loads((best_dir / "trial.json").read_text()) if (best_dir / "trial.json").is_file() else None
    if chosen is None or chosen["trial"] != best.number:
        print(f"best: trial {best.number} ({metric} {best.value:.4f}); training it again to score test once")
        train(with_values(config, best.params, best_dir), selection=selection_note(study, space, metric, fixed))
        (best_dir / "trial.json").write_text(json.dumps({"trial": best.number, "params": best.params,
                                                         "validation": best.value}, indent=2))
    (study_dir / "README.md").write_text(render_study_card(study, frame, space, metric, plots, config, fixed),
                                         encoding="utf-8")
    print(f"study: {study_dir / 'README.md'}; chosen run: {best_dir}")
    return best_dir


def _check_study_output(config: Config, tune: TuneConfig) -> Path:
    """The study folder: new, or one holding a study (which resumes); anything else only with --tune.overwrite."""
    if not config.output:
        raise TunecardError("--output", "a study folder to create (or one to resume)", "none",
                            "pass --output runs/NAME-study")
    study_dir = Path(config.output)
    if study_dir.exists() and not (study_dir / "study.db").is_file():
        if not tune.overwrite:
            raise TunecardError(f"output {study_dir}", "a new folder, or a study folder to resume (with study.db)",
                                "an existing folder without a study",
                                "choose another --output or pass --tune.overwrite")
        shutil.rmtree(study_dir)
    return study_dir


def explicit_options(config) -> list[str]:
    """The options (section.option) a config gives explicitly: every key a dict or YAML file names, or, for a
    Config, each value that differs from the default."""
    from tunecard.config import config_to_dict, read_config_file

    if isinstance(config, Config):
        given, default = _flat(config_to_dict(config)), _flat(config_to_dict(Config()))
        return [k for k, v in given.items() if v != default.get(k)]
    values = read_config_file(config) if isinstance(config, (str, Path)) else config
    return list(_flat(values or {}))


def _flat(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and key not in ("space",):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _value(config: Config, key: str):
    section, _, name = key.partition(".")
    return getattr(getattr(config, section), name) if name else getattr(config, section)


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


def selection_note(study, space: dict, metric: str, fixed: dict) -> str:
    """What the chosen run's card says about how it was chosen."""
    best = study.best_trial
    ranges = "; ".join(f"{k} in {v if isinstance(v, list) else _range(v)}" for k, v in space.items())
    kept = "; ".join(f"{k} = {v}" for k, v in fixed.items())
    return (f"These hyperparameters were chosen by an Optuna search ({study.sampler.__class__.__name__}, "
            f"{type(study.pruner).__name__}) over {finished(study)} trials, by validation {metric}: trial "
            f"{best.number} scored {best.value:.4f}. The search space: {ranges}."
            + (f" Fixed by their own options (not searched): {kept}." if kept else "") +
            " Every trial was judged on validation only; this run, the chosen trial trained again with the same "
            "seed, is the only one that scored the test split.")


def _range(spec: dict) -> str:
    return f"[{spec['low']:g}, {spec['high']:g}]" + (" (log)" if spec.get("log") else "")
