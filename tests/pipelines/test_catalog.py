import duckdb
import pytest
from codekiln.pipelines.building.build import build_dataset
from codekiln.pipelines.config import parse
from codekiln.pipelines.storage.catalog import connect, ident
from codekiln.pipelines.storage.store import Store

from tests.conftest import HUMANEVAL_FIELDS, humaneval, write_jsonl


def _build(tmp_path, store, name, records, lines=()):
    src = write_jsonl(tmp_path / f"{name}.jsonl", records, raw_lines=lines)
    doc = {"name": name, "kind": "problems",
           "source": {"name": "he", "path": str(src), "fields": HUMANEVAL_FIELDS}}
    (cfg,) = parse(doc, str(tmp_path))
    return build_dataset(cfg, store).manifest


def test_views_per_version_latest_rejects_and_versions_table(tmp_path):
    store = Store(str(tmp_path / "store"))
    _build(tmp_path, store, "my-set", humaneval(4))
    _build(tmp_path, store, "my-set", humaneval(6), lines=[(1, b"not json")])
    con = connect(store)
    assert con.sql("select count(*) from my_set").fetchall() == [(6,)]
    assert con.sql("select count(*) from my_set_v1").fetchall() == [(4,)]
    assert con.sql("select count(*) from my_set_v2").fetchall() == [(6,)]
    assert con.sql("select reason, location from my_set_rejects").fetchall() == [("malformed_json", "line 2")]
    versions = con.sql("select dataset, version, rows, rejects from versions order by version").fetchall()
    assert versions == [("my-set", "v1", 4, 0), ("my-set", "v2", 6, 1)]
    # list columns come back as lists
    tests = con.sql("select tests from my_set where source_id = 'HumanEval/0'").fetchall()[0][0]
    assert isinstance(tests, list) and "def check" in tests[0]


def test_uncommitted_files_are_never_seen(tmp_path):
    store = Store(str(tmp_path / "store"))
    m = _build(tmp_path, store, "ds", humaneval(3))
    # a stray shard in the version dir, and a version dir without a manifest
    data_dir = tmp_path / "store" / "ds" / "v1" / "data"
    (data_dir / "train-00001-of-00002.parquet").write_bytes((data_dir / m["splits"]["train"]["files"][0].split("/")[1]).read_bytes())
    (tmp_path / "store" / "ds" / "v2" / "data").mkdir(parents=True)
    con = connect(store)
    assert con.sql("select count(*) from ds").fetchall() == [(3,)]
    assert [r[0] for r in con.sql("select version from versions").fetchall()] == ["v1"]


def test_empty_store_and_identifiers(tmp_path):
    con = connect(Store(str(tmp_path / "none")))
    assert con.sql("select count(*) from versions").fetchall() == [(0,)]
    assert ident("a-b") == '"a_b"'
    with pytest.raises(duckdb.CatalogException):
        con.sql("select * from missing").fetchall()
    assert ident('x"y') == '"x""y"'
