"""`codekiln diff` between two versions: config keys, sources, schema, counts, rows by id."""

import json

import yaml
from codekiln.pipelines.storage.diff import config_changes, flatten

from tests.conftest import humaneval, run_cli, write_jsonl


def _build(tmp_path, root, records, description, raw_lines=()):
    data = write_jsonl(tmp_path / "he.jsonl", records, raw_lines=raw_lines)
    cfg = tmp_path / "d.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "he", "kind": "problems", "description": description,
        "source": {"name": "humaneval", "path": str(data), "domain": "code",
                   "fields": {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution",
                              "entry_point": "entry_point"}}}))
    run_cli("build", str(cfg), "--root", str(root), "-q")


def test_diff_between_versions(tmp_path):
    root = tmp_path / "store"
    records = humaneval(8)
    _build(tmp_path, root, records[:5], "first", raw_lines=[(1, b"{broken")])
    edited = [dict(r) for r in records[1:8]]
    edited[0]["prompt"] += "\n# edited"  # HumanEval/1 keeps its id, changes its content
    _build(tmp_path, root, edited, "second")

    d = json.loads(run_cli("diff", "he@v1", "he@v2", "--json", "--root", str(root)).stdout)
    assert d["old"] == "he@v1" and d["new"] == "he@v2"
    assert d["config"] == [{"key": "description", "change": "changed", "old": "first", "new": "second"}]
    [src] = d["sources"]
    assert src["source"] == "humaneval" and set(src["fields"]) == {"sha256"}
    assert d["schema"] == {"added": [], "removed": [], "changed": []}
    assert d["counts"]["rows"] == {"old": 5, "new": 7}
    assert d["counts"]["rejects"] == {"old": 1, "new": 0}
    assert d["counts"]["rejects_by_reason"] == {"read/malformed_json": {"old": 1, "new": 0}}
    rows = d["rows"]
    assert (rows["added"], rows["removed"], rows["changed"], rows["unchanged"]) == (3, 1, 1, 3)
    names = {r["id"]: r["source_id"] for r in json.loads(run_cli(
        "sql", "select id, source_id from he_v1 union select id, source_id from he_v2", "--format", "json",
        "--root", str(root)).stdout)}  # row ids are content ids; source_id is the task id
    assert [names[i] for i in rows["removed_ids"]] == ["HumanEval/0"]
    assert [names[i] for i in rows["changed_ids"]] == ["HumanEval/1"]
    assert sorted(names[i] for i in rows["added_ids"]) == ["HumanEval/5", "HumanEval/6", "HumanEval/7"]
    assert rows["added_ids"] == sorted(rows["added_ids"])

    text = run_cli("diff", "he@v1", "he@v2", "--limit", "2", "--root", str(root)).stdout
    assert "~ description: first -> second" in text
    assert "rows     5 -> 7 (+2)" in text and "rejects  1 -> 0 (-1)" in text
    assert f"+ 3 added: {rows['added_ids'][0]}, {rows['added_ids'][1]} (and 1 more)" in text
    assert f"- 1 removed: {rows['removed_ids'][0]}" in text and f"~ 1 changed: {rows['changed_ids'][0]}" in text

    same = run_cli("diff", "he@v2", "he@v2", "--root", str(root)).stdout
    assert "fingerprint  same" in same and "= 7 unchanged" in same and "config: 0 keys changed" in same

    missing = run_cli("diff", "he@v1", "he@v7", "--root", str(root), check=False)
    assert missing.returncode == 1 and "no version 'v7'" in missing.stderr


def test_config_flattening_names_list_items_and_distinguishes_added_keys():
    assert flatten({"a": {"b": 1}, "s": [{"p": "x"}], "t": [1, 2]}) == {"a.b": 1, "s.0.p": "x", "t": [1, 2]}
    changes = config_changes({"params": {"seed": 0}}, {"params": {"seed": 1, "k": 2}})
    assert changes == [{"key": "params.k", "change": "added", "old": None, "new": 2},
                       {"key": "params.seed", "change": "changed", "old": 0, "new": 1}]
