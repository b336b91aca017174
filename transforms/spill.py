"""Spill-and-decide: the pattern of every global filter (dedupe by id, near-dedupe).

Records are written to spill files under `spill_dir` as they stream past, while only small keys
go on to a shuffle that decides, globally, which records lose; the records are then read back
once with the (small) set of losers as a side input. So a worker's memory never holds the
records, only its share of the keys, and the decision is the same however records are spread
over workers.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue
from codekiln.transforms import fs
from codekiln.transforms.stage import REJECTS, CountingDoFn, StageCounter, reject_row

KEYS = "keys"


class SpillWriter(beam.DoFn):
    """record -> spilled to a file; yields `keys_of(record)` on the KEYS output and, per bundle,
    the spill file's path on the main output."""

    def __init__(self, spill_dir: str, keys_of: Callable[[Any], Iterable[Any]]):
        self.spill_dir, self.keys_of = spill_dir, keys_of

    def setup(self):
        setup = getattr(self.keys_of, "setup", None)
        if callable(setup):
            setup()

    def start_bundle(self):
        self.file = None

    def process(self, record):
        if self.file is None:
            self.path = fs.join(self.spill_dir, f"{uuid.uuid4().hex}.pkl")
            self.file = fs.create(self.path)
        pickle.dump(record, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        for key in self.keys_of(record):
            yield beam.pvalue.TaggedOutput(KEYS, key)

    def finish_bundle(self):
        if self.file is not None:
            self.file.close()
            window = GlobalWindow()
            yield WindowedValue(self.path, window.max_timestamp(), [window])


class SpillReader(CountingDoFn):
    """Spill file -> its records, each kept or rejected by `judge(record, losers)`, which
    returns (row, None) to keep or (row, (reason, source, location, detail)) to reject."""

    def __init__(self, stage: str, judge: Callable, progress_dir: str | None):
        self.stage, self.judge, self.progress_dir = stage, judge, progress_dir

    def setup(self):
        self.counter = StageCounter(self.stage, self.progress_dir)

    def process(self, path, losers):
        with fs.open_read(path) as f:
            while True:
                try:
                    record = pickle.load(f)
                except EOFError:
                    break
                self.counter.inc("in")
                row, rejected = self.judge(record, losers)
                if rejected is None:
                    self.counter.inc("accepted")
                    self.counter.inc("out")
                    yield row
                    continue
                reason, source, location, detail = rejected
                self.counter.inc(f"rejected/{reason}")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(
                    self.stage, reason, source=source, location=location, detail=detail, payload=row))

    def finish_bundle(self):
        self.counter.flush()


def spill_and_decide(records, stage: str, spill_dir: str, keys_of, decide, judge, progress_dir: str | None):
    """records -> (kept, rejects), inside a composite's expand: `decide` is a PTransform from
    the keys to the losers as (key, value) pairs, given to `judge` as a dict."""
    spilled = records | "Spill" >> beam.ParDo(SpillWriter(spill_dir, keys_of)).with_outputs(KEYS, main="files")
    losers = spilled[KEYS] | "Decide" >> decide
    out = spilled.files | "ReadBack" >> beam.ParDo(
        SpillReader(stage, judge, progress_dir), beam.pvalue.AsDict(losers)).with_outputs(REJECTS, main="main")
    return out.main, out[REJECTS]
