"""Order- and shard-independent content fingerprints, computed inside the pipeline.

Each row is hashed on its canonical JSON; the hashes are summed modulo 2**128 (a multiset hash:
duplicates count, order and sharding do not). The same combine also counts rows per group
(rejects per stage and reason), so the manifest's figures come from the data itself, exactly,
whatever a runner retried.
"""

from __future__ import annotations

import hashlib
import json

import apache_beam as beam

from transforms import fs

MOD = 1 << 128


def row_hash(row: dict) -> int:
    blob = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:16], "big")


class SummaryFn(beam.CombineFn):
    """rows -> {"hash": hex, "rows": n, "groups": {key: n}} with key from `group_fields`."""

    def __init__(self, group_fields: tuple[str, ...] = ()):
        self.group_fields = group_fields

    def create_accumulator(self):
        return [0, 0, {}]

    def add_input(self, acc, row):
        acc[0] = (acc[0] + row_hash(row)) % MOD
        acc[1] += 1
        if self.group_fields:
            key = "/".join(str(row.get(f)) for f in self.group_fields)
            acc[2][key] = acc[2].get(key, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for h, n, groups in accs:
            out[0] = (out[0] + h) % MOD
            out[1] += n
            for k, v in groups.items():
                out[2][k] = out[2].get(k, 0) + v
        return out

    def extract_output(self, acc):
        return {"hash": f"{acc[0]:032x}", "rows": acc[1], "groups": dict(sorted(acc[2].items()))}


class _WriteJson(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, summary):
        fs.write_bytes(self.path, json.dumps(summary).encode())
        yield self.path


class Summarise(beam.PTransform):
    """pcoll -> one JSON summary file at `path` (written once the whole PCollection is seen)."""

    def __init__(self, path: str, group_fields: tuple[str, ...] = ()):
        super().__init__()
        self.path = path
        self.group_fields = group_fields

    def expand(self, pcoll):
        return (
            pcoll
            | "Combine" >> beam.CombineGlobally(SummaryFn(self.group_fields))
            | "Write" >> beam.ParDo(_WriteJson(self.path))
        )


def dataset_fingerprint(schema_json: list, splits: dict[str, str], rejects: str) -> str:
    """The version fingerprint from the schema and the per-split and reject content hashes."""
    blob = json.dumps({"schema": schema_json, "splits": splits, "rejects": rejects}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
