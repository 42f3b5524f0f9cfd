"""The house rules of src/tunecard, read from the source with `ast`: no module imports from a layer above its own
(function-level imports included), there is no import cycle, functions stay under 50 lines and modules under 500,
and only runs/settings.py reads the `tunecard_*` settings of a saved model."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tunecard"
LAYERS = ["config errors console", "data", "judging", "report", "engine", "retrieval", "tasks", "runs",
          "workflows", "__init__ __main__ cli"]
"""Bottom to top: a module may import from its own layer and the ones below. See docs/architecture.md."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names.split())


def imports(path: Path) -> set[str]:
    """Every tunecard module `path` imports, at module or function level."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("tunecard"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tunecard"):
            for alias in node.names:  # `from tunecard.engine import models` imports the module engine.models
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return found


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{name} ({LAYERS[layer(name)]}) imports {other} ({LAYERS[layer(other)]})"
              for name, others in GRAPH.items() for other in others if layer(other) > layer(name)]
    assert upward == []


def test_there_is_no_import_cycle():
    def reaches(start: str) -> set[str]:
        seen, stack = set(), list(GRAPH[start])
        while stack:
            current = stack.pop()
            if current not in seen and current in GRAPH:
                seen.add(current)
                stack.extend(GRAPH[current])
        return seen

    # A package's __init__ importing its own modules is not a cycle through them unless they import it back.
    cycles = sorted(name for name in GRAPH if name in reaches(name))
    assert cycles == []


def test_functions_and_modules_stay_short():
    long = []
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 500:
            long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 50:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_only_the_settings_module_reads_saved_settings():
    """`tunecard_<field>` keys of a model's config.json are read and written by runs/settings.py alone: no other
    module has an attribute, a subscript or a getattr/setattr name `tunecard_...` (prose and the card's usage
    snippets may name them)."""
    def touches(node) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr.startswith("tunecard_")
        if isinstance(node, ast.Subscript):
            return isinstance(node.slice, ast.Constant) and str(node.slice.value).startswith("tunecard_")
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr"):
            return any(isinstance(a, ast.Constant) and str(a.value).startswith("tunecard_") for a in node.args)
        return False

    readers = [name for name, path in MODULES.items() if name != "tunecard.runs.settings"
               and any(touches(node) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert readers == []
