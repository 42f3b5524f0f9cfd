"""Configs from plain values and YAML files, and back: type-checked field by field (every problem at once), with
one-line errors for a file that is missing or does not parse."""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from tunecard.config.sections import Config
from tunecard.errors import TunecardError, TunecardErrors


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build a Config from nested plain values (a parsed YAML file), rejecting unknown keys."""
    problems: list[TunecardError] = []
    config = _build(Config, values or {}, "", problems)
    if problems:
        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)
    return config


def _build(cls, values, prefix: str, problems: list) -> Any:
    if not isinstance(values, dict):
        problems.append(TunecardError(f"config key '{prefix.rstrip('.') or 'config'}'", "a mapping of keys to values",
                                      repr(values), "write it as nested keys (see tunecard train --print-config)"))
        return cls()
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            problems.append(TunecardError(
                f"config key '{prefix}{key}'", f"one of {', '.join(known)}", f"'{key}'",
                "remove it or correct its spelling"))
            continue
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value if value is not None else {}, f"{prefix}{key}.", problems)
            continue
        try:
            kwargs[key] = checked_value(value, hints[key])
        except ValueError as exc:
            problems.append(TunecardError(f"config key '{prefix}{key}'", str(exc), repr(value),
                                          f"set {prefix}{key} to {exc}"))
    return cls(**kwargs)


def checked_value(value, hint):
    """`value` as the type `hint` asks for (an int stands for a float, and a string that reads as a number
    becomes one, as YAML leaves `1e-4`); ValueError naming what was expected otherwise."""
    options = typing.get_args(hint) if typing.get_origin(hint) is Union else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError(_expected(options))
    for option in (o for o in options if o is not type(None)):
        origin = typing.get_origin(option) or option
        if origin is Literal and value in typing.get_args(option):
            return value
        if origin is bool and isinstance(value, bool):
            return value
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is float and not isinstance(value, bool):
            if isinstance(value, (int, float)):
                return value  # an int is a valid float, and config.yaml keeps it as written
            with contextlib.suppress(TypeError, ValueError):
                return float(value)
        if origin is str and isinstance(value, str):
            return value
        if origin is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if origin is dict and isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    raise ValueError(_expected(options))


TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
              list: "a list of texts", dict: "a mapping of texts"}


def expected_value(key: str, cls=None) -> str | None:
    """What the Config field at dotted `key` takes, in words ("a number or auto"); None for no such field."""
    cls = cls or Config
    head, _, rest = key.partition(".")
    hints = typing.get_type_hints(cls)
    if head not in hints:
        return None
    if rest:
        return expected_value(rest, hints[head]) if dataclasses.is_dataclass(hints[head]) else None
    hint = hints[head]
    return _expected(typing.get_args(hint) if typing.get_origin(hint) is Union else (hint,))


def _expected(options) -> str:
    words = [" or ".join(typing.get_args(o)) if typing.get_origin(o) is Literal
             else TYPE_WORDS[typing.get_origin(o) or o] for o in options if o is not type(None)]
    return " or ".join(words) + (" or null" if type(None) in options else "")


def as_config(config) -> Config:
    """A new, type-checked Config from a Config, a nested dict or a YAML path."""
    if isinstance(config, Config):
        return check_config(config)
    if isinstance(config, (str, Path)):
        return load_config(config)
    return config_from_dict(config)


def check_config(config: Config) -> Config:
    """`config` (a Config built in Python) with every value of the type its field asks for; all problems
    are reported at once."""
    return config_from_dict(config_to_dict(config))


def load_config(path: str | Path) -> Config:
    return config_from_dict(read_config_file(path))


def read_config_file(path: str | Path) -> Any:
    """The parsed YAML of a config file; a one-line TunecardError naming the file when it is missing or does
    not parse (for any command's --config: the keys are checked by whoever reads them)."""
    path = Path(path)
    if not path.is_file():
        raise TunecardError("config file", "an existing YAML file", f"no file at {path}",
                            "check the --config path")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TunecardError("config file", "valid UTF-8 YAML", f"{path} does not parse ({yaml_problem(exc)})",
                            "fix the YAML syntax") from None


def yaml_problem(exc: Exception) -> str:
    """A YAML or decoding error on one line: what is wrong and where ("expected ',' or '}', but got '<scalar>'
    on line 2, column 7"), not PyYAML's several lines."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" on line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return " ".join(f"{exc.problem}{where}".split())
    return " ".join(str(exc).split())


def config_to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
