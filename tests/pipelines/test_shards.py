import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln.pipelines.building.shards import SHARDS_JSON, WriteShards

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n", pa.int64())])


def test_rollover_summary_and_rows_that_do_not_fit_the_schema(tmp_path):
    rows = [{"id": str(i), "n": i} for i in range(2500)] + [{"id": "bad", "n": "not a number"}]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        rejects = p | beam.Create(rows, reshuffle=False) | WriteShards(str(tmp_path), SCHEMA, max_rows=1000)
        rejects | beam.Map(json.dumps) | beam.io.WriteToText(str(tmp_path / "rejects"))
    summary = json.loads((tmp_path / SHARDS_JSON).read_text())
    assert summary["rows"] == 2500 and len(summary["files"]) == 3
    assert sorted(f["rows"] for f in summary["files"]) == [500, 1000, 1000]
    written = [r for f in summary["files"] for r in pq.read_table(f["path"]).to_pylist()]
    assert sorted(int(r["id"]) for r in written) == list(range(2500))
    (rej,) = [json.loads(x) for f in tmp_path.glob("rejects*") for x in f.read_text().splitlines()]
    assert rej["reason"] == "schema_mismatch" and rej["location"] == "bad"


def test_empty_input_writes_an_empty_summary(tmp_path):
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        p | beam.Create([]) | WriteShards(str(tmp_path), SCHEMA)
    summary = json.loads((tmp_path / SHARDS_JSON).read_text())
    assert summary["rows"] == 0 and summary["files"] == []
