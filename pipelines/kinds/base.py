"""What a kind declares (`Kind`), what its builder may use (`BuildContext`) and the helpers
every kind module shares. Importing this loads neither Beam nor a method: the builder is a
`module:function` string imported only by a build."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from codekiln.schemas import DatasetSchema
from codekiln.transforms.execution.sandbox import SandboxConfig
from codekiln.transforms.llm.config import LLMConfig

Query = Callable[[str], list[dict]]  # SQL over the version's `data` and `rejects` views -> rows


@dataclass(frozen=True)
class BuildContext:
    """What a kind's builder may use besides its params: the shared services' settings."""

    progress_dir: str | None
    llm: LLMConfig | None = None
    llm_cache_dir: str | None = None  # <root>/.cache/llm, or a per-build directory when off
    sandbox: SandboxConfig | None = None
    exec_cache_dir: str | None = None


@dataclass(frozen=True)
class Recipe:
    """How a kind's rows feed a TRL trainer: the text its cards show and the tests run."""

    trainer: str  # SFT | DPO | KTO
    intro: str  # Markdown: what the rows are to the trainer
    code: str  # Python, with {load}, {name} (and {kto_weights}, {diff_token})
    notes: str = ""  # Markdown after the code
    adds_tokens: bool = False  # the recipe adds the diff token to the tokenizer (token counts do too)


@dataclass(frozen=True)
class Kind:
    """Everything about one dataset kind; its module in `pipelines.kinds` builds one of these."""

    name: str
    schema: DatasetSchema
    params: type  # a dataclass with defaults for every field
    # (records, params, BuildContext) -> (rows, [rejects]): `module:function`, imported by a build;
    # the stages it counts are read from the graph it builds
    build: str
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
    training: Recipe | None = None
    # decontamination and near-dedupe: the fields holding text or code (empty: every text
    # field of the schema but ids and metadata), and the field naming a document (rows that
    # share it are one document to near-dedupe: the paths of one program)
    text_fields: tuple[str, ...] = ()
    document: str = "id"
    # the report: charts (Query, manifest) -> [Figure], a Jinja2 template of one sample row
    # (`row`, with the macros of `kinds.render`), and how sample rows are picked (SQL order by)
    figures: Callable[[Query, dict], list] | None = None
    sample: str | None = None
    sample_order: str = "hash(id), id"

    def builder(self) -> Callable[[Any, Any, BuildContext], tuple[Any, list[Any]]]:
        module, attr = self.build.split(":")
        return getattr(importlib.import_module(module), attr)

    def recorded_params(self, recorded: dict):
        """The params a manifest recorded (validated when it was built), as the dataclass again."""
        names = {f.name for f in dataclasses.fields(self.params)}
        return self.params(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in names})

    def schema_of(self, params) -> DatasetSchema:
        return self.schema_for(params) if self.schema_for else self.schema

    def text_fields_of(self, params) -> tuple[str, ...]:
        """The fields decontamination and near-dedupe read, for these params."""
        if self.text_fields:
            return self.text_fields
        return tuple(f.name for f in self.schema_of(params).arrow
                     if _has_text(f.type) and f.name not in ("id", "source", "metadata")
                     and not f.name.endswith("_id"))


@dataclass(frozen=True)
class NoParams:
    pass


def _has_text(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_text(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_text(t.field(i).type) for i in range(t.num_fields))
    return False


# ---------------------------------------------------------------------------------------------
# pieces of the TRL recipes several kinds share

PRECISION = "bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported()"
STEPS = "max_steps=-1,  # -1: num_train_epochs (3) over the whole split"


def by_model_id(trainer: str, model_id: str, what: str, extra: str = "") -> str:
    """The code of a recipe whose trainer loads the model and tokenizer from `model_id` itself."""
    extra_line = f"\n                 {extra}" if extra else ""
    return f'''import torch
from datasets import load_dataset
from trl import {trainer}Config, {trainer}Trainer

model_id = "{model_id}"  # {what}: a Hub id or a local folder
ds = {{load}}

args = {trainer}Config(output_dir="{{name}}-{trainer.lower()}", {STEPS}{extra_line}
                 {PRECISION})
trainer = {trainer}Trainer(model=model_id, args=args, train_dataset=ds)
trainer.train()
'''
