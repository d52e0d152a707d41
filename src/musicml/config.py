"""Reading YAML configuration files with one-line errors.

The library never decides *which* file holds params: callers (the stage
scripts) pass paths and pass sections down as plain arguments.
"""

from __future__ import annotations

import json
import os
from typing import Any, Collection, Mapping, TypeVar

import yaml

from musicml.errors import ConfigError, InputError
from musicml.taxonomy import Taxonomy


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a YAML mapping; a missing file or bad syntax is an :class:`InputError`."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                         line=mark.line + 1 if mark else None) from exc
    if not isinstance(data, dict):
        raise InputError(path, "expected a YAML mapping at the top level")
    return data


def load_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a missing file or bad syntax is an :class:`InputError` naming the line."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason})") from exc
    return parse_json(text, path)


def parse_json(text: str, source: str) -> Any:
    """Parse JSON ``text`` read from ``source`` (a path, or ``ref:path`` from git); bad syntax is an
    :class:`InputError` naming ``source`` and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc


def section(params: dict[str, Any], dotted: str) -> Any:
    """``params['a']['b']`` for ``dotted='a.b'``; a missing key is a :class:`ConfigError`."""
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"params: missing key '{dotted}'")
        value = value[part]
    return value


def checked_keys(cls: type, values: Mapping[str, Any], name: str, *, exclude: Collection[str] = ()
                 ) -> dict[str, Any]:
    """``values`` as a dict, after checking that every key names a field of the dataclass ``cls``.

    A misspelt key in params would otherwise be ignored (a default silently used) or fail deep inside a
    constructor; here it is a :class:`ConfigError` naming the section ``name`` and the keys it knows.
    """
    known = set(cls.__dataclass_fields__) - set(exclude)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{name}: unknown keys {unknown}, expected some of {sorted(known)}")
    return dict(values)


Config = TypeVar("Config")


def scalar_config(cls: type[Config], values: Mapping[str, Any], name: str) -> Config:
    """The dataclass ``cls`` from a params section of scalars, each cast to the type of its default.

    The cast matters for YAML: PyYAML reads ``3e-5`` (no decimal point) as a string, and ``1`` as an int
    where a float is meant. A value that does not cast is a :class:`ConfigError` naming ``name.key``.
    """
    kwargs = {}
    for key, value in checked_keys(cls, values, name).items():
        kind = type(getattr(cls, key))
        try:
            kwargs[key] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}.{key}: expected {kind.__name__}, got {value!r}") from None
    return cls(**kwargs)


def load_taxonomy(path: str | os.PathLike) -> Taxonomy:
    """The :class:`Taxonomy` of a taxonomy file (``taxonomy.classes`` and ``taxonomy.rules``)."""
    data = load_yaml(path)
    return Taxonomy.from_params(section(data, "taxonomy.classes"), section(data, "taxonomy.rules") or [])
