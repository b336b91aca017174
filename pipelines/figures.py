"""What a report shows for each kind: its charts (Vega-Altair) and its sample rows (HTML).

Every function reads the version through DuckDB views `data` and `rejects` (via `q(sql)`, which
returns a list of dicts) and the manifest, so charts and tables are computed from the published
Parquet itself. `FIGURES[kind]` and `SAMPLES[kind]` are the registry; kinds without an entry get
the generic ones.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import altair as alt
from codekiln.transforms.efa.params import funnel_sql

Query = Callable[[str], list[dict]]
W, H = 360, 220


@dataclass
class Figure:
    title: str
    chart: alt.TopLevelMixin
    caption: str = ""


def _data(rows: list[dict]) -> alt.Data:
    """Rows inlined into the spec; DuckDB's DECIMAL results become floats so they serialise."""
    return alt.Data(values=[{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows])


def _bars(rows, x, y, title, *, color=None, x_title=None, y_title=None, sort=None) -> alt.Chart:
    enc = {"x": alt.X(x, title=x_title, sort=sort), "y": alt.Y(y, title=y_title)}
    if color:
        enc["color"] = alt.Color(color)
    return alt.Chart(_data(rows)).mark_bar().encode(**enc).properties(width=W, height=H, **({"title": title} if title else {}))


def _hist(q: Query, values: str, *, x_title: str, y_title: str = "rows", discrete: bool = False,
          bins: int = 20, extent: tuple[float, float] | None = None, grouped: bool = False) -> alt.Chart:
    """A histogram of `x` aggregated by DuckDB, so a page stays the same size whatever the number
    of rows. `values` is a query selecting `x` (and `g`, coloured, when `grouped`)."""
    g = "g, " if grouped else ""
    if discrete:
        rows = q(f"select {g}x, count(*) n from ({values}) where x is not null group by all order by all")
        x = alt.X("x:O", title=x_title)
        chart = alt.Chart(_data(rows)).mark_bar().encode(x=x, y=alt.Y("n:Q", title=y_title))
    else:
        lo_hi = f"{float(extent[0])} lo, {float(extent[1])} hi" if extent else "min(x) lo, max(x) hi from v"
        rows = q(f"""with v as (select {g}x::double x from ({values}) where x is not null),
                      r as (select {lo_hi}),
                      b as (select lo, greatest((hi - lo) / {bins}, 1e-9) w from r)
                 select {g}lo + least(floor((x - lo) / w), {bins - 1}) * w x0,
                        lo + (least(floor((x - lo) / w), {bins - 1}) + 1) * w x1, count(*) n
                 from v, b group by all order by all""")
        chart = alt.Chart(_data(rows)).mark_bar(opacity=0.8 if grouped else 1).encode(
            x=alt.X("x0:Q", title=x_title, bin="binned", scale=alt.Scale(domain=list(extent)) if extent else alt.Undefined),
            x2="x1:Q", y=alt.Y("n:Q", title=y_title, stack=None))
    if grouped:
        chart = chart.encode(color=alt.Color("g:N", title=None))
        if discrete:
            chart = chart.encode(xOffset="g:N")
    return chart.properties(width=W, height=H)


def _scatter(q: Query, values: str, x: str, y: str, *, color: str | None = None, limit: int = 2000) -> alt.Chart:
    """Points of at most `limit` rows, chosen by a hash of the id (stable across runs)."""
    rows = q(f"select * from ({values}) order by hash(id), id limit {limit}")
    enc = {"x": alt.X(x), "y": alt.Y(y)}
    if color:
        enc["color"] = alt.Color(color)
    return alt.Chart(_data(rows)).mark_circle(opacity=0.5, size=50).encode(**enc).properties(width=W, height=H)


# ---------------------------------------------------------------------------------------------
# charts every kind has


def common_figures(q: Query, manifest: dict) -> list[Figure]:
    stages = [{"stage": f"{i + 1}. {s['stage']}", "count": n, "measure": measure}
              for i, s in enumerate(manifest["stages"])
              for measure, n in (("in", s["in"]), ("out", s["out"]), ("rejected", s["rejected"]))]
    figs = [Figure("Records through the stages", alt.Chart(_data(stages)).mark_bar().encode(
        x=alt.X("stage:N", title=None, sort=None), xOffset="measure:N", y=alt.Y("count:Q", title="records"),
        color=alt.Color("measure:N", sort=["in", "out", "rejected"]),
    ).properties(width=W, height=H), "Every input ends as a row or a reject: in = out + rejected "
                                     "for 1:1 stages; some stages fan out.")]
    reasons = q("select stage || ': ' || reason as reason, count(*) n from rejects group by 1 order by 2 desc")
    if reasons:
        figs.append(Figure("Rejects by stage and reason", _bars(reasons, "n:Q", "reason:N", None,
                                                                  x_title="rejects", y_title=None, sort=None)))
    return figs


# ---------------------------------------------------------------------------------------------
# per kind


def problems_figures(q: Query, manifest: dict) -> list[Figure]:
    rows = q("select source, domain, count(*) n from data group by all order by all")
    return [Figure("Problems per source", _bars(rows, "source:N", "n:Q", None, color="domain:N", y_title="problems")),
            Figure("Prompt length", _hist(q, "select domain g, len(prompt) x from data", x_title="characters",
                                                   grouped=True))]


def lintseq_figures(q: Query, manifest: dict) -> list[Figure]:
    inserted = ("select len(list_filter(string_split(e, chr(10)), lambda l: starts_with(l, '+') "
                "and not starts_with(l, '+++'))) x from (select unnest(edits) e from data)")
    return [
        Figure("Edits per sequence", _hist(q, "select n_edits x from data", x_title="n_edits", discrete=True),
               "LintSeq samples a different deletion path per sequence; each edit is an insertion-only diff."),
        Figure("Lines inserted per edit", _hist(q, inserted, x_title="lines", y_title="edits", bins=30)),
        Figure("Program size vs edits", _scatter(
            q, "select id, n_edits, len(string_split(program, chr(10))) program_lines from data",
            "program_lines:Q", "n_edits:Q"), "At most 2,000 sequences, chosen by id hash."),
    ]


def tests_figures(q: Query, manifest: dict) -> list[Figure]:
    scores = ("select 'reduced suite' g, mutation_score x from data union all "
              "select 'original tests' g, original_mutation_score x from data")
    origins = q("select t.origin, count(*) n from (select unnest(tests) t from data) group by 1 order by 1")
    return [
        Figure("Mutation score per problem", _hist(q, scores, x_title="killed / killable mutants",
                                                   y_title="problems", bins=10, extent=(0, 1), grouped=True),
               "The suite kept after reduction vs the problem's own tests."),
        Figure("Tests per problem", _hist(q, "select n_tests x from data", x_title="tests after reduction",
                                          y_title="problems", discrete=True)),
        Figure("Tests by origin", _bars(origins, "origin:N", "n:Q", None, y_title="tests")),
    ]


def labels_figures(q: Query, manifest: dict) -> list[Figure]:
    verdicts = q("select verdict, origin, count(*) n from data group by all order by all")
    return [
        Figure("Pass ratio per candidate", _hist(q, "select origin g, pass_ratio x from data",
                                                 x_title="tests passed / tests", y_title="candidates",
                                                 bins=10, extent=(0, 1), grouped=True)),
        Figure("Verdicts", _bars(verdicts, "verdict:N", "n:Q", None, color="origin:N", y_title="candidates")),
    ]


def preferences_figures(q: Query, manifest: dict) -> list[Figure]:
    verdicts = q("select rejected_verdict, count(*) n from data group by 1 order by 1")
    return [
        Figure("Pairs per problem", _hist(q, "select count(*) x from data group by problem_id", x_title="pairs",
                                          y_title="problems", discrete=True)),
        Figure("Pass ratio: chosen vs rejected", _scatter(
            q, "select id, chosen_pass_ratio chosen, rejected_pass_ratio rejected, rejected_verdict from data",
            "rejected:Q", "chosen:Q", color="rejected_verdict:N"),
            "Chosen completions pass every test; rejected ones fail some (at most 2,000 pairs shown)."),
        Figure("Why the rejected completion fails", _bars(verdicts, "rejected_verdict:N", "n:Q", None, y_title="pairs")),
    ]


def pragmatic_figures(q: Query, manifest: dict) -> list[Figure]:
    curve = q("select k, avg(coalesce(p_target[k], p_target[-1])) p, 'pragmatic speaker' speaker from data, "
              "range(1, 11) t(k) group by k union all select k, avg(coalesce(baseline_p_target[k], "
              "baseline_p_target[-1])), 'literal baseline' from data, range(1, 11) t(k) group by k order by 3, 1")
    return [
        Figure("P(listener picks the target) after k examples", alt.Chart(_data(curve)).mark_line(point=True).encode(
            x=alt.X("k:Q", title="examples shown"), y=alt.Y("p:Q", scale=alt.Scale(domain=[0, 1]), title="p_target"),
            color="speaker:N",
        ).properties(width=W, height=H), "Mean over targets; a target whose examples ran out keeps its last value."),
        Figure("Examples used per target", _hist(q, "select len(examples) x from data", x_title="examples",
                                                 y_title="targets", discrete=True)),
    ]


def efas_figures(q: Query, manifest: dict) -> list[Figure]:
    counts = q(funnel_sql())
    funnel = [{"step": f"{i}. {k}", "candidates": v} for i, (k, v) in enumerate(counts[0].items())] if counts else []
    failures = q("select coalesce(failed_test, 'valid') outcome, count(*) n from data group by 1 order by 2 desc")
    return [
        Figure("Validation funnel", _bars(funnel, "candidates:Q", "step:N", None, x_title="candidates passing",
                                          y_title=None, sort=None),
               "Each unit test runs only on candidates that passed the ones before it."),
        Figure("Where candidates stop", _bars(failures, "outcome:N", "n:Q", None, y_title="candidates", sort="-y")),
    ]


def efa_variants_figures(q: Query, manifest: dict) -> list[Figure]:
    return [Figure("Variants per EFA", _hist(q, "select count(*) x from data group by efa_id", x_title="variants",
                                             y_title="EFAs", discrete=True)),
            Figure("Variant problem length", _hist(q, "select len(problem) x from data", x_title="characters"))]


def responses_figures(q: Query, manifest: dict) -> list[Figure]:
    reasons = q("select coalesce(finish_reason, 'none') finish_reason, count(*) n from data group by 1 order by 1")
    return [Figure("Finish reasons", _bars(reasons, "finish_reason:N", "n:Q", None, y_title="responses")),
            Figure("Completion tokens", _hist(q, "select completion_tokens x from data", x_title="tokens",
                                              y_title="responses"))]


FIGURES: dict[str, Callable[[Query, dict], list[Figure]]] = {
    "problems": problems_figures, "lintseq": lintseq_figures, "tests": tests_figures,
    "labels": labels_figures, "preferences": preferences_figures, "pragmatic": pragmatic_figures,
    "efas": efas_figures, "efa_variants": efa_variants_figures, "responses": responses_figures,
}


# ---------------------------------------------------------------------------------------------
# sample rows


def esc(v) -> str:
    return html.escape("" if v is None else str(v))


def code(text, cls: str = "") -> str:
    return f'<pre class="code {cls}">{esc(text)}</pre>'


def diff_html(diff: str) -> str:
    """A unified diff with added/removed/hunk lines coloured."""
    lines = []
    for line in diff.split("\n"):
        cls = ("hunk" if line.startswith("@@") else "meta" if line.startswith(("+++", "---"))
               else "add" if line.startswith("+") else "del" if line.startswith("-") else "")
        lines.append(f'<span class="{cls or "ctx"}">{esc(line) or " "}</span>')
    return '<pre class="code diff">' + "".join(lines) + "</pre>"


def _kv(row: dict, keys) -> str:
    return "<table class='kv'>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(row.get(k))}</td></tr>"
                                           for k in keys if k in row) + "</table>"


def _badge(ok: bool, text: str) -> str:
    return f'<span class="badge {"ok" if ok else "bad"}">{esc(text)}</span>'


def _text(value) -> str:
    """Conversational values (message lists, or their JSON) as readable text; anything else as is."""
    messages = value
    if isinstance(value, str) and value.startswith("[{"):
        try:
            messages = json.loads(value)
        except ValueError:
            return value
    if isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m and "content" in m
                                                       for m in messages):
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def generic_sample(row: dict) -> str:
    cells = []
    for k, v in row.items():
        text = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False, indent=1)
        cells.append(f"<tr><th>{esc(k)}</th><td>{code(text) if len(str(text)) > 80 else esc(text)}</td></tr>")
    return "<table class='kv'>" + "".join(cells) + "</table>"


def lintseq_sample(row: dict) -> str:
    edits = "".join(f"<div class='edit'><div class='edit-n'>edit {i + 1} of {len(row['edits'])}</div>{diff_html(e)}</div>"
                    for i, e in enumerate(row["edits"]))
    return _kv(row, ["id", "source_id", "n_edits", "path_index"]) + f"<h4>Edit sequence</h4>{edits}"


def preferences_sample(row: dict) -> str:
    chosen = _badge(True, f"pass ratio {row.get('chosen_pass_ratio')}")
    rejected = _badge(False, f"pass ratio {row.get('rejected_pass_ratio')}")
    return (_kv(row, ["id", "problem_id", "rejected_verdict"]) + f"<h4>Prompt</h4>{code(_text(row['prompt']))}"
            f"<div class='pair'><div><h4>chosen {chosen}</h4>{code(_text(row['chosen']))}</div>"
            f"<div><h4>rejected {rejected}</h4>{code(_text(row['rejected']))}</div></div>")


def labels_sample(row: dict) -> str:
    verdicts = " ".join(_badge(v == "passed", v) for v in row.get("verdicts") or [])
    return (_kv(row, ["id", "problem_id", "origin", "pass_ratio"])
            + f"<h4>{_badge(bool(row['label']), row['verdict'])} tests: {verdicts}</h4>"
            + f"<div class='pair'><div><h4>Prompt</h4>{code(row['prompt'])}</div>"
              f"<div><h4>Completion</h4>{code(row['completion'])}</div></div>")


def tests_sample(row: dict) -> str:
    tests = "".join(f"<tr><td>{esc(t.get('origin'))}</td><td>{code(t.get('assert_src'))}</td></tr>"
                    for t in (row.get("tests") or [])[:12])
    more = len(row.get("tests") or []) - 12
    return (_kv(row, ["id", "problem_id", "entry_point", "n_tests", "mutation_score", "original_mutation_score"])
            + f"<h4>Reference</h4>{code(row['reference'])}<h4>Tests</h4><table class='grid'>{tests}</table>"
            + (f"<p>... and {more} more</p>" if more > 0 else ""))


def pragmatic_sample(row: dict) -> str:
    def examples(ex, p):
        body = "".join(f"<tr><td>{i + 1}</td><td><code>{esc(e.get('text'))!s}</code></td>"
                       f"<td>{_badge(bool(e.get('accepted', e.get('label'))), 'match' if e.get('accepted', e.get('label')) else 'no match')}</td>"
                       f"<td>{(p[i] if i < len(p) else ''):.3}</td></tr>" for i, e in enumerate(ex))
        return f"<table class='grid'><tr><th>k</th><th>string</th><th></th><th>p_target</th></tr>{body}</table>"

    return (_kv(row, ["id", "regex", "n_candidates", "n_pool"])
            + "<div class='pair'>"
            f"<div><h4>Pragmatic examples</h4>{examples(row['examples'], row['p_target'])}</div>"
            f"<div><h4>Literal baseline</h4>{examples(row['baseline_examples'], row['baseline_p_target'])}</div></div>")


def efas_sample(row: dict) -> str:
    tests = " ".join(_badge(t["passed"], t["name"]) for t in row.get("tests") or [])
    return (_kv(row, ["id", "seed_id", "origin", "valid", "failed_test", "reason"])
            + f"<h4>Unit tests: {tests or 'none ran'}</h4><h4>Seed problem</h4>{code(row['seed_problem'])}"
            + f"<h4>Program</h4>{code(row.get('program') or row.get('response'))}")


def efa_variants_sample(row: dict) -> str:
    return _kv(row, ["id", "efa_id", "sample_seed", "answer", "params"]) + f"<h4>Problem</h4>{code(row['problem'])}"


def problems_sample(row: dict) -> str:
    return (_kv(row, ["id", "source", "domain", "answer", "entry_point"])
            + f"<div class='pair'><div><h4>Prompt</h4>{code(row['prompt'])}</div>"
              f"<div><h4>Solution</h4>{code(row.get('solution'))}</div></div>")


def responses_sample(row: dict) -> str:
    return (_kv(row, ["id", "source_id", "model", "finish_reason", "completion_tokens"])
            + f"<div class='pair'><div><h4>Messages</h4>{code(_text(row['messages']))}</div>"
              f"<div><h4>Response</h4>{code(row['response'])}</div></div>")


# how sample rows are picked: spread by a hash of the id (not the first rows written), and for
# labelled kinds alternating between the classes so both show up
SAMPLE_ORDER: dict[str, str] = {
    "labels": "row_number() over (partition by label order by hash(id), id), label desc",
    "efas": "row_number() over (partition by valid order by hash(id), id), valid desc",
}
DEFAULT_SAMPLE_ORDER = "hash(id), id"

SAMPLES: dict[str, Callable[[dict], str]] = {
    "problems": problems_sample, "lintseq": lintseq_sample, "tests": tests_sample, "labels": labels_sample,
    "preferences": preferences_sample, "pragmatic": pragmatic_sample, "efas": efas_sample,
    "efa_variants": efa_variants_sample, "responses": responses_sample,
}
