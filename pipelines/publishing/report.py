"""`codekiln report`: one self-contained HTML page about a version.

The page carries everything it needs: the Vega/Vega-Lite/vega-embed bundle from
`vl-convert-python` is inlined once and each chart is a Vega-Lite spec built with Altair, so it
opens offline, from an e-mail attachment or a bucket. Charts and samples are computed by DuckDB
from the version's own Parquet files; the kind-specific parts (charts, the
template of a sample row) live in the kind's module in `pipelines.kinds`. The page and the samples
are Jinja2 templates with autoescaping: every value from the data is escaped where it is shown.
"""

from __future__ import annotations

import functools
import json

import altair as alt
import duckdb
import jinja2
from codekiln.pipelines.kinds import KINDS
from codekiln.pipelines.kinds.render import FILTERS, GENERIC_SAMPLE, MACROS, Figure, bars, data
from codekiln.pipelines.kinds.render import H as HEIGHT
from codekiln.pipelines.kinds.render import W as WIDTH
from codekiln.pipelines.publishing import training
from codekiln.pipelines.publishing.card import config_yaml, filter_notes, filter_tables, public_path
from codekiln.pipelines.storage.catalog import version_connection
from codekiln.pipelines.storage.manifest import per_split as manifest_per_split
from codekiln.pipelines.storage.manifest import rows as manifest_rows
from codekiln.pipelines.storage.store import Store
from codekiln.transforms import fs
from markupsafe import Markup


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script, for the Vega-Lite version Altair writes."""
    import vl_convert

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return vl_convert.javascript_bundle(vl_version=major_minor)


def _query(con: duckdb.DuckDBPyConnection):
    def q(sql: str) -> list[dict]:
        rel = con.sql(sql)
        return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    return q


def _has_data(spec: dict) -> bool:
    data = spec.get("data", {})
    values = data.get("values") if "values" in data else spec.get("datasets", {}).get(data.get("name"), [])
    return bool(values)


def _script_json(value) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, default=str).replace("</", "<\\/").replace("<!--", "<\\!--")


def _fmt(v):
    """A table cell: floats to 4 significant digits, None empty."""
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else v


def _summary(m: dict) -> list[tuple[str, str]]:
    rows, per_split = manifest_rows(m), manifest_per_split(m)
    items = [("dataset", f"{m['dataset']}@{m['version']}"), ("kind", m["kind"]), ("method", m["method"]),
             ("rows", f"{rows:,} ({per_split})"),
             ("rejects", f"{m['rejects']['rows']:,}"), ("created", m["created_at"]),
             ("fingerprint", m["fingerprint"]), ("parent version", m.get("parent") or "none"),
             ("license", m.get("license") or "not declared"),
             ("built by", f"codekiln {m['codekiln_version']} (git {(m.get('git_revision') or 'unknown')[:12]})")]
    if m.get("sandbox"):
        items.append(("sandbox", m["sandbox"]["isolation"]))
    if m.get("llm"):
        ep = m["llm"].get("endpoint") or {}
        items.append(("model", f"{ep.get('model')} at {ep.get('base_url')} (temperature {ep.get('temperature')}, "
                               f"n {ep.get('n')}, seed {ep.get('seed')})"))
        for stage, u in (m["llm"].get("stages") or {}).items():
            items.append((f"stage {stage}", f"{u.get('requests_sent', 0):,} requests sent, {u.get('cache_hits', 0):,} "
                                            f"cache hits, {u.get('prompt_tokens', 0):,} prompt + "
                                            f"{u.get('completion_tokens', 0):,} completion tokens, "
                                            f"{u.get('rejected', 0):,} failed; choices: {u.get('choices', 'n per request')}"))
    return items


def _sources(m: dict) -> list[dict]:
    out = []
    for s in m["sources"]:
        ref = f"{s.get('dataset')}@{s.get('version')}" if s["format"] == "dataset" else public_path(s["path"])
        out.append({"source": s["name"], "format": s["format"], "read": ref, "license": s.get("license") or "not declared",
                    "sha256": s["sha256"][:16]})
    return out


def common_figures(q, manifest: dict) -> list[Figure]:
    """The charts every kind has: records through the stages, rejects by reason."""
    stages = [{"stage": f"{i + 1}. {s['stage']}", "count": n, "measure": measure}
              for i, s in enumerate(manifest["stages"])
              for measure, n in (("in", s["in"]), ("out", s["out"]), ("rejected", s["rejected"]))]
    figs = [Figure("Records through the stages", alt.Chart(data(stages)).mark_bar().encode(
        x=alt.X("stage:N", title=None, sort=None), xOffset="measure:N", y=alt.Y("count:Q", title="records"),
        color=alt.Color("measure:N", sort=["in", "out", "rejected"]),
    ).properties(width=WIDTH, height=HEIGHT), "Every input ends as a row or a reject: in = out + rejected "
                                              "for 1:1 stages; some stages fan out.")]
    reasons = q("select stage || ': ' || reason as reason, count(*) n from rejects group by 1 order by 2 desc")
    if reasons:
        figs.append(Figure("Rejects by stage and reason", bars(reasons, "n:Q", "reason:N", None,
                                                               x_title="rejects", y_title=None, sort=None)))
    return figs


def token_section(q, manifest: dict, counter: training.TokenCounter) -> tuple[dict | None, list[Figure]]:
    """Token lengths of what a trainer sees, for the kinds with a TRL recipe (else nothing)."""
    kind = KINDS[manifest["kind"]]
    if not kind.training:
        return None, []
    if kind.training.adds_tokens:
        counter.add_tokens([training.diff_token(manifest)])
    stats, points, note = training.token_lengths(q, [f["name"] for f in manifest["schema"]], counter)
    if not stats:
        return None, []
    chart = alt.Chart(alt.Data(values=points)).mark_bar().encode(
        x=alt.X("tokens:Q", bin=alt.Bin(maxbins=40), title="tokens"), y=alt.Y("count():Q", title="rows"),
        color=alt.Color("sequence:N")).properties(width=420, height=220)
    return {"trainer": kind.training.trainer, "note": note, "stats": stats}, [Figure("Token lengths", chart, f"{note}.")]


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment: autoescaped, with the sample macros and filters."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    env.filters.update(FILTERS, fmt=_fmt)
    macros = env.from_string(MACROS).module
    env.globals.update(kv=macros.kv, code=macros.code, diff=macros.diff, badge=macros.badge)
    return env


def sample_template(kind: str) -> jinja2.Template:
    sample = KINDS[kind].sample if kind in KINDS else None
    return environment().from_string(sample or GENERIC_SAMPLE)


def build_figures(store: Store, manifest: dict, samples: int = 5, counter: training.TokenCounter | None = None
                  ) -> tuple[list[Figure], list[str], list[dict], dict | None]:
    """(charts, sample rows as HTML, a few rejects, the token-length section) for a version."""
    con = version_connection(store, manifest)
    q = _query(con)
    kind = KINDS.get(manifest["kind"])
    figures = common_figures(q, manifest) + (kind.figures(q, manifest) if kind and kind.figures else [])
    tokens, token_figures = token_section(q, manifest, counter or training.TokenCounter())
    figures += token_figures
    template = sample_template(manifest["kind"])
    order = kind.sample_order if kind else "hash(id), id"
    rows = q(f"select * from data order by {order} limit {int(samples)}")
    rejects = q("select stage, reason, location, left(detail, 300) detail from rejects "
                f"order by stage, reason, location limit {int(samples) * 2}")
    con.close()
    return figures, [template.render(row=r) for r in rows], rejects, tokens


def render_report(store: Store, manifest: dict, samples: int = 5, counter: training.TokenCounter | None = None) -> str:
    m = manifest
    figures, sample_html, rejects, tokens = build_figures(store, m, samples, counter)
    charts, specs = [], []
    for f in figures:
        spec = f.chart.properties(title=f.title).to_dict() if f.title else f.chart.to_dict()
        if _has_data(spec):  # Vega cannot scale an empty domain: the page says so instead
            charts.append({"title": f.title, "caption": f.caption, "index": len(specs)})
            specs.append(spec)
        else:
            charts.append({"title": f.title, "caption": f.caption, "index": None})
    stages = [{"stage": s["stage"], "in": s["in"], "out": s["out"], "rejected": s["rejected"],
               "reasons": ", ".join(f"{k}={v}" for k, v in sorted(s["reasons"].items()))} for s in m["stages"]]
    return environment().from_string(PAGE).render(
        m=m, summary=_summary(m), charts=charts, quality=m.get("quality") or {},
        filters=filter_tables(m), filter_notes=filter_notes(m), tokens=tokens,
        samples=[Markup(s) for s in sample_html], rejects=rejects, stages=stages,
        sources=_sources(m), schema=[{"column": f["name"], "type": f["type"], "nullable": f["nullable"]}
                                     for f in m["schema"]],
        config=config_yaml(m), css=Markup(CSS), bundle=Markup(vega_bundle()),
        specs=Markup(_script_json(specs)))


def write_report(store: Store, manifest: dict, path: str, samples: int = 5,
                 counter: training.TokenCounter | None = None) -> str:
    fs.write_bytes(path, render_report(store, manifest, samples, counter).encode())
    return path


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h4 { margin: 0.8em 0 0.3em; }
.muted, .caption { color: #666; } .caption { font-size: 12px; max-width: 400px; margin: 0.3em 0 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; } figure { margin: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
table.kv th { text-align: left; padding: 2px 1em 2px 0; vertical-align: top; color: #555; font-weight: 600; }
table.grid th, table.grid td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
table.grid th { background: #f5f5f5; }
pre.code { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.6em; margin: 0.2em 0; overflow-x: auto;
  font: 12px/1.4 ui-monospace, monospace; white-space: pre; max-height: 420px; }
pre.diff .add { background: #e6ffec; color: #116329; display: block; }
pre.diff .del { background: #ffebe9; color: #82071e; display: block; }
pre.diff .hunk { color: #0550ae; display: block; } pre.diff .meta { color: #888; display: block; }
pre.diff .ctx { display: block; }
.edit-n { font-size: 12px; color: #666; margin-top: 0.5em; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; } .pair > div { min-width: 0; }
.sample { border-top: 1px dashed #ccc; padding-top: 0.5em; margin-top: 1em; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; font-weight: 600; }
.badge.ok { background: #dafbe1; color: #116329; } .badge.bad { background: #ffebe9; color: #82071e; }
details summary { cursor: pointer; font-weight: 600; }
"""

PAGE = """<!DOCTYPE html>
{%- macro table(rows) -%}
{% if not rows %}<p class='muted'>none</p>{% else -%}
<table class='grid'><tr>{% for c in rows[0] %}<th>{{ c }}</th>{% endfor %}</tr>
{%- for r in rows %}<tr>{% for c in rows[0] %}<td>{{ r.get(c) | fmt }}</td>{% endfor %}</tr>{% endfor %}</table>
{%- endif %}
{%- endmacro %}
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ m.dataset }}@{{ m.version }}: codekiln report</title>
<style>{{ css }}</style>
<script>{{ bundle }}</script>
</head>
<body>
<h1>{{ m.dataset }}@{{ m.version }}</h1>
<p>{{ m.description or '' }}</p>
<table class='kv'>{% for k, v in summary %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>Figures</h2>
<div class="charts">
{%- for c in charts %}
{%- if c.index is none %}<figure><h4>{{ c.title }}</h4><p class='muted nodata'>no rows to chart</p></figure>
{%- else %}<figure><div class='chart' id='chart-{{ c.index }}' data-title='{{ c.title }}'></div>
{%- if c.caption %}<p class='caption'>{{ c.caption }}</p>{% endif %}</figure>
{%- endif %}
{%- endfor %}</div>
<h2>Quality figures</h2>
{% for name, rows in quality.items() %}<h3>{{ name.replace('_', ' ') }}</h3>{{ table(rows) }}{% else %}<p class='muted'>none recorded</p>{% endfor %}
<h2>Decontamination and near-duplicates</h2>
{% for caption, rows in filters %}<p>{{ caption }}.</p>{{ table(rows) }}{% endfor %}
{%- for note in filter_notes %}<p class='muted'>{{ note }}</p>{% endfor %}
{% if tokens %}<h2>Token lengths</h2>
<p>The sequences the {{ tokens.trainer }} recipe trains on, in tokens: {{ tokens.note }}.
<code>over_Nk</code>: rows longer than N&times;1024 tokens (a trainer cuts them at its
<code>max_length</code>, 1024 by default in TRL).</p>{{ table(tokens.stats) }}{% endif %}
<h2>Sample rows</h2>
{% for s in samples %}<div class='sample'><h3>row {{ loop.index }}</h3>{{ s }}</div>{% else %}<p class='muted'>no rows</p>{% endfor %}
<h2>Rejects (first few)</h2>
{{ table(rejects) }}
<h2>Stages</h2>
{{ table(stages) }}
<h2>Sources</h2>
{{ table(sources) }}
<h2>Schema</h2>
{{ table(schema) }}
<details><summary>Build config</summary>{{ code(config) }}</details>
<script>
(function () {
  const specs = {{ specs }};
  window.codekilnCharts = {total: specs.length, rendered: 0, failed: []};
  Promise.all(specs.map(function (spec, i) {
    return vegaEmbed("#chart-" + i, spec, {renderer: "svg", actions: false})
      .then(function () { window.codekilnCharts.rendered += 1; })
      .catch(function (err) { window.codekilnCharts.failed.push(String(err)); console.error(err); });
  })).then(function () { window.codekilnCharts.done = true; });
})();
</script>
</body>
</html>
"""
