"""Command line: parse arguments and call `tunecard.api`. No logic lives here."""

from __future__ import annotations

import os
import re
import sys
from typing import Optional

from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser, set_parsing_settings

from tunecard.config import (Config, IndexConfig, LlmConfig, RetrievalConfig, ServeConfig, TuneConfig,
                             config_from_dict, expected_value)
from tunecard.errors import TunecardError

# Short flags users type most, mapped onto the nested config keys they stand for.
TRAIN_SHORTCUTS = {"--data": "--data.path", "--model": "--model.name"}


def build_parser() -> ArgumentParser:
    set_parsing_settings(docstring_parse_attribute_docstrings=True)  # config field docs -> --help
    parser = ArgumentParser(prog="tunecard", description="Fine-tune text classifiers and write honest model cards.")
    commands = parser.add_subcommands(dest="command")

    train = ArgumentParser(description="Fine-tune a model and write a run directory with its model card. "
                                       "--data is data.path, --model is model.name.")
    train.add_argument("--config", action=ActionConfigFile, help="YAML file with any of the options below")
    train.add_class_arguments(Config, as_group=False)
    commands.add_subcommand("train", train, help="fine-tune, evaluate and write the card")

    tune = ArgumentParser(description="Search training options with Optuna: trials judged on validation, the "
                                      "best trained again into <output>/best. Run again to resume.")
    tune.add_argument("--config", action=ActionConfigFile, help="YAML file with any of the options below")
    tune.add_class_arguments(Config, as_group=False)
    tune.add_class_arguments(TuneConfig, nested_key="tune")
    commands.add_subcommand("tune", tune, help="search hyperparameters; the best trial becomes a run")

    evaluate = ArgumentParser(description="Score labelled data with a trained model, or (with --task) a model "
                                          "tunecard did not train, zero-shot.")
    evaluate.add_argument("--model", required=True,
                          help="a run directory or model folder; with --task also an alias, model folder, hub id "
                               "or PEFT adapter folder")
    evaluate.add_argument("--data", required=True, help="a labelled file, a folder of splits or a hub id")
    evaluate.add_argument("--output", default=None, help="folder for metrics.json, predictions, plots, README.md")
    evaluate.add_argument("--text_column", default=None)
    evaluate.add_argument("--text_pair_column", default=None)
    evaluate.add_argument("--label_column", default=None)
    evaluate.add_argument("--batch_size", type=int, default=64)
    evaluate.add_argument("--max_length", type=int, default=None, help="unset: the model's limit (at most 512)")
    evaluate.add_argument("--overwrite", type=bool, default=False)
    evaluate.add_argument("--k", type=Optional[int], default=None, help="multiple_choice: also report MAP@k")
    evaluate.add_class_arguments(RetrievalConfig, nested_key="retrieval")
    evaluate.add_argument("--task", type=Optional[str], default=None,
                          help="score a model tunecard did not train zero-shot as this task: multiple_choice (each "
                               "option by its log-likelihood) or llm_classification (each label by the likelihood "
                               "of its words); a run is evaluated as the task it was trained for")
    evaluate.add_class_arguments(LlmConfig, nested_key="llm")
    commands.add_subcommand("evaluate", evaluate, help="score a labelled file with a trained model (or zero-shot)")

    predict = ArgumentParser(description="Predict labels for a file of texts, in input order, in chunks.")
    predict.add_argument("--model", required=True, help="a run directory or model folder")
    predict.add_argument("--data", required=True, help="a CSV, TSV, JSONL, JSON, Parquet or .txt file of texts")
    predict.add_argument("--output", required=True, help="predictions file: .csv, .jsonl or .parquet")
    predict.add_argument("--top_k", type=Optional[int], default=None,
                         help="also write the K most likely labels, ranked (unset: 1; multiple_choice: 3 letters)")
    predict.add_argument("--text_column", default=None)
    predict.add_argument("--text_pair_column", default=None)
    predict.add_argument("--batch_size", type=int, default=64)
    predict.add_argument("--chunk_size", type=int, default=8192, help="rows read, scored and written at a time")
    predict.add_argument("--backend", default="torch",
                         help="torch, or onnx: the model written by `tunecard export` (int8 when exported so)")
    predict.add_argument("--overwrite", type=bool, default=False)
    predict.add_argument("--submission", default=None,
                         help="also write a Kaggle id,prediction CSV (multiple_choice: the ranked letters)")
    predict.add_class_arguments(RetrievalConfig, nested_key="retrieval")
    commands.add_subcommand("predict", predict, help="predict labels for new texts")

    export = ArgumentParser(description="Export a trained classifier to ONNX for `predict --backend onnx`.")
    export.add_argument("--model", required=True, help="a run directory or model folder")
    export.add_argument("--format", default="onnx", help="onnx")
    export.add_argument("--quantize", default=None, help="int8: also write a dynamically quantised model_int8.onnx")
    export.add_argument("--output", default=None, help="folder to write (default: <model folder>/onnx)")
    export.add_argument("--overwrite", type=bool, default=False)
    commands.add_subcommand("export", export, help="export a trained classifier to ONNX")
    push = ArgumentParser(description="Upload a run's model folder (card and images included) to the Hub.")
    push.add_argument("model", help="a run directory or model folder")
    push.add_argument("--repo", required=True, help="the Hub model repo: user/name or org/name")
    push.add_argument("--private", action=ActionYesNo, default=False, help="create the repo private")
    push.add_argument("--dry_run", "--dry-run", action=ActionYesNo, default=False,
                      help="check the folder (links, no pickle) and list what would be uploaded; upload nothing")
    commands.add_subcommand("push", push, help="upload a trained model to the Hugging Face Hub")
    ensemble = ArgumentParser(description="Blend trained runs with weights fitted on validation; write a run "
                                          "directory whose model loads and predicts like one.")
    ensemble.add_argument("runs", nargs="+", help="run directories of the same task, labels and data splits")
    ensemble.add_argument("--output", required=True, help="the ensemble's run directory to create")
    ensemble.add_argument("--objective", default=None,
                          help="log_loss (default; multiple_choice: headline, its MAP@3), headline or equal")
    ensemble.add_argument("--folds", type=int, default=0,
                          help="K >= 2: report validation out-of-fold (weights fitted on the other folds)")
    ensemble.add_argument("--overwrite", type=bool, default=False)
    commands.add_subcommand("ensemble", ensemble, help="blend trained runs with weights fitted on validation")
    verify = ArgumentParser(description="Recompute every number of a run's metrics.json and card from its "
                                        "predictions files; exit 1 if any differs.")
    verify.add_argument("run", help="a run directory (written by tunecard train, ensemble or tune)")
    commands.add_subcommand("verify", verify, help="check a run's numbers against its predictions")
    index = ArgumentParser(description="Build a passage index (dense, bm25 or hybrid) for --retrieval.index.")
    index.add_class_arguments(IndexConfig, as_group=False)
    commands.add_subcommand("index", index, help="build a passage index for open-book multiple choice")
    serve = ArgumentParser(description="Serve a trained model over HTTP: POST /predict with dynamic batching, "
                                       "a try-it page at /, /health, /info, /metrics and /docs.")
    serve.add_class_arguments(ServeConfig, as_group=False)
    commands.add_subcommand("serve", serve, help="serve a trained model over HTTP")
    return parser


def expand_shortcuts(argv: list[str]) -> list[str]:
    """`train --data X` (and `tune`) -> `--data.path X`; also --print-config -> --print_config."""
    if not argv or argv[0] not in ("train", "tune"):
        return argv
    expanded = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        flag = TRAIN_SHORTCUTS.get(flag, flag)
        flag = "--print_config" if flag == "--print-config" else flag
        expanded.append(flag + sep + value)
    return expanded


def main(argv: list[str] | None = None) -> int:
    argv = expand_shortcuts(list(sys.argv[1:] if argv is None else argv))
    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set RANK
    if not main_process:
        os.environ.setdefault("TQDM_DISABLE", "1")  # one set of progress bars, the main process's
    try:
        return _run(_parse(argv))
    except TunecardError as exc:
        if main_process:  # every process meets the same bad input: say it once
            print(f"tunecard: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _parse(argv: list[str]):
    """Parsed arguments; the parser's own complaint becomes one TunecardError line."""
    import argparse

    parser = build_parser()
    for each in (parser, *parser._subcommands_action._name_parser_map.values()):
        each.exit_on_error = False
    try:
        return parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        _check_config_file(argv)  # a --config file that does not parse is named with its line and column
        raise _argument_error(str(exc), argv[0] if argv else "") from None


def _check_config_file(argv: list[str]) -> None:
    from tunecard.config import read_config_file

    if "--config" in argv[:-1]:
        read_config_file(argv[argv.index("--config") + 1])


PARSER_TYPE_ERROR = re.compile(r'Parser key "([^"]+)":\s*Expected a <class \'(\w+)\'>\. Got value: (.*)', re.S)
TYPE_WORDS = {"float": "a number", "int": "a whole number", "bool": "true or false", "str": "a text"}


PARSER_UNION_ERROR = re.compile(r'Parser key "([^"]+)":\s*Does not validate against any of the Union subtypes.*'
                                r'Given value: (.*)', re.S)


def _argument_error(message: str, command: str) -> TunecardError:
    typed = PARSER_TYPE_ERROR.match(message.strip())
    if typed and typed.group(2) in TYPE_WORDS:
        key, expected = typed.group(1), TYPE_WORDS[typed.group(2)]
        return TunecardError(f"--{key}", expected, repr(typed.group(3).strip()), f"set --{key} to {expected}")
    union = PARSER_UNION_ERROR.match(message.strip())
    if union and expected_value(union.group(1)):
        key, expected = union.group(1), expected_value(union.group(1))
        return TunecardError(f"--{key}", expected, repr(union.group(2).strip()), f"set --{key} to {expected}")
    first = " ".join(message.split())
    return TunecardError(f"tunecard {command}".strip(), "the options its --help lists", first,
                         f"run: tunecard {command} --help".replace("  ", " "))


def _run(args) -> int:
    import datasets

    from tunecard import api

    datasets.disable_progress_bars()  # file-loading bars; training and scoring show their own
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # a file that does not parse is our one-line error
    if args.command == "train":
        values = args.train.as_dict()
        values.pop("config", None)
        values.pop("__path__", None)
        config = config_from_dict(values)
        run = api.train(config)
        if config.strict and run is not None and run.has_errors:
            print("tunecard: --strict: the run has error-level diagnostics (see above)", file=sys.stderr)
            return 1
    elif args.command == "tune":
        values = args.tune.as_dict()
        for key in ("config", "__path__"):
            values.pop(key, None)
        tune_values = values.pop("tune")
        api.tune(config_from_dict(values), TuneConfig(**tune_values))
    elif args.command == "evaluate":
        api.evaluate(**args.evaluate.as_dict())
    elif args.command == "predict":
        written = api.predict(**args.predict.as_dict())
        if written is not None:  # None: another process of several, which wrote nothing
            print(f"predictions written to {written}")
    elif args.command == "ensemble":
        api.ensemble(**args.ensemble.as_dict())
    elif args.command == "verify":
        return 1 if api.verify(args.verify.run) else 0
    elif args.command == "push":
        api.push(**args.push.as_dict())
    elif args.command == "export":
        api.export(**args.export.as_dict())
    elif args.command == "serve":
        values = args.serve.as_dict()
        values.pop("__path__", None)
        api.serve(ServeConfig(**values))
    elif args.command == "index":
        values = args.index.as_dict()
        values.pop("__path__", None)
        api.index(IndexConfig(**values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
