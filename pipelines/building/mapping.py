"""Source records -> canonical problem records (`schemas.problems`), and deduplication by id.

The field mapping of each source (see `pipelines.config.FieldSpec`) picks, joins or trims
source fields; every way a record can be unusable is a `Reject` with a reason naming the field.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import apache_beam as beam
from codekiln.pipelines.config import FieldSpec, SourceConfig
from codekiln.schemas import content_id
from codekiln.transforms import pyast
from codekiln.transforms.preferences.samples import sample_record
from codekiln.transforms.records import ORIGIN, Origin, origin
from codekiln.transforms.spill import spill_and_decide
from codekiln.transforms.stage import Reject

TEMPLATE_RE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_]*|-[0-9]+))*)\}")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INDEX_RE = re.compile(r"^-?[0-9]+$")
MAX_REGEX_CHARS = 100_000  # a regex reads at most this much of a field (a size cap per record)


def lookup(data: dict, name: str, canonical: str) -> Any:
    """A dotted path into a record: `a.b` into mappings, `test_list.0` (or `.-1`) into lists."""
    node: Any = data
    for part in name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and INDEX_RE.match(part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise Reject("missing_field", f"{canonical}: source field {name!r} is missing")
    return node


def _render(template: str, data: dict, canonical: str) -> str:
    def sub(m: re.Match) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        value = lookup(data, m.group(1), canonical)
        if value is None:
            raise Reject("missing_field", f"{canonical}: source field {m.group(1)!r} is null")
        if isinstance(value, list):  # a list of texts renders as its lines (MBPP's test_list)
            if not value:
                raise Reject("missing_field", f"{canonical}: source field {m.group(1)!r} is an empty list")
            return "\n".join(_scalar(v, f"{m.group(1)}.{i}", canonical) for i, v in enumerate(value))
        return _scalar(value, m.group(1), canonical)

    return TEMPLATE_RE.sub(sub, template)


def _scalar(value: Any, name: str, canonical: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise Reject("wrong_type", f"{canonical}: {name!r} is {type(value).__name__}, expected text")
    return str(value)


def extract(data: dict, spec: FieldSpec, canonical: str) -> Any:
    """The value of one canonical field for one source record."""
    if spec.value is not None:
        value = spec.value
    elif spec.template is not None:
        value = _render(spec.template, data, canonical)
    else:
        value = lookup(data, spec.from_, canonical)
    if (spec.after or spec.before or spec.regex) and value is not None:
        if not isinstance(value, str):
            raise Reject("wrong_type", f"{canonical}: expected text to cut, got {type(value).__name__}")
        if spec.after:
            if spec.after not in value:
                raise Reject("missing_marker", f"{canonical}: marker {spec.after!r} not found")
            value = value.rsplit(spec.after, 1)[1].strip()
        if spec.before:
            if spec.before not in value:
                raise Reject("missing_marker", f"{canonical}: marker {spec.before!r} not found")
            value = value.split(spec.before, 1)[0].rstrip()
        if spec.regex:
            m = re.search(spec.regex, value[:MAX_REGEX_CHARS])
            if m is None:
                cut = f" (in its first {MAX_REGEX_CHARS:,} characters)" if len(value) > MAX_REGEX_CHARS else ""
                raise Reject("no_match", f"{canonical}: regex {spec.regex!r} does not match{cut} {value[:200]!r}")
            value = m.group(1) if m.re.groups else m.group(0)
            if value is None:  # an optional group that took no part in the match
                raise Reject("no_match", f"{canonical}: regex {spec.regex!r} matched but its group did not")
    return value


def _text(value: Any, name: str, *, allow_numbers: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if allow_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Reject("wrong_type", f"{name}: expected text, got {type(value).__name__}")


def split_tests(tests: Any) -> tuple[list[str], str]:
    """Tests as given (a test-function string or assert strings) -> (list, tests_kind)."""
    if tests is None or tests == "" or tests == []:
        return [], "none"
    if isinstance(tests, list) and len(tests) == 1 and isinstance(tests[0], str) \
            and _defines_check(_parse(tests[0], "tests[0]")):
        return tests, "check_function"  # as stored by a `problems` dataset
    if isinstance(tests, list):
        out = []
        for i, t in enumerate(tests):
            if not isinstance(t, str):
                raise Reject("wrong_type", f"tests[{i}]: expected text, got {type(t).__name__}")
            _parse(t, f"tests[{i}]")
            out.append(t)
        return out, "asserts"
    if not isinstance(tests, str):
        raise Reject("wrong_type", f"tests: expected text or a list of texts, got {type(tests).__name__}")
    tree = _parse(tests, "tests")
    if _defines_check(tree):
        return [tests], "check_function"
    if tree.body and all(isinstance(n, ast.Assert) for n in tree.body):
        return [ast.get_source_segment(tests, n) for n in tree.body], "asserts"
    raise Reject("unsupported_tests", "tests: neither a `def check(candidate)` nor assert statements")


def _defines_check(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body)


def _parse(src: str, name: str) -> ast.Module:
    try:
        return pyast.parse(src)
    except SyntaxError as e:
        raise Reject("tests_syntax_error", f"{name}: {e.msg} (line {e.lineno})") from None


class Normaliser:
    """Stage function: raw source envelope -> one canonical problem record (with its
    `records.ORIGIN`, which dedupe uses and drops)."""

    def __init__(self, sources: tuple[SourceConfig, ...]):
        self.sources = {s.name: s for s in sources}
        self.order = {s.name: i for i, s in enumerate(sources)}

    def __call__(self, envelope: dict):
        src = self.sources[envelope["source_name"]]
        data = envelope["data"]
        values = {name: extract(data, spec, name) for name, spec in src.fields.items()}
        prompt = _text(values.get("prompt"), "prompt") or ""
        solution = _text(values.get("solution"), "solution")
        answer = _text(values.get("answer"), "answer", allow_numbers=True)
        entry_point = _text(values.get("entry_point"), "entry_point")
        if entry_point is not None and not IDENT_RE.match(entry_point):
            raise Reject("wrong_type", f"entry_point: {entry_point!r} is not a Python identifier")
        if not prompt.strip() and not (solution or "").strip():
            raise Reject("empty_record", "both prompt and solution are empty")
        tests, tests_kind = split_tests(values.get("tests"))
        if "id" in values:
            source_id = _text(values["id"], "id", allow_numbers=True)
            if not source_id:
                raise Reject("missing_field", "id: empty")
        else:  # no id in the corpus (GSM8K): derive it from the content, never from position
            source_id = "sha256:" + content_id(prompt, solution, answer)
        metadata = self._metadata(src, data)
        yield {
            "id": content_id("problems", src.name, source_id),
            "source": src.name,
            "source_id": source_id,
            "domain": src.domain,
            "prompt": prompt,
            "solution": solution,
            "answer": answer,
            "entry_point": entry_point,
            "tests": tests,
            "tests_kind": tests_kind,
            "metadata": metadata,
            ORIGIN: origin(self.order[src.name], envelope),
        }

    @staticmethod
    def _metadata(src: SourceConfig, data: dict) -> str | None:
        if not src.metadata:
            return None
        if src.metadata == ("*",):
            # a path (`test_list.0`, `meta.title`) uses its top-level field
            used = {s.from_.split(".")[0] for s in src.fields.values() if s.from_}
            used |= {m.group(1).split(".")[0] for s in src.fields.values() if s.template
                     for m in TEMPLATE_RE.finditer(s.template) if m.group(1)}
            keep = {k: v for k, v in data.items() if k not in used}
        else:
            keep = {k: data.get(k) for k in src.metadata}
        return json.dumps(keep, sort_keys=True, ensure_ascii=False, default=repr)


class RowPassthrough:
    """Stage function for kinds that read another dataset's rows as they are (labels reads tests,
    preferences reads labels): the row itself, with its place in the source for dedupe. Rows of
    a `role: samples` source become sample records (`transforms.preferences.samples`)."""

    def __init__(self, sources=()):
        self.samples = {s.name: i for i, s in enumerate(sources) if s.role == "samples"}

    def __call__(self, envelope: dict):
        row = dict(envelope["data"])
        name = envelope.get("source_name")
        if name in self.samples:
            row = sample_record(row, name, envelope["location"])
            row[ORIGIN] = origin(self.samples[name], envelope)
            yield row
            return
        if not row.get("id"):
            raise Reject("missing_field", "id: the row has no id")
        row[ORIGIN] = origin(0, envelope)
        yield row


class DedupeById(beam.PTransform):
    """Keep one record per id (the first in source order); the others become rejects.

    Source order = (source position in the config, file, line/row), so the choice is the same on
    every run and runner. Records are spilled to files under `spill_dir` as they stream past and
    read back once the (small) set of duplicates is known; only `(id, position)` keys are
    shuffled, so memory does not grow with the size of the records.
    """

    STAGE = "dedupe"

    def __init__(self, spill_dir: str, progress_dir: str | None = None):
        super().__init__(label="dedupe")
        self.spill_dir = spill_dir
        self.progress_dir = progress_dir

    def expand(self, records):
        decide = beam.GroupByKey() | "FindDuplicates" >> beam.FlatMap(_duplicates)
        return spill_and_decide(records, self.STAGE, self.spill_dir, _id_key, decide, _judge_id, self.progress_dir)


def _position(record: dict) -> tuple[int, int, int]:
    return Origin.of(record).position


def _id_key(record: dict):
    where = Origin.of(record)
    yield record["id"], (where.position, f"{where.source} {where.location}")


def _duplicates(item):
    """(id, [(position, where), ...]) -> ((id, position), first's where) for every later copy."""
    rid, seen = item
    seen = sorted(seen)
    for position, _ in seen[1:]:
        yield (rid, tuple(position)), seen[0][1]


def _judge_id(record: dict, losers: dict):
    where = Origin.of(record)
    row = {k: v for k, v in record.items() if k != ORIGIN}
    first = losers.get((row["id"], _position(record))) if losers else None
    if first is None:
        return row, None
    return row, ("duplicate_id", where.source, where.location,
                 f"id {row['id']} (source_id {row.get('source_id')!r}) first seen at {first}")
