"""`tunecard ensemble`: weights fitted on validation find the best member, the blend is a run that verifies,
loads and predicts, and members that cannot be blended are refused with what differs."""

import json

import numpy as np
import pandas as pd
import pytest
from huggingface_hub import ModelCard

import tunecard
from tunecard.judging import blending
from tunecard.cli import main

from conftest import make_rows, tiny_config, write_jsonl


def _member(rng, gold, sharpness):
    """Probabilities that put `sharpness` extra logit on the gold label (0: noise)."""
    logits = rng.normal(size=(len(gold), 3))
    logits[np.arange(len(gold)), gold] += sharpness
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def test_log_loss_weights_recover_a_planted_best_member():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 2000)
    probs = [_member(rng, gold, 0.0), _member(rng, gold, 3.0), _member(rng, gold, 0.0)]
    weights = blending.fit_weights(probs, gold, "log_loss")
    assert weights.sum() == pytest.approx(1) and (weights >= 0).all()
    assert weights[1] > 0.9


def test_two_informative_members_share_weight_and_the_blend_beats_both():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 4000)
    probs = [_member(rng, gold, 1.5), _member(rng, gold, 1.5), _member(rng, gold, 0.0)]
    weights = blending.fit_weights(probs, gold, "log_loss")
    assert 0.3 < weights[0] < 0.7 and 0.3 < weights[1] < 0.7 and weights[2] < 0.1
    blended = blending.blend(probs, weights)
    from sklearn.metrics import log_loss

    assert log_loss(gold, blended) < min(log_loss(gold, p) for p in probs[:2])


def test_headline_search_never_does_worse_than_the_log_loss_weights():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 3, 300)
    probs = [_member(rng, gold, s) for s in (1.0, 0.5, 0.8)]

    def accuracy(p):
        return float((p.argmax(-1) == gold).mean())
    searched = blending.fit_weights(probs, gold, "headline", accuracy)
    assert accuracy(blending.blend(probs, searched)) >= accuracy(blending.blend(probs, blending.fit_weights(probs, gold, "log_loss")))
    assert blending.fit_weights(probs, gold, "equal").tolist() == pytest.approx([1 / 3] * 3)


@pytest.fixture
def members(tiny_runs, tmp_path):
    """Three tiny classification runs of 2 epochs on the same data, seeds 1, 2 and 3 (trained once per session),
    copied side by side to tmp_path/seed1..seed3."""
    return [tiny_runs.copy("classification", tmp_path, f"seed{seed}", seed=seed, epochs=2).output
            for seed in (1, 2, 3)]


def test_an_ensemble_is_a_run_that_verifies_loads_and_predicts(tmp_path, members, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, members), "--output", str(out), "--folds", "3"]) == 0
    assert "weights (log_loss): seed1" in capsys.readouterr().out
    spec = json.loads((out / "ensemble.json").read_text())
    assert [m["path"] for m in spec["members"]] == ["../seed1", "../seed2", "../seed3"]
    assert sum(m["weight"] for m in spec["members"]) == pytest.approx(1)
    report = json.loads((out / "metrics.json").read_text())
    test = report["splits"]["test"]
    assert test["metrics"]["accuracy"] >= 0.9 and len(report["ensemble"]["leads"]["test"]) == 3
    card = ModelCard.load(out / "README.md")
    assert {e.dataset_split for e in card.data.eval_results} == {"validation", "test"}
    assert "## Members" in card.text and "out-of-fold" in card.text
    assert main(["verify", str(out)]) == 0
    # loads and predicts by running every member and blending
    texts = [r["text"] for r in make_rows(6, seed=5)]
    blended = tunecard.load(out).predict_proba(texts)
    singles = [tunecard.load(m).predict_proba(texts) for m in members]
    assert blended == pytest.approx(sum(m["weight"] * p for m, p in zip(spec["members"], singles)), abs=1e-6)
    data = write_jsonl(tmp_path / "new.jsonl", [{"text": t} for t in texts])
    assert main(["predict", "--model", str(out), "--data", data, "--output", str(tmp_path / "p.csv")]) == 0
    frame = pd.read_csv(tmp_path / "p.csv")
    assert frame["prediction"].tolist() == tunecard.load(out).predict(texts)


def test_members_of_other_data_are_refused(tmp_path, members, tiny_model, capsys):
    other = tmp_path / "other"
    for split, seed in (("train", 11), ("validation", 12), ("test", 13)):
        write_jsonl(other / f"{split}.jsonl", make_rows(60 if split == "train" else 20, seed=seed))
    odd = tunecard.train(tiny_config(other, tiny_model, tmp_path / "odd", epochs=1)).output
    assert main(["ensemble", str(members[0]), str(odd), "--output", str(tmp_path / "ens")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # (after the data-loading bars of the training above)
    assert err.startswith(f"tunecard: error: member {odd}: expected the validation rows (ids and gold labels) of "
                          f"{members[0]}; found other rows (first difference at row ")
    assert err.endswith("). Fix: blend runs trained on the same data splits for the same task")
    assert not (tmp_path / "ens").exists()
    assert main(["ensemble", str(members[0]), "--output", str(tmp_path / "ens")]) == 2
    assert "expected two or more run directories" in capsys.readouterr().err
