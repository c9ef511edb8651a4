"""Command-line flags generated from a pydantic-settings model: one source for a setting.

Every field of the model is a flag named after it (``sync_period``: ``--sync-period``)
and an environment variable (the model's ``env_prefix`` and the name in capitals, or the
field's ``validation_alias``), with the field's description as help and its default.
Booleans get ``--x`` and ``--no-x``; lists take one value or more. A field renames its
flag or names its value with :class:`Flag` in its ``Annotated`` metadata.

The flags only collect text: pydantic converts and checks every value, from a flag or
from the environment alike, so any bad value is reported the same way, as one line
naming both the flag and the variable (:class:`SettingsError`). A flag wins over its
variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

Model = TypeVar("Model", bound=BaseSettings)


@dataclass(frozen=True, slots=True)
class Flag:
    """How a field appears on the command line when its name alone is not right."""

    name: str | None = None  # "--crds" for policy_crds
    metavar: str | None = None  # "SECONDS"


class SettingsError(ValueError):
    """A setting that failed validation, as one line: ``--flag (VARIABLE): what is wrong``."""


def flag(model: type[BaseSettings], field: str) -> str:
    """The flag of ``field``: its :class:`Flag` name, else ``--`` and the name in kebab case."""
    marker = _marker(model.model_fields[field])
    return marker.name or "--" + field.replace("_", "-")


def variable(model: type[BaseSettings], field: str) -> str:
    """The environment variable ``field`` is read from."""
    alias = model.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return (str(model.model_config.get("env_prefix") or "") + field).upper()


def add_flags(
    parser: argparse.ArgumentParser | Any,
    model: type[BaseSettings],
    fields: Iterable[str] | None = None,
) -> None:
    """A flag on ``parser`` (or an argument group) for every field of ``model``, or for
    the ``fields`` named (to put some in a group of their own)."""
    wanted = set(model.model_fields if fields is None else fields)
    for name, info in model.model_fields.items():
        if name not in wanted:
            continue
        marker = _marker(info)
        kind = _kind(info.annotation)
        options: dict[str, Any] = {"dest": name, "default": None, "help": _help(model, name)}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            if get_origin(kind) is list:
                options["nargs"] = "+"
            choices = get_args(kind) if get_origin(kind) is Literal else ()
            options["metavar"] = marker.metavar or (
                "{" + ",".join(map(str, choices)) + "}"
                if choices
                else "N"
                if kind in (int, float)
                else name.upper()
            )
        parser.add_argument(flag(model, name), **options)


def settings_from(model: type[Model], args: argparse.Namespace) -> Model:
    """``model`` from the flags given in ``args`` over the environment over the defaults.

    Raises SettingsError naming, first, where the bad value came from: the flag when one
    was given, else the variable.
    """
    given = {k: v for k, v in vars(args).items() if k in model.model_fields and v is not None}
    try:
        return model(**given)
    except ValidationError as exc:
        raise SettingsError(_one_line(model, exc, given)) from None


def one_or_json_list(value: object) -> object:
    """A list setting from a variable: a JSON list, or one value as it is (a path, a URL).

    For fields annotated ``NoDecode``, so that ``AUTOSCALER_POLICIES=/etc/policies`` needs
    no quoting; a flag gives a list already and passes through.
    """
    if not isinstance(value, str):
        return value
    if not value.lstrip().startswith("["):
        return [value] if value else []
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON list: {exc.msg} at character {exc.pos}") from None


def _one_line(model: type[BaseSettings], exc: ValidationError, given: dict[str, Any]) -> str:
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    field = _field_at(model, first["loc"][0] if first["loc"] else None)
    if field is None:  # a rule across fields: its message names the flags itself
        return message
    if field in given:
        return f"{flag(model, field)} ({variable(model, field)}): {message}"
    return f"{variable(model, field)} ({flag(model, field)}): {message}"


def _field_at(model: type[BaseSettings], location: object) -> str | None:
    for name, info in model.model_fields.items():
        if location == name or (location is not None and location == info.validation_alias):
            return name
    return None


def _marker(info: FieldInfo) -> Flag:
    return next((m for m in info.metadata if isinstance(m, Flag)), Flag())


def _kind(annotation: Any) -> Any:
    """The annotation without ``None``: ``str | None`` is a ``str`` flag."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _help(model: type[BaseSettings], name: str) -> str:
    """The description, then the default and the variable: ``(default: 15; $VAR)``."""
    info = model.model_fields[name]
    where = "$" + variable(model, name)
    if info.is_required():
        return f"{info.description} (required; {where})".replace("%", "%%")
    default = info.get_default(call_default_factory=True)
    if isinstance(default, bool):
        shown = "on" if default else "off"
    elif isinstance(default, float):
        shown = f"{default:g}"
    else:
        shown = "" if default in (None, []) else str(default)
    suffix = f"default: {shown}; {where}" if shown else where
    return f"{info.description or ''} ({suffix})".replace("%", "%%").lstrip()
