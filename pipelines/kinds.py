"""The kind registry: a config's `kind:` -> its schema, parameters and Beam builder.

Adding a method = one transform package + one schema module + one entry here + one config.
A builder takes the PCollection of canonical problem records (deduplicated, see
`pipelines.mapping`) and returns (rows, [reject PCollections]) plus its stage names in order.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas import DatasetSchema, get_schema


@dataclass(frozen=True)
class BuildContext:
    """What a kind's builder may use besides its params: where to report progress."""

    progress_dir: str | None


@dataclass(frozen=True)
class Kind:
    name: str
    schema: DatasetSchema
    params: type  # a dataclass with defaults for every field
    build: Callable[[Any, Any, BuildContext], tuple[Any, list[Any]]]
    stages: tuple[str, ...]  # the builder's own stages, in order (for counts and progress)
    method: str  # the published method it implements (for cards and --help)


@dataclass(frozen=True)
class NoParams:
    pass


def _build_problems(records, params, ctx):
    """The canonical records are the dataset: normalisation is the whole method."""
    return records, []


KINDS: dict[str, Kind] = {
    "problems": Kind(
        name="problems",
        schema=get_schema("problems"),
        params=NoParams,
        build=_build_problems,
        stages=(),
        method="Normalisation of programming and math problems into one canonical schema",
    ),
}


def parse_params(kind: Kind, raw: Any, key: str):
    """Validate a `params:` mapping against the kind's params dataclass, naming bad keys."""
    from pipelines.config import ConfigError, _expect

    _expect(raw, dict, key)
    hints = typing.get_type_hints(kind.params)
    for k, v in raw.items():
        if k not in hints:
            allowed = ", ".join(sorted(hints)) or "none"
            raise ConfigError(f"{key}.{k}", f"unknown parameter for kind {kind.name!r} (allowed: {allowed})")
        expected = hints[k]
        if expected is float and isinstance(v, int) and not isinstance(v, bool):
            raw[k] = float(v)
        elif not _matches(v, expected):
            raise ConfigError(f"{key}.{k}", f"expected {_type_name(expected)}, got {v!r}")
    return kind.params(**raw)


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, t) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return isinstance(value, list) and all(item is Any or _matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)
