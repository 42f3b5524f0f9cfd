"""`tunecard export`, read top to bottom: check the options, open the run, check its task exports, and write the
ONNX model (int8 too when asked) with its config and tokenizer into a folder built as `<folder>.partial` and
renamed when complete: by default `<model folder>/onnx`, which `predict --backend onnx` finds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from tunecard.errors import TunecardError

FORMATS = ("onnx",)
QUANTIZATIONS = (None, "int8")


def export(model: str, format: str = "onnx", quantize: Optional[str] = None, output: Optional[str] = None,
           overwrite: bool = False) -> Path:
    """Write an ONNX copy of a trained classifier (with its tokenizer and label map) for `predict --backend onnx`.
    Returns the folder written.

    Args:
        model: A run directory or model folder.
        format: onnx.
        quantize: int8: also write a dynamically quantised model_int8.onnx.
        output: The folder to write (default: <model folder>/onnx).
        overwrite: Replace an existing folder.
    """
    from tunecard import tasks
    from tunecard.engine import models, onnx
    from tunecard.runs import directory
    from tunecard.runs.saved import ONNX_FOLDER, open_saved

    if format not in FORMATS:
        raise TunecardError("--format", f"one of {', '.join(FORMATS)}", f"'{format}'", "use --format onnx")
    if quantize not in QUANTIZATIONS:
        raise TunecardError("--quantize", "int8 or nothing", f"'{quantize}'", "use --quantize int8 or leave it out")
    saved = open_saved(model).require_trained()
    task = saved.task()
    if not task.exports_onnx:
        exportable = [name for name in tasks.TASKS if tasks.task_class(name).exports_onnx]
        raise TunecardError(f"model {model}", f"a model of task {' or '.join(exportable)}", f"task '{task.name}'",
                            "score it with the torch back end (leave out --backend)")
    target = Path(output) if output else saved.folder / ONNX_FOLDER
    with directory.run_directory(target, overwrite) as workdir:
        classifier, tokenizer = models.load_trained(saved.folder)
        written = onnx.export_onnx(classifier, tokenizer, workdir, quantize)
    print(f"exported {', '.join(p.name for p in written)} with config and tokenizer to {target}")
    return target
