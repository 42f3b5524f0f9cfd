"""The abstention section (`abstain`): a section of its own module, as sections.py is at its size limit. Its
docstrings are documentation like every section's (docs/hooks/config_reference.py reads every module of config/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from tunecard.errors import TunecardError


@dataclass
class AbstainConfig:
    """Abstention (docs/predict-export.md#abstention): a confidence cut-off fitted on validation, saved with the model,
    under which every path (load().predict, predict, serve, ONNX, Ray Data) marks a row abstained instead of
    giving its label. Give one of the two; `tunecard abstain RUN` fits it for a trained run without retraining."""
    target_accuracy: Optional[float] = None
    """Abstain below the lowest confidence (the top probability after the fitted temperature) at which the kept
    validation rows are at least this accurate (e.g. 0.97). Unset with coverage unset: never abstain."""
    coverage: Optional[float] = None
    """Or keep at least this share of the validation rows (e.g. 0.9), abstaining on the least confident rest."""

    def problems(self, prefix: str = "abstain.") -> list[TunecardError]:
        problems = [TunecardError(f"--{prefix}{name}", "a share above 0, at most 1", repr(value),
                                  f"set --{prefix}{name} (e.g. {example})")
                    for name, value, example in (("target_accuracy", self.target_accuracy, 0.97),
                                                 ("coverage", self.coverage, 0.9))
                    if value is not None and not 0 < value <= 1]
        if self.target_accuracy is not None and self.coverage is not None:
            problems.append(TunecardError(f"--{prefix}target_accuracy, --{prefix}coverage", "one of them",
                                          "both", f"drop one of --{prefix}target_accuracy and --{prefix}coverage"))
        return problems

    @property
    def asked(self) -> Optional[str]:
        """The option given (target_accuracy or coverage); None when neither is."""
        return next((name for name in ("target_accuracy", "coverage") if getattr(self, name) is not None), None)
