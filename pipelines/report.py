"""`codekiln report`: one self-contained HTML page about a version.

The page carries everything it needs: the Vega/Vega-Lite/vega-embed bundle from
`vl-convert-python` is inlined once and each chart is a Vega-Lite spec built with Altair, so it
opens offline, from an e-mail attachment or a bucket. Charts and samples are computed by DuckDB
from the version's own Parquet files; the kind-specific parts live in `pipelines.figures`.
"""

from __future__ import annotations

import functools
import json

import altair as alt
import duckdb
from codekiln.pipelines import training
from codekiln.pipelines.card import config_yaml, filter_notes, filter_tables, public_path
from codekiln.pipelines.catalog import version_connection
from codekiln.pipelines.figures import (
    DEFAULT_SAMPLE_ORDER,
    FIGURES,
    SAMPLE_ORDER,
    SAMPLES,
    Figure,
    code,
    common_figures,
    esc,
    generic_sample,
)
from codekiln.pipelines.kinds import KINDS
from codekiln.pipelines.store import Store
from codekiln.transforms import fs


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


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table class='grid'><tr>{head}</tr>{body}</table>"


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else v


def _summary(m: dict) -> str:
    rows = sum(s["rows"] for s in m["splits"].values())
    per_split = ", ".join(f"{k} {v['rows']:,}" for k, v in m["splits"].items())
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
    return "<table class='kv'>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items) + "</table>"


def _sources(m: dict) -> list[dict]:
    out = []
    for s in m["sources"]:
        ref = f"{s.get('dataset')}@{s.get('version')}" if s["format"] == "dataset" else public_path(s["path"])
        out.append({"source": s["name"], "format": s["format"], "read": ref, "license": s.get("license") or "not declared",
                    "sha256": s["sha256"][:16]})
    return out


def token_section(q, manifest: dict, counter: training.TokenCounter) -> tuple[str, list[Figure]]:
    """Token lengths of what a trainer sees, for the kinds with a TRL recipe (else nothing)."""
    kind = KINDS[manifest["kind"]]
    if not kind.training:
        return "", []
    if kind.training.adds_tokens:
        counter.add_tokens([training.diff_token(manifest)])
    stats, points, note = training.token_lengths(q, [f["name"] for f in manifest["schema"]], counter)
    if not stats:
        return "", []
    html = (f"<p>The sequences the {esc(kind.training.trainer)} recipe trains on, in tokens: {esc(note)}. "
            f"<code>over_Nk</code>: rows longer than N&times;1024 tokens (a trainer cuts them at its "
            f"<code>max_length</code>, 1024 by default in TRL).</p>" + _table(stats))
    chart = alt.Chart(alt.Data(values=points)).mark_bar().encode(
        x=alt.X("tokens:Q", bin=alt.Bin(maxbins=40), title="tokens"), y=alt.Y("count():Q", title="rows"),
        color=alt.Color("sequence:N")).properties(width=420, height=220)
    return html, [Figure("Token lengths", chart, f"{note}.")]


def build_figures(store: Store, manifest: dict, samples: int = 5, counter: training.TokenCounter | None = None
                  ) -> tuple[list[Figure], list[str], list[dict], str]:
    """(charts, sample rows as HTML, a few rejects, the token-length section) for a version."""
    con = version_connection(store, manifest)
    q = _query(con)
    figures = common_figures(q, manifest) + FIGURES.get(manifest["kind"], lambda q, m: [])(q, manifest)
    tokens, token_figures = token_section(q, manifest, counter or training.TokenCounter())
    figures += token_figures
    render = SAMPLES.get(manifest["kind"], generic_sample)
    order = SAMPLE_ORDER.get(manifest["kind"], DEFAULT_SAMPLE_ORDER)
    rows = q(f"select * from data order by {order} limit {int(samples)}")
    rejects = q("select stage, reason, location, left(detail, 300) detail from rejects "
                f"order by stage, reason, location limit {int(samples) * 2}")
    con.close()
    return figures, [render(r) for r in rows], rejects, tokens


def render_report(store: Store, manifest: dict, samples: int = 5, counter: training.TokenCounter | None = None) -> str:
    m = manifest
    figures, sample_html, rejects, tokens = build_figures(store, m, samples, counter)
    charts, specs = [], []
    for f in figures:
        spec = f.chart.properties(title=f.title).to_dict() if f.title else f.chart.to_dict()
        cap = f"<p class='caption'>{esc(f.caption)}</p>" if f.caption else ""
        if not _has_data(spec):  # Vega cannot scale an empty domain: say so instead of a broken chart
            charts.append(f"<figure><h4>{esc(f.title)}</h4><p class='muted nodata'>no rows to chart</p></figure>")
            continue
        charts.append(f"<figure><div class='chart' id='chart-{len(specs)}' data-title='{esc(f.title)}'></div>{cap}</figure>")
        specs.append(spec)
    quality = "".join(f"<h3>{esc(name.replace('_', ' '))}</h3>{_table(rows)}"
                      for name, rows in (m.get("quality") or {}).items())
    filters = "".join([f"<p>{esc(caption)}.</p>{_table(rows)}" for caption, rows in filter_tables(m)]
                      + [f"<p class='muted'>{esc(note)}</p>" for note in filter_notes(m)])
    stages = _table([{"stage": s["stage"], "in": s["in"], "out": s["out"], "rejected": s["rejected"],
                      "reasons": ", ".join(f"{k}={v}" for k, v in sorted(s["reasons"].items()))} for s in m["stages"]])
    schema = _table([{"column": f["name"], "type": f["type"], "nullable": f["nullable"]} for f in m["schema"]])
    config = config_yaml(m)
    samples_html = "".join(f"<div class='sample'><h3>row {i + 1}</h3>{s}</div>" for i, s in enumerate(sample_html))
    title = f"{m['dataset']}@{m['version']}: codekiln report"
    return PAGE.format(
        title=esc(title), heading=esc(f"{m['dataset']}@{m['version']}"), description=esc(m.get("description") or ""),
        summary=_summary(m), charts="".join(charts), quality=quality or "<p class='muted'>none recorded</p>",
        filters=filters,
        tokens=(f"<h2>Token lengths</h2>{tokens}" if tokens else ""),
        samples=samples_html or "<p class='muted'>no rows</p>", rejects=_table(rejects), stages=stages,
        sources=_table(_sources(m)), schema=schema, config=code(config), css=CSS,
        bundle=vega_bundle(), specs=_script_json(specs))


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
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
<script>{bundle}</script>
</head>
<body>
<h1>{heading}</h1>
<p>{description}</p>
{summary}
<h2>Figures</h2>
<div class="charts">{charts}</div>
<h2>Quality figures</h2>
{quality}
<h2>Decontamination and near-duplicates</h2>
{filters}
{tokens}
<h2>Sample rows</h2>
{samples}
<h2>Rejects (first few)</h2>
{rejects}
<h2>Stages</h2>
{stages}
<h2>Sources</h2>
{sources}
<h2>Schema</h2>
{schema}
<details><summary>Build config</summary>{config}</details>
<script>
(function () {{
  const specs = {specs};
  window.codekilnCharts = {{total: specs.length, rendered: 0, failed: []}};
  Promise.all(specs.map(function (spec, i) {{
    return vegaEmbed("#chart-" + i, spec, {{renderer: "svg", actions: false}})
      .then(function () {{ window.codekilnCharts.rendered += 1; }})
      .catch(function (err) {{ window.codekilnCharts.failed.push(String(err)); console.error(err); }});
  }})).then(function () {{ window.codekilnCharts.done = true; }});
}})();
</script>
</body>
</html>
"""
