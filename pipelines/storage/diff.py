"""`codekiln diff`: what changed between two versions (of one dataset, or any two).

Config keys are compared flattened to dotted paths (`params.seed`, `sources.0.path`); rows are
matched by `id`, and a row present in both is "changed" when its values in the columns both
versions share differ (DuckDB hashes each row's JSON, so nothing is loaded into Python).
"""

from __future__ import annotations

import json

from codekiln.pipelines.storage.catalog import create_view, ident, new_connection
from codekiln.pipelines.storage.manifest import rows as manifest_rows
from codekiln.pipelines.storage.store import Store

_MISSING = object()


def flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): value}


def config_changes(old: dict, new: dict) -> list[dict]:
    a, b = flatten(old), flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va != vb:
            change = "added" if va is _MISSING else "removed" if vb is _MISSING else "changed"
            out.append({"key": key, "change": change, "old": None if va is _MISSING else va,
                        "new": None if vb is _MISSING else vb})
    return out


def source_changes(old: list[dict], new: list[dict]) -> list[dict]:
    a, b = {s["name"]: s for s in old}, {s["name"]: s for s in new}
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            s = b.get(name) or a[name]
            out.append({"source": name, "change": "added" if name in b else "removed",
                        "fields": {k: s.get(k) for k in ("format", "path", "sha256", "license", "version")}})
            continue
        fields = {k: {"old": a[name].get(k), "new": b[name].get(k)}
                  for k in ("format", "path", "files", "sha256", "license", "dataset", "version", "fingerprint")
                  if a[name].get(k) != b[name].get(k)}
        if fields:
            out.append({"source": name, "change": "changed", "fields": fields})
    return out


def schema_changes(old: list[dict], new: list[dict]) -> dict:
    a, b = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    return {"added": [b[n] for n in b if n not in a], "removed": [a[n] for n in a if n not in b],
            "changed": [{"name": n, "old": a[n], "new": b[n]} for n in a if n in b and a[n] != b[n]]}


def count_changes(old: dict, new: dict) -> dict:
    def rows(m):
        return manifest_rows(m)

    reasons = {}
    for m, side in ((old, "old"), (new, "new")):
        for stage, by_reason in m["rejects"]["by_stage"].items():
            for reason, n in by_reason.items():
                reasons.setdefault(f"{stage}/{reason}", {"old": 0, "new": 0})[side] = n
    splits = {s: {"old": old["splits"].get(s, {}).get("rows", 0), "new": new["splits"].get(s, {}).get("rows", 0)}
              for s in sorted(set(old["splits"]) | set(new["splits"]))}
    return {"rows": {"old": rows(old), "new": rows(new)},
            "rejects": {"old": old["rejects"]["rows"], "new": new["rejects"]["rows"]},
            "splits": splits, "rejects_by_reason": dict(sorted(reasons.items()))}


def row_changes(store: Store, old: dict, new: dict, limit: int) -> dict:
    shared = [f["name"] for f in old["schema"] if f["name"] in {g["name"] for g in new["schema"]}]
    if "id" not in shared:
        return {"error": "the versions do not both have an `id` column"}
    con = new_connection()
    cols = ", ".join(f"{ident(c)} := {ident(c)}" for c in shared)
    for name, m in (("a", old), ("b", new)):
        create_view(con, f"{name}_rows", store.files(m), m["schema"])
        con.execute(f"create view {name} as select id, md5(to_json(struct_pack({cols}))) h from {name}_rows")
    con.execute("create table j as select a.id old_id, b.id new_id, a.h is distinct from b.h differs "
                "from a full outer join b on a.id = b.id")

    def ids(where: str) -> tuple[int, list[str]]:
        n = con.sql(f"select count(*) from j where {where}").fetchall()[0][0]
        listed = con.sql(f"select coalesce(new_id, old_id) i from j where {where} order by i limit {int(limit)}")
        return n, [r[0] for r in listed.fetchall()]

    added, added_ids = ids("old_id is null")
    removed, removed_ids = ids("new_id is null")
    changed, changed_ids = ids("old_id is not null and new_id is not null and differs")
    unchanged = con.sql("select count(*) from j where old_id is not null and new_id is not null and not differs"
                        ).fetchall()[0][0]
    con.close()
    return {"compared_columns": shared, "added": added, "removed": removed, "changed": changed,
            "unchanged": unchanged, "added_ids": added_ids, "removed_ids": removed_ids, "changed_ids": changed_ids}


def diff_versions(store: Store, old: dict, new: dict, limit: int = 10) -> dict:
    return {
        "old": f"{old['dataset']}@{old['version']}", "new": f"{new['dataset']}@{new['version']}",
        "fingerprint": {"old": old["fingerprint"], "new": new["fingerprint"]},
        "kind": {"old": old["kind"], "new": new["kind"]},
        "config": config_changes(old["config"], new["config"]),
        "sources": source_changes(old["sources"], new["sources"]),
        "schema": schema_changes(old["schema"], new["schema"]),
        "counts": count_changes(old, new),
        "rows": row_changes(store, old, new, limit),
    }


def _v(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value


def _delta(d: dict) -> str:
    diff = d["new"] - d["old"]
    return f"{d['old']:,} -> {d['new']:,}" + (f" ({diff:+,})" if diff else " (same)")


def format_diff(d: dict) -> str:
    lines = [f"{d['old']} -> {d['new']}"]
    fp = d["fingerprint"]
    lines.append("fingerprint  " + ("same (identical data)" if fp["old"] == fp["new"]
                                    else f"{fp['old'][:12]} -> {fp['new'][:12]}"))
    if d["kind"]["old"] != d["kind"]["new"]:
        lines.append(f"kind         {d['kind']['old']} -> {d['kind']['new']}")

    lines.append(f"\nconfig: {len(d['config'])} key{'s' * (len(d['config']) != 1)} changed")
    mark = {"added": "+", "removed": "-", "changed": "~"}
    for c in d["config"]:
        value = (_v(c["new"]) if c["change"] == "added" else _v(c["old"]) if c["change"] == "removed"
                 else f"{_v(c['old'])} -> {_v(c['new'])}")
        lines.append(f"  {mark[c['change']]} {c['key']}: {value}")

    lines.append(f"\nsources: {'unchanged' if not d['sources'] else ''}".rstrip())
    for s in d["sources"]:
        if s["change"] == "changed":
            what = ", ".join(f"{k} {_short(v['old'])} -> {_short(v['new'])}" for k, v in s["fields"].items())
        else:
            what = ", ".join(f"{k} {_short(v)}" for k, v in s["fields"].items() if v is not None)
        lines.append(f"  {mark[s['change']]} {s['source']}: {what}")

    sc = d["schema"]
    lines.append("\nschema: " + ("unchanged" if not any(sc.values()) else ""))
    lines += [f"  + {f['name']}: {f['type']}" for f in sc["added"]]
    lines += [f"  - {f['name']}: {f['type']}" for f in sc["removed"]]
    lines += [f"  ~ {c['name']}: {c['old']['type']} -> {c['new']['type']}" for c in sc["changed"]]

    counts = d["counts"]
    lines.append("\ncounts")
    lines.append(f"  rows     {_delta(counts['rows'])}")
    lines.append(f"  rejects  {_delta(counts['rejects'])}")
    for key, v in counts["rejects_by_reason"].items():
        if v["old"] != v["new"]:
            lines.append(f"    {key}: {_delta(v)}")

    rows = d["rows"]
    lines.append("\nrows by id")
    if "error" in rows:
        lines.append(f"  {rows['error']}")
    else:
        for key, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            listed = rows[f"{key}_ids"]
            more = rows[key] - len(listed)
            tail = f": {', '.join(listed)}" + (f" (and {more:,} more)" if more > 0 else "") if listed else ""
            lines.append(f"  {sign} {rows[key]:,} {key}{tail}")
        lines.append(f"  = {rows['unchanged']:,} unchanged")
    return "\n".join(lines)


def _short(v) -> str:
    s = _v(v)
    return s[:12] if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v) else s
