"""Dataset kinds: a config's `kind:` -> everything about it, one module per kind.

A kind module declares one `Kind` (`KIND`): its schema (from `schemas/`), parameters (a
dataclass of its method, importable without Beam), Beam builder (`module:function`, imported
only by a build; the stages it counts are read from the graph it builds), quality SQL, charts,
sample-row template, card text and TRL recipe. Adding a kind = its method under `transforms/`,
its schema, one module here listed in `MODULES`, one config and its tests.
"""

from __future__ import annotations

import importlib

from codekiln.pipelines.kinds.base import BuildContext, Kind, NoParams, Recipe

MODULES = ("problems", "lintseq", "responses", "tests", "labels", "preferences", "pragmatic",
           "efas", "efa_variants")

KINDS: dict[str, Kind] = {}
for _module in MODULES:
    _kind = importlib.import_module(f"{__name__}.{_module}").KIND
    KINDS[_kind.name] = _kind

__all__ = ["KINDS", "MODULES", "BuildContext", "Kind", "NoParams", "Recipe"]
