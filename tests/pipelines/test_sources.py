"""Readers, through a real Beam pipeline on the local runner."""

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln.pipelines.building.sources import ReadSources, list_files, sha256_files
from codekiln.pipelines.config import parse

from tests.conftest import write_jsonl


def _read(tmp_path, source: dict):
    (cfg,) = parse({"name": "t", "kind": "problems", "source": {"name": "s", **source}}, str(tmp_path))
    src = cfg.sources[0]
    tasks = [(src, i, p, p) for i, p in enumerate(list_files(src))]  # (.., read, named)
    out_dir = tmp_path / "out"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        good, bad = p | ReadSources(tasks)
        good | "G" >> beam.Map(json.dumps, default=str) | "WG" >> beam.io.WriteToText(str(out_dir / "good"))
        bad | "B" >> beam.Map(json.dumps) | "WB" >> beam.io.WriteToText(str(out_dir / "bad"))
    def lines(prefix):
        return [json.loads(line) for f in sorted(out_dir.glob(prefix + "*")) for line in f.read_text().splitlines()]
    return lines("good"), lines("bad")


def test_jsonl_gz_with_broken_lines(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl.gz", [{"k": i} for i in range(5)],
                       raw_lines=[(1, b'{"k": '), (3, b'\xff\xfe{"k": 1}'), (5, b'"just a string"')])
    good, bad = _read(tmp_path, {"path": str(path), "format": "jsonl"})
    assert sorted(g["data"]["k"] for g in good) == [0, 1, 2, 3, 4]
    assert sorted((b["reason"], b["location"]) for b in bad) == [
        ("invalid_utf8", "line 4"), ("malformed_json", "line 2"), ("not_an_object", "line 6")]
    assert all(b["source"] == str(path) and b["stage"] == "read" for b in bad)
    assert {g["location"] for g in good} == {"line 1", "line 3", "line 5", "line 7", "line 8"}


def test_empty_and_truncated_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    good, bad = _read(tmp_path, {"path": str(tmp_path / "empty.jsonl")})
    assert good == [] and [b["reason"] for b in bad] == ["empty_file"]
    import gzip
    data = gzip.compress(b"".join(json.dumps({"k": i}).encode() + b"\n" for i in range(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    good, bad = _read(tmp_path, {"path": str(tmp_path / "cut.jsonl.gz")})
    assert 0 < len(good) < 2000
    assert [b["reason"] for b in bad] == ["unreadable_file"]


def test_parquet_and_saved_hf_dataset(tmp_path):
    rows = [{"task_id": f"t{i}", "prompt": f"p{i}"} for i in range(7)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "x.parquet")
    good, bad = _read(tmp_path, {"path": "x.parquet"})
    assert sorted(g["data"]["task_id"] for g in good) == sorted(r["task_id"] for r in rows) and not bad
    import datasets
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    good, bad = _read(tmp_path, {"path": "hf"})
    assert sorted(g["data"]["task_id"] for g in good) == sorted(r["task_id"] for r in rows) and not bad
    assert good[0]["location"].startswith("row ")


def test_code_directory(tmp_path):
    (tmp_path / "code" / "pkg").mkdir(parents=True)
    (tmp_path / "code" / "a.py").write_text("def f():\n    return 1\n")
    (tmp_path / "code" / "pkg" / "b.py").write_text("x = 1\n")
    (tmp_path / "code" / "empty.py").write_text("")
    (tmp_path / "code" / "latin.py").write_bytes(b"s = '\xe9'\n")
    (tmp_path / "code" / "notes.txt").write_text("not python")
    good, bad = _read(tmp_path, {"path": "code", "format": "code"})
    assert sorted(g["data"]["path"] for g in good) == ["a.py", "pkg/b.py"]
    assert sorted(b["reason"] for b in bad) == ["empty_file", "invalid_utf8"]


def test_source_fingerprint_changes_with_bytes(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"k": 1}])
    first = sha256_files([str(a)])
    assert first == sha256_files([str(a)])
    write_jsonl(a, [{"k": 2}])
    assert sha256_files([str(a)]) != first
