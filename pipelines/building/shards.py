"""Parquet shards written straight from the workers, with their content summary.

`WriteShards` replaces Beam's WriteToParquet + a separate summary pass: each bundle streams its
rows into temp Parquet files under `<dir>/_tmp/` (a new file every `max_rows` rows), hashing
each row as it goes. Only bundles that committed report their files, and the small list of
reports is combined into one `<dir>/_shards.json`; the store then names and moves exactly those
files, so a retried bundle's orphan can never slip into a version. Nothing holds more than one
record batch, whatever the size of the dataset.

The summary is an order- and shard-independent multiset hash: each row's canonical JSON is
hashed and the hashes are summed modulo 2**128.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue
from codekiln.transforms import fs
from codekiln.transforms.fs import file_digest
from codekiln.transforms.stage import REJECTS, CountingDoFn, StageCounter, reject_row

MOD = 1 << 128
BATCH_ROWS = 1000
SHARDS_JSON = "_shards.json"


def row_hash(row: dict) -> int:
    blob = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:16], "big")


def content_hash(hash_sum: int, rows: int) -> str:
    return f"{hash_sum:032x}-{rows}"


class _ShardWriterDoFn(CountingDoFn):
    def __init__(self, directory: str, schema: pa.Schema, max_rows: int, group_fields: tuple[str, ...],
                 stage: str, progress_dir: str | None):
        self.directory = directory
        self.schema = schema
        self.max_rows = max_rows
        self.group_fields = group_fields
        self.stage = stage
        self.progress_dir = progress_dir

    def setup(self):
        self.counter = StageCounter(self.stage, self.progress_dir)

    def start_bundle(self):
        self.batch: list[dict] = []
        self.writer = None
        self.file = None
        self.reports: list[dict] = []

    def process(self, row):
        self.counter.inc("in")
        self.batch.append(row)
        if len(self.batch) >= BATCH_ROWS:
            yield from self._flush()

    def _flush(self):
        rows, self.batch = self.batch, []
        try:
            table = pa.Table.from_pylist(rows, schema=self.schema)
        except (pa.ArrowException, TypeError, ValueError):
            table, bad = self._salvage(rows)
            for row, err in bad:
                self.counter.inc("rejected/schema_mismatch")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(
                    self.stage, "schema_mismatch", source=None, location=str(row.get("id")),
                    detail=err, payload=row))
            rows = [r for r in rows if all(r is not b for b, _ in bad)]
        if not rows:
            return
        if self.writer is None:
            self.path = fs.join(self.directory, "_tmp", f"{uuid.uuid4().hex}.parquet")
            self.file = fs.create(self.path)
            self.writer = pq.ParquetWriter(self.file, self.schema)
            self.report = {"path": self.path, "rows": 0, "hash": 0, "groups": {}}
        self.writer.write_table(table)
        rep = self.report
        for row in rows:
            rep["hash"] = (rep["hash"] + row_hash(row)) % MOD
            if self.group_fields:
                key = "/".join(str(row.get(f)) for f in self.group_fields)
                rep["groups"][key] = rep["groups"].get(key, 0) + 1
        rep["rows"] += len(rows)
        self.counter.inc("accepted", len(rows))
        self.counter.inc("out", len(rows))
        if rep["rows"] >= self.max_rows:
            self._close()

    def _salvage(self, rows):
        good, bad = [], []
        for row in rows:
            try:
                pa.Table.from_pylist([row], schema=self.schema)
                good.append(row)
            except (pa.ArrowException, TypeError, ValueError) as e:
                bad.append((row, f"{type(e).__name__}: {e}"))
        return pa.Table.from_pylist(good, schema=self.schema), bad

    def _close(self):
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            # read back on the worker: the manifest records what actually landed
            self.report["bytes"], self.report["sha256"] = file_digest(self.path)
            self.reports.append(self.report)
            self.writer = None

    def finish_bundle(self):
        rejects = list(self._flush()) if self.batch else []
        self._close()
        self.counter.flush()
        window = GlobalWindow()
        for r in rejects:
            yield beam.pvalue.TaggedOutput(REJECTS, WindowedValue(r.value, window.max_timestamp(), [window]))
        for rep in self.reports:
            yield WindowedValue(rep, window.max_timestamp(), [window])


class _MergeReports(beam.CombineFn):
    def create_accumulator(self):
        return {"files": [], "rows": 0, "hash": 0, "groups": {}}

    def add_input(self, acc, rep):
        file = {"path": rep["path"], "rows": rep["rows"], "hash": f"{rep['hash']:032x}",
                "bytes": rep["bytes"], "sha256": rep["sha256"]}
        return self._add(acc, [file], rep["rows"], rep["hash"], rep["groups"])

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out = self._add(out, a["files"], a["rows"], a["hash"], a["groups"])
        return out

    @staticmethod
    def _add(acc, files, rows, hash_sum, groups):
        acc["files"].extend(files)
        acc["rows"] += rows
        acc["hash"] = (acc["hash"] + hash_sum) % MOD
        for k, v in groups.items():
            acc["groups"][k] = acc["groups"].get(k, 0) + v
        return acc

    def extract_output(self, acc):
        return {"files": sorted(acc["files"], key=lambda f: (f["hash"], f["path"])), "rows": acc["rows"],
                "content_hash": content_hash(acc["hash"], acc["rows"]),
                "groups": dict(sorted(acc["groups"].items()))}


class _WriteJson(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, summary):
        fs.write_bytes(self.path, json.dumps(summary).encode())
        yield self.path


class WriteShards(beam.PTransform):
    """rows -> temp Parquet files in `directory/_tmp/` + `directory/_shards.json`; returns rejects
    (rows that do not fit the schema: a bug upstream, reported instead of failing the job)."""

    def __init__(self, directory: str, schema: pa.Schema, *, stage: str = "write",
                 max_rows: int = 100_000, group_fields: tuple[str, ...] = (),
                 progress_dir: str | None = None):
        super().__init__()
        self.directory, self.schema, self.stage = directory, schema, stage
        self.max_rows, self.group_fields, self.progress_dir = max_rows, group_fields, progress_dir

    def expand(self, rows):
        out = rows | "Write" >> beam.ParDo(_ShardWriterDoFn(
            self.directory, self.schema, self.max_rows, self.group_fields, self.stage,
            self.progress_dir)).with_outputs(REJECTS, main="reports")
        (out.reports
         | "Merge" >> beam.CombineGlobally(_MergeReports())
         | "Summary" >> beam.ParDo(_WriteJson(fs.join(self.directory, SHARDS_JSON))))
        return out[REJECTS]
