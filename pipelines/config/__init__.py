"""Build configs as typed models (pydantic v2): load YAML, apply `--set` overrides, validate
everything before any work.

A config file declares one dataset (a mapping with `name:` and `kind:`) or several
(`datasets: [...]`, with optional `defaults:` merged into each). Every problem is reported as a
`ConfigError` naming the dotted key, e.g. `datasets[1].sources[0].path: no file matches ...`.
`configs/codekiln.schema.json` is the JSON Schema of a config file, for editor completion
(`codekiln schema` writes it).
"""

from codekiln.pipelines.config.errors import ConfigError
from codekiln.pipelines.config.loading import load, parse
from codekiln.pipelines.config.models import (
    BeamConfig,
    DatasetConfig,
    FieldSpec,
    SourceConfig,
    canonical_json,
    parse_dataclass,
    parse_params,
)

__all__ = ["BeamConfig", "ConfigError", "DatasetConfig", "FieldSpec", "SourceConfig", "canonical_json", "load",
           "parse", "parse_dataclass", "parse_params"]
