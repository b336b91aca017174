"""What kind modules use to declare their report parts: chart helpers (Vega-Altair, aggregated by
DuckDB so a page stays the same size whatever the number of rows) and the Jinja2 macros their
sample-row templates call (`kv`, `code`, `diff`, `badge`, and the `text` filter). Altair is
imported only when a chart is drawn, so declaring a kind stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from codekiln.pipelines.kinds.base import Query

W, H = 360, 220


@dataclass
class Figure:
    title: str
    chart: Any  # an Altair chart
    caption: str = ""


def data(rows: list[dict]):
    """Rows inlined into the spec; DuckDB's DECIMAL results become floats so they serialise."""
    import altair as alt

    return alt.Data(values=[{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows])


def bars(rows, x, y, title, *, color=None, x_title=None, y_title=None, sort=None) -> Any:
    import altair as alt

    enc = {"x": alt.X(x, title=x_title, sort=sort), "y": alt.Y(y, title=y_title)}
    if color:
        enc["color"] = alt.Color(color)
    return alt.Chart(data(rows)).mark_bar().encode(**enc).properties(width=W, height=H, **({"title": title} if title else {}))


def hist(q: Query, values: str, *, x_title: str, y_title: str = "rows", discrete: bool = False,
          bins: int = 20, extent: tuple[float, float] | None = None, grouped: bool = False) -> Any:
    """A histogram of `x` aggregated by DuckDB, so a page stays the same size whatever the number
    of rows. `values` is a query selecting `x` (and `g`, coloured, when `grouped`)."""
    import altair as alt

    g = "g, " if grouped else ""
    if discrete:
        rows = q(f"select {g}x, count(*) n from ({values}) where x is not null group by all order by all")
        x = alt.X("x:O", title=x_title)
        chart = alt.Chart(data(rows)).mark_bar().encode(x=x, y=alt.Y("n:Q", title=y_title))
    else:
        lo_hi = f"{float(extent[0])} lo, {float(extent[1])} hi" if extent else "min(x) lo, max(x) hi from v"
        rows = q(f"""with v as (select {g}x::double x from ({values}) where x is not null),
                      r as (select {lo_hi}),
                      b as (select lo, greatest((hi - lo) / {bins}, 1e-9) w from r)
                 select {g}lo + least(floor((x - lo) / w), {bins - 1}) * w x0,
                        lo + (least(floor((x - lo) / w), {bins - 1}) + 1) * w x1, count(*) n
                 from v, b group by all order by all""")
        chart = alt.Chart(data(rows)).mark_bar(opacity=0.8 if grouped else 1).encode(
            x=alt.X("x0:Q", title=x_title, bin="binned", scale=alt.Scale(domain=list(extent)) if extent else alt.Undefined),
            x2="x1:Q", y=alt.Y("n:Q", title=y_title, stack=None))
    if grouped:
        chart = chart.encode(color=alt.Color("g:N", title=None))
        if discrete:
            chart = chart.encode(xOffset="g:N")
    return chart.properties(width=W, height=H)


def scatter(q: Query, values: str, x: str, y: str, *, color: str | None = None, limit: int = 2000) -> Any:
    """Points of at most `limit` rows, chosen by a hash of the id (stable across runs)."""
    import altair as alt

    rows = q(f"select * from ({values}) order by hash(id), id limit {limit}")
    enc = {"x": alt.X(x), "y": alt.Y(y)}
    if color:
        enc["color"] = alt.Color(color)
    return alt.Chart(data(rows)).mark_circle(opacity=0.5, size=50).encode(**enc).properties(width=W, height=H)



# ---------------------------------------------------------------------------------------------
# sample rows: Jinja2 with autoescaping; every value is escaped unless a macro made it markup

MACROS = """
{%- macro kv(row, keys) -%}
<table class='kv'>{% for k in keys if k in row %}<tr><th>{{ k }}</th><td>{{ '' if row[k] is none else row[k] }}</td></tr>{% endfor %}</table>
{%- endmacro -%}
{%- macro code(text, cls='') -%}
<pre class="code {{ cls }}">{{ '' if text is none else text }}</pre>
{%- endmacro -%}
{%- macro diff(text) -%}
<pre class="code diff">{% for line in text.split('\n') -%}
<span class="{{ line | diff_class }}">{{ line or ' ' }}</span>
{%- endfor %}</pre>
{%- endmacro -%}
{%- macro badge(ok, text) -%}
<span class="badge {{ 'ok' if ok else 'bad' }}">{{ text }}</span>
{%- endmacro -%}
"""

# any kind without a template of its own: every column, long values as code
GENERIC_SAMPLE = """<table class='kv'>{% for k, v in row.items() %}{% set t = v | json_text %}
<tr><th>{{ k }}</th><td>{{ code(t) if t | length > 80 else t }}</td></tr>{% endfor %}</table>"""


def diff_class(line: str) -> str:
    """The colour class of a unified diff line."""
    return ("hunk" if line.startswith("@@") else "meta" if line.startswith(("+++", "---"))
            else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")


def text(value) -> str:
    """Conversational values (message lists, or their JSON) as readable text; strings as they
    are; anything else as indented JSON."""
    messages = value
    if isinstance(value, str) and value.startswith("[{"):
        try:
            messages = json.loads(value)
        except ValueError:
            return value
    if isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m and "content" in m
                                                       for m in messages):
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    return json_text(value)


def json_text(value) -> str:
    """A string as it is, anything else as indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False, indent=1)


FILTERS = {"diff_class": diff_class, "text": text, "json_text": json_text}
