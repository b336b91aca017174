"""Source readers: JSONL (plain or .gz), Parquet, directories of code files, Hugging Face
datasets (saved-to-disk folders, or Hub names when online), and earlier codekiln datasets.

Files are listed when the pipeline is built and read by a DoFn, one file per element, streaming
(nothing holds a whole file). Each record leaves as an envelope
`{source_name, source, location, file_index, index, data}`; a bad line, an undecodable byte,
an empty or unreadable file becomes a reject row naming the file and the line or row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator

import apache_beam as beam
from codekiln.pipelines.building.mapping import TEMPLATE_RE, lookup
from codekiln.pipelines.config import SourceConfig
from codekiln.transforms import fs
from codekiln.transforms.stage import REJECTS, CountingDoFn, Reject, StageCounter, reject_row

STAGE = "read"


class SourceError(RuntimeError):
    """A source that cannot be listed at launch (no files, unreadable folder)."""


def list_files(src: SourceConfig, resolve_dataset=None) -> list[str]:
    """The files one source reads, in a stable order. `resolve_dataset(ref)` gives a dataset's files."""
    if src.format == "dataset":
        return list(resolve_dataset(src.path))
    if src.format == "generate":
        return [src.path]
    if src.format == "code":
        globs = [src.glob] if src.glob else ["*.py", "**/*.py"]  # Beam's ** needs a directory
        return sorted({p for g in globs for p in fs.match(fs.join(src.path, g))})
    if src.format == "hf":
        state = fs.join(src.path, "state.json")
        if not fs.exists(state):
            return [src.path]  # a Hub dataset name
        files = [d["filename"] for d in json.loads(fs.read_bytes(state))["_data_files"]]
        return [fs.join(src.path, name) for name in files]
    matches = fs.match(src.path)
    if not matches:
        raise SourceError(f"source {src.name!r}: no file matches {src.path}")
    return matches


def sha256_files(paths: list[str]) -> str:
    """Fingerprint of a source's bytes (the manifest records it)."""
    total = hashlib.sha256()
    for path in paths:
        if path.startswith("generate:") or not fs.exists(path):
            total.update(path.encode())  # a Hub name: identified by name only
            continue
        h = hashlib.sha256()
        with fs.open_read(path) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if len(paths) == 1:
            return h.hexdigest()
        total.update(f"{path}\0{h.hexdigest()}\n".encode())
    return total.hexdigest()


# ---------------------------------------------------------------------------------------------
# readers: (path, src) -> iterator of (index, location, data | RecordError)


class RecordError(Exception):
    def __init__(self, reason: str, detail: str, payload: str | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.payload = reason, detail, payload


def _open_text_source(path: str):
    """Bytes of a (possibly compressed) file. gzip goes through Python's gzip module, which,
    unlike Beam's decompressor, raises on a truncated stream instead of ending quietly."""
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=fs.open_read(path))
    if path.endswith((".bz2", ".zst", ".xz", ".lzma")):
        import fsspec

        return fsspec.open(path, "rb", compression="infer").open()  # decompressed by extension
    return fs.open_read(path)


def _read_jsonl(path: str, src: SourceConfig, shown: str | None = None) -> Iterator[tuple[int, str, object]]:
    with _open_text_source(path) as f:
        n = 0
        while True:
            raw = f.readline()
            if not raw:
                break
            n += 1
            if not raw.strip():
                continue
            loc = f"line {n}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield n, loc, RecordError("invalid_utf8", f"byte {e.start}: {e.reason}",
                                          json.dumps(raw.decode("utf-8", "backslashreplace")))
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                yield n, loc, RecordError("malformed_json", f"{e.msg} at column {e.colno}", json.dumps(text.rstrip("\r\n")))
                continue
            if not isinstance(data, dict):
                yield n, loc, RecordError("not_an_object", f"a JSON {type(data).__name__}, expected an object", text.rstrip("\r\n"))
                continue
            yield n, loc, data


def _read_parquet(path: str, src: SourceConfig, shown: str | None = None):
    import pyarrow.parquet as pq

    with fs.open_read(path) as f:
        n = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield n, f"row {n}", row


def _read_code(path: str, src: SourceConfig, shown: str | None = None):
    with fs.open_read(path) as f:
        raw = f.read()
    shown = shown or path  # the path as listed at launch (a distributed build reads a staged copy)
    rel = os.path.relpath(shown, src.path) if "://" not in shown else shown[len(src.path):].lstrip("/")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        yield 1, "file", RecordError("invalid_utf8", f"byte {e.start}: {e.reason}",
                                     json.dumps({"path": rel}))
        return
    if text.strip():
        yield 1, "file", {"path": rel, "text": text}


def _read_hf(path: str, src: SourceConfig, shown: str | None = None):
    if fs.exists(path):  # an .arrow file of a saved-to-disk dataset
        import pyarrow as pa

        with fs.open_read(path) as f:
            n = 0
            for batch in pa.ipc.open_stream(f):
                for row in batch.to_pylist():
                    n += 1
                    yield n, f"row {n}", row
        return
    import datasets  # a Hub name: streaming, so nothing is held whole

    ds = datasets.load_dataset(path, src.hf_name, split=src.hf_split or "train", streaming=True)
    for n, row in enumerate(ds, 1):
        yield n, f"row {n}", row


def _read_generate(path: str, src: SourceConfig, shown: str | None = None):
    """`generate:N` -> N records {id, index}: the kind samples its own inputs from the index."""
    for i in range(int(path.split(":", 1)[1])):
        yield i + 1, f"index {i}", {"id": f"{src.name}-{i}", "index": i}


READERS = {"generate": _read_generate, "jsonl": _read_jsonl, "parquet": _read_parquet, "dataset": _read_parquet,
           "code": _read_code, "hf": _read_hf}


class ReadFileDoFn(CountingDoFn):
    """(source config, file index, path) -> envelopes; bad records and files -> rejects.

    The `read` stage counts records (lines, rows, code files); an empty or unreadable file
    counts as one rejected input.
    """

    stage = STAGE

    def __init__(self, progress_dir: str | None = None):
        self.progress_dir = progress_dir

    def setup(self):
        self.counter = StageCounter(STAGE, self.progress_dir)

    def process(self, task):
        src, file_index, path, shown = task  # read `path`; name it `shown` (the file as listed at launch)
        emitted = seen = 0
        try:
            for index, location, data in READERS[src.format](path, src, shown):
                seen += 1
                self.counter.inc("in")
                if isinstance(data, RecordError):
                    yield self._reject(data.reason, shown, location, data.detail, data.payload)
                    continue
                emitted += 1
                self.counter.inc("accepted")
                self.counter.inc("out")
                yield {"source_name": src.name, "source": shown, "location": location,
                       "file_index": file_index, "index": index, "data": data}
        except Exception as e:  # truncated gzip, not Parquet, unreadable: the rest of the file is lost
            self.counter.inc("in")
            yield self._reject("unreadable_file", shown, None,
                               f"{type(e).__name__}: {e} (after {emitted} records)", None)
            return
        if seen == 0:
            self.counter.inc("in")
            yield self._reject("empty_file", shown, None, "no records in this file", None)

    def _reject(self, reason, path, location, detail, payload):
        self.counter.inc(f"rejected/{reason}")
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(
            STAGE, reason, source=path, location=location, detail=detail, payload=payload))

    def finish_bundle(self):
        self.counter.flush()


class ReadSources(beam.PTransform):
    """All files of all sources -> (envelopes, rejects). Files are spread over workers."""

    def __init__(self, tasks: list[tuple[SourceConfig, int, str, str]], progress_dir: str | None = None):
        super().__init__(label="read")
        self.tasks = tasks
        self.progress_dir = progress_dir

    def expand(self, pbegin):
        out = (
            pbegin
            | "ListFiles" >> beam.Create(self.tasks, reshuffle=len(self.tasks) > 1)
            | "ReadFiles" >> beam.ParDo(ReadFileDoFn(self.progress_dir)).with_outputs(REJECTS, main="main")
        )
        return out.main, out[REJECTS]


PEEK_RECORDS = 20


def unmapped_fields(src: SourceConfig, files: list[str]) -> list[tuple[str, str]]:
    """(canonical field, message) for each mapped source field that none of the first records of
    the source's first file has: a typo in the mapping, caught before any work (at launch)."""
    if src.format not in ("jsonl", "parquet") or not files or src.role != "rows":
        return []
    names: dict[str, set[str]] = {}
    for canonical, spec in src.fields.items():
        wanted = {spec.from_} if spec.from_ else set()
        if spec.template:
            wanted |= {m.group(1) for m in TEMPLATE_RE.finditer(spec.template) if m.group(1)}
        if wanted:
            names[canonical] = wanted
    if not names:
        return []
    seen: list[dict] = []
    try:
        for _, _, data in READERS[src.format](files[0], src):
            if isinstance(data, dict):
                seen.append(data)
            if len(seen) >= PEEK_RECORDS:
                break
    except Exception:  # an unreadable file: the read stage reports it, with its reason
        return []
    if not seen:
        return []

    def has(data: dict, path: str) -> bool:
        try:
            lookup(data, path, "")
        except Reject:
            return False
        return True

    out = []
    for canonical, wanted in names.items():
        for name in sorted(wanted):
            if not any(has(d, name) for d in seen):
                present = sorted({k for d in seen for k in d})
                out.append((canonical, f"source field {name!r} is in none of the first {len(seen)} records of "
                                       f"{files[0]} (their fields: {', '.join(present[:20])})"))
    return out
