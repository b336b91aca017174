"""`problems`: programming and math problems normalised into one canonical schema."""

from codekiln.pipelines.kinds.base import Kind, NoParams
from codekiln.pipelines.kinds.render import Figure, bars, hist
from codekiln.schemas.problems import PROBLEMS


def build(records, params, ctx):
    """The canonical records are the dataset: normalisation is the whole method."""
    return records, []


def figures(q, manifest: dict) -> list[Figure]:
    rows = q("select source, domain, count(*) n from data group by all order by all")
    return [Figure("Problems per source", bars(rows, "source:N", "n:Q", None, color="domain:N", y_title="problems")),
            Figure("Prompt length", hist(q, "select domain g, len(prompt) x from data", x_title="characters",
                                         grouped=True))]


KIND = Kind(
    name="problems",
    schema=PROBLEMS,
    params=NoParams,
    build="codekiln.pipelines.kinds.problems:build",
    method="Normalisation of programming and math problems into one canonical schema",
    text_fields=("prompt", "solution", "tests"),
    task_categories=("text-generation", "question-answering"),
    tags=("code", "math", "problems"),
    quality=(
        ("by_source", "select source, domain, count(*) n, count(*) filter (where len(tests) > 0) with_tests, "
                      "count(*) filter (where answer is not null) with_answer from data group by all order by all"),
    ),
    figures=figures,
    sample="""{{ kv(row, ["id", "source", "domain", "answer", "entry_point"]) }}
<div class='pair'><div><h4>Prompt</h4>{{ code(row['prompt']) }}</div>
<div><h4>Solution</h4>{{ code(row['solution']) }}</div></div>""",
)
