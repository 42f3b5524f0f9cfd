"""The one-screen terminal summary of a run or an evaluation."""

from __future__ import annotations

from tunecard.report.card import format_interval

SEVERITY_MARK = {"error": "ERROR", "warning": "warn ", "info": "info "}


def format_summary(title: str, history: list[dict], results: list, metric_keys: list[str],
                   best_epoch, findings: list[dict], footer: list[str], metric_names: dict[str, str]) -> str:
    lines = [title, ""]
    if history:
        lines.extend(_history_lines(history, metric_keys, best_epoch))
    for result in results:
        bounds = (result.intervals or {}).get("metrics", {})
        lines.append(f"{result.name} ({result.size} rows)      model  95% interval     majority  stratified")
        for key in metric_keys:
            values = (result.metrics.get(key), result.baseline.get(key), result.stratified.get(key))
            shown = [_number(values[0]), f"{format_interval(bounds.get(key)):>13}", *map(_number, values[1:])]
            lines.append(f"  {metric_names[key]:<20} " + "   ".join(shown))
        for baseline, lead in ((result.intervals or {}).get("differences") or {}).items():
            low, high = lead["interval"]
            lines.append(f"  lead over {baseline}: {lead['difference']:+.4f} ({low:+.4f} to {high:+.4f}, paired)")
        for other in (result.comparisons or {}).values():
            shown = ", ".join(f"{metric_names[k]} {other['metrics'][k]:.4f}" for k in metric_keys
                              if k in other["metrics"])
            lines.append(f"  {other['label']}: {shown}")
        lines.append(_calibration_line(result.calibration))
        lines.extend(_table_lines(result.tables))
        lines.append("")
    shown = [f for f in findings if f["severity"] != "info"]
    if findings:
        lines.append(f"diagnostics: {len(shown)} to look at ({len(findings) - len(shown)} info in metrics.json)")
        advised = set()
        for finding in shown:
            where = f"[{finding['split']}] " if finding.get("split") else ""
            lines.append(f"  {SEVERITY_MARK[finding['severity']]} {finding['id']}: {where}{finding['message']}")
            if finding.get("advice") and finding["advice"] not in advised:
                lines.append(f"        -> {finding['advice']}")
                advised.add(finding["advice"])
        lines.append("")
    lines.extend(footer)
    return "\n".join(lines)


def _history_lines(history: list[dict], metric_keys: list[str], best_epoch) -> list[str]:
    lines = [f"{'epoch':>6} {'train loss':>10} {'val loss':>9} " + " ".join(f"{k:>11}" for k in metric_keys)]
    for row in history:
        mark = " *" if row["epoch"] == best_epoch else ""
        values = " ".join(f"{row.get(k, float('nan')):>11.4f}" for k in metric_keys)
        train_loss = row["train_loss"] if row["train_loss"] is not None else float("nan")
        lines.append(f"{row['epoch']:>6} {train_loss:>10.4f} {row['eval_loss']:>9.4f} {values}{mark}")
    return lines + ["(* = kept epoch)", ""]


def _number(value) -> str:
    return f"{value:>7.4f}" if value is not None else f"{'n/a':>7}"


def _calibration_line(calibration: dict | None) -> str:
    if not calibration:
        return ""
    line = f"  ECE {calibration['ece']:.4f}, Brier {calibration['brier']:.4f}"
    if "temperature" in calibration:
        line += (f"; with temperature {calibration['temperature']:.3f}: ECE {calibration['ece_scaled']:.4f}, "
                 f"Brier {calibration['brier_scaled']:.4f}")
    return line


def _table_lines(tables: list[dict] | None) -> list[str]:
    """A task's tables of a split (e.g. accuracy by option count), one line per row."""
    lines = []
    for table in tables or []:
        lines.append(f"  {table['title']}:")
        lines.append("    " + " | ".join(table["columns"]))
        lines.extend("    " + " | ".join(f"{c:.4f}" if isinstance(c, float) else str(c) for c in row)
                     for row in table["rows"])
    return lines
