"""The JSON Schema of a config file, from the same models that validate it: editors (the YAML
language server, VS Code, PyCharm) complete keys, show the docs and flag typos as you type.
Each kind's `params:` is typed by the kind's own params dataclass. The validator stays the
authority (it also checks files exist, regexes compile, fields belong to the kind); the schema
never requires a key `defaults:` could supply. `configs/codekiln.schema.json` is this, written
by `codekiln schema -o configs/codekiln.schema.json` (a test keeps them equal)."""

from __future__ import annotations

import json
from typing import Any

from codekiln.pipelines import kinds
from codekiln.pipelines.config.models import (
    LICENSE_RE,
    NAME_RE,
    SPLIT_RE,
    BeamConfig,
    DatasetConfig,
    FieldSpec,
    SourceConfig,
    dataclass_model,
)
from codekiln.transforms.decontaminate.index import DecontaminationParams
from codekiln.transforms.execution.sandbox import SandboxConfig
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.neardup.minhash import NearDedupeParams

SCHEMA_ID = "https://codekiln.dev/schemas/config.json"


def _model(model, defs: dict, *, optional: bool = True) -> dict:
    """A model's schema with its `$defs` moved to the top; no key required when `optional`."""
    schema = model.model_json_schema(by_alias=True)
    defs.update(schema.pop("$defs", {}))
    if optional:
        schema.pop("required", None)
    schema["additionalProperties"] = False
    return schema


def _ref(name: str, schema: dict, defs: dict) -> dict:
    defs[name] = schema
    return {"$ref": f"#/$defs/{name}"}


def config_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    source = _model(SourceConfig, defs)
    field_ref = _ref("FieldSpec", {"anyOf": [  # after Source's own $defs, which name the bare model
        {"type": "string", "description": "a source field (a path such as `test_list.0`), or a template "
                                          "with `{field}`s"}, _model(FieldSpec, defs)]}, defs)
    props = source["properties"]
    props["fields"] = {"type": "object", "description": "canonical field -> how it is taken from a record",
                       "properties": {k: field_ref for k in SourceConfig.model_fields["fields"].annotation.__args__[0]
                                      .__args__}, "additionalProperties": False}
    props["metadata"] = {"anyOf": [{"const": "*"}, {"type": "array", "items": {"type": "string"}}],
                         "description": "source fields kept as JSON in `metadata` (`*`: every unmapped one)"}
    props["dataset"] = {"type": "string", "description": "another dataset of the store (its latest version, "
                                                         "or `name@vN`) instead of a path"}
    props["count"] = {"type": "integer", "minimum": 1, "description": "for `format: generate`: how many records"}
    props["format"] = {"enum": [f for f in SourceConfig.model_fields["format"].annotation.__args__ if f != "dataset"]}
    props["license"]["anyOf"][0]["pattern"] = LICENSE_RE.pattern
    source_ref = _ref("Source", source, defs)

    dataset: dict[str, Any] = {
        "type": "object", "additionalProperties": False,
        "description": DatasetConfig.__doc__.strip().split("\n")[0],
        "properties": {
            "name": {"type": "string", "pattern": NAME_RE.pattern, "description": "the dataset's name in the store"},
            "kind": {"enum": list(kinds.KINDS), "description": "what the dataset is: "
                     + "; ".join(f"{k.name}: {k.method}" for k in kinds.KINDS.values())},
            "description": {"type": "string"},
            "license": {"type": "string", "pattern": LICENSE_RE.pattern, "description": "the Hub's license id"},
            "split": {"type": "string", "pattern": SPLIT_RE.pattern, "default": "train"},
            "source": source_ref,
            "sources": {"type": "array", "minItems": 1, "items": source_ref},
            "params": {"type": "object", "description": "the kind's parameters"},
            "beam": _ref("Beam", _model(BeamConfig, defs), defs),
            "sandbox": _ref("Sandbox", _model(dataclass_model(SandboxConfig), defs), defs),
            "llm": {"anyOf": [_ref("LLM", _model(dataclass_model(LLMConfig), defs), defs), {"type": "null"}]},
            "max_reject_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "decontaminate": {"anyOf": [
                {"type": "array", "items": {"type": "string"}, "description": "the benchmarks to check against"},
                _ref("Decontaminate", _model(dataclass_model(DecontaminationParams), defs), defs),
                {"type": "null"}, {"const": False}]},
            "dedupe": _ref("Dedupe", _model(dataclass_model(NearDedupeParams), defs), defs),
        },
        # each kind's params, typed by its params dataclass
        "allOf": [{"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                   "then": {"properties": {"params": _ref(f"Params_{name}", _model(dataclass_model(kind.params),
                                                                                    defs), defs)}}}
                  for name, kind in kinds.KINDS.items()],
    }
    dataset_ref = _ref("Dataset", dataset, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "codekiln config",
        "description": "One dataset (a mapping with `name` and `kind`) or several (`datasets`, with "
                       "`defaults` merged into each).",
        "anyOf": [
            {"allOf": [dataset_ref], "required": ["name", "kind"]},
            {"type": "object", "additionalProperties": False, "required": ["datasets"], "properties": {
                "datasets": {"type": "array", "minItems": 1, "items": dataset_ref},
                "defaults": dataset_ref}},
        ],
        "$defs": dict(sorted(defs.items())),
    }


def schema_json() -> str:
    """The schema as the file in `configs/` has it."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
