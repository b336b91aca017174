"""The kind registry: a config's `kind:` -> its schema, parameters and Beam builder.

Adding a method = one transform package + one schema module + one entry here + one config.
A builder takes the PCollection of canonical problem records (deduplicated, see
`pipelines.mapping`) and returns (rows, [reject PCollections]) plus its stage names in order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from codekiln.pipelines import training
from codekiln.schemas import DatasetSchema, get_schema
from codekiln.schemas.preferences import PREFERENCES_CONVERSATIONAL
from codekiln.transforms.efa.params import EfaParams, VariantParams, efas_stages, funnel_sql
from codekiln.transforms.execution.sandbox import SandboxConfig
from codekiln.transforms.lintseq.params import LintSeqParams
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.llm.responses_params import ResponsesParams
from codekiln.transforms.pragmatic.core import PragmaticParams
from codekiln.transforms.preferences.core import LabelParams, PairParams, labels_stages
from codekiln.transforms.testgen.suite import TestgenParams, tests_stages

# the Beam builders, imported only by a build (so `report`, `publish` and `show` never load Beam)
BUILDERS = {
    "lintseq": "codekiln.transforms.lintseq.beam:build_lintseq",
    "responses": "codekiln.transforms.llm.responses:build_responses",
    "tests": "codekiln.transforms.testgen.beam:build_tests",
    "labels": "codekiln.transforms.preferences.beam:build_labels",
    "preferences": "codekiln.transforms.preferences.beam:build_preferences",
    "pragmatic": "codekiln.transforms.pragmatic.beam:build_pragmatic",
    "efas": "codekiln.transforms.efa.beam:build_efas",
    "efa_variants": "codekiln.transforms.efa.beam:build_variants",
}


def builder(name: str) -> Callable:
    """`module:function` -> the function (imported now)."""
    module, attr = name.split(":")
    return getattr(importlib.import_module(module), attr)


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
    # (records, params, BuildContext) -> (rows, [rejects]): a callable, or `module:function`
    build: Callable[[Any, Any, BuildContext], tuple[Any, list[Any]]] | str
    stages: tuple[str, ...] | Callable[[Any, Any], tuple[str, ...]]  # the builder's own stages,
    # in order (for counts and progress); a callable gets (params, llm config)
    method: str  # the published method it implements (for cards and --help)
    needs_llm: bool = False
    reads_rows: bool = False  # takes rows of another dataset as they are (no canonical mapping)
    executes: bool = False  # runs code in the sandbox (the manifest records the isolation)
    heavy: bool = False  # CPU-bound per record: records are redistributed over the workers first
    schema_for: Callable[[Any], DatasetSchema] | None = None  # when params choose the schema
    quality: tuple[tuple[str, str], ...] = ()  # (name, SQL over `data`) figures for the manifest
    # for dataset cards: Hub task categories, tags, and how the rows feed a trainer
    task_categories: tuple[str, ...] = ("text-generation",)
    tags: tuple[str, ...] = ()
    training: training.Recipe | None = None  # the TRL recipe its cards show (pipelines.training)
    # decontamination and near-dedupe: the fields holding text or code (empty: every text
    # field of the schema but ids and metadata), and the field naming a document (rows that
    # share it are one document to near-dedupe: the paths of one program)
    text_fields: tuple[str, ...] = ()
    document: str = "id"

    def builder(self) -> Callable[[Any, Any, BuildContext], tuple[Any, list[Any]]]:
        return builder(self.build) if isinstance(self.build, str) else self.build

    def schema_of(self, params) -> DatasetSchema:
        return self.schema_for(params) if self.schema_for else self.schema


@dataclass(frozen=True)
class NoParams:
    pass


def _build_problems(records, params, ctx):
    """The canonical records are the dataset: normalisation is the whole method."""
    return records, []


def _lintseq_stages(params, _llm) -> tuple[str, ...]:
    return ("split_functions", "lintseq") if params.unit == "function" else ("lintseq",)


def _preferences_schema(params: PairParams) -> DatasetSchema:
    return PREFERENCES_CONVERSATIONAL if params.format == "conversational" else get_schema("preferences")


KINDS: dict[str, Kind] = {
    "problems": Kind(
        name="problems",
        text_fields=("prompt", "solution", "tests"),
        schema=get_schema("problems"),
        params=NoParams,
        build=_build_problems,
        stages=(),
        method="Normalisation of programming and math problems into one canonical schema",
        task_categories=("text-generation", "question-answering"),
        tags=("code", "math", "problems"),
        quality=(
            ("by_source", "select source, domain, count(*) n, count(*) filter (where len(tests) > 0) with_tests, "
                          "count(*) filter (where answer is not null) with_answer from data group by all order by all"),
        ),
    ),
    "lintseq": Kind(
        name="lintseq",
        schema=get_schema("lintseq"),
        heavy=True,
        params=LintSeqParams,
        build=BUILDERS["lintseq"],
        stages=_lintseq_stages,
        text_fields=("prompt", "program"),  # the edits and completion are the program's lines again
        document="source_id",
        tags=("code", "synthetic", "edit-sequences", "lintseq"),
        training=training.SFT_LINTSEQ,
        quality=(
            ("edits_per_sequence", "select min(n_edits) min, quantile_cont(n_edits, 0.5) median, avg(n_edits) mean, "
                                   "max(n_edits) max from data"),
            ("sequences", "select count(distinct source_id) programs, count(*) sequences, "
                          "avg(len(program)) mean_program_chars from data"),
            ("distinct_paths", "select distinct_paths, count(*) programs from (select source_id, "
                               "any_value(distinct_paths) distinct_paths from data group by 1) group by 1 order by 1"),
        ),
        method='LintSeq: "Training Language Models on Synthetic Edit Sequences Improves Code '
               'Synthesis" (Piterbarg, Pinto, Fergus, 2024)',
    ),
    "responses": Kind(
        name="responses",
        text_fields=("prompt", "completion"),
        schema=get_schema("responses"),
        params=ResponsesParams,
        build=BUILDERS["responses"],
        stages=("render", "llm", "parse"),
        tags=("synthetic", "llm-generated"),
        training=training.SFT_CONVERSATIONAL,
        method="Model responses to a prompt template over each record (OpenAI-compatible endpoint)",
        needs_llm=True,
        quality=(
            ("finish_reasons", "select finish_reason, count(*) n from data group by 1 order by 1"),
            ("tokens", "select sum(prompt_tokens) prompt_tokens, sum(completion_tokens) completion_tokens, "
                       "avg(completion_tokens) mean_completion_tokens from data"),
        ),
    ),
    "tests": Kind(
        name="tests",
        text_fields=("prompt", "reference", "tests"),
        schema=get_schema("tests"),
        heavy=True,
        params=TestgenParams,
        build=BUILDERS["tests"],
        stages=tests_stages,
        tags=("code", "unit-tests", "test-generation", "mutation-testing"),
        method="Test-case generation after EvalPlus: \"Is Your Code Generated by ChatGPT Really Correct? "
               "Rigorous Evaluation of Large Language Models for Code Generation\" (Liu et al., 2023): seed "
               "inputs, type-aware mutation, expected outputs from the reference, suites reduced by mutation score",
        executes=True,
        quality=(
            ("mutation_score", "select avg(heldout_mutation_score) heldout_mean, min(heldout_mutation_score) "
                               "heldout_min, count(*) filter (where heldout_mutation_score < 1) heldout_below_1, "
                               "avg(original_mutation_score) original_tests_heldout_mean, "
                               "avg(mutation_score) reduction_mean from data"),
            ("tests_per_problem", "select min(n_tests) min, avg(n_tests) mean, max(n_tests) max, "
                                  "avg(n_pool) mean_pool, avg(n_candidate_tests) mean_before_reduction from data"),
            ("tests_by_origin", "select t.origin, count(*) n from (select unnest(tests) t from data) group by 1 order by 1"),
            ("tests_by_trust", "select t.trust, count(*) n from (select unnest(tests) t from data) group by 1 order by 1"),
            ("mutants", "select sum(n_mutants) mutants, sum(n_heldout) heldout, sum(n_killable) killable, "
                        "sum(n_equivalent) equivalent, avg(branch_coverage) mean_branch_coverage from data"),
        ),
    ),
    "labels": Kind(
        name="labels",
        text_fields=("prompt", "completion"),
        schema=get_schema("labels"),
        heavy=True,
        params=LabelParams,
        build=BUILDERS["labels"],
        stages=labels_stages,
        tags=("code", "execution-feedback", "kto", "plum"),
        training=training.KTO,
        method='PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models" '
               "(execution labels, also the unpaired KTO format)",
        reads_rows=True,
        executes=True,
        quality=(
            ("oracle", "select count(*) candidates, count(*) filter (where label) accepted, "
                       "count(*) filter (where suite_passed and not label) suite_false_accepts, "
                       "count(*) filter (where not suite_passed and pool_agrees) suite_false_rejects, "
                       "count(*) filter (where original_passed and not label) original_tests_false_accepts, "
                       "count(*) filter (where original_passed = false and pool_agrees) "
                       "original_tests_false_rejects from data"),
            ("decided_by", "select coalesce(oracle, 'accepted') oracle, count(*) n from data group by 1 order by 1"),
            ("verdicts", "select verdict, count(*) n from data group by 1 order by 1"),
            ("candidates_per_problem", "select min(n) min, avg(n) mean, max(n) max from "
                                       "(select problem_id, count(*) n from data group by 1)"),
            ("pass_rate_by_origin", "select origin, count(*) n, avg(label::int) passing from data group by 1 order by 1"),
            ("oracle_inputs", "select avg(n_tests) mean_suite, avg(n_pool) mean_pool, avg(n_fuzz) mean_fuzz from data"),
            ("trust", "select trust, count(*) n, sum(label::int) passing from data group by 1 order by 1"),
        ),
    ),
    "preferences": Kind(
        name="preferences",
        text_fields=("prompt", "chosen", "rejected"),
        schema=get_schema("preferences"),
        params=PairParams,
        build=BUILDERS["preferences"],
        stages=("pair",),
        tags=("code", "preference", "dpo", "trl", "plum"),
        training=training.DPO,
        method='PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models" '
               "(chosen passes, rejected fails; TRL preference format)",
        reads_rows=True,
        schema_for=_preferences_schema,
        quality=(
            ("pairs_per_problem", "select min(n) min, avg(n) mean, max(n) max from "
                                  "(select problem_id, count(*) n from data group by 1)"),
            ("rejected_verdicts", "select rejected_verdict, count(*) n from data group by 1 order by 1"),
            ("origins", "select chosen_origin, rejected_origin, count(*) n from data group by 1, 2 order by 1, 2"),
            ("chosen_not_reference", "select count(*) filter (where chosen_origin != 'reference') n, "
                                     "count(*) pairs from data"),
            ("trust", "select trust, count(*) n from data group by 1 order by 1"),
        ),
    ),
    "pragmatic": Kind(
        name="pragmatic",
        schema=get_schema("pragmatic"),
        heavy=True,
        params=PragmaticParams,
        build=BUILDERS["pragmatic"],
        stages=("pragmatic",),
        tags=("regex", "program-synthesis", "pragmatics", "synthetic"),
        method='Pragmatic examples: "Generating Pragmatic Examples to Train Neural Program Synthesizers" '
               "(Vaduguru, Fried, Pu), regex domain",
        reads_rows=True,
        quality=(
            ("p_target_after_k", "select k, avg(coalesce(p_target[k], p_target[-1])) pragmatic, "
                                 "avg(coalesce(baseline_p_target[k], baseline_p_target[-1])) literal_baseline "
                                 "from data, range(1, 11) t(k) group by k order by k"),
            ("examples_used", "select avg(len(examples)) mean, avg(n_candidates) mean_competitors, "
                              "avg(n_pool) mean_pool from data"),
        ),
    ),
    "efas": Kind(
        name="efas",
        text_fields=("seed_problem", "program"),
        schema=get_schema("efas"),
        params=EfaParams,
        build=BUILDERS["efas"],
        stages=efas_stages,
        tags=("math", "program-synthesis", "efa"),
        method='EFAGen: "Executable Functional Abstractions: Inferring Generative Programs for Advanced '
               'Math Problems" (Khan et al.)',
        executes=True,
        heavy=True,
        quality=(
            ("funnel", funnel_sql()),
            ("funnel_by_source", funnel_sql("source")),
            ("funnel_by_subject_level", funnel_sql("source, subject, level")),
        ),
    ),
    "efa_variants": Kind(
        name="efa_variants",
        text_fields=("prompt", "completion"),
        schema=get_schema("efa_variants"),
        params=VariantParams,
        build=BUILDERS["efa_variants"],
        stages=("variants",),
        task_categories=("text-generation", "question-answering"),
        tags=("math", "synthetic", "efa"),
        training=training.SFT_VARIANTS,
        method='Problem variants sampled from valid EFAs: "Executable Functional Abstractions: Inferring '
               'Generative Programs for Advanced Math Problems" (Khan et al.)',
        reads_rows=True,
        executes=True,
        heavy=True,
        quality=(
            ("variants", "select count(*) efas, sum(n) variants, avg(n) mean_variants_per_efa, "
                         "sum(dropped) duplicate_renders_dropped from (select efa_id, count(*) n, "
                         "any_value(duplicates_dropped) dropped from data group by efa_id)"),
        ),
    ),
}


def _has_text(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_text(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_text(t.field(i).type) for i in range(t.num_fields))
    return False


def text_fields(kind: Kind, params) -> tuple[str, ...]:
    """The fields decontamination and near-dedupe read, for this kind and params."""
    if kind.text_fields:
        return kind.text_fields
    return tuple(f.name for f in kind.schema_of(params).arrow
                 if _has_text(f.type) and f.name not in ("id", "source", "metadata") and not f.name.endswith("_id"))


def stage_names(kind: Kind, params, llm=None) -> tuple[str, ...]:
    return kind.stages(params, llm) if callable(kind.stages) else kind.stages



def parse_params(kind: Kind, raw: Any, key: str):
    """Validate a `params:` mapping against the kind's params dataclass, naming bad keys."""
    from codekiln.pipelines.config import parse_dataclass

    return parse_dataclass(kind.params, raw, key, what=f"parameter for kind {kind.name!r}")
