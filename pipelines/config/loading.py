"""Config files: read YAML, merge `defaults:`, apply `--set` overrides, validate everything
before any work. Relative paths are resolved against the directory of the config file."""

from __future__ import annotations

import copy
import os
from typing import Any

import yaml
from codekiln.pipelines.config.errors import ConfigError, translate
from codekiln.pipelines.config.models import DatasetConfig, expect
from pydantic import ValidationError


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
        for k in doc:
            if k not in ("datasets", "defaults"):
                raise ConfigError(k, "unknown key (allowed: datasets, defaults)")
        defaults = doc.get("defaults") or {}
        expect(defaults, dict, "defaults")
        entries = doc["datasets"]
        expect(entries, list, "datasets")
        if not entries:
            raise ConfigError("datasets", "must list at least one dataset")
        docs = []
        for i, entry in enumerate(entries):
            expect(entry, dict, f"datasets[{i}]")
            docs.append((f"datasets[{i}]", _deep_merge(defaults, entry)))
    else:
        docs = [("", doc)]
    names = [d.get("name") for _, d in docs]
    for spec in overrides:
        _apply_override(docs, names, spec)
    configs = []
    for prefix, d in docs:
        try:
            configs.append(DatasetConfig.model_validate(d, context={"base_dir": base_dir}))
        except ValidationError as e:
            raise translate(e, prefix) from None
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
    elif parts[0] in by_name and parts[0] not in DatasetConfig.KEYS and len(parts) > 1:  # <name>.key
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
