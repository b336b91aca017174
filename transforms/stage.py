"""Counted stages: the one way every step turns inputs into outputs or reject rows.

A stage function takes one element and returns its outputs (an iterable); it raises `Reject`
when the element cannot be used. `StageDoFn` wraps such a function for Beam: it counts every
input as accepted or rejected (by reason), counts what it emits, and routes rejects to a tagged
output in the shared reject schema. An input that yields nothing without a reject is itself a
reject (`no_output`), so nothing is ever lost silently (unless it says it was `MERGED` into
another output, and is counted).

Counts go to Beam metrics (namespace `codekiln`, names `<stage>/in`, `<stage>/out`,
`<stage>/rejected/<reason>`) and, for local builds, to small progress files the CLI polls.
"""

from __future__ import annotations

import json
import os
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

REJECTS = "rejects"
METRICS_NAMESPACE = "codekiln"


class Reject(Exception):
    """Raised by a stage function: this element is unusable, for `reason` (a short snake_case code)."""

    def __init__(self, reason: str, detail: str = "", *, location: str | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.location = location


class Merged:
    """Yielded by a stage function for an input it folded into another output (a sample joined
    to its problem's row): the input counts as accepted, without an output of its own."""


MERGED = Merged()


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)


def reject_row(stage: str, reason: str, *, source: str | None, location: str | None,
               detail: str = "", payload: Any = None) -> dict:
    """A row of the shared reject schema (`schemas.REJECT_SCHEMA`)."""
    return {
        "stage": stage,
        "reason": reason,
        "source": source,
        "location": location,
        "detail": detail[:4000] if detail else detail,
        "payload": payload if isinstance(payload, str) or payload is None else to_json(payload),
    }


def describe(element: Any) -> tuple[str | None, str | None]:
    """(source, location) of an element, for its reject row."""
    info = getattr(element, "reject_info", None)
    if callable(info):
        return info()[:2]
    if isinstance(element, dict):
        source = element.get("source")
        location = element.get("location") or element.get("id")
        return (None if source is None else str(source), None if location is None else str(location))
    return None, None


class StageCounter:
    """Per-stage counters, cheap enough to call per element.

    Counts accumulate in a plain dict and are pushed to Beam metrics at `flush()` (every bundle
    end, so a retried bundle's counts are committed or dropped with it) and, for local builds,
    written to a progress file at most every FLUSH_EVERY_S for the CLI's live view.
    """

    FLUSH_EVERY_S = 0.2
    CHECK_EVERY = 256  # increments between clock reads

    def __init__(self, stage: str, progress_dir: str | None = None):
        self.stage = stage
        self.progress_dir = progress_dir
        self._pending: dict[str, int] = {}
        self._totals: Counter = Counter()  # this instance's running totals, for the live view
        self._path: str | None = None
        self._last_write = 0.0
        self._since_check = 0

    def inc(self, what: str, n: int = 1) -> None:
        self._pending[what] = self._pending.get(what, 0) + n
        if self.progress_dir:
            self._since_check += 1
            if self._since_check >= self.CHECK_EVERY:
                self._since_check = 0
                if time.monotonic() - self._last_write > self.FLUSH_EVERY_S:
                    self._write_progress()

    def _write_progress(self) -> None:
        snapshot = self._totals.copy()
        for what, n in self._pending.items():
            snapshot[f"{self.stage}/{what}"] += n
        if self._path is None:
            os.makedirs(self.progress_dir, exist_ok=True)
            self._path = os.path.join(self.progress_dir, f"{os.getpid()}-{uuid.uuid4().hex}.json")
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(snapshot), f)
        os.replace(tmp, self._path)
        self._last_write = time.monotonic()

    def flush(self) -> None:
        """Push pending counts to Beam metrics (call at bundle end) and refresh the progress file."""
        for what, n in self._pending.items():
            name = f"{self.stage}/{what}"
            Metrics.counter(METRICS_NAMESPACE, name).inc(n)
            self._totals[name] += n
        had = bool(self._pending)
        self._pending = {}
        if self.progress_dir and had:
            self._write_progress()


def read_progress(progress_dir: str) -> dict[str, int]:
    """Sum the progress files of every worker process (the local live view's data)."""
    totals: Counter = Counter()
    try:
        names = os.listdir(progress_dir)
    except FileNotFoundError:
        return {}
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(progress_dir, name)) as f:
                totals.update(json.load(f))
        except (OSError, ValueError):
            continue  # being replaced right now; the next poll sees it
    return dict(totals)


class CountingDoFn(beam.DoFn):
    """A DoFn that counts one stage (`self.stage`). The build reads its list of stages from
    these in the graph (`graph_stages`), so a stage's name is written once, where it is counted."""

    stage: str


def graph_stages(pipeline: beam.Pipeline) -> list[str]:
    """The stages a constructed pipeline counts, in the order they are applied."""
    from apache_beam.pipeline import PipelineVisitor

    names: list[str] = []

    class _Visitor(PipelineVisitor):
        def visit_transform(self, node):
            fn = getattr(node.transform, "fn", None)
            if isinstance(fn, CountingDoFn) and fn.stage not in names:
                names.append(fn.stage)

    pipeline.visit(_Visitor())
    return names


class StageDoFn(CountingDoFn):
    """Applies a stage function element-wise with counting and reject routing.

    `fn` must be picklable (a module-level function or an instance of a module-level class),
    because on a distributed runner it travels to other processes.
    """

    def __init__(self, stage: str, fn: Callable[[Any], Iterable[Any]],
                 progress_dir: str | None = None):
        self.stage = stage
        self.fn = fn
        self.progress_dir = progress_dir

    def setup(self):
        self.counter = StageCounter(self.stage, self.progress_dir)
        setup = getattr(self.fn, "setup", None)
        if callable(setup):
            setup()

    def process(self, element):
        self.counter.inc("in")
        try:
            outputs = list(self.fn(element))
        except Reject as r:
            yield self._reject(element, r.reason, r.detail, r.location)
            return
        except Exception as e:  # a bug or an unforeseen input: a reject, never a crashed job
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            yield self._reject(element, f"unexpected_{type(e).__name__}", detail, None)
            return
        merged = any(isinstance(o, Merged) for o in outputs)
        outputs = [o for o in outputs if not isinstance(o, Merged)]
        if not outputs and not merged:
            yield self._reject(element, "no_output", "the stage produced nothing for this input", None)
            return
        self.counter.inc("accepted")
        self.counter.inc("out", len(outputs))
        yield from outputs

    def _reject(self, element, reason, detail, location):
        self.counter.inc(f"rejected/{reason}")
        source, default_location = describe(element)
        if callable(getattr(element, "reject_info", None)):
            payload = element.reject_info()[2]
        else:
            payload = element.get("data", element) if isinstance(element, dict) else element
        return beam.pvalue.TaggedOutput(
            REJECTS,
            reject_row(self.stage, reason, source=source, location=location or default_location,
                       detail=detail, payload=payload),
        )

    def finish_bundle(self):
        self.counter.flush()

    def teardown(self):
        teardown = getattr(self.fn, "teardown", None)
        if callable(teardown):
            teardown()


class Stage(beam.PTransform):
    """`pcoll | Stage("normalise", fn)` -> (outputs, rejects)."""

    def __init__(self, stage: str, fn: Callable[[Any], Iterable[Any]],
                 progress_dir: str | None = None):
        super().__init__(label=stage)
        self.stage = stage
        self.fn = fn
        self.progress_dir = progress_dir

    def expand(self, pcoll):
        results = pcoll | beam.ParDo(
            StageDoFn(self.stage, self.fn, self.progress_dir)
        ).with_outputs(REJECTS, main="main")
        return results.main, results[REJECTS]


class BatchStageDoFn(StageDoFn):
    """Like StageDoFn, for a function over a whole batch: `fn(list) -> list`, one entry per input,
    each an iterable of outputs or a `Reject`. Batches are what let a method share one linter
    process or one sandbox pool across many inputs."""

    def process(self, batch):
        self.counter.inc("in", len(batch))
        try:
            results = list(self.fn(list(batch)))
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} inputs")
        except Exception as e:  # the whole batch failed: each input gets the reason
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            results = [Reject(f"unexpected_{type(e).__name__}", detail)] * len(batch)
        for element, result in zip(batch, results, strict=True):
            if isinstance(result, Reject):
                yield self._reject(element, result.reason, result.detail, result.location)
                continue
            outputs = list(result)
            if not outputs:
                yield self._reject(element, "no_output", "the stage produced nothing for this input", None)
                continue
            self.counter.inc("accepted")
            self.counter.inc("out", len(outputs))
            yield from outputs


class BatchStage(beam.PTransform):
    """`pcoll | BatchStage("lintseq", fn)` -> (outputs, rejects), fn applied to batches."""

    def __init__(self, stage: str, fn: Callable[[list], list], progress_dir: str | None = None,
                 min_batch_size: int = 8, max_batch_size: int = 256):
        super().__init__(label=stage)
        self.stage, self.fn, self.progress_dir = stage, fn, progress_dir
        self.min_batch_size, self.max_batch_size = min_batch_size, max_batch_size

    def expand(self, pcoll):
        results = (
            pcoll
            | "Batch" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                            max_batch_size=self.max_batch_size)
            | "Apply" >> beam.ParDo(BatchStageDoFn(self.stage, self.fn, self.progress_dir))
            .with_outputs(REJECTS, main="main")
        )
        return results.main, results[REJECTS]
