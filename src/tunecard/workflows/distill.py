"""`tunecard distill`, read top to bottom: open the teacher, make the student's config (the teacher's task and data
unless given; for a static student, Model2Vec's embeddings of model.name), and train it with `train` and the
Distillation extension: the teacher scores every text once (cached in the run's teacher/ folder, found again by
--resume), its logits are packed beside the gold labels as the student's targets, and the loss mixes the teacher's
softened probabilities with the gold labels. The card then sets teacher and student side by side."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tunecard import console
from tunecard.config import Config, DistillConfig, as_config
from tunecard.errors import TunecardError, raise_all

STATIC_LEARNING_RATE = 1e-2
"""A static student's default: its linear head (and embeddings) learn at a linear probe's rate, not a transformer's
(on emotion it reached test accuracy 0.872 from a MiniLM teacher of 0.932, benchmarks/distill.py static; no other
rate was compared)."""
SPEED_TEXTS = 1000
"""Test texts (at most) both models score to measure texts/s on this machine."""


def distill(config: Config):
    """Train a student (model.name, MiniLM by default; or a static one) on a teacher's softened probabilities and the
    gold labels, and write a normal run directory whose card sets the two side by side. `config`: the student's
    options (a Config, dict or YAML path) with distill.teacher; its data defaults to the teacher run's. config.yaml
    records the teacher: `tunecard distill --config <output>/config.yaml` reproduces the run. Returns the
    RunResult.

    Args:
        config: The student's run options, as for `train`, and distill.teacher (--teacher), distill.temperature,
            distill.alpha, distill.student.
    """
    from tunecard.runs.saved import open_saved
    from tunecard.workflows.train import train

    console.quiet_library_progress()
    config = as_config(config)
    if not config.distill.teacher:
        raise TunecardError("--teacher", "a trained run to learn from", "none", "pass --teacher runs/NAME")
    raise_all(config.distill.problems())
    teacher = open_saved(config.distill.teacher).require_trained()
    return train(student_config(config, teacher), extension=Distillation(teacher, config.distill))


def student_config(config: Config, teacher) -> Config:
    """The student's config: the teacher's task (as a label classifier) and, unless given, the teacher run's data;
    a static student's model is Model2Vec's embeddings of model.name, trained at STATIC_LEARNING_RATE unless set."""
    from tunecard import tasks

    teachers = [name for name in tasks.TASKS if tasks.task_class(name).student_task]
    student_task = tasks.task_class(teacher.task_name).student_task
    if not student_task:
        raise TunecardError(f"--teacher {teacher.path}", f"a run of a task whose outputs are label probabilities "
                            f"({', '.join(teachers)})", f"a {teacher.task_name} run",
                            f"distil a run of {', '.join(teachers)}")
    config.task = student_task
    if not (config.data.path or config.data.train):
        config.data = _teacher_run(teacher).run_config().data
    if config.distill.student == "static" and not _is_static(config.model.name):  # (config.yaml names it already)
        from tunecard.engine import models

        config.model.base_model = config.model.base_model or models.resolve_model(config.model.name).base_model
        config.model.name = str(_static_base(config.model.name, config.distill.static_dims))
    if config.distill.student == "static":
        config.train.learning_rate = config.train.learning_rate or STATIC_LEARNING_RATE
    return config


def _is_static(name: str) -> bool:
    import json

    from tunecard.engine import static

    path = Path(name) / "config.json"
    return path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("model_type") == static.MODEL_TYPE


def _teacher_run(teacher):
    """The run whose data the teacher was trained on (an ensemble's: its first member's)."""
    run = teacher.members[0] if teacher.members else teacher
    if run.run_dir is None or not (run.run_dir / "config.yaml").is_file():
        raise TunecardError(f"--teacher {teacher.path}", "a run directory with config.yaml (its data is the "
                            "student's), or --data", "a model folder alone", "pass the student's --data")
    return run


def _static_base(encoder: str, dims: int) -> Path:
    """Model2Vec's static embeddings of `encoder`, distilled once into tunecard's cache."""
    import hashlib

    from tunecard.engine import models, static

    ref = models.resolve_model(encoder)
    key = hashlib.sha256(f"{ref.location}|{dims}".encode()).hexdigest()[:12]
    folder = models.cache_dir() / "static" / f"{Path(ref.location).name}-{dims}-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"tunecard distill: static embeddings of {ref.base_model} ({dims} wide) in {folder}")
    return static.distil(ref.location, folder, dims)


class Distillation:
    """The train extension of `tunecard distill` (see workflows/train.py)."""

    name = "distillation"

    def __init__(self, teacher, settings: DistillConfig):
        self.teacher, self.settings = teacher, settings
        self.predictor = None
        self.logits: dict[str, np.ndarray] = {}

    def prepare(self, run, workdir: Path) -> None:
        """The teacher's logits for every text (cached in workdir/teacher), packed into the student's targets;
        the unlabeled texts joined to train with the teacher's targets alone."""
        import datasets

        self.predictor = self.teacher.load(run.config.train.eval_batch_size)
        self.unpacked_gold = run.task.unpacked_gold
        self._check_labels(run.prepared.label_names)
        splits = dict(run.prepared.splits)
        unlabeled = _unlabeled(run)
        if unlabeled is not None:
            splits["unlabeled"] = unlabeled
        for name, dataset in splits.items():
            self.logits[name] = _cached(workdir / "teacher" / f"{name}.npy", len(dataset),
                                        lambda ds=dataset: run.task.teacher_logits(_probabilities(self.predictor, ds)))
        # Trainer reads the packed targets; run.tokenized stays as it is, for scoring every split afterwards
        self.train = self._packed(run, "train", run.tokenized["train"])
        self.validation = self._packed(run, "validation", run.tokenized["validation"])
        if unlabeled is not None:
            rows = run.task.tokenize(unlabeled, run.tokenizer, run.config.model.max_length)
            self.train = datasets.concatenate_datasets([self.train, self._packed(run, "unlabeled", rows)])
        self.trained_on = {"train": len(run.prepared.splits["train"]), "unlabeled": len(unlabeled or [])}

    def _check_labels(self, names: list[str]) -> None:
        if list(self.predictor.labels) != list(names):
            raise TunecardError(f"--teacher {self.teacher.path}", f"the labels of the student's data ({names})",
                                f"{list(self.predictor.labels)}", "distil on the data the teacher was trained for")

    def _packed(self, run, name: str, rows):
        """`rows` (tokenized; windows carry their text's `document`) with `labels` = the packed targets."""
        documents = np.asarray(rows["document"]) if "document" in rows.column_names else np.arange(len(rows))
        teacher, gold = self.logits[name][documents], rows["label"]
        keep = [c for c in rows.column_names if c in ("input_ids", "attention_mask", "token_type_ids", "length",
                                                      "document")]
        return rows.select_columns(keep).add_column("labels", run.task.packed_targets(gold, teacher))

    def trainer_parts(self, parts, run):
        import dataclasses

        loss = run.task.distillation_loss(self.settings.temperature, self.settings.alpha)
        return dataclasses.replace(parts, train=self.train, validation=self.validation, loss=loss)

    def compute_metrics(self, compute):
        """The task's per-epoch metrics, on the gold labels inside the packed targets."""
        from transformers import EvalPrediction

        def on_gold(prediction) -> dict:
            return compute(EvalPrediction(prediction.predictions, self.unpacked_gold(prediction.label_ids)))
        return on_gold

    def report(self, run, evaluations) -> dict:
        """Teacher beside student on every judged split, with the paired interval of their difference, their
        agreement, their sizes, and both models' texts/s measured here."""
        teacher_task = self.teacher.task()
        splits = {}
        for judged in evaluations:
            name = judged.report.name
            splits[name] = _side_by_side(run, teacher_task, judged, self.logits[name])
        return {"teacher": self.teacher.path, "teacher_base_model": _base_model(self.teacher),
                "temperature": self.settings.temperature, "alpha": self.settings.alpha,
                "student": self.settings.student, "trained_on": self.trained_on, "splits": splits,
                "parameters": {"teacher": self.teacher.parameters(), "student": _parameters(run.model)},
                "speed": _speed(run, self.predictor)}


def _unlabeled(run):
    """data.unlabeled's texts in the task's contract (label: none), or None."""
    from tunecard.data.columns import infer_text_columns
    from tunecard.data.readers import ReadOptions, read_files

    paths = run.config.data.unlabeled
    if not paths:
        return None
    dataset = read_files(paths, ReadOptions.of(run.config.data))
    text, pair = infer_text_columns(dataset.column_names, run.config.data.text_column, run.config.data.text_pair_column)
    keep = {text: "text", **({pair: "text_pair"} if pair else {})}
    dataset = dataset.select_columns(list(keep)).rename_columns({k: v for k, v in keep.items() if k != v})
    width = len(run.prepared.label_names)
    blank = [-1.0] * width if run.task.independent_labels else -1
    return dataset.add_column("label", [blank] * len(dataset)).add_column("id", [f"u{i}" for i in range(len(dataset))])


def _cached(path: Path, rows: int, compute) -> np.ndarray:
    """The array saved at `path` when it has `rows` rows (computed before this run stopped), else computed now and
    saved (written whole, then renamed: a killed run never leaves half an array)."""
    if path.is_file():
        values = np.load(path)
        if len(values) == rows:
            return values
    values = np.asarray(compute(), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, values)
    partial.replace(path)
    return values


def _probabilities(predictor, dataset) -> np.ndarray:
    """The teacher's probabilities for a split's texts (and pairs), in row order."""
    texts = list(dataset["text"])
    pairs = list(dataset["text_pair"]) if "text_pair" in dataset.column_names else None
    with console.progress(total=len(texts), desc="Teacher scoring", unit="text") as bar:
        return predictor.predict_proba(texts, pairs, bar=bar)


def _side_by_side(run, teacher_task, judged, teacher_logits: np.ndarray) -> dict:
    """One split: the student's and the teacher's headline (and accuracy), the paired interval of the student's
    lead, and how often the two give the same answer."""
    name, names, seed = judged.report.name, run.prepared.label_names, run.config.train.seed
    dataset = run.prepared.splits[name]
    taught = teacher_task.judge(name, dataset, teacher_logits, names, run.train_counts, None, seed)
    student, teacher = run.task.predicted(judged.probs), teacher_task.predicted(taught.probs)
    paired = run.task.paired(dataset, {"student": (student, judged.probs), "teacher": (teacher, taught.probs)},
                             names, seed)
    headline = run.task.headline_metric(names)
    keys = [k for k in (headline, "accuracy", "subset_accuracy") if k in judged.report.metrics][:2]
    same = np.asarray(student) == np.asarray(teacher)
    mine, theirs = judged.report.metrics, taught.report.metrics
    return {"student": {k: mine[k] for k in keys}, "teacher": {k: theirs[k] for k in keys}, "metric": headline,
            "difference": mine[headline] - theirs[headline], "interval": paired["differences"]["teacher"],
            "agreement": float(same.reshape(len(same), -1).all(-1).mean())}


def _base_model(saved) -> str:
    run = saved.members[0] if saved.members else saved
    return (run.settings.base_model if run.settings is not None else None) or run.path


def _parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _speed(run, teacher) -> dict:
    """Texts per second of the student and the teacher on the same test (or validation) texts, on this machine."""
    from tunecard.engine import distributed, inference

    split = run.prepared.splits.get("test") or run.prepared.splits["validation"]
    rows = split.select(range(min(SPEED_TEXTS, len(split))))
    texts = list(rows["text"])
    pairs = list(rows["text_pair"]) if "text_pair" in rows.column_names else None
    student = inference.Classifier(inference.TorchRunner(run.model), run.tokenizer, run.prepared.label_names,
                                   run.config.model.max_length, None, run.config.train.eval_batch_size,
                                   windows=run.task.windows)
    rates = {}
    for who, predictor in (("student", student), ("teacher", teacher)):
        predictor.predict_proba(texts[:16], pairs[:16] if pairs else None)  # warm-up: first calls pay for setup
        started = time.perf_counter()
        predictor.predict_proba(texts, pairs)
        rates[who] = round(len(texts) / (time.perf_counter() - started), 1)
    return {"texts": len(texts), "student_texts_per_second": rates["student"],
            "teacher_texts_per_second": rates["teacher"], "ratio": round(rates["student"] / rates["teacher"], 2),
            "machine": distributed.machine()}
