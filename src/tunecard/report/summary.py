"""The one-screen terminal summary of a run or an evaluation."""

from __future__ import annotations

from tunecard.metrics import METRIC_INFO


def format_summary(title: str, history: list[dict], results: list, metric_keys: list[str],
                   best_epoch, footer: list[str]) -> str:
    lines = [title, ""]
    if history:
        header = f"{'epoch':>6} {'train loss':>10} {'val loss':>9} " + " ".join(f"{k:>11}" for k in metric_keys)
        lines.append(header)
        for row in history:
            mark = " *" if row["epoch"] == best_epoch else ""
            values = " ".join(f"{row.get(k, float('nan')):>11.4f}" for k in metric_keys)
            train_loss = row["train_loss"] if row["train_loss"] is not None else float("nan")
            lines.append(f"{row['epoch']:>6} {train_loss:>10.4f} {row['eval_loss']:>9.4f} {values}{mark}")
        lines.append("(* = kept epoch)")
        lines.append("")
    for result in results:
        lines.append(f"{result.name} ({result.size} rows)      model   majority baseline")
        for key in metric_keys:
            lines.append(f"  {METRIC_INFO[key][1]:<20} {result.metrics[key]:>7.4f}   {result.baseline[key]:>7.4f}")
        lines.append("")
    lines.extend(footer)
    return "\n".join(lines)
