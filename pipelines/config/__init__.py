"""Build configs: load YAML, apply `--set` overrides, validate everything before any work.

A config file declares one dataset (a mapping with `name:` and `kind:`) or several
(`datasets: [...]`, with optional `defaults:` merged into each). Every problem is reported as a
`ConfigError` naming the dotted key, e.g. `datasets[1].sources[0].path: no file matches ...`.
Relative paths are resolved against the directory of the config file.
"""

from __future__ import annotations

import copy
import dataclasses
import glob as globlib
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml
from codekiln.pipelines import kinds
from codekiln.transforms.decontaminate.index import DecontaminationParams
from codekiln.transforms.execution.sandbox import SandboxConfig
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.neardup.minhash import NearDedupeParams

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
FORMATS = ("jsonl", "parquet", "code", "hf", "generate", "dataset")
DOMAINS = ("code", "math")
MAPPED_FIELDS = ("id", "prompt", "solution", "answer", "entry_point", "tests")
LOCAL_RUNNERS = {"local": "FnApiRunner"}
RUNNING_MODES = ("in_memory", "multi_threading", "multi_processing")


class ConfigError(ValueError):
    """A config problem, always naming the key it is about."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclass(frozen=True)
class FieldSpec:
    """How one canonical field is taken from a source record.

    `from_` names a source field; `template` interpolates `{field}`s; `value` is a constant;
    `after`/`before` keep the text after the last / before the first marker (GSM8K's `####`);
    `regex` then extracts (MBPP's entry point from its first assert). Paths index lists
    (`test_list.0`); a template renders a list of texts as its lines.
    """

    from_: str | None = None
    template: str | None = None
    value: Any = None
    after: str | None = None
    before: str | None = None
    regex: str | None = None  # then keep the first group of the first match (the match if none)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    format: str
    path: str  # absolute path or URL; for `dataset`, the dataset reference
    glob: str | None
    domain: str
    fields: dict[str, FieldSpec]
    metadata: tuple[str, ...]  # source fields kept as JSON in `metadata`; ("*",) = all unmapped
    hf_split: str | None = None
    hf_name: str | None = None
    license: str | None = None  # the source's license (SPDX id), shown on dataset cards
    role: str = "rows"  # rows | samples (candidate programs for `labels`, EvalPlus samples.jsonl shape)


@dataclass(frozen=True)
class BeamConfig:
    runner: str = "local"
    workers: int = 1
    mode: str = "in_memory"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    kind: str
    description: str
    license: str | None
    split: str
    sources: tuple[SourceConfig, ...]
    params: Any  # the kind's params dataclass instance
    beam: BeamConfig
    sandbox: SandboxConfig
    llm: LLMConfig | None
    raw: dict = field(compare=False)  # the resolved config, as recorded in the manifest
    max_reject_fraction: float = 0.5  # a stage rejecting more of its input fails the build
    decontaminate: DecontaminationParams | None = None
    dedupe: NearDedupeParams = NearDedupeParams()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.raw).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# loading


def load(path: str, overrides: list[str] = ()) -> list[DatasetConfig]:
    """Read, override and validate a config file; returns one DatasetConfig per dataset."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError("", f"{path} is not valid YAML: {e}") from None
    return parse(doc, base_dir=os.path.dirname(os.path.abspath(path)), overrides=overrides)


def parse(doc: Any, base_dir: str, overrides: list[str] = ()) -> list[DatasetConfig]:
    if not isinstance(doc, dict):
        raise ConfigError("", "a config must be a mapping (one dataset) or have `datasets:`")
    doc = copy.deepcopy(doc)
    if "datasets" in doc:
        _check_keys(doc, {"datasets", "defaults"}, "")
        defaults = doc.get("defaults") or {}
        _expect(defaults, dict, "defaults")
        entries = doc["datasets"]
        _expect(entries, list, "datasets")
        if not entries:
            raise ConfigError("datasets", "must list at least one dataset")
        docs = []
        for i, entry in enumerate(entries):
            _expect(entry, dict, f"datasets[{i}]")
            docs.append((f"datasets[{i}].", _deep_merge(defaults, entry)))
    else:
        docs = [("", doc)]
    names = [d.get("name") for _, d in docs]
    for spec in overrides:
        _apply_override(docs, names, spec)
    configs = [_dataset(d, prefix, base_dir) for prefix, d in docs]
    seen = set()
    for c in configs:
        if c.name in seen:
            raise ConfigError("datasets", f"dataset name {c.name!r} declared twice")
        seen.add(c.name)
    return configs


def _apply_override(docs, names, spec: str) -> None:
    """`--set a.b.c=value`, the value parsed as YAML, applied to every dataset of the file;
    `--set <name>.a.b=v` or `--set datasets.<index>.a.b=v` targets one dataset."""
    if "=" not in spec:
        raise ConfigError(spec, "--set takes dotted.key=value")
    key, _, text = spec.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(key, "--set key has an empty segment")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as e:
        raise ConfigError(key, f"--set value is not valid YAML: {e}") from None
    by_name = {n: d for (_, d), n in zip(docs, names, strict=True) if isinstance(n, str)}
    if parts[0] == "datasets" and len(parts) > 2:  # datasets.<index or name>.key
        sel = parts[1]
        target = docs[int(sel)][1] if sel.isdigit() and int(sel) < len(docs) else by_name.get(sel)
        if target is None:
            raise ConfigError(key, f"no dataset {sel!r} in this config")
        targets, parts = [target], parts[2:]
    elif parts[0] in by_name and parts[0] not in DATASET_KEYS and len(parts) > 1:  # <name>.key
        targets, parts = [by_name[parts[0]]], parts[1:]
    else:  # a plain key: every dataset of the file
        targets = [d for _, d in docs]
    for d in targets:
        node = d
        for p in parts[:-1]:
            if isinstance(node, list):  # sources.0.path: an index into a list
                if not p.isdigit() or int(p) >= len(node):
                    raise ConfigError(key, f"{p!r} is not an index of this list (length {len(node)})")
                node = node[int(p)]
                continue
            if not isinstance(node.get(p), (dict, list)):
                node[p] = {}
            node = node[p]
        if isinstance(node, list):
            last = parts[-1]
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(key, f"{last!r} is not an index of this list (length {len(node)})")
            node[int(last)] = value
        else:
            node[parts[-1]] = value


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------------
# validation helpers


def _expect(value, types, key):
    if not isinstance(value, types) or (types is int and isinstance(value, bool)):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ConfigError(key, f"expected {names}, got {type(value).__name__} {value!r}")
    return value


def _check_keys(mapping: dict, allowed: set[str], prefix: str) -> None:
    for k in mapping:
        if k not in allowed:
            raise ConfigError(f"{prefix}{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_dataclass(cls, raw: Any, key: str, what: str = "key"):
    """Validate a mapping against a dataclass's typed fields (unknown keys and wrong types name
    the key); values are converted for tuples and ints given as floats."""
    _expect(raw, dict, key)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in raw:
            raise ConfigError(f"{key}.{f.name}", "required key is missing")
    values = {}
    for k, v in raw.items():
        if k not in names:
            allowed = ", ".join(sorted(names)) or "none"
            raise ConfigError(f"{key}.{k}", f"unknown {what} (allowed: {allowed})")
        expected = hints[k]
        if expected is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not _matches(v, expected):
            raise ConfigError(f"{key}.{k}", f"expected {_type_name(expected)}, got {v!r}")
        values[k] = tuple(v) if typing.get_origin(expected) is tuple else v
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:  # the dataclass's own checks; they name the field first
        field_name = str(e).split(" ", 1)[0]
        raise ConfigError(f"{key}.{field_name}" if field_name in names else key, str(e)) from None


def parse_params(kind: kinds.Kind, raw: Any, key: str):
    """Validate a `params:` mapping against the kind's params dataclass, naming bad keys."""
    return parse_dataclass(kind.params, raw, key, what=f"parameter for kind {kind.name!r}")


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, t) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        item = (typing.get_args(tp) or (Any,))[0]
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


def _choice(value, choices, key):
    if value not in choices:
        raise ConfigError(key, f"unknown value {value!r} (expected one of: {', '.join(choices)})")
    return value


# ---------------------------------------------------------------------------------------------
# sections

DATASET_KEYS = {"name", "kind", "description", "license", "split", "source", "sources", "params",
                "beam", "sandbox", "llm", "max_reject_fraction", "decontaminate", "dedupe"}


def _dataset(d: dict, p: str, base_dir: str) -> DatasetConfig:
    _check_keys(d, DATASET_KEYS, p)
    for required in ("name", "kind"):
        if required not in d:
            raise ConfigError(f"{p}{required}", "required key is missing")
    name = _expect(d["name"], str, f"{p}name")
    if not NAME_RE.match(name):
        raise ConfigError(f"{p}name", f"{name!r} must be lowercase letters, digits, '-' or '_', starting with a letter")
    kind = _choice(d["kind"], tuple(kinds.KINDS), f"{p}kind")
    description = _expect(d.get("description", ""), str, f"{p}description")
    license_ = _license(d.get("license"), f"{p}license")
    split = _expect(d.get("split", "train"), str, f"{p}split")
    if not re.match(r"^[a-z][a-z0-9_]*$", split):
        raise ConfigError(f"{p}split", f"{split!r} is not a valid split name")

    if "source" in d and "sources" in d:
        raise ConfigError(f"{p}source", "give either `source` or `sources`, not both")
    if "source" in d:
        raw_sources, skey = [d["source"]], f"{p}source"
    else:
        raw_sources, skey = d.get("sources"), f"{p}sources"
        if raw_sources is None:
            raise ConfigError(skey, "required key is missing")
        _expect(raw_sources, list, skey)
        if not raw_sources:
            raise ConfigError(skey, "must list at least one source")
    sources = []
    for i, s in enumerate(raw_sources):
        key = skey if "source" in d else f"{skey}[{i}]"
        sources.append(_source(s, f"{key}.", base_dir, default_name=f"source{i}"))
    if len({s.name for s in sources}) != len(sources):
        raise ConfigError(skey, "source names must be unique")
    for i, s in enumerate(sources):
        if s.role == "samples" and kind != "labels":
            raise ConfigError(f"{skey if 'source' in d else f'{skey}[{i}]'}.role",
                              "only a `labels` dataset takes a samples source")
    if sources and all(s.role == "samples" for s in sources):
        raise ConfigError(skey, "a labels dataset needs its problems (a tests dataset) besides its samples")

    params = parse_params(kinds.KINDS[kind], d.get("params") or {}, f"{p}params")
    beam_cfg = _beam(d.get("beam") or {}, f"{p}beam.")
    sandbox = parse_dataclass(SandboxConfig, d.get("sandbox") or {}, f"{p}sandbox")
    llm = parse_dataclass(LLMConfig, d["llm"], f"{p}llm") if d.get("llm") is not None else None
    if llm is None and kinds.KINDS[kind].needs_llm:
        raise ConfigError(f"{p}llm", f"kind {kind!r} asks a model: give an llm: block (base_url, model, ...)")

    decontaminate = _decontaminate(d.get("decontaminate"), kind, params, f"{p}decontaminate")
    dedupe = parse_dataclass(NearDedupeParams, d.get("dedupe") or {}, f"{p}dedupe")
    _check_fields(dedupe.fields, kind, params, f"{p}dedupe.fields")

    max_rejects = _expect(d.get("max_reject_fraction", 0.5), (int, float), f"{p}max_reject_fraction")
    if isinstance(max_rejects, bool) or not 0 <= max_rejects <= 1:
        raise ConfigError(f"{p}max_reject_fraction", f"must be a number from 0 to 1, got {max_rejects!r}")
    raw = {
        "name": name, "kind": kind, "description": description, "license": license_,
        "max_reject_fraction": max_rejects,
        "split": split,
        "sources": [_source_raw(s) for s in sources],
        "params": dataclasses.asdict(params),
        "beam": dataclasses.asdict(beam_cfg),
        "sandbox": sandbox.profile() | {"pool_size": sandbox.pool_size, "cache": sandbox.cache},
        "llm": llm.public() if llm else None,
        "decontaminate": dataclasses.asdict(decontaminate) if decontaminate else None,
        "dedupe": dataclasses.asdict(dedupe),
    }
    return DatasetConfig(name, kind, description, license_, split, tuple(sources), params,
                         beam_cfg, sandbox, llm, raw, float(max_rejects), decontaminate, dedupe)


def _check_fields(names: tuple[str, ...], kind: str, params, key: str) -> None:
    columns = kinds.KINDS[kind].schema_of(params).arrow.names
    for i, name in enumerate(names):
        if name not in columns:
            raise ConfigError(f"{key}[{i}]", f"kind {kind!r} has no field {name!r} (fields: {', '.join(columns)})")


def _decontaminate(raw, kind: str, params, key: str) -> DecontaminationParams | None:
    """`decontaminate: [humaneval, mbpp]` or a mapping with `benchmarks:` and the rule's knobs."""
    if raw is None or raw is False:
        return None
    if isinstance(raw, list):
        raw = {"benchmarks": raw}
    _expect(raw, dict, key)
    if "benchmarks" not in raw:
        raise ConfigError(f"{key}.benchmarks", "required key is missing (the benchmarks to check against)")
    out = parse_dataclass(DecontaminationParams, raw, key)
    _check_fields(out.fields, kind, params, f"{key}.fields")
    return out


SOURCE_KEYS = {"name", "path", "dataset", "format", "glob", "domain", "fields", "metadata", "split",
               "config_name", "count", "license", "role"}
ROLES = ("rows", "samples")


def _source(s, p: str, base_dir: str, default_name: str) -> SourceConfig:
    _expect(s, dict, p.rstrip("."))
    _check_keys(s, SOURCE_KEYS, p)
    name = _expect(s.get("name", default_name), str, f"{p}name")
    license_ = _license(s.get("license"), f"{p}license")
    if s.get("format") == "generate":  # records {id, index} for kinds that sample their inputs
        count = _expect(s.get("count"), int, f"{p}count")
        if count < 1:
            raise ConfigError(f"{p}count", "must be >= 1")
        return SourceConfig(name, "generate", f"generate:{count}", None, "code", {}, (), license=license_)
    if "count" in s:
        raise ConfigError(f"{p}count", "only a `generate` source takes a count")
    if "dataset" in s:
        if "path" in s:
            raise ConfigError(f"{p}dataset", "give either `path` or `dataset`, not both")
        path = _expect(s["dataset"], str, f"{p}dataset")
        fmt = "dataset"
    else:
        if "path" not in s:
            raise ConfigError(f"{p}path", "required key is missing (or give `dataset:`)")
        path = _resolve_path(_expect(s["path"], str, f"{p}path"), base_dir)
        fmt = s.get("format") or _infer_format(path, f"{p}format")
        _choice(fmt, tuple(f for f in FORMATS if f not in ("dataset", "generate")), f"{p}format")
    glob = s.get("glob")
    if glob is not None:
        _expect(glob, str, f"{p}glob")
        if fmt != "code":
            raise ConfigError(f"{p}glob", "only a `code` source takes a glob")
    fields_raw = s.get("fields") or {}
    _expect(fields_raw, dict, f"{p}fields")
    fields = {}
    for k, v in fields_raw.items():
        _choice(k, MAPPED_FIELDS, f"{p}fields.{k}")
        fields[k] = _field_spec(v, f"{p}fields.{k}")
    if fmt == "code" and not fields:
        fields = {"id": FieldSpec(from_="path"), "solution": FieldSpec(from_="text")}
    if fmt == "dataset" and not fields:
        fields = {k: FieldSpec(from_=k) for k in ("prompt", "solution", "answer", "entry_point", "tests")}
        fields["id"] = FieldSpec(from_="id")  # lineage: the upstream row id
    domain = s.get("domain") or ("code" if "entry_point" in fields or fmt == "code" else "math")
    _choice(domain, DOMAINS, f"{p}domain")
    metadata = s.get("metadata") or []
    if metadata == "*":
        metadata = ["*"]
    _expect(metadata, list, f"{p}metadata")
    for i, m in enumerate(metadata):
        _expect(m, str, f"{p}metadata[{i}]")
    hf_split = s.get("split")
    hf_name = s.get("config_name")
    if (hf_split is not None or hf_name is not None) and fmt != "hf":
        raise ConfigError(f"{p}split" if hf_split is not None else f"{p}config_name",
                          "only an `hf` source takes `split`/`config_name`")
    _check_exists(fmt, path, glob, f"{p}path" if fmt != "dataset" else f"{p}dataset")
    role = s.get("role", "rows")
    _choice(role, ROLES, f"{p}role")
    if role == "samples" and (fields_raw or metadata):
        raise ConfigError(f"{p}role", "a samples source has a fixed shape (task_id, solution or completion): "
                                      "no fields/metadata")
    return SourceConfig(name, fmt, path, glob, domain, fields, tuple(metadata), hf_split, hf_name, license_, role)


LICENSE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")


def _license(value, key: str) -> str | None:
    """A license as the Hub's card metadata takes it: a lowercase identifier (mit, apache-2.0,
    cc-by-4.0, ..., or `other`)."""
    if value is None:
        return None
    _expect(value, str, key)
    if not LICENSE_RE.match(value):
        raise ConfigError(key, f"{value!r} is not a license identifier: use the Hub's lowercase ids "
                               "(mit, apache-2.0, cc-by-4.0, ...) or `other`")
    return value


def _field_spec(v, key) -> FieldSpec:
    if isinstance(v, str):
        if "{" in v:
            return FieldSpec(template=v)
        return FieldSpec(from_=v)
    if isinstance(v, dict):
        _check_keys(v, {"from", "template", "value", "after", "before", "regex"}, f"{key}.")
        given = [k for k in ("from", "template", "value") if k in v]
        if len(given) != 1:
            raise ConfigError(key, "give exactly one of `from`, `template`, `value`")
        for k in ("from", "template", "after", "before", "regex"):
            if k in v:
                _expect(v[k], str, f"{key}.{k}")
        if "regex" in v:
            if not v["regex"]:
                raise ConfigError(f"{key}.regex", "an empty regex extracts nothing: remove the key")
            try:
                rx = re.compile(v["regex"])
            except re.error as e:
                raise ConfigError(f"{key}.regex", f"not a regular expression: {e}") from None
            if rx.groups > 1:
                raise ConfigError(f"{key}.regex", "at most one group: its text is the value")
        return FieldSpec(from_=v.get("from"), template=v.get("template"), value=v.get("value"),
                         after=v.get("after"), before=v.get("before"), regex=v.get("regex"))
    raise ConfigError(key, f"expected a field name, a template or a mapping, got {v!r}")


def _resolve_path(path: str, base_dir: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _infer_format(path: str, key: str) -> str:
    p = path.lower()
    if p.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
        return "jsonl"
    if p.endswith(".parquet"):
        return "parquet"
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "state.json")):
        return "hf"
    raise ConfigError(key, f"cannot infer the format of {path!r}; set format: one of {', '.join(FORMATS[:-1])}")


def _check_exists(fmt: str, path: str, glob: str | None, key: str) -> None:
    """Fail before any work when a local source is not there (remote paths are checked at read)."""
    if fmt == "dataset" or "://" in path:
        return
    if fmt == "hf" and not os.path.exists(path):
        return  # a Hub dataset name, loaded at read time (needs network)
    if fmt == "code":
        if not os.path.isdir(path):
            raise ConfigError(key, f"not a directory: {path}")
        return
    if not globlib.glob(path):
        raise ConfigError(key, f"no file matches {path}")


def _source_raw(s: SourceConfig) -> dict:
    def spec(f: FieldSpec):
        return {k.rstrip("_"): v for k, v in dataclasses.asdict(f).items() if v is not None}

    return {
        "name": s.name, "format": s.format, "path": s.path, "glob": s.glob, "domain": s.domain,
        "fields": {k: spec(v) for k, v in sorted(s.fields.items())},
        "metadata": list(s.metadata), "split": s.hf_split, "config_name": s.hf_name,
        **({"license": s.license} if s.license else {}),
        **({"role": s.role} if s.role != "rows" else {}),
    }


BEAM_KEYS = {"runner", "workers", "mode", "options"}


def _beam(b, p: str) -> BeamConfig:
    _expect(b, dict, p.rstrip("."))
    _check_keys(b, BEAM_KEYS, p)
    runner = _expect(b.get("runner", "local"), str, f"{p}runner")
    workers = _expect(b.get("workers", 1), int, f"{p}workers")
    if workers < 1:
        raise ConfigError(f"{p}workers", "must be >= 1")
    mode = _choice(b.get("mode", "in_memory" if workers == 1 else "multi_processing"), RUNNING_MODES, f"{p}mode")
    options = b.get("options") or []
    _expect(options, list, f"{p}options")
    for i, o in enumerate(options):
        _expect(o, str, f"{p}options[{i}]")
    return BeamConfig(runner, workers, mode, tuple(options))
