"""Run configurations: frozen dataclasses that also describe their own command-line options.

A field ``learning_rate: float = field(default=0.01, metadata={"help": "...", "flag": "--lr"})``
becomes the option ``--lr`` (or ``--learning-rate`` without a ``flag``) with that default and
help. ``bool`` fields become ``--x/--no-x``; ``Literal`` fields get their values as choices.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Literal


def option_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_config_arguments(
    parser: argparse.ArgumentParser, config_cls: type, *, unset_is_none: bool = False
) -> None:
    """Add one option per field of the dataclass ``config_cls`` to ``parser``.

    With ``unset_is_none`` an option left out parses as ``None`` (its help still names the
    dataclass default), so a caller can tell "not given" from "given the default value".
    """
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if not field.init or field.metadata.get("cli") is False:
            continue
        kind = hints[field.name]
        default = field.default
        kwargs: dict[str, Any] = {"dest": field.name, "help": field.metadata.get("help", "")}
        if default is not dataclasses.MISSING:
            kwargs["default"] = None if unset_is_none else default
            kwargs["help"] += f" (default: {default})".replace("%", "%%")
        args = typing.get_args(kind)
        if typing.get_origin(kind) is Literal:
            kwargs["choices"] = args
            kwargs["type"] = type(args[0])
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif type(None) in args:  # Optional[X]
            kwargs["type"] = next(a for a in args if a is not type(None))
        else:
            kwargs["type"] = kind
        if "metavar" in field.metadata:
            kwargs["metavar"] = field.metadata["metavar"]
        parser.add_argument(option_name(field), **kwargs)


def given_options(config_cls: type, namespace: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``config_cls`` that the parsed options set (``None`` means not given)."""
    return {
        f.name: getattr(namespace, f.name)
        for f in dataclasses.fields(config_cls)
        if f.init and getattr(namespace, f.name, None) is not None
    }


def config_from_args(config_cls: type, namespace: argparse.Namespace):
    """Build ``config_cls`` from the parsed options (its ``__post_init__`` validates them)."""
    values = {
        f.name: getattr(namespace, f.name)
        for f in dataclasses.fields(config_cls)
        if f.init and hasattr(namespace, f.name)
    }
    return config_cls(**values)
