"""Command line: one subcommand per verb, each built from the verb's own signature and docstring (jsonargparse),
so every default and every option's help is written once, where the verb or its config dataclass declares it.

How a signature becomes options: a parameter typed with a config dataclass and named `config` gives its fields
as flags (`--train.learning_rate`, or `--corpus` for an IndexConfig), with `--config FILE`; another dataclass
parameter gives nested flags (`--tune.trials`); a positional-only parameter is a positional argument; a
keyword-only one is for Python callers only. Switches work bare (`--resume` means `--resume true`). No logic lives
here: a bad argument becomes one TunecardError line and exit status 2."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import sys
import typing

from jsonargparse import ActionConfigFile, ArgumentParser, set_parsing_settings

from tunecard.config import Config, config_from_dict, expected_value, read_config_file
from tunecard.errors import TunecardError

VERBS = {
    "train": "fine-tune, evaluate and write the card",
    "tune": "search hyperparameters; the best trial becomes a run",
    "distill": "train a fast student on a strong teacher's probabilities",
    "evaluate": "score a labelled file with a trained model (or zero-shot)",
    "predict": "predict labels for new texts",
    "abstain": "fit the confidence cut-off under which a trained run abstains",
    "export": "export a trained classifier to ONNX",
    "push": "upload a trained model to the Hugging Face Hub",
    "ensemble": "blend trained runs with weights fitted on validation",
    "verify": "check a run's numbers against its predictions",
    "index": "build a passage index for open-book multiple choice",
    "serve": "serve a trained model over HTTP",
}
"""Verb -> its one-line help; the verb itself is `tunecard.<verb>` (workflows/<verb>.py)."""
SHORTCUTS = {"--data": "--data.path", "--model": "--model.name", "--teacher": "--distill.teacher"}
"""Flags users type most, for verbs that take a Config: what they stand for."""


def verb_function(verb: str):
    import tunecard

    return getattr(tunecard, verb)


def parser_for(argv: list[str]) -> ArgumentParser:
    """The parser of the verb `argv` names, alone; every verb's when it names none (top-level help, a typo).
    Building a verb's parser reads its signature and docstrings (about a second for all twelve): a command
    builds only its own, once per process."""
    return build_parser((argv[0],) if argv and argv[0] in VERBS else tuple(VERBS))


@functools.cache
def build_parser(verbs: tuple[str, ...] = tuple(VERBS)) -> ArgumentParser:
    set_parsing_settings(docstring_parse_attribute_docstrings=True)  # config field docs -> --help
    parser = ArgumentParser(prog="tunecard", description="Fine-tune text classifiers and write honest model cards.")
    commands = parser.add_subcommands(dest="command")
    for verb in verbs:
        commands.add_subcommand(verb, verb_parser(verb_function(verb)), help=VERBS[verb])
    return parser


def verb_parser(function) -> ArgumentParser:
    """A parser for one verb, from its signature and docstring (see the module docstring)."""
    parser = ArgumentParser(description=inspect.getdoc(function).split("\n\n")[0])
    hints = typing.get_type_hints(function)
    skip = set()
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is parameter.KEYWORD_ONLY:
            skip.add(name)
        elif parameter.kind is parameter.POSITIONAL_ONLY:
            skip.add(name)
            parser.add_argument(name, nargs="+" if typing.get_origin(hints[name]) is list else None,
                                help=_parameter_docs(function).get(name))
        elif _dataclass_of(hints[name]):
            skip.add(name)
            if name == "config":
                parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any of the options below")
                parser.add_class_arguments(_dataclass_of(hints[name]), as_group=False)
            else:
                parser.add_class_arguments(_dataclass_of(hints[name]), nested_key=name)
    parser.add_function_arguments(function, as_group=False, skip=skip)
    return parser


def _dataclass_of(hint):
    """The config dataclass a parameter takes (`T` or `Optional[T]`), else None."""
    options = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is typing.Union \
        else [hint]
    return options[0] if len(options) == 1 and dataclasses.is_dataclass(options[0]) else None


def _parameter_docs(function) -> dict[str, str]:
    import docstring_parser

    return {p.arg_name: p.description for p in docstring_parser.parse(function.__doc__ or "").params}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set RANK
    if not main_process:
        os.environ.setdefault("TQDM_DISABLE", "1")  # one set of progress bars, the main process's
    try:
        parser = parser_for(argv)
        argv = expand(argv, parser)
        return _run(parser, _parse(parser, argv), argv)
    except TunecardError as exc:
        if main_process:  # every process meets the same bad input: say it once
            print(f"tunecard: error: {exc}", file=sys.stderr)
        return exc.exit_code


def expand(argv: list[str], parser: ArgumentParser) -> list[str]:
    """Flags as users type them: `--data X` for a verb that takes a Config is `--data.path X`; `--dry-run` is
    `--dry_run`; a bare switch (`--resume`, then another flag or nothing) is `--resume true`."""
    if not argv or argv[0] not in VERBS:
        return argv
    verb_parser_ = parser._subcommands_action._name_parser_map[argv[0]]
    switches = {option for action in verb_parser_._actions for option in action.option_strings
                if _is_switch(action)}
    takes_config = typing.get_type_hints(verb_function(argv[0])).get("config") is Config
    expanded = [argv[0]]
    for i, arg in enumerate(argv[1:], start=1):
        flag, sep, value = arg.partition("=")
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("-", "_")
            flag = SHORTCUTS.get(flag, flag) if takes_config else flag
        expanded.append(flag + sep + value)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if flag in switches and not sep and (following is None or following.startswith("--")):
            expanded.append("true")
    return expanded


def _is_switch(action) -> bool:
    return getattr(action, "_typehint", None) is bool or action.type is bool


def _parse(parser: ArgumentParser, argv: list[str]):
    """Parsed arguments; the parser's own complaint becomes one TunecardError line."""
    import argparse

    for each in (parser, *parser._subcommands_action._name_parser_map.values()):
        each.exit_on_error = False
    try:
        return parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        if "--config" in argv[:-1]:  # a --config file that does not parse is named with its line and column
            read_config_file(argv[argv.index("--config") + 1])
        raise _argument_error(str(exc), argv[0] if argv else "") from None


PARSER_TYPE_ERROR = re.compile(r'Parser key "([^"]+)":\s*Expected a <class \'(\w+)\'>\. Got value: (.*)', re.S)
PARSER_UNION_ERROR = re.compile(r'Parser key "([^"]+)":\s*Does not validate against any of the Union subtypes.*'
                                r'Given value: (.*)', re.S)
TYPE_WORDS = {"float": "a number", "int": "a whole number", "bool": "true or false", "str": "a text"}


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


def _run(parser: ArgumentParser, args, argv: list[str]) -> int:
    import datasets

    from tunecard.console import quiet_library_progress

    quiet_library_progress()
    datasets.disable_progress_bars()  # file-loading bars; training and scoring show their own
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # a file that does not parse is our one-line error
    function = verb_function(args.command)
    values = args[args.command].as_dict()
    result = function(*_call_arguments(function, values, _given(argv)))
    return getattr(result, "exit_status", 0)


def _call_arguments(function, values: dict, given: set[str]) -> list:
    """The verb's arguments from the parsed values. A `config` dataclass gets only the options given on the
    command line or in --config (the verb fills in the defaults, and knows what the user fixed)."""
    values.pop("__path__", None)
    config_file = values.pop("config", None) if "config" in values and not isinstance(values["config"], dict) else None
    hints = typing.get_type_hints(function)
    arguments = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is parameter.KEYWORD_ONLY:
            continue
        kind = _dataclass_of(hints[name])
        if name == "config" and kind:
            own = {k: v for k, v in values.items() if k not in inspect.signature(function).parameters}
            chosen = _only(own, given | _file_keys(config_file))
            arguments.append(config_from_dict(chosen) if kind is Config else kind(**own))
        elif kind:
            arguments.append(kind(**(values.get(name) or {})))
        else:
            arguments.append(values.get(name, parameter.default))
    return arguments


def _given(argv: list[str]) -> set[str]:
    """The options written on the command line (`--train.epochs 1` -> train.epochs)."""
    return {arg[2:].partition("=")[0] for arg in argv[1:] if arg.startswith("--")}


def _file_keys(path) -> set[str]:
    if not path:
        return set()
    return set(_flat(read_config_file(str(path[0]) if isinstance(path, list) else str(path)) or {}))


def _flat(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and key != "space":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _only(values: dict, keys: set[str]) -> dict:
    """The nested values whose dotted keys are in `keys`."""
    chosen: dict = {}
    for key, value in _flat(values).items():
        if key in keys:
            section = chosen
            *parents, leaf = key.split(".")
            for parent in parents:
                section = section.setdefault(parent, {})
            section[leaf] = value
    return chosen


if __name__ == "__main__":
    sys.exit(main())
