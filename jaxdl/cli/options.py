"""Run configurations: frozen dataclasses that also describe their own command-line options.

A field ``learning_rate: float = field(default=0.01, metadata={"help": "...", "flag": "--lr"})``
becomes the option ``--lr`` (or ``--learning-rate`` without a ``flag``) with that default and
help. ``bool`` fields become ``--x/--no-x`` (``metadata={"switch": True}``: a plain ``--x``);
``Literal`` fields, or ``metadata={"choices": ...}``, get their values as choices;
``metadata={"group": TITLE}`` puts the option under that heading of ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Literal


def option_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_config_arguments(
    parser: argparse.ArgumentParser,
    config_cls: type,
    *,
    unset_is_none: bool = False,
    groups: dict[str, str] | None = None,
) -> None:
    """Add one option per field of the dataclass ``config_cls`` to ``parser``.

    With ``unset_is_none`` an option left out parses as ``None`` (its help still names the
    dataclass default), so a caller can tell "not given" from "given the default value".
    ``groups`` describes the ``--help`` headings that fields name in ``metadata["group"]``.
    """
    hints = typing.get_type_hints(config_cls)
    sections: dict[str, Any] = {}
    for field in dataclasses.fields(config_cls):
        if not field.init or field.metadata.get("cli") is False:
            continue
        kind = hints[field.name]
        default = field.default
        kwargs: dict[str, Any] = {"dest": field.name, "help": field.metadata.get("help", "")}
        if field.metadata.get("switch"):
            kwargs.update(action="store_true", default=default)
            _section(parser, sections, field, groups).add_argument(option_name(field), **kwargs)
            continue
        if default is not dataclasses.MISSING and default is not None:
            kwargs["default"] = None if unset_is_none else default
            kwargs["help"] += f" (default: {default})".replace("%", "%%")
        elif default is None:
            kwargs["default"] = None
        args = typing.get_args(kind)
        if "choices" in field.metadata:
            kwargs["choices"] = tuple(field.metadata["choices"])
        elif typing.get_origin(kind) is Literal:
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
        _section(parser, sections, field, groups).add_argument(option_name(field), **kwargs)


def _section(parser, sections: dict[str, Any], field: dataclasses.Field, groups):
    """The parser, or the argument group ``field`` names (made on first use)."""
    title = field.metadata.get("group")
    if title is None:
        return parser
    if title not in sections:
        sections[title] = parser.add_argument_group(title, (groups or {}).get(title))
    return sections[title]


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
