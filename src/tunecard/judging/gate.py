"""The int8 quality gate of `tunecard export --quantize int8`: the same labelled rows judged with the fp32 and the
int8 ONNX model, set side by side. Dynamic int8 quantisation can flip a model's near-tie decisions, or collapse
it to one class outright (a classifier whose F1 fell from 0.83 to 0.66 with recall 1.0: optimum #151), and
nothing in its outputs says so. The gate measures what changed and says whether the int8 model may ship.

numpy only: two judged splits (judge.SplitEvaluation) and the task's hooks in, a plain dict out (gate.json).
"""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_DROP = 0.01
"""The largest drop of the headline metric (fp32 minus int8) the gate lets through: one point."""
OFF = 1.0
"""--max_drop at or above this turns the gate off: it still measures and reports, but refuses nothing."""
COLLAPSE_IDS = ("collapse.", "labels.never_predicted")
"""Findings of the collapse checks (judging/diagnostics.py) that refuse an int8 model when they are errors."""
ACCURACY_KEYS = ("accuracy", "subset_accuracy")
"""The accuracy a gate reports beside the headline: plain accuracy, or a label set's subset accuracy."""


def compare(task, dataset, names: list[str], fp32, int8, max_drop: float, seed: int, shown: dict) -> dict:
    """The gate report of one split: each model's accuracy and headline metric, the paired 95% bootstrap interval of
    the headline's int8 - fp32 difference, per-label recall changes, label agreement, the collapse checks on the
    int8 model, and the verdict (`passed`; `failed`: what refused it, in words). `shown`: metric key -> its name."""
    headline = task.headline_metric(names)
    accuracy = next(k for k in (*ACCURACY_KEYS, headline) if k in fp32.report.metrics)
    ours, theirs = task.predicted(int8.probs), task.predicted(fp32.probs)
    paired = task.paired(dataset, {"int8": (ours, int8.probs), "fp32": (theirs, fp32.probs)}, names, seed)
    same = (np.asarray(ours) == np.asarray(theirs)).reshape(len(dataset), -1).all(-1)
    values = {key: {"fp32": fp32.report.metrics[key], "int8": int8.report.metrics[key]}
              for key in dict.fromkeys((accuracy, headline))}
    difference = values[headline]["int8"] - values[headline]["fp32"]
    drop = -difference
    collapse = [f.as_dict() for f in int8.findings if f.severity == "error" and f.id.startswith(COLLAPSE_IDS)]
    fp32_collapse = {f.id for f in fp32.findings if f.severity == "error" and f.id.startswith(COLLAPSE_IDS)}
    failed = [f"{shown.get(headline, headline)} fell by {drop:.4f}, more than --max_drop {max_drop:g}"] \
        if drop > max_drop else []
    failed += [f"{f['id']}: {f['message']}" + (" (the fp32 model too)" if f["id"] in fp32_collapse else "")
               for f in collapse]
    return {"rows": len(dataset), "headline": headline, "accuracy_metric": accuracy, "metrics": values,
            "difference": difference, "interval": paired["differences"]["fp32"], "confidence": paired["confidence"],
            "resamples": paired["resamples"], "agreement": float(same.mean()), "changed_rows": int((~same).sum()),
            "recall": _recall_changes(fp32.report.per_class, int8.report.per_class), "collapse": collapse,
            "max_drop": max_drop, "enforced": max_drop < OFF, "failed": failed,
            "passed": not failed}


def _recall_changes(fp32: dict, int8: dict) -> dict[str, dict]:
    """Per label: its support and its recall under each model, and the change (int8 - fp32)."""
    return {name: {"support": int(row["support"]), "fp32": row["recall"], "int8": int8[name]["recall"],
                   "change": int8[name]["recall"] - row["recall"]} for name, row in fp32.items()}


def refuses(gate: dict) -> bool:
    """The gate refuses the int8 model: a check failed and the gate is on."""
    return bool(gate["failed"]) and gate["enforced"]
