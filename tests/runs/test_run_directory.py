"""runs/directory.py: a run is written to <output>.partial and moved into place when it is complete, so a failed
run leaves nothing, and an existing output is never overwritten."""

from __future__ import annotations

import pytest

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard.cli import main


def test_failed_run_leaves_nothing(tmp_path, tiny_model, sentiment_dir, monkeypatch):
    from tunecard.engine import training

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(training, "train", explode)
    with pytest.raises(RuntimeError):
        tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run"))
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_existing_output_is_never_overwritten(capsys, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", make_rows(10))
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "--data", str(data), "--model", "minilm", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tunecard: error: output {out}: expected a path that does not exist yet; found an existing file "
                   "or folder. Fix: choose another --output or pass --overwrite")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert (out / "keep.txt").read_text() == "mine"
