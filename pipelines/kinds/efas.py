"""`efas`: Executable Functional Abstractions of math problems, every candidate program with its
ordered unit-test record."""

from codekiln.pipelines.kinds.base import Kind
from codekiln.pipelines.kinds.render import Figure, bars
from codekiln.schemas.efa import EFAS
from codekiln.transforms.efa.params import EfaParams, funnel_sql


def figures(q, manifest: dict) -> list[Figure]:
    counts = q(funnel_sql())
    funnel = [{"step": f"{i}. {k}", "candidates": v} for i, (k, v) in enumerate(counts[0].items())] if counts else []
    failures = q("select coalesce(failed_test, 'valid') outcome, count(*) n from data group by 1 order by 2 desc")
    return [
        Figure("Validation funnel", bars(funnel, "candidates:Q", "step:N", None, x_title="candidates passing",
                                         y_title=None, sort=None),
               "Each unit test runs only on candidates that passed the ones before it."),
        Figure("Where candidates stop", bars(failures, "outcome:N", "n:Q", None, y_title="candidates", sort="-y")),
    ]


KIND = Kind(
    name="efas",
    schema=EFAS,
    params=EfaParams,
    build="codekiln.transforms.efa.beam:build_efas",
    method='EFAGen: "Executable Functional Abstractions: Inferring Generative Programs for Advanced '
           'Math Problems" (Khan et al.)',
    executes=True,
    heavy=True,
    text_fields=("seed_problem", "program"),
    tags=("math", "program-synthesis", "efa"),
    quality=(
        ("funnel", funnel_sql()),
        ("funnel_by_source", funnel_sql("source")),
        ("funnel_by_subject_level", funnel_sql("source, subject, level")),
    ),
    figures=figures,
    # both valid and invalid candidates show up
    sample_order="row_number() over (partition by valid order by hash(id), id), valid desc",
    sample="""{{ kv(row, ["id", "seed_id", "origin", "valid", "failed_test", "reason"]) }}
<h4>Unit tests: {% for t in row['tests'] or [] %}{{ badge(t['passed'], t['name']) }} {% else %}none ran{% endfor %}</h4>
<h4>Seed problem</h4>{{ code(row['seed_problem']) }}<h4>Program</h4>{{ code(row['program'] or row['response']) }}""",
)
