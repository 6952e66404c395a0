"""Load an experiment file, with errors that say which file, which field and what was wrong.

Every problem pydantic finds is reported, each on one line of the form::

    experiment.yaml: sweep.space.loss[2]: unknown loss 'dcie'; did you mean 'dice'? choose one
    of: dice, dice_ce, ... (line 14)

The first is the headline of the :class:`~medselect.errors.ConfigError`; all of them are in its
``errors`` list attribute and in the message, one per line.

Example::

    >>> experiment = load_experiment("examples/knee-segmentation.yaml")
    >>> experiment.task.classes[1]
    'femur'
"""

from __future__ import annotations

import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from medselect.config._yaml import line_of, read_yaml
from medselect.config.choices import did_you_mean, unknown_choice
from medselect.config.experiment import Experiment
from medselect.errors import ConfigError

__all__ = ["dump_experiment", "load_experiment", "parse_experiment"]

_ABSENT = object()
_EXAMPLE = "examples/knee-segmentation.yaml"
_SECTIONS = ", ".join(n for n, f in Experiment.model_fields.items() if f.exclude is not True)


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Read and validate an experiment file; relative paths in it are resolved against its
    folder, and ``source`` is set to its absolute path.

    Raises:
        ConfigError: the file is missing, unreadable, empty, malformed or invalid; the message
            names the file, the field path and the bad value.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{name}: no such file (looked in {Path.cwd()}); check the path"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a folder; give the experiment's YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot be read: {exc.strerror}") from None
    source = path.resolve()
    experiment = parse_experiment(text, name, base_dir=source.parent)
    experiment.source = source
    return experiment


def parse_experiment(
    text: str, source_name: str = "<experiment>", *, base_dir: str | os.PathLike[str] | None = None
) -> Experiment:
    """Validate experiment YAML ``text``.

    Args:
        text: the YAML document.
        source_name: how messages name the file.
        base_dir: folder relative paths are resolved against; None leaves them relative.

    Raises:
        ConfigError: as :func:`load_experiment`.
    """
    data, node = read_yaml(text, source_name)
    if data is None:
        raise ConfigError(f"{source_name}: the file is empty; an experiment needs at least the "
                          f"task and data sections (see {_EXAMPLE})")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source_name}: the top level is a {_yaml_kind(data)}, but an experiment file is a "
            f"mapping of sections ({_SECTIONS}); see {_EXAMPLE}"
        )
    if "source" in data:
        raise ConfigError(f"{source_name}: source: unknown key 'source'; the loader sets it, "
                          f"remove it (sections: {_SECTIONS})")
    context = {"base_dir": Path(base_dir)} if base_dir is not None else None
    try:
        return Experiment.model_validate(data, context=context)
    except ValidationError as exc:
        lines = [_describe(error, source_name, data, node) for error in exc.errors()]
        raise _config_error(lines) from None


def dump_experiment(experiment: Experiment) -> str:
    """The experiment as YAML text that :func:`parse_experiment` reads back to an equal one."""
    return yaml.safe_dump(experiment.model_dump(mode="json"), sort_keys=False,
                          default_flow_style=None, allow_unicode=True)


def _config_error(lines: list[str]) -> ConfigError:
    more = len(lines) - 1
    headline = lines[0] + (f" [and {more} more problem{'s' * (more > 1)}]" if more else "")
    error = ConfigError("\n  ".join([headline, *lines[1:]]))
    error.errors = lines
    return error


def _describe(error: ErrorDetails, source_name: str, data: Any, node: Any) -> str:
    """One line for one pydantic error: file, YAML field path, what is wrong, line."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    at = ctx.get("at")
    loc = list(at) if at is not None else _written_path(error["loc"], data, kind)
    if kind == "missing":
        text = "is required but missing; add it"
    elif kind == "extra_forbidden":
        text = _unknown_key(str(loc[-1]), _keys(_models_at(error["loc"][:-1])))
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx["discriminator"]).strip("'")
        tags = [str(t) for m in _models_at(error["loc"]) for t in _kind_values(m)]
        loc.append(key)
        text = (unknown_choice(key, str(ctx["tag"]), tags) if kind == "union_tag_invalid"
                else f"is required but missing; choose one of: {', '.join(tags)}")
    else:
        text = str(error["msg"]).removeprefix("Value error, ")
        if _is_scalar(value) and repr(value) not in text:
            text += f", got {value!r}"
    where = f"{_yaml_path(loc)}: " if loc else ""
    line = line_of(node, loc)
    return f"{source_name}: {where}{text}" + (f" (line {line})" if line else "")


def _written_path(loc: Sequence[str | int], data: Any, kind: str) -> list[str | int]:
    """``loc`` as the file spells it: without the parts pydantic adds (union members,
    discriminator tags, items a scalar-as-list validator made up), but with the key of an
    unknown field or of a field the file leaves out (missing, or refused at its default)."""
    kept: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        child = _child(current, part)
        if child is not _ABSENT:
            current = child
        elif i < len(loc) - 1 or not (kind == "extra_forbidden" or _names_a_field(loc)):
            continue
        kept.append(part)
    return kept


def _names_a_field(loc: Sequence[str | int]) -> bool:
    return any(loc[-1] in model.model_fields for model in _models_at(loc[:-1]))


def _child(value: Any, part: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(part, _ABSENT)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT


def _models_at(loc: Sequence[str | int]) -> list[type[BaseModel]]:
    """The section models pydantic's ``loc`` can point at (one, or a union's members)."""
    models: list[type[BaseModel]] = [Experiment]
    for part in loc:
        if isinstance(part, int):
            continue
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if fields:
            models = _models_in(fields[0].annotation)
        else:  # a discriminator tag or a union member: keep the models it names
            models = [m for m in models if part in _kind_values(m)] or models
    return models


def _keys(models: list[type[BaseModel]]) -> list[str]:
    """The keys a file may write in a section (not fields the loader sets, like ``source``)."""
    if len(models) != 1:
        return []
    return [field.alias or name for name, field in models[0].model_fields.items()
            if field.exclude is not True]


def _kind_values(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("kind")
    return typing.get_args(field.annotation) if field is not None else ()


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _unknown_key(key: str, allowed: list[str]) -> str:
    if not allowed:
        return f"unknown key {key!r}; remove it"
    return f"unknown key {key!r}; {did_you_mean(key, allowed)}allowed keys: {', '.join(allowed)}"


def _yaml_path(loc: Sequence[str | int]) -> str:
    """``("sweep", "space", "loss", 2)`` -> ``sweep.space.loss[2]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_scalar(value: Any) -> bool:
    """Whether a bad input is a single value worth quoting in a one-line message."""
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80


def _yaml_kind(data: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(data), type(data).__name__)
