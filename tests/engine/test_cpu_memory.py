"""reuse_freed_memory: freed large buffers are reused instead of page-faulted in afresh."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tunecard.engine import cpu_memory

CHILD = """
import resource, sys, torch
from tunecard.engine.cpu_memory import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
torch.ones(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    buffer = torch.ones(16 * 1024 * 1024)  # 64 MB, above glibc's largest mmap threshold
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(variant: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, variant], capture_output=True, text=True, check=True,
                         timeout=300)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(cpu_memory._glibc() is None, reason="needs Linux with glibc")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    # 40 fresh 64 MB buffers are 40 x 16k page faults by default; reused, only the first few fault
    # (65k here, whatever the count of buffers)
    default, reused = page_faults("default"), page_faults("reuse")
    assert default > 500_000
    assert reused < default / 4


def test_it_is_applied_once_and_reports_whether_it_could_be():
    first = cpu_memory.reuse_freed_memory()
    assert cpu_memory.reuse_freed_memory() is first
    assert first == (cpu_memory._glibc() is not None)


@pytest.mark.parametrize("flag", [True, False])
def test_build_trainer_applies_it_on_cpu_only_when_the_flag_is_set(flag, _tiny_model_master, tmp_path, monkeypatch):
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tunecard.engine import training
    from tunecard.config import TrainConfig

    calls = []
    monkeypatch.setattr(training, "reuse_freed_memory", lambda: calls.append(1) or True)
    tokenizer = AutoTokenizer.from_pretrained(_tiny_model_master)
    model = AutoModelForSequenceClassification.from_pretrained(_tiny_model_master, num_labels=2)
    rows = datasets.Dataset.from_dict({**tokenizer(["good", "bad"]), "label": [1, 0]})
    parts = training.TrainerParts(model=model, tokenizer=tokenizer, train=rows, validation=rows)
    # a resolved config, as train hands it over (the model-size defaults set: learning rate and warm-up)
    config = TrainConfig(reuse_freed_memory=flag, learning_rate=5e-5, warmup_ratio=0.0)
    trainer, _ = training.build_trainer(parts, config, str(tmp_path), "accuracy")
    assert trainer.args.device.type == "cpu"
    assert calls == ([1] if flag else [])
