"""`ConfigError` (every config problem names its dotted key) and the translation of pydantic's
validation errors into it, so typed models and hand-written rules speak with one voice."""

from __future__ import annotations

import re

from pydantic import ValidationError

# pydantic's type errors -> the type the config should have given
TYPE_ERRORS = {"string_type": "str", "int_type": "int", "bool_type": "bool", "float_type": "float",
          "list_type": "list", "tuple_type": "list", "dict_type": "dict", "set_type": "list",
          "int_from_float": "int", "model_type": "dict", "dataclass_type": "dict", "none_required": "null"}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}


class ConfigError(ValueError):
    """A config problem, always naming the key it is about."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def join(*parts: str) -> str:
    """Dotted keys joined: ('datasets[1]', 'sources[0].path') -> 'datasets[1].sources[0].path'."""
    out = ""
    for p in parts:
        if not p:
            continue
        out = p if not out else f"{out}{p}" if p.startswith("[") else f"{out}.{p}"
    return out


def loc_key(loc: tuple) -> str:
    """pydantic's error location -> our key: ('sources', 0, 'path') -> 'sources[0].path'."""
    return join(*(f"[{p}]" if isinstance(p, int) else str(p) for p in loc if p != "[key]"))


def translate(e: ValidationError, prefix: str = "") -> ConfigError:
    """The first error of a pydantic validation, as a ConfigError naming the full key."""
    err = e.errors(include_url=False)[0]
    key = join(prefix, loc_key(err["loc"]))
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ConfigError):  # a rule of ours, raised inside a validator
        return ConfigError(join(key, cause.key), cause.message)
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return ConfigError(key, "required key is missing")
    if kind == "extra_forbidden":
        return ConfigError(key, "unknown key")
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return ConfigError(key, f"unknown value {value!r} (expected one of: {', '.join(choices)})")
    if kind in TYPE_ERRORS:
        return ConfigError(key, f"expected {TYPE_ERRORS[kind]}, got {type(value).__name__} {value!r}")
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        return ConfigError(key, f"must be {op} {ctx[name]}")
    if kind == "value_error" and cause is not None:
        return ConfigError(key, str(cause))
    return ConfigError(key, err["msg"])
