"""The typed config: one pydantic model per section, with the rules that need more than a type.

Models are strict (no silent coercion: `near: "yes"` is an error) and closed (an unknown key is
an error listing the allowed ones). A rule that needs more than a type raises `ConfigError`
with the key relative to its section; `errors.translate` turns every failure into one
`ConfigError` naming the dotted key from the top of the file. The method-side settings (a
kind's params, `sandbox`, `llm`, `decontaminate`, `dedupe`) are dataclasses of their methods,
which import nothing of pydantic: `parse_dataclass` validates them through a model derived
from their fields, then their own checks run.
"""

from __future__ import annotations

import dataclasses
import functools
import glob as globlib
import hashlib
import json
import os
import re
import types
import typing
from typing import Annotated, Any, ClassVar, Literal

from codekiln.pipelines import kinds
from codekiln.pipelines.config.errors import TYPE_ERRORS, ConfigError, translate
from codekiln.transforms.decontaminate.index import DecontaminationParams
from codekiln.transforms.execution.sandbox import SandboxConfig
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.neardup.minhash import NearDedupeParams
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LICENSE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
FORMATS = ("jsonl", "parquet", "code", "hf", "generate", "dataset")
FILE_FORMATS = ("jsonl", "parquet", "code", "hf")  # what a `path:` source may say it is
MAPPED_FIELDS = ("id", "prompt", "solution", "answer", "entry_point", "tests")
LOCAL_RUNNERS = {"local": "FnApiRunner"}
RUNNING_MODES = ("in_memory", "multi_threading", "multi_processing")

Format = Literal[FORMATS]
Domain = Literal["code", "math"]
Mapped = Literal[MAPPED_FIELDS]
Strings = Annotated[tuple[str, ...], Field(strict=False)]  # YAML lists, kept as tuples


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expect(value, types_, key: str):
    if not isinstance(value, types_) or (types_ is int and isinstance(value, bool)):
        names = types_.__name__ if isinstance(types_, type) else " or ".join(t.__name__ for t in types_)
        raise ConfigError(key, f"expected {names}, got {type(value).__name__} {value!r}")
    return value


def check_keys(mapping: dict, allowed, prefix: str = "") -> None:
    for k in mapping:
        if k not in allowed:
            raise ConfigError(f"{prefix}{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _license(value: str | None) -> str | None:
    """A license as the Hub's card metadata takes it: a lowercase identifier (mit, apache-2.0,
    cc-by-4.0, ..., or `other`)."""
    if value is not None and not LICENSE_RE.match(value):
        raise ConfigError("", f"{value!r} is not a license identifier: use the Hub's lowercase ids "
                              "(mit, apache-2.0, cc-by-4.0, ...) or `other`")
    return value


License = Annotated[str | None, AfterValidator(_license)]


class Section(BaseModel):
    """A closed, strict, immutable config section. `KEYS` are the keys a file may give
    (default: the fields, by their YAML names); `prepare` resolves shorthands before typing."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True,
                              arbitrary_types_allowed=True)
    KEYS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _mapping_of_known_keys(cls, data, info):
        if isinstance(data, BaseModel):
            return data
        data = cls.shorthand(data)
        expect(data, dict, "")
        allowed = set(cls.KEYS or (f.alias or name for name, f in cls.model_fields.items()))
        check_keys({k: v for k, v in data.items() if k not in cls.model_fields}, allowed)
        return cls.prepare(dict(data), (info.context or {}))

    @classmethod
    def shorthand(cls, data):
        return data

    @classmethod
    def prepare(cls, data: dict, context: dict) -> dict:
        return data


class FieldSpec(Section):
    """How one canonical field is taken from a source record.

    `from` names a source field; `template` interpolates `{field}`s; `value` is a constant;
    `after`/`before` keep the text after the last / before the first marker (GSM8K's `####`);
    `regex` then extracts (MBPP's entry point from its first assert). Paths index lists
    (`test_list.0`); a template renders a list of texts as its lines. A bare string is
    `from` (or `template` when it has a `{`).
    """

    from_: str | None = Field(None, alias="from")
    template: str | None = None
    value: Any = None
    after: str | None = None
    before: str | None = None
    regex: str | None = None  # then keep the first group of the first match (the match if none)

    @classmethod
    def shorthand(cls, data):
        if isinstance(data, str):
            return {"template": data} if "{" in data else {"from": data}
        if not isinstance(data, dict):
            raise ConfigError("", f"expected a field name, a template or a mapping, got {data!r}")
        return data

    @classmethod
    def prepare(cls, data: dict, context: dict) -> dict:
        if sum(k in data for k in ("from", "from_", "template", "value")) != 1:
            raise ConfigError("", "give exactly one of `from`, `template`, `value`")
        return data

    @field_validator("regex")
    @classmethod
    def _one_group(cls, v):
        if v is None:
            return v
        if not v:
            raise ConfigError("", "an empty regex extracts nothing: remove the key")
        try:
            rx = re.compile(v)
        except re.error as e:
            raise ConfigError("", f"not a regular expression: {e}") from None
        if rx.groups > 1:
            raise ConfigError("", "at most one group: its text is the value")
        return v

    def public(self) -> dict:
        """As recorded in the manifest: the keys given, by their YAML names."""
        return {k.rstrip("_"): v for k, v in self.model_dump().items() if v is not None}


class SourceConfig(Section):
    """One input of a dataset: files (`path`), another dataset's latest rows (`dataset`), or
    generated indices (`format: generate`)."""

    KEYS: ClassVar = ("name", "path", "dataset", "format", "glob", "domain", "fields", "metadata", "split",
                      "config_name", "count", "license", "role")
    name: str
    format: Format
    path: str  # absolute path or URL; for `dataset`, the dataset reference
    glob: str | None = None
    domain: Domain
    fields: dict[Mapped, FieldSpec] = {}
    metadata: Strings = ()  # source fields kept as JSON in `metadata`; ("*",) = all unmapped
    hf_split: str | None = Field(None, alias="split")
    hf_name: str | None = Field(None, alias="config_name")
    license: License = None  # the source's license (SPDX id), shown on dataset cards
    role: Literal["rows", "samples"] = "rows"  # samples: candidate programs for `labels`

    @classmethod
    def prepare(cls, s: dict, context: dict) -> dict:
        if s.get("format") == "generate":  # records {id, index} for kinds that sample their inputs
            check_keys(s, {"name", "format", "count", "license"})
            count = expect(s.get("count"), int, "count")
            if count < 1:
                raise ConfigError("count", "must be >= 1")
            return {"name": s.get("name"), "format": "generate", "path": f"generate:{count}", "domain": "code",
                    **({"license": s["license"]} if "license" in s else {})}
        if "count" in s:
            raise ConfigError("count", "only a `generate` source takes a count")
        if "dataset" in s:
            if "path" in s:
                raise ConfigError("dataset", "give either `path` or `dataset`, not both")
            s["path"] = expect(s.pop("dataset"), str, "dataset")
            s["format"] = "dataset"
        else:
            if "path" not in s:
                raise ConfigError("path", "required key is missing (or give `dataset:`)")
            s["path"] = _resolve_path(expect(s["path"], str, "path"), context.get("base_dir", "."))
            s["format"] = s.get("format") or _infer_format(s["path"])
            if s["format"] not in FILE_FORMATS:
                raise ConfigError("format", f"unknown value {s['format']!r} (expected one of: "
                                            f"{', '.join(FILE_FORMATS)})")
        fields = s.get("fields") or {}
        expect(fields, dict, "fields")
        if not fields and s["format"] == "code":
            fields = {"id": {"from": "path"}, "solution": {"from": "text"}}
        if not fields and s["format"] == "dataset":
            fields = {k: {"from": k} for k in ("prompt", "solution", "answer", "entry_point", "tests")}
            fields["id"] = {"from": "id"}  # lineage: the upstream row id
        if s.get("role") == "samples" and (s.get("fields") or s.get("metadata")):
            raise ConfigError("role", "a samples source has a fixed shape (task_id, solution or completion): "
                                      "no fields/metadata")
        s["fields"] = fields
        s["domain"] = s.get("domain") or ("code" if "entry_point" in fields or s["format"] == "code" else "math")
        s["metadata"] = ["*"] if s.get("metadata") == "*" else (s.get("metadata") or [])
        return s

    @model_validator(mode="after")
    def _fits_its_format(self):
        if self.glob is not None and self.format != "code":
            raise ConfigError("glob", "only a `code` source takes a glob")
        if (self.hf_split is not None or self.hf_name is not None) and self.format != "hf":
            raise ConfigError("split" if self.hf_split is not None else "config_name",
                              "only an `hf` source takes `split`/`config_name`")
        _check_exists(self.format, self.path, "dataset" if self.format == "dataset" else "path")
        return self

    def public(self) -> dict:
        """As recorded in the manifest (and hashed into the config's fingerprint)."""
        return {
            "name": self.name, "format": self.format, "path": self.path, "glob": self.glob, "domain": self.domain,
            "fields": {k: v.public() for k, v in sorted(self.fields.items())},
            "metadata": list(self.metadata), "split": self.hf_split, "config_name": self.hf_name,
            **({"license": self.license} if self.license else {}),
            **({"role": self.role} if self.role != "rows" else {}),
        }


class BeamConfig(Section):
    runner: str = "local"
    workers: int = Field(1, ge=1)
    mode: Literal[RUNNING_MODES] = "in_memory"  # default: multi_processing when workers > 1
    options: Strings = ()

    @classmethod
    def prepare(cls, b: dict, context: dict) -> dict:
        if "mode" not in b and isinstance(b.get("workers"), int) and b["workers"] > 1:
            b["mode"] = "multi_processing"
        return b


class DatasetConfig(Section):
    """One dataset of a config file, resolved: paths absolute, shorthands expanded, the
    method-side blocks parsed into their dataclasses. `raw` is what the manifest records."""

    KEYS: ClassVar = ("name", "kind", "description", "license", "split", "source", "sources", "params",
                      "beam", "sandbox", "llm", "max_reject_fraction", "decontaminate", "dedupe")
    name: str
    kind: str
    description: str = ""
    license: License = None
    split: str = "train"
    sources: tuple[SourceConfig, ...]
    params: Any  # the kind's params dataclass instance
    beam: BeamConfig = BeamConfig()
    sandbox: InstanceOf[SandboxConfig] = SandboxConfig()
    llm: InstanceOf[LLMConfig] | None = None
    max_reject_fraction: float = 0.5  # a stage rejecting more of its input fails the build
    decontaminate: InstanceOf[DecontaminationParams] | None = None
    dedupe: InstanceOf[NearDedupeParams] = NearDedupeParams()

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not NAME_RE.match(v):
            raise ConfigError("", f"{v!r} must be lowercase letters, digits, '-' or '_', starting with a letter")
        return v

    @field_validator("max_reject_fraction", mode="before")
    @classmethod
    def _fraction(cls, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConfigError("", f"must be a number from 0 to 1, got {v!r}")
        return float(v)

    @field_validator("split")
    @classmethod
    def _split(cls, v):
        if not SPLIT_RE.match(v):
            raise ConfigError("", f"{v!r} is not a valid split name")
        return v

    @classmethod
    def prepare(cls, d: dict, context: dict) -> dict:
        for required in ("name", "kind"):
            if required not in d:
                raise ConfigError(required, "required key is missing")
        if d["kind"] not in kinds.KINDS:
            raise ConfigError("kind", f"unknown value {d['kind']!r} (expected one of: {', '.join(kinds.KINDS)})")
        kind = kinds.KINDS[d["kind"]]
        d["sources"] = _sources(d, context)
        d["params"] = parse_params(kind, d.get("params") or {}, "params")
        d["sandbox"] = parse_dataclass(SandboxConfig, d.get("sandbox") or {}, "sandbox")
        d["llm"] = parse_dataclass(LLMConfig, d["llm"], "llm") if d.get("llm") is not None else None
        if d["llm"] is None and kind.needs_llm:
            raise ConfigError("llm", f"kind {kind.name!r} asks a model: give an llm: block (base_url, model, ...)")
        d["decontaminate"] = _decontaminate(d.get("decontaminate"), kind, d["params"])
        d["dedupe"] = parse_dataclass(NearDedupeParams, d.get("dedupe") or {}, "dedupe")
        _check_fields(d["dedupe"].fields, kind, d["params"], "dedupe.fields")
        if d.get("beam") is None:
            d.pop("beam", None)
        return d

    @property
    def raw(self) -> dict:
        """The resolved config, as recorded in the manifest."""
        return {
            "name": self.name, "kind": self.kind, "description": self.description, "license": self.license,
            "max_reject_fraction": self.max_reject_fraction,
            "split": self.split,
            "sources": [s.public() for s in self.sources],
            "params": dataclasses.asdict(self.params),
            "beam": self.beam.model_dump(),
            "sandbox": self.sandbox.profile() | {"pool_size": self.sandbox.pool_size, "cache": self.sandbox.cache},
            "llm": self.llm.public() if self.llm else None,
            "decontaminate": dataclasses.asdict(self.decontaminate) if self.decontaminate else None,
            "dedupe": dataclasses.asdict(self.dedupe),
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.raw).encode()).hexdigest()


def _sources(d: dict, context: dict) -> tuple[SourceConfig, ...]:
    """`source:` (one) or `sources:` (a list), each validated and named by its own key."""
    if "source" in d and "sources" in d:
        raise ConfigError("source", "give either `source` or `sources`, not both")
    if "source" in d:
        raw, key, keys = [d.pop("source")], "source", ["source"]
    else:
        raw, key = d.get("sources"), "sources"
        if raw is None:
            raise ConfigError(key, "required key is missing")
        expect(raw, list, key)
        if not raw:
            raise ConfigError(key, "must list at least one source")
        keys = [f"sources[{i}]" for i in range(len(raw))]
    sources = []
    for i, (s, k) in enumerate(zip(raw, keys, strict=True)):
        if isinstance(s, dict):
            s = {"name": f"source{i}", **s}
        try:
            sources.append(SourceConfig.model_validate(s, context=context))
        except ValidationError as e:
            raise translate(e, k) from None
    if len({s.name for s in sources}) != len(sources):
        raise ConfigError(key, "source names must be unique")
    for s, k in zip(sources, keys, strict=True):
        if s.role == "samples" and d["kind"] != "labels":
            raise ConfigError(f"{k}.role", "only a `labels` dataset takes a samples source")
    if all(s.role == "samples" for s in sources):
        raise ConfigError(key, "a labels dataset needs its problems (a tests dataset) besides its samples")
    return tuple(sources)


def _check_fields(names: tuple[str, ...], kind: kinds.Kind, params, key: str) -> None:
    columns = kind.schema_of(params).arrow.names
    for i, name in enumerate(names):
        if name not in columns:
            raise ConfigError(f"{key}[{i}]", f"kind {kind.name!r} has no field {name!r} (fields: {', '.join(columns)})")


def _decontaminate(raw, kind: kinds.Kind, params) -> DecontaminationParams | None:
    """`decontaminate: [humaneval, mbpp]` or a mapping with `benchmarks:` and the rule's knobs."""
    if raw is None or raw is False:
        return None
    if isinstance(raw, list):
        raw = {"benchmarks": raw}
    expect(raw, dict, "decontaminate")
    if "benchmarks" not in raw:
        raise ConfigError("decontaminate.benchmarks", "required key is missing (the benchmarks to check against)")
    out = parse_dataclass(DecontaminationParams, raw, "decontaminate")
    _check_fields(out.fields, kind, params, "decontaminate.fields")
    return out


def _resolve_path(path: str, base_dir: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _infer_format(path: str) -> str:
    p = path.lower()
    if p.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
        return "jsonl"
    if p.endswith(".parquet"):
        return "parquet"
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "state.json")):
        return "hf"
    raise ConfigError("format", f"cannot infer the format of {path!r}; set format: one of {', '.join(FORMATS[:-1])}")


def _check_exists(fmt: str, path: str, key: str) -> None:
    """Fail before any work when a local source is not there (remote paths are checked at read)."""
    if fmt in ("dataset", "generate") or "://" in path:
        return
    if fmt == "hf" and not os.path.exists(path):
        return  # a Hub dataset name, loaded at read time (needs network)
    if fmt == "code":
        if not os.path.isdir(path):
            raise ConfigError(key, f"not a directory: {path}")
        return
    if not globlib.glob(path):
        raise ConfigError(key, f"no file matches {path}")


# ---------------------------------------------------------------------------------------------
# the methods' own settings: dataclasses, validated through a model derived from their fields


def _yaml_type(tp: Any) -> Any:
    """A dataclass field's type as YAML gives it: tuples arrive as lists."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_yaml_type(t) for t in typing.get_args(tp))]  # noqa: UP007
    if origin in (tuple, list):
        args = typing.get_args(tp)
        return list[_yaml_type(args[0]) if args else Any]
    return tp


def _is_tuple(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple(t) for t in typing.get_args(tp))
    return tp is tuple or typing.get_origin(tp) is tuple


@functools.cache
def dataclass_model(cls: type) -> type[BaseModel]:
    """A strict, closed pydantic model of a dataclass's fields (for validation and the JSON Schema)."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        tp = _yaml_type(hints[f.name])
        fields[f.name] = (tp, list(default) if isinstance(default, tuple) else default)
    return create_model(cls.__name__, __config__=ConfigDict(strict=True, extra="forbid"),
                        __doc__=cls.__doc__, **fields)


def parse_dataclass(cls, raw: Any, key: str, what: str = "key"):
    """Validate a mapping against a dataclass's typed fields (unknown keys and wrong types name
    the key), then build it, so its own checks run (they name the field first)."""
    expect(raw, dict, key)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in raw:
        if k not in names:
            raise ConfigError(f"{key}.{k}", f"unknown {what} (allowed: {', '.join(sorted(names)) or 'none'})")
    hints = typing.get_type_hints(cls)
    try:
        model = dataclass_model(cls).model_validate(raw)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        field_name = err["loc"][0] if err["loc"] else None
        if err["type"] in TYPE_ERRORS and field_name in raw:  # the field's whole value, as written
            tp = hints[field_name]
            raise ConfigError(f"{key}.{field_name}", f"expected {getattr(tp, '__name__', None) or tp}, "
                                                     f"got {raw[field_name]!r}") from None
        raise translate(e, key) from None
    values = {k: tuple(v) if isinstance(v, list) and _is_tuple(hints[k]) else v
              for k, v in ((k, getattr(model, k)) for k in raw)}
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:  # the dataclass's own checks; they name the field first
        field_name = str(e).split(" ", 1)[0]
        raise ConfigError(f"{key}.{field_name}" if field_name in names else key, str(e)) from None


def parse_params(kind: kinds.Kind, raw: Any, key: str):
    """Validate a `params:` mapping against the kind's params dataclass, naming bad keys."""
    return parse_dataclass(kind.params, raw, key, what=f"parameter for kind {kind.name!r}")
