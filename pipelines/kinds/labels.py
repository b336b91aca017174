"""`labels`: candidate programs labelled by a differential oracle in the sandbox, one row per
candidate (PLUM's execution labels; also the unpaired KTO format)."""

from codekiln.pipelines.kinds.base import Kind, Recipe, by_model_id
from codekiln.pipelines.kinds.render import Figure, bars, hist
from codekiln.schemas.preferences import LABELS
from codekiln.transforms.preferences.core import LabelParams


def figures(q, manifest: dict) -> list[Figure]:
    verdicts = q("select verdict, origin, count(*) n from data group by all order by all")
    return [
        Figure("Pass ratio per candidate", hist(q, "select origin g, pass_ratio x from data",
                                                x_title="tests passed / tests", y_title="candidates",
                                                bins=10, extent=(0, 1), grouped=True)),
        Figure("Verdicts", bars(verdicts, "verdict:N", "n:Q", None, color="origin:N", y_title="candidates")),
    ]


RECIPE = Recipe(
    trainer="KTO",
    intro=("Rows are in TRL's unpaired preference format (`prompt`, `completion`, `label`: whether the "
           "completion agrees with the reference on the suite, the whole input pool and fresh inputs). "
           "Passing and failing rows are rarely balanced, so the loss on the {kto_minority} side is "
           "weighted, as the KTO paper (Ethayarajh et al., 2024, eq. 8) advises: {kto_counts}"),
    code=by_model_id("KTO", "Qwen/Qwen2.5-0.5B-Instruct", "any causal LM", extra="{kto_weights}"),
)

KIND = Kind(
    name="labels",
    schema=LABELS,
    params=LabelParams,
    build="codekiln.transforms.preferences.beam:build_labels",
    method='PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models" '
           "(execution labels, also the unpaired KTO format)",
    heavy=True,
    reads_rows=True,
    executes=True,
    text_fields=("prompt", "completion"),
    tags=("code", "execution-feedback", "kto", "plum"),
    training=RECIPE,
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
    figures=figures,
    # both classes show up: alternate passing and failing candidates
    sample_order="row_number() over (partition by label order by hash(id), id), label desc",
    sample="""{{ kv(row, ["id", "problem_id", "origin", "pass_ratio"]) }}
<h4>{{ badge(row['label'], row['verdict']) }} tests: {% for v in row['verdicts'] or [] %}{{ badge(v == 'passed', v) }} {% endfor %}</h4>
<div class='pair'><div><h4>Prompt</h4>{{ code(row['prompt']) }}</div>
<div><h4>Completion</h4>{{ code(row['completion']) }}</div></div>""",
)
