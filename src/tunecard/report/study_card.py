"""The README of a `tunecard tune` study folder: what was searched, every trial, and which one was chosen.
Plain values in (the study's trials as a DataFrame), markdown out."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATE = Path(__file__).parent / "templates" / "study.md"


def render_study_card(study, frame, space: dict, metric: str, plots: list[str], config, fixed: dict) -> str:
    """`fixed`: the options the default space would search that were given explicitly (option -> value)."""
    best = study.best_trial
    columns = [c for c in frame.columns if c not in ("trial",)]
    rows = [[_cell(row[c]) for c in columns] for _, row in frame.iterrows()]
    return jinja2.Template(TEMPLATE.read_text(encoding="utf-8")).render(
        name=Path(config.output).name, model=config.model.name, data=config.data.path or config.data.train,
        task=config.task, metric=metric, direction=study.direction.name.lower(), space=space,
        sampler=type(study.sampler).__name__, pruner=type(study.pruner).__name__, seed=config.train.seed,
        trials=len(frame), states=frame["state"].value_counts().to_dict(), columns=["trial", *columns],
        rows=[[str(n), *r] for n, r in zip(frame["trial"], rows)], best=best, plots=plots,
        best_params={key: _cell(value) for key, value in best.params.items()},
        fixed={key: _cell(value) for key, value in fixed.items()})


def _cell(value) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
