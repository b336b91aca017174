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

import altair as alt

Query = Callable[[str], list[dict]]
W, H = 360, 220


@dataclass
class Figure:
    title: str
    chart: alt.TopLevelMixin
    caption: str = ""


def _data(rows: list[dict]) -> alt.Data:
    return alt.Data(values=[{k: (float(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, (int, bool))
                                 else v) for k, v in r.items()} for r in rows])


def _bars(rows, x, y, title, *, color=None, x_title=None, y_title=None, sort=None) -> alt.Chart:
    enc = {"x": alt.X(x, title=x_title, sort=sort), "y": alt.Y(y, title=y_title)}
    if color:
        enc["color"] = alt.Color(color)
    return alt.Chart(_data(rows)).mark_bar().encode(**enc).properties(width=W, height=H, **({"title": title} if title else {}))


def _histogram(rows, field, title, *, x_title=None, color=None, maxbins=20, discrete=False) -> alt.Chart:
    x = alt.X(f"{field}:O", title=x_title or field) if discrete else \
        alt.X(f"{field}:Q", bin=alt.Bin(maxbins=maxbins), title=x_title or field)
    enc = {"x": x, "y": alt.Y("count():Q", title="rows")}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return alt.Chart(_data(rows)).mark_bar().encode(**enc).properties(width=W, height=H, **({"title": title} if title else {}))


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
    lengths = q("select domain, len(prompt) prompt_chars from data")
    return [Figure("Problems per source", _bars(rows, "source:N", "n:Q", None, color="domain:N", y_title="problems")),
            Figure("Prompt length", _histogram(lengths, "prompt_chars", None, x_title="characters", color="domain"))]


def lintseq_figures(q: Query, manifest: dict) -> list[Figure]:
    rows = q("select n_edits, len(string_split(program, chr(10))) program_lines from data")
    per_edit = q("select len(list_filter(string_split(e, chr(10)), lambda x: starts_with(x, '+') "
                 "and not starts_with(x, '+++'))) lines_inserted from (select unnest(edits) e from data)")
    return [
        Figure("Edits per sequence", _histogram(rows, "n_edits", None, x_title="n_edits", discrete=True),
               "LintSeq samples a different deletion path per sequence; each edit is an insertion-only diff."),
        Figure("Lines inserted per edit", _histogram(per_edit, "lines_inserted", None, x_title="lines", maxbins=30)),
        Figure("Program size vs edits", alt.Chart(_data(rows)).mark_circle(opacity=0.6).encode(
            x=alt.X("program_lines:Q", title="program lines"), y=alt.Y("n_edits:Q", title="n_edits"),
        ).properties(width=W, height=H)),
    ]


def tests_figures(q: Query, manifest: dict) -> list[Figure]:
    scores = q("select 'reduced suite' suite, mutation_score score from data union all "
               "select 'original tests', original_mutation_score from data")
    n_tests = q("select n_tests, n_candidate_tests from data")
    origins = q("select t.origin, count(*) n from (select unnest(tests) t from data) group by 1 order by 1")
    return [
        Figure("Mutation score per problem", alt.Chart(_data(scores)).mark_bar(opacity=0.75).encode(
            x=alt.X("score:Q", bin=alt.Bin(maxbins=10, extent=[0, 1]), title="killed / killable mutants"),
            y=alt.Y("count():Q", title="problems", stack=None), color="suite:N",
        ).properties(width=W, height=H), "The suite kept after reduction vs the problem's own tests."),
        Figure("Tests per problem", _histogram(n_tests, "n_tests", None, x_title="tests after reduction")),
        Figure("Tests by origin", _bars(origins, "origin:N", "n:Q", None, y_title="tests")),
    ]


def labels_figures(q: Query, manifest: dict) -> list[Figure]:
    ratios = q("select origin, pass_ratio from data")
    verdicts = q("select verdict, origin, count(*) n from data group by all order by all")
    return [
        Figure("Pass ratio per candidate", alt.Chart(_data(ratios)).mark_bar().encode(
            x=alt.X("pass_ratio:Q", bin=alt.Bin(maxbins=10, extent=[0, 1]), title="tests passed / tests"),
            y=alt.Y("count():Q", title="candidates"), color="origin:N",
        ).properties(width=W, height=H)),
        Figure("Verdicts", _bars(verdicts, "verdict:N", "n:Q", None, color="origin:N", y_title="candidates")),
    ]


def preferences_figures(q: Query, manifest: dict) -> list[Figure]:
    per_problem = q("select problem_id, count(*) pairs from data group by 1")
    ratios = q("select chosen_pass_ratio, rejected_pass_ratio, rejected_verdict from data")
    verdicts = q("select rejected_verdict, count(*) n from data group by 1 order by 1")
    return [
        Figure("Pairs per problem", _histogram(per_problem, "pairs", None, x_title="pairs", discrete=True)),
        Figure("Pass ratio: chosen vs rejected", alt.Chart(_data(ratios)).mark_circle(opacity=0.5, size=60).encode(
            x=alt.X("rejected_pass_ratio:Q", scale=alt.Scale(domain=[0, 1]), title="rejected"),
            y=alt.Y("chosen_pass_ratio:Q", scale=alt.Scale(domain=[0, 1]), title="chosen"),
            color="rejected_verdict:N",
        ).properties(width=W, height=H), "Chosen completions pass every test; rejected ones fail some."),
        Figure("Why the rejected completion fails", _bars(verdicts, "rejected_verdict:N", "n:Q", None, y_title="pairs")),
    ]


def pragmatic_figures(q: Query, manifest: dict) -> list[Figure]:
    curve = q("select k, avg(coalesce(p_target[k], p_target[-1])) p, 'pragmatic speaker' speaker from data, "
              "range(1, 11) t(k) group by k union all select k, avg(coalesce(baseline_p_target[k], "
              "baseline_p_target[-1])), 'literal baseline' from data, range(1, 11) t(k) group by k order by 3, 1")
    used = q("select len(examples) examples from data")
    return [
        Figure("P(listener picks the target) after k examples", alt.Chart(_data(curve)).mark_line(point=True).encode(
            x=alt.X("k:Q", title="examples shown"), y=alt.Y("p:Q", scale=alt.Scale(domain=[0, 1]), title="p_target"),
            color="speaker:N",
        ).properties(width=W, height=H), "Mean over targets; a target whose examples ran out keeps its last value."),
        Figure("Examples used per target", _histogram(used, "examples", None, x_title="examples", discrete=True)),
    ]


FUNNEL = ("is_extractable", "is_executable", "has_dof", "is_single_valued", "matches_original")


def efas_figures(q: Query, manifest: dict) -> list[Figure]:
    counts = q("select count(*) candidates, " + ", ".join(
        f"count(*) filter (where passed_tests >= {i + 1}) {name}" for i, name in enumerate(FUNNEL)) + " from data")
    funnel = [{"step": f"{i}. {k}", "candidates": v} for i, (k, v) in enumerate(counts[0].items())] if counts else []
    failures = q("select coalesce(failed_test, 'valid') outcome, count(*) n from data group by 1 order by 2 desc")
    return [
        Figure("Validation funnel", _bars(funnel, "candidates:Q", "step:N", None, x_title="candidates passing",
                                          y_title=None, sort=None),
               "Each unit test runs only on candidates that passed the ones before it."),
        Figure("Where candidates stop", _bars(failures, "outcome:N", "n:Q", None, y_title="candidates", sort="-y")),
    ]


def efa_variants_figures(q: Query, manifest: dict) -> list[Figure]:
    per_efa = q("select efa_id, count(*) variants from data group by 1")
    lengths = q("select len(problem) problem_chars from data")
    return [Figure("Variants per EFA", _histogram(per_efa, "variants", None, x_title="variants", discrete=True)),
            Figure("Variant problem length", _histogram(lengths, "problem_chars", None, x_title="characters"))]


def responses_figures(q: Query, manifest: dict) -> list[Figure]:
    reasons = q("select coalesce(finish_reason, 'none') finish_reason, count(*) n from data group by 1 order by 1")
    tokens = q("select completion_tokens from data where completion_tokens is not null")
    return [Figure("Finish reasons", _bars(reasons, "finish_reason:N", "n:Q", None, y_title="responses")),
            Figure("Completion tokens", _histogram(tokens, "completion_tokens", None, x_title="tokens"))]


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
    """Conversational values (JSON message lists) as readable text."""
    if isinstance(value, str) and value.startswith("[{"):
        try:
            return "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" for m in json.loads(value))
        except (ValueError, AttributeError):
            return value
    if isinstance(value, list):
        return "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" if isinstance(m, dict) else str(m) for m in value)
    return value


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
