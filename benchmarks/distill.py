"""`tunecard distill` on emotion: students of a strong teacher, measured against it in one run of this script.

    python benchmarks/distill.py students    (teacher: all-mpnet-base-v2 from base_models.py emotion; students
                                              MiniLM and static; texts/s of all of them measured here)
    python benchmarks/distill.py students_paired   (the students' paired differences from the teacher again,
                                                    from their predictions: nothing trained)
    python benchmarks/distill.py sweep       (temperature and alpha of the MiniLM student, chosen on validation)
    python benchmarks/distill.py ensemble    (teacher: the 3-run MiniLM ensemble of ensembles.py; one MiniLM student)
    python benchmarks/distill.py unlabeled   (2,000 gold rows + the rest of train as unlabelled text, against
                                              the 2,000 gold rows alone)
    python benchmarks/distill.py static      (a static student alone, against its teacher and the plain MiniLM run)

`--teacher RUN` replaces the mpnet teacher of students, sweep, unlabeled and static (for example the MiniLM default
run, benchmarks/runs/emotion, when the mpnet teacher has not been trained: it takes about an hour on 2 CPU cores);
the summary names the teacher, and is written as <study>_<teacher folder>.json.

Runs (weights) go to benchmarks/runs/distill/, their cards and metrics.json to benchmarks/results/distill/<name>/,
each study's summary to benchmarks/results/distill/<study>.json. Every comparison in a summary is measured in
one run of this script on this machine; speeds are medians of SPEED_REPEATS passes over the same test texts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np

import tunecard
from paired import difference, from_predictions  # benchmarks/ is on sys.path when a script runs
from tunecard.engine.distributed import machine

HERE = Path(__file__).parent
RUNS = HERE / "runs"
OUT = RUNS / "distill"
RESULTS = HERE / "results" / "distill"
TEACHER = RUNS / "base_models" / "emotion_mpnet"
ENSEMBLE = RUNS / "ensembles" / "emotion"
PLAIN = RUNS / "emotion"  # the default MiniLM run (emotion_train.py)
SPEED_TEXTS = 2000
SPEED_REPEATS = 3
GOLD_ROWS = 2000
GOLD_SEED = 42


def distil(name: str, teacher: Path, folder: Path, **options) -> dict:
    """One student: tunecard.distill into OUT/name, its card and metrics copied to RESULTS/name. `options`: config
    sections (distill, data...) merged into the student's."""
    distill = {"teacher": str(teacher), **options.pop("distill", {})}
    config = {"data": {"path": str(folder), **options.pop("data", {})}, "distill": distill,
              "output": str(OUT / name), "overwrite": True, **options}
    started = time.perf_counter()
    run = tunecard.distill(config)
    _keep(run.output, name)
    side = run.metrics["distillation"]["splits"]
    return {"seconds": round(time.perf_counter() - started, 1), "test": side["test"],
            "validation": side["validation"], "speed_in_run": run.metrics["distillation"]["speed"],
            "trained_on": run.metrics["distillation"]["trained_on"]}


def _keep(output: Path, name: str) -> None:
    target = RESULTS / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in ("README.md", "metrics.json", "config.yaml", "history.csv"):
        shutil.copy(output / file, target / file)


def test_rows(datasets: Path) -> list[dict]:
    return [json.loads(line) for line in (datasets / "emotion" / "test.jsonl").open(encoding="utf-8")]


def speeds(models: dict[str, Path], texts: list[str]) -> tuple[dict, dict]:
    """Each model's texts/s (median of SPEED_REPEATS passes after a warm-up) and its probabilities."""
    rates, probabilities = {}, {}
    for name, path in models.items():
        predictor = tunecard.load(path)
        predictor.predict_proba(texts[:32])
        seconds = []
        for _ in range(SPEED_REPEATS):
            started = time.perf_counter()
            probabilities[name] = predictor.predict_proba(texts)
            seconds.append(time.perf_counter() - started)
        rates[name] = round(len(texts) / statistics.median(seconds), 1)
        print(f"{name}: {rates[name]} texts/s")
    return rates, probabilities


def paired(gold: np.ndarray, mine: np.ndarray, theirs: np.ndarray) -> dict:
    """Accuracy difference (mine - theirs) of two models' probabilities on the same rows, with its paired 95%
    bootstrap interval."""
    return difference(gold, mine.argmax(-1), theirs.argmax(-1), mine.shape[1])


def gold_of(rows: list[dict], labels: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    return np.array([index[str(r.get("label_text", r["label"]))] for r in rows])


def students(args) -> dict:
    data, teacher = Path(args.datasets) / "emotion", Path(args.teacher)
    results = {"minilm": distil("emotion_minilm", teacher, data),
               "static": distil("emotion_static", teacher, data, distill={"student": "static"})}
    models = {"teacher": teacher, "minilm_student": OUT / "emotion_minilm", "static_student": OUT / "emotion_static",
              "minilm_plain": PLAIN}
    rates, probs, gold = side_by_side(args, teacher, models, results)
    results["speed"]["minilm_student_over_teacher"] = round(rates["minilm_student"] / rates["teacher"], 2)
    results["minilm_student_vs_plain_minilm"] = paired(gold, probs["minilm_student"], probs["minilm_plain"])
    results["static_student_vs_plain_minilm"] = paired(gold, probs["static_student"], probs["minilm_plain"])
    results["against_the_teacher"] = against_the_teacher(teacher)
    return results


def against_the_teacher(teacher: Path) -> dict:
    """Each student's accuracy and macro F1 minus the teacher's on validation and test, with paired intervals,
    from the runs' predictions (benchmarks/paired.py; the cards give the headline's alone)."""
    return {name: from_predictions(OUT / name, teacher, ("student", "teacher"))
            for name in ("emotion_minilm", "emotion_static")}


def students_paired(args) -> dict:
    """The students study's comparisons with the teacher again, from the runs it left (nothing is trained), merged
    into results/distill/students.json."""
    path = RESULTS / "students.json"
    summary = json.loads(path.read_text())
    summary["results"]["against_the_teacher"] = against_the_teacher(Path(args.teacher))
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary["results"]["against_the_teacher"]


def side_by_side(args, teacher: Path, models: dict[str, Path], results: dict) -> tuple[dict, dict, np.ndarray]:
    """The models' texts/s and accuracy on the same SPEED_TEXTS test texts (into `results`: speed, with the static
    student's ratios to the torch MiniLM run and the teacher; accuracy_on_speed_texts). Returns (texts/s,
    probabilities, gold labels) for the study's paired comparisons."""
    rows = test_rows(Path(args.datasets))[:SPEED_TEXTS]
    rates, probs = speeds(models, [r["text"] for r in rows])
    gold = gold_of(rows, list(tunecard.load(teacher).labels))
    results["speed"] = {"texts": len(rows), "texts_per_second": rates,
                        "static_student_over_minilm": round(rates["static_student"] / rates["minilm_plain"], 1),
                        "static_student_over_teacher": round(rates["static_student"] / rates["teacher"], 1)}
    results["accuracy_on_speed_texts"] = {name: round(float((p.argmax(-1) == gold).mean()), 4)
                                          for name, p in probs.items()}
    return rates, probs, gold


SWEEP = [(1.0, 0.5), (4.0, 0.5), (2.0, 0.9), (2.0, 0.2)]
"""(temperature, alpha) tried beside the default (2.0, 0.5), which the `students` study trains."""


def sweep(args) -> dict:
    data = Path(args.datasets) / "emotion"
    results = {}
    for temperature, alpha in SWEEP:
        name = f"emotion_minilm_t{temperature:g}_a{alpha:g}"
        results[name] = distil(name, Path(args.teacher), data, distill={"temperature": temperature, "alpha": alpha})
    default = RESULTS / "emotion_minilm" / "metrics.json"
    if default.is_file():
        side = json.loads(default.read_text())["distillation"]["splits"]
        results["emotion_minilm (t2_a0.5)"] = {"validation": side["validation"], "test": side["test"]}
    chosen = max(results, key=lambda n: results[n]["validation"]["student"]["accuracy"])
    return {"runs": results, "chosen_on_validation": chosen}


def ensemble(args) -> dict:
    """The ensemble as teacher; the student against it (the card's paired interval) and against the member
    with the best validation accuracy (paired here, on the test split)."""
    data = Path(args.datasets) / "emotion"
    result = distil("emotion_from_ensemble", ENSEMBLE, data)
    listed = json.loads((ENSEMBLE / "ensemble.json").read_text())["members"]
    members = [(ENSEMBLE / m["path"]).resolve() for m in listed]
    best = max(members, key=lambda m: json.loads((m / "metrics.json").read_text())
               ["splits"]["validation"]["metrics"]["accuracy"])
    rows = test_rows(Path(args.datasets))
    rates, probs = speeds({"ensemble": ENSEMBLE, "student": OUT / "emotion_from_ensemble", "best_member": best},
                          [r["text"] for r in rows])
    gold = gold_of(rows, list(tunecard.load(ENSEMBLE).labels))
    result.update(best_member=best.name, texts_per_second=rates,
                  student_over_ensemble=round(rates["student"] / rates["ensemble"], 2),
                  accuracy={n: round(float((p.argmax(-1) == gold).mean()), 4) for n, p in probs.items()},
                  student_vs_best_member=paired(gold, probs["student"], probs["best_member"]),
                  student_vs_ensemble=paired(gold, probs["student"], probs["ensemble"]))
    return result


def gold_split(datasets: Path) -> tuple[Path, Path]:
    """GOLD_ROWS training rows (seeded) with emotion's validation and test; the other training texts, without
    their labels, as the unlabelled file."""
    folder = OUT / f"data_{GOLD_ROWS}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (datasets / "emotion" / "train.jsonl").open(encoding="utf-8")]
    random.Random(GOLD_SEED).shuffle(rows)
    with (folder / "train.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows[:GOLD_ROWS])
    for split in ("validation", "test"):
        shutil.copy(datasets / "emotion" / f"{split}.jsonl", folder / f"{split}.jsonl")
    unlabeled = OUT / "unlabeled.jsonl"
    with unlabeled.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"text": r["text"]}) + "\n" for r in rows[GOLD_ROWS:])
    return folder, unlabeled


def unlabeled(args) -> dict:
    """Plain MiniLM on the gold rows; the MiniLM student on the gold rows alone, and with the unlabelled texts.
    The teacher (mpnet) was trained on all of emotion's labelled train: what reaches the student through
    unlabelled text is the teacher's knowledge of it."""
    folder, texts = gold_split(Path(args.datasets))
    started = time.perf_counter()
    plain = tunecard.train({"data": {"path": str(folder)}, "output": str(OUT / "gold_plain"), "overwrite": True})
    _keep(plain.output, "gold_plain")
    results = {"plain": {"seconds": round(time.perf_counter() - started, 1),
                         "test_accuracy": plain.metrics["splits"]["test"]["metrics"]["accuracy"]},
               "student_gold_only": distil("gold_student", Path(args.teacher), folder),
               "student_with_unlabeled": distil("gold_unlabeled_student", Path(args.teacher), folder,
                                                data={"unlabeled": [str(texts)]})}
    rows = test_rows(Path(args.datasets))
    _, probs = speeds({"plain": OUT / "gold_plain", "gold_only": OUT / "gold_student",
                       "with_unlabeled": OUT / "gold_unlabeled_student"}, [r["text"] for r in rows])
    gold = gold_of(rows, list(tunecard.load(OUT / "gold_plain").labels))
    results["with_unlabeled_vs_plain"] = paired(gold, probs["with_unlabeled"], probs["plain"])
    results["with_unlabeled_vs_gold_only"] = paired(gold, probs["with_unlabeled"], probs["gold_only"])
    results["gold_only_vs_plain"] = paired(gold, probs["gold_only"], probs["plain"])
    return results


def static(args) -> dict:
    """A static student of the teacher, against the teacher and the plain MiniLM run: texts/s of the three measured
    here, and the paired accuracy differences on the same test texts."""
    data, teacher = Path(args.datasets) / "emotion", Path(args.teacher)
    results = {"static": distil("emotion_static", teacher, data, distill={"student": "static"})}
    models = {"teacher": teacher, "static_student": OUT / "emotion_static", "minilm_plain": PLAIN}
    _, probs, gold = side_by_side(args, teacher, models, results)
    results["static_student_vs_plain_minilm"] = paired(gold, probs["static_student"], probs["minilm_plain"])
    results["static_student_vs_teacher"] = paired(gold, probs["static_student"], probs["teacher"])
    return results


def main() -> None:
    studies = {"students": students, "students_paired": students_paired, "sweep": sweep, "ensemble": ensemble,
               "unlabeled": unlabeled, "static": static}
    parser = argparse.ArgumentParser()
    parser.add_argument("study", choices=studies)
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--teacher", default=str(TEACHER))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = studies[args.study](args)
    if args.study == "students_paired":
        print(json.dumps(results, indent=2))
        return
    teacher = str(ENSEMBLE) if args.study == "ensemble" else args.teacher
    summary = {"date": date.today().isoformat(), "machine": machine(), "teacher": teacher,
               "wall_seconds": round(time.perf_counter() - started, 1), "results": results}
    name = args.study if Path(args.teacher) == TEACHER else f"{args.study}_{Path(args.teacher).name}"
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
