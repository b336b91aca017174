"""`efa_variants`: new problems with answers, sampled from the valid EFAs."""

from codekiln.pipelines.kinds.base import Kind, Recipe, by_model_id
from codekiln.pipelines.kinds.render import Figure, hist
from codekiln.schemas.efa import EFA_VARIANTS
from codekiln.transforms.efa.params import VariantParams


def figures(q, manifest: dict) -> list[Figure]:
    return [Figure("Variants per EFA", hist(q, "select count(*) x from data group by efa_id", x_title="variants",
                                            y_title="EFAs", discrete=True)),
            Figure("Variant problem length", hist(q, "select len(problem) x from data", x_title="characters"))]


RECIPE = Recipe(
    trainer="SFT",
    intro=("Rows are TRL prompt/completion pairs: `prompt` is the sampled problem followed by a newline, "
           "`completion` its answer as `The answer is $\\boxed{...}$.` (from `answer_latex`), so the loss "
           "falls on the answer only:"),
    code=by_model_id("SFT", "Qwen/Qwen2.5-0.5B", "any causal LM"),
)

KIND = Kind(
    name="efa_variants",
    schema=EFA_VARIANTS,
    params=VariantParams,
    build="codekiln.transforms.efa.beam:build_variants",
    method='Problem variants sampled from valid EFAs: "Executable Functional Abstractions: Inferring '
           'Generative Programs for Advanced Math Problems" (Khan et al.)',
    reads_rows=True,
    executes=True,
    heavy=True,
    text_fields=("prompt", "completion"),
    task_categories=("text-generation", "question-answering"),
    tags=("math", "synthetic", "efa"),
    training=RECIPE,
    quality=(
        ("variants", "select count(*) efas, sum(n) variants, avg(n) mean_variants_per_efa, "
                     "sum(dropped) duplicate_renders_dropped from (select efa_id, count(*) n, "
                     "any_value(duplicates_dropped) dropped from data group by efa_id)"),
    ),
    figures=figures,
    sample="""{{ kv(row, ["id", "efa_id", "sample_seed", "answer", "params"]) }}<h4>Problem</h4>{{ code(row['problem']) }}""",
)
