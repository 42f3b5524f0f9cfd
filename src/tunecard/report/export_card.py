"""The card of a folder `tunecard export` wrote: the model's own card with an "ONNX export" section, which for an
int8 export holds its quality gate (judging/gate.py): the table of fp32 against int8, the paired interval of the
difference, per-label recall changes, and the verdict. Also the one line the terminal and `tunecard serve` print.
Plain data in, text out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from huggingface_hub import ModelCard, ModelCardData

RECALL_ROWS = 10
"""Labels shown in the card's recall table (those whose recall changed most); gate.json keeps them all."""


def gate_line(gate: Optional[dict]) -> str:
    """One line: the verdict, the headline of each model, the interval of the difference and the agreement."""
    if gate is None:
        return "int8 not gated: no gate.json beside the int8 model (exported before tunecard gated int8 exports)"
    if "metrics" not in gate:
        return f"int8 not gated: {gate['reason']}"
    key, names = gate["headline"], gate["names"]
    values, (low, high) = gate["metrics"][key], gate["interval"]
    verdict = "passed" if gate["passed"] else "failed, accepted with --max_drop " + f"{gate['max_drop']:g}"
    return (f"int8 gate {verdict} on {gate['rows']:,} rows of {gate['data']}: {names[key]} fp32 {values['fp32']:.4f}, "
            f"int8 {values['int8']:.4f} (int8 - fp32 {gate['difference']:+.4f}, 95% interval {low:+.4f} to "
            f"{high:+.4f}); labels agree on {gate['agreement']:.1%}")


def export_section(files: list[str], gate: Optional[dict]) -> str:
    """The card's "ONNX export" section: the files, and for an int8 export its gate."""
    lines = ["## ONNX export", "",
             f"Exported by `tunecard export` for onnxruntime: {', '.join(f'`{f}`' for f in files)}, with `config.json` "
             "(labels and tunecard's settings, such as decision thresholds) and the tokenizer. `tunecard predict "
             "--backend onnx` and `tunecard serve --backend onnx` run the int8 model when there is one.", ""]
    if any("int8" in f for f in files):
        lines += _gate_section(gate)
    return "\n".join(lines) + "\n"


def _gate_section(gate: Optional[dict]) -> list[str]:
    lines = ["### int8 quality gate", ""]
    if gate is None or "metrics" not in gate:
        return lines + [gate_line(gate) + ".", ""]
    names, (low, high) = gate["names"], gate["interval"]
    lines += [f"Dynamic int8 quantisation was checked against the fp32 export on {gate['rows']:,} rows of "
              f"{gate['data']}, before it was written: it refuses an int8 model whose {names[gate['headline']]} falls "
              f"by more than {gate['max_drop']:g} or that a collapse check flags. Verdict: "
              f"**{'passed' if gate['passed'] else 'failed: ' + '; '.join(gate['failed'])}**"
              + ("" if gate["passed"] else f" (accepted with --max_drop {gate['max_drop']:g})") + ".", "",
              "| | fp32 | int8 | int8 - fp32 |", "|---|---|---|---|"]
    for key, values in gate["metrics"].items():
        shown = f"{values['int8'] - values['fp32']:+.4f}"
        if key == gate["headline"]:
            shown += f" (95% interval {low:+.4f} to {high:+.4f})"
        lines.append(f"| {names[key]} | {values['fp32']:.4f} | {values['int8']:.4f} | {shown} |")
    fired = "; ".join(c["message"] for c in gate["collapse"]) or "none fired"
    lines += [f"| labels the same | | | {gate['agreement']:.2%} ({gate['changed_rows']:,} rows changed) |", "",
              f"The interval is a paired bootstrap ({gate['resamples']:,} resamples of the same rows for both models). "
              f"Collapse checks on the int8 model: {fired}.", ""]
    return lines + _recall_table(gate["recall"])


def _recall_table(recall: dict[str, dict]) -> list[str]:
    moved = sorted(recall.items(), key=lambda item: -abs(item[1]["change"]))[:RECALL_ROWS]
    title = "Recall per label" + (f" (the {RECALL_ROWS} that changed most; all in gate.json)"
                                  if len(recall) > RECALL_ROWS else "")
    lines = [f"{title}:", "", "| label | support | fp32 | int8 | change |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['support']} | {row['fp32']:.4f} | {row['int8']:.4f} | {row['change']:+.4f} |"
              for name, row in moved]
    return lines + [""]


def export_card(model_card: Optional[Path], name: str, section: str) -> ModelCard:
    """The model's card (its metadata and text) with the export section appended; a short card of its own when the
    model folder has none."""
    if model_card is not None and model_card.is_file():
        card = ModelCard.load(model_card)
        return ModelCard(f"---\n{card.data.to_yaml()}\n---\n{card.text.rstrip()}\n\n{section}")
    data = ModelCardData(tags=["tunecard", "onnx"], library_name="onnx")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n# {name} (ONNX)\n\n{section}")
