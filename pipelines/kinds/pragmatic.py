"""`pragmatic`: pragmatic examples for regex programs (Rational Speech Acts), with a literal baseline."""

from codekiln.pipelines.kinds.base import Kind
from codekiln.pipelines.kinds.render import Figure, data, hist
from codekiln.schemas.pragmatic import PRAGMATIC
from codekiln.transforms.pragmatic.core import PragmaticParams

# mean P(listener picks the target) after k examples; a target whose examples ran out keeps its
# last value (the quality figure and the chart are this one query)
P_TARGET_AFTER_K = ("select k, avg(coalesce(p_target[k], p_target[-1])) pragmatic, "
                    "avg(coalesce(baseline_p_target[k], baseline_p_target[-1])) literal_baseline "
                    "from data, range(1, 11) t(k) group by k order by k")


def figures(q, manifest: dict) -> list[Figure]:
    import altair as alt
    from codekiln.pipelines.kinds.render import H, W

    curve = [{"k": r["k"], "p": r[col], "speaker": speaker} for speaker, col in
             (("literal baseline", "literal_baseline"), ("pragmatic speaker", "pragmatic"))
             for r in q(P_TARGET_AFTER_K)]
    return [
        Figure("P(listener picks the target) after k examples", alt.Chart(data(curve)).mark_line(point=True).encode(
            x=alt.X("k:Q", title="examples shown"), y=alt.Y("p:Q", scale=alt.Scale(domain=[0, 1]), title="p_target"),
            color="speaker:N",
        ).properties(width=W, height=H), "Mean over targets; a target whose examples ran out keeps its last value."),
        Figure("Examples used per target", hist(q, "select len(examples) x from data", x_title="examples",
                                                y_title="targets", discrete=True)),
    ]


KIND = Kind(
    name="pragmatic",
    schema=PRAGMATIC,
    params=PragmaticParams,
    build="codekiln.transforms.pragmatic.beam:build_pragmatic",
    method='Pragmatic examples: "Generating Pragmatic Examples to Train Neural Program Synthesizers" '
           "(Vaduguru, Fried, Pu), regex domain",
    heavy=True,
    reads_rows=True,
    tags=("regex", "program-synthesis", "pragmatics", "synthetic"),
    quality=(
        ("p_target_after_k", P_TARGET_AFTER_K),
        ("examples_used", "select avg(len(examples)) mean, avg(n_candidates) mean_competitors, "
                          "avg(n_pool) mean_pool from data"),
    ),
    figures=figures,
    sample="""{%- macro examples(ex, p) -%}
<table class='grid'><tr><th>k</th><th>string</th><th></th><th>p_target</th></tr>
{%- for e in ex %}{% set ok = e.get('accepted', e.get('label')) %}<tr><td>{{ loop.index }}</td><td><code>{{ e.get('text') }}</code></td>
<td>{{ badge(ok, 'match' if ok else 'no match') }}</td><td>{{ '%.3g' | format(p[loop.index0]) if loop.index0 < p | length else '' }}</td></tr>
{%- endfor %}</table>
{%- endmacro -%}
{{ kv(row, ["id", "regex", "n_candidates", "n_pool"]) }}<div class='pair'>
<div><h4>Pragmatic examples</h4>{{ examples(row['examples'], row['p_target']) }}</div>
<div><h4>Literal baseline</h4>{{ examples(row['baseline_examples'], row['baseline_p_target']) }}</div></div>""",
)
