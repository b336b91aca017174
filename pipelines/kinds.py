"""The kind registry: a config's `kind:` -> its schema, parameters and Beam builder.

Adding a method = one transform package + one schema module + one entry here + one config.
A builder takes the PCollection of canonical problem records (deduplicated, see
`pipelines.mapping`) and returns (rows, [reject PCollections]) plus its stage names in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas import DatasetSchema, get_schema
from transforms.execution.sandbox import SandboxConfig
from transforms.lintseq.beam import LintSeqParams, build_lintseq
from transforms.llm.config import LLMConfig
from transforms.llm.responses import ResponsesParams, build_responses


@dataclass(frozen=True)
class BuildContext:
    """What a kind's builder may use besides its params: the shared services' settings."""

    progress_dir: str | None
    llm: LLMConfig | None = None
    llm_cache_dir: str | None = None  # <root>/.cache/llm, or a per-build directory when off
    sandbox: SandboxConfig | None = None
    exec_cache_dir: str | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    schema: DatasetSchema
    params: type  # a dataclass with defaults for every field
    build: Callable[[Any, Any, BuildContext], tuple[Any, list[Any]]]
    stages: tuple[str, ...] | Callable[[Any], tuple[str, ...]]  # the builder's own stages, in
    # order (for counts and progress); a callable gets the params
    method: str  # the published method it implements (for cards and --help)
    needs_llm: bool = False


@dataclass(frozen=True)
class NoParams:
    pass


def _build_problems(records, params, ctx):
    """The canonical records are the dataset: normalisation is the whole method."""
    return records, []


def _lintseq_stages(params) -> tuple[str, ...]:
    return ("split_functions", "lintseq") if params.unit == "function" else ("lintseq",)


KINDS: dict[str, Kind] = {
    "problems": Kind(
        name="problems",
        schema=get_schema("problems"),
        params=NoParams,
        build=_build_problems,
        stages=(),
        method="Normalisation of programming and math problems into one canonical schema",
    ),
    "lintseq": Kind(
        name="lintseq",
        schema=get_schema("lintseq"),
        params=LintSeqParams,
        build=build_lintseq,
        stages=_lintseq_stages,
        method='LintSeq: "Training Language Models on Synthetic Edit Sequences Improves Code '
               'Synthesis" (Piterbarg, Pinto, Fergus, 2024)',
    ),
    "responses": Kind(
        name="responses",
        schema=get_schema("responses"),
        params=ResponsesParams,
        build=build_responses,
        stages=("render", "llm", "parse"),
        method="Model responses to a prompt template over each record (OpenAI-compatible endpoint)",
        needs_llm=True,
    ),
}


def stage_names(kind: Kind, params) -> tuple[str, ...]:
    return kind.stages(params) if callable(kind.stages) else kind.stages


def parse_params(kind: Kind, raw: Any, key: str):
    """Validate a `params:` mapping against the kind's params dataclass, naming bad keys."""
    from pipelines.config import parse_dataclass

    return parse_dataclass(kind.params, raw, key, what=f"parameter for kind {kind.name!r}")
