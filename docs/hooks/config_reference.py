"""MkDocs hook: the configuration reference, generated from `src/tunecard/config/sections.py` (and the other modules
of config/ that define a section, such as abstain.py).

`on_page_markdown` replaces the marker line `<!-- config-reference -->` with one table per config section
(the top-level Config fields, then each nested section in field order, then TuneConfig, DistillConfig,
IndexConfig and ServeConfig for `tunecard tune`, `distill`, `index` and `serve`). Descriptions are the attribute docstrings (the string right after an annotated
assignment in a class body), read with `ast`; types and defaults come from importing `tunecard.config`
(torch-free) and reading `dataclasses.fields`. Nothing here is a copy of a default, so the page cannot go
stale. The marker `<!-- task-defaults -->` becomes a table of each registered task's defaults, read from
the task classes (`tunecard.tasks`), for the same reason.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path

MARKER = "<!-- config-reference -->"
TASK_MARKER = "<!-- task-defaults -->"
ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "tunecard" / "config" / "sections.py"


def attribute_docstrings(source: Path = SOURCE) -> dict[str, dict[str, str]]:
    """Class name -> {field name -> its attribute docstring}, and "__doc__" -> the class docstring."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    docs: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        class_doc = ast.get_docstring(node)
        if class_doc:
            fields["__doc__"] = class_doc
        for statement, following in zip(node.body, node.body[1:] + [None]):
            if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
                continue
            if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                fields[statement.target.id] = inspect.cleandoc(following.value.value)
        docs[node.name] = fields
    return docs


def load_config_module():
    """`tunecard.config` from this checkout's src/ (refusing another installed copy)."""
    src = str(SOURCE.parents[2])
    if src not in sys.path:
        sys.path.insert(0, src)
    module = importlib.import_module("tunecard.config")
    if Path(module.__file__).resolve() != SOURCE.parent / "__init__.py":
        raise RuntimeError(f"docs/hooks/config_reference.py: expected tunecard.config from {SOURCE}; "
                           f"found {module.__file__}. Fix: pip install -e . from this checkout")
    return module


def default_of(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _cell(text: str) -> str:
    """One table cell of Markdown: one line; outside code spans `|` escaped and `<`, `>`, `&` shown as text."""
    text = " ".join(text.split())
    parts = re.split(r"(`[^`]*`)", text)
    for i, part in enumerate(parts):
        if not part.startswith("`"):  # a pipe inside a code span does not split a table row
            parts[i] = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", r"\|")
    return "".join(parts)


def _code(value) -> str:
    text = repr(value)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _table(cls, docs: dict[str, str], prefix: str) -> tuple[list[str], list]:
    """Rows for the plain fields of `cls` and the (name, dataclass type) of its nested sections."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    sections = []
    for field in dataclasses.fields(cls):
        default = default_of(field)
        if dataclasses.is_dataclass(default):
            sections.append((field, type(default)))
            continue
        shown = "(required)" if default is dataclasses.MISSING else _code(default)
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        rows.append(f"| `{prefix}{field.name}` | `{kind}` | {shown} | {_cell(docs.get(field.name, ''))} |")
    return rows, sections


def config_reference() -> str:
    """The Markdown that replaces the marker: one table per section."""
    module = load_config_module()
    docs = {name: fields for path in sorted(SOURCE.parent.glob("*.py")) for name, fields in
            attribute_docstrings(path).items()}  # sections.py, and a section in a module of its own (abstain.py, verbs.py)
    out: list[str] = []
    rows, sections = _table(module.Config, docs.get("Config", {}), "")
    out += ["### Top level (`Config`)", "", *rows, ""]
    for field, section_cls in sections:
        out += [f"### `{field.name}` (`{section_cls.__name__}`)", ""]
        intro = docs.get("Config", {}).get(field.name) or docs.get(section_cls.__name__, {}).get("__doc__")
        if intro:
            out += [_cell(intro), ""]
        rows, nested = _table(section_cls, docs.get(section_cls.__name__, {}), f"{field.name}.")
        if nested:
            raise RuntimeError(f"config section {field.name} nests further sections: extend the hook")
        out += [*rows, ""]
    for command, cls, flags, prefix in (
            ("tune", module.TuneConfig, "`--tune.trials 12`, `--tune.timeout 3600`, ... (beside every option above)",
             "tune."),
            ("distill", module.DistillConfig, "`--teacher runs/big` (short for `--distill.teacher`), "
             "`--distill.student static`, ... (beside every option above)", "distill."),
            ("index", module.IndexConfig, "`--corpus FILE`, `--kind bm25`, ...", ""),
            ("serve", module.ServeConfig, "`--model runs/x`, `--port 8080`, ...", "")):
        command_docs = docs.get(cls.__name__, {})
        out += [f"### `tunecard {command}` (`{cls.__name__}`)", ""]
        if command_docs.get("__doc__"):
            out += [_cell(command_docs["__doc__"]) + f" Each key is a flag: {flags}", ""]
        rows, _ = _table(cls, command_docs, prefix)
        out += [*rows, ""]
    return "\n".join(out)


def _rate(value: float) -> str:
    """1.5e-4, not 0.00015."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def task_defaults() -> str:
    """One row per registered task: the defaults it decides when the config leaves them unset."""
    load_config_module()
    tasks = importlib.import_module("tunecard.tasks")
    model_default = importlib.import_module("tunecard.config").ModelConfig().name
    rows = ["| task | model (model.name unset) | learning rate | small models | for particular models "
            "| truncation side | long inputs | task-specific config |", "|---|---|---|---|---|---|---|---|"]
    for name in tasks.TASKS:
        cls = tasks.task_class(name)
        per_model = ", ".join(f"`{m}`: {_rate(rate)}" for m, rate in cls.model_learning_rates.items()) or "-"
        small = _rate(cls.small_model_learning_rate) if cls.small_model_learning_rate else "-"
        sections = ", ".join(f"`{s}`" for s in cls.config_sections) or "-"
        windows = "truncate or chunk" if cls.reads_windows else "truncate"
        rows.append(f"| `{name}` | `{cls.default_model or model_default}` | {_rate(cls.learning_rate)} | {small} "
                    f"| {per_model} | {cls.truncation_side} | {windows} | {sections} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page=None, config=None, files=None) -> str:
    if MARKER not in markdown and TASK_MARKER not in markdown:
        return markdown
    replace = {MARKER: config_reference, TASK_MARKER: task_defaults}
    lines = [replace[line.strip()]() if line.strip() in replace else line for line in markdown.splitlines()]
    return "\n".join(lines) + "\n"
