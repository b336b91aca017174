"""Whole builds on the local runner: versions, fingerprints, rejects and counts."""

import json
import random

import pyarrow.parquet as pq
import pytest
from codekiln.pipelines.building.build import build_dataset, pipeline_args
from codekiln.pipelines.config import parse
from codekiln.pipelines.storage.store import Store
from codekiln.transforms import fs

from tests.conftest import HUMANEVAL_FIELDS, humaneval, write_jsonl


def _cfg(tmp_path, path, **over):
    doc = {"name": "he", "kind": "problems",
           "source": {"name": "humaneval", "path": str(path), "fields": HUMANEVAL_FIELDS}}
    doc.update(over)
    (cfg,) = parse(doc, str(tmp_path))
    return cfg


def _rows(store, manifest):
    return [r for f in store.files(manifest) for r in pq.read_table(f).to_pylist()]


def _rejects(store, manifest):
    return [r for f in store.reject_files(manifest) for r in pq.read_table(f).to_pylist()]


def _check_counts(manifest):
    """rows in = rows out + rejects, per stage, and stages chain into each other."""
    stages = manifest["stages"]
    for s in stages:
        assert s["in"] == s["accepted"] + s["rejected"], s
        assert s["rejected"] == sum(s["reasons"].values())
        assert s["reasons"] == manifest["rejects"]["by_stage"].get(s["stage"], {})
    for prev, nxt in zip(stages, stages[1:], strict=False):
        assert prev["out"] == nxt["in"], (prev, nxt)
    assert stages[-1]["out"] == sum(s["rows"] for s in manifest["splits"].values())
    assert manifest["rejects"]["rows"] == sum(s["rejected"] for s in stages)


def test_build_rebuild_and_new_version(tmp_path, store_root):
    src = write_jsonl(tmp_path / "he.jsonl", humaneval(12))
    store = Store(str(store_root))
    first = build_dataset(_cfg(tmp_path, src), store)
    assert first.status == "created" and first.manifest["version"] == "v1"
    m = first.manifest
    assert m["splits"]["train"]["rows"] == 12 and m["rejects"]["rows"] == 0
    assert m["splits"]["train"]["files"] == ["data/train-00000-of-00001.parquet"]
    assert m["sources"][0]["sha256"] and m["parent"] is None and len(m["config_sha256"]) == 64
    assert sorted(r["source_id"] for r in _rows(store, m)) == sorted(r["task_id"] for r in humaneval(12))
    _check_counts(m)

    again = build_dataset(_cfg(tmp_path, src), store)
    assert again.status == "unchanged" and again.manifest["version"] == "v1"
    assert [v["version"] for v in store.manifests("he")] == ["v1"]

    write_jsonl(src, humaneval(13))
    second = build_dataset(_cfg(tmp_path, src), store)
    assert second.manifest["version"] == "v2" and second.manifest["parent"] == "v1"
    assert second.manifest["fingerprint"] != m["fingerprint"]
    # v1 is untouched
    assert len(_rows(store, store.resolve("he@v1"))) == 12


def test_fingerprint_ignores_row_order_and_sharding(tmp_path):
    records = humaneval(20)
    a = write_jsonl(tmp_path / "a.jsonl", records)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    b1 = write_jsonl(tmp_path / "b1.jsonl", shuffled[:11])
    b2 = write_jsonl(tmp_path / "b2.jsonl", shuffled[11:])
    m1 = build_dataset(_cfg(tmp_path, a), Store(str(tmp_path / "s1"))).manifest
    m2 = build_dataset(_cfg(tmp_path, str(tmp_path / "b*.jsonl"), beam={"workers": 2}),
                       Store(str(tmp_path / "s2"))).manifest
    assert m2["sources"][0]["files"] == 2 and b1.exists() and b2.exists()
    assert m1["fingerprint"] == m2["fingerprint"]


def test_broken_lines_become_rejects_and_good_rows_survive(tmp_path, store_root):
    good = humaneval(10)
    src = write_jsonl(tmp_path / "he.jsonl", good, raw_lines=[
        (2, b'{"task_id": "HumanEval/x", "prompt": '),      # truncated JSON
        (5, b'{"task_id": "\xff\xfe", "prompt": "p"}'),       # not UTF-8
        (9, json.dumps({"task_id": "HumanEval/y", "prompt": "p"}).encode()),  # missing fields
    ])
    m = build_dataset(_cfg(tmp_path, src), Store(str(store_root))).manifest
    store = Store(str(store_root))
    assert sorted(r["source_id"] for r in _rows(store, m)) == sorted(r["task_id"] for r in good)
    rejects = sorted(_rejects(store, m), key=lambda r: r["location"])
    assert [(r["stage"], r["reason"], r["location"]) for r in rejects] == [
        ("normalise", "missing_field", "line 10"),
        ("read", "malformed_json", "line 3"),
        ("read", "invalid_utf8", "line 6"),
    ]
    assert all(r["source"] == str(src) and r["detail"] for r in rejects)
    assert json.loads(rejects[0]["payload"])["task_id"] == "HumanEval/y"
    _check_counts(m)


def test_duplicate_ids_keep_the_first_in_source_order(tmp_path, store_root):
    recs = humaneval(5)
    dup = dict(recs[2], prompt="a later copy")
    src = write_jsonl(tmp_path / "he.jsonl", recs + [dup])
    m = build_dataset(_cfg(tmp_path, src), Store(str(store_root))).manifest
    rows = _rows(Store(str(store_root)), m)
    assert len(rows) == 5
    assert next(r for r in rows if r["source_id"] == recs[2]["task_id"])["prompt"] == recs[2]["prompt"]
    (rej,) = _rejects(Store(str(store_root)), m)
    assert (rej["stage"], rej["reason"], rej["location"]) == ("dedupe", "duplicate_id", "line 6")
    _check_counts(m)


def test_multiprocess_workers_give_the_same_dataset(tmp_path):
    """Separate SDK worker processes: what breaks on Dataflow (pickling, module state) breaks here."""
    src = write_jsonl(tmp_path / "he.jsonl", humaneval(20), raw_lines=[(7, b"{oops")])
    one = build_dataset(_cfg(tmp_path, src), Store(str(tmp_path / "a"))).manifest
    many = build_dataset(_cfg(tmp_path, src, beam={"workers": 2, "mode": "multi_processing"}),
                         Store(str(tmp_path / "b"))).manifest
    assert many["beam_args"][:3] == ["--runner=FnApiRunner", "--direct_num_workers=2",
                                     "--direct_running_mode=multi_processing"]
    assert one["fingerprint"] == many["fingerprint"]
    assert many["rejects"]["by_stage"] == {"read": {"malformed_json": 1}}
    _check_counts(many)


def test_crash_while_committing_leaves_no_visible_version(tmp_path, store_root, monkeypatch):
    src = write_jsonl(tmp_path / "he.jsonl", humaneval(3))
    store = Store(str(store_root))
    real = fs.create_exclusive

    def failing(path, data):
        if path.endswith("manifest.json"):
            raise OSError("disk gone")
        return real(path, data)

    monkeypatch.setattr(fs, "create_exclusive", failing)
    with pytest.raises(OSError, match="disk gone"):
        build_dataset(_cfg(tmp_path, src), store)
    assert (store_root / "he" / "v1" / "data").exists()  # the moved files are there...
    assert store.manifests() == [] and store.latest("he") is None  # ...but no version is
    monkeypatch.setattr(fs, "create_exclusive", real)
    m = build_dataset(_cfg(tmp_path, src), store).manifest  # its gc removed the unfinished v1 first
    assert m["version"] == "v1" and len(_rows(store, m)) == 3
    assert not list((store_root / "he" / "_staging").iterdir())
    assert sorted(p.name for p in (store_root / "he" / "v1").iterdir()) == ["data", "manifest.json"]


def test_runner_and_beam_args_pass_through(tmp_path):
    cfg = _cfg(tmp_path, write_jsonl(tmp_path / "x.jsonl", humaneval(1)))
    args, local = pipeline_args(cfg, "DataflowRunner", ["--project=p", "--region=r", "--runner=X"])
    assert not local and args == ["--runner=DataflowRunner", "--project=p", "--region=r", "--runner=X"]
    args, local = pipeline_args(cfg, None, [])
    assert local and args[0] == "--runner=FnApiRunner"  # never DirectRunner: it downloads Prism
