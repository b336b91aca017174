"""One build: config -> Beam graph -> staged files -> committed version (or "unchanged").

The graph is always: read sources -> normalise to canonical records -> dedupe by id -> the
kind's own stages -> Parquet shards, with every stage's rejects flattened into one reject
dataset, and content summaries written beside the data. Nothing here is local-only: paths go
through `transforms.fs` (local or any Beam filesystem) and the runner is whatever the config or `--runner` names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

import pipelines
from pipelines import kinds
from pipelines.config import DatasetConfig
from pipelines.mapping import DedupeById, Normaliser, RowPassthrough
from pipelines.shards import SHARDS_JSON, WriteShards
from pipelines.sources import ReadSources, list_files, sha256_files
from pipelines.store import Store, read_json
from schemas import REJECT_SCHEMA, schema_to_json
from transforms import fs
from transforms.stage import METRICS_NAMESPACE, Stage, read_progress

LOCAL_RUNNER = "FnApiRunner"  # DirectRunner would first try to download Prism on every run


@dataclass
class BuildResult:
    dataset: str
    status: str  # "created" | "unchanged"
    manifest: dict
    stages: list[dict] = field(default_factory=list)
    llm: dict | None = None  # this run's model usage (also when nothing new was committed)


def stage_names(cfg: DatasetConfig) -> list[str]:
    return ["read", "normalise", "dedupe", *kinds.stage_names(kinds.KINDS[cfg.kind], cfg.params, cfg.llm), "write"]


def pipeline_args(cfg: DatasetConfig, runner: str | None, beam_args: list[str]) -> tuple[list[str], bool]:
    """Beam arguments for this build; user BEAM_ARGS come last so they win, unchanged."""
    name = runner or cfg.beam.runner
    if name == "local":
        args = [f"--runner={LOCAL_RUNNER}", f"--direct_num_workers={cfg.beam.workers}",
                f"--direct_running_mode={cfg.beam.mode}", "--default_sdk_harness_log_level=WARNING"]
        local = True
    else:
        args = [f"--runner={name}"]
        local = name in (LOCAL_RUNNER, "DirectRunner", "BundleBasedDirectRunner", "PrismRunner")
    return args + list(cfg.beam.options) + list(beam_args), local


def _git_revision() -> str | None:
    here = os.path.dirname(os.path.abspath(pipelines.__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _counters(result) -> dict[str, int] | None:
    """The run's codekiln counters (committed values), or None on a runner without metrics."""
    counters: dict[str, int] = {}
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception:  # the reject summary still holds exact counts
        return None
    for c in query["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (value or 0)
    return counters


def _llm_usage(cfg: DatasetConfig, counters: dict[str, int]) -> dict | None:
    """Requests sent, cache hits, tokens and failures per LLM stage (for the manifest)."""
    if cfg.llm is None:
        return None
    stages: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        if name.startswith("llm_usage/"):
            _, stage, what = name.split("/", 2)
            stages.setdefault(stage, {})[what] = value
    for stage, usage in stages.items():
        for what in ("requests_sent", "cache_hits", "prompt_tokens", "completion_tokens", "failed_attempts"):
            usage.setdefault(what, 0)
        usage["rejected"] = counters.get(f"{stage}/rejected/llm_error", 0)
    return {"endpoint": cfg.llm.public(), "stages": stages}


def counts_table(counters: dict[str, int], names: list[str]) -> list[dict]:
    """Flat counters (`stage/in`, `stage/rejected/reason`, ...) -> ordered per-stage rows."""
    rows = []
    for stage in names:
        reasons = {k.split("/", 2)[2]: v for k, v in counters.items()
                   if k.startswith(f"{stage}/rejected/")}
        rows.append({
            "stage": stage,
            "in": counters.get(f"{stage}/in", 0),
            "accepted": counters.get(f"{stage}/accepted", 0),
            "out": counters.get(f"{stage}/out", 0),
            "rejected": sum(reasons.values()),
            "reasons": dict(sorted(reasons.items())),
        })
    return rows


class _ProgressPoller:
    """Calls `on_progress(counters)` every `interval` s while a local build runs."""

    def __init__(self, progress_dir: str, on_progress: Callable[[dict], None], interval: float = 0.25):
        self.dir, self.cb, self.interval = progress_dir, on_progress, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.cb(read_progress(self.dir))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cb(read_progress(self.dir))


def check_references(configs: list[DatasetConfig], store: Store) -> None:
    """Every `dataset:` source names a committed version or a dataset declared earlier in the file."""
    from pipelines.config import ConfigError
    from pipelines.store import StoreError

    declared: set[str] = set()
    for ci, cfg in enumerate(configs):
        for si, src in enumerate(cfg.sources):
            if src.format != "dataset":
                continue
            name, _, version = src.path.partition("@")
            if name in declared and not version:
                continue
            try:
                store.resolve(src.path)
            except StoreError as e:
                prefix = f"datasets[{ci}]." if len(configs) > 1 else ""
                raise ConfigError(f"{prefix}sources[{si}].dataset", str(e)) from None
        declared.add(cfg.name)


def source_info(src, files: list[str], store: Store) -> dict:
    """A source as the manifest records it: what was read, its bytes' fingerprint and its license.
    A `dataset:` source names the exact upstream version and carries the upstream's licenses on."""
    info = {"name": src.name, "format": src.format, "path": src.path, "files": len(files),
            "sha256": sha256_files(files), "license": src.license}
    if src.format == "dataset":
        up = store.resolve(src.path)
        licenses = sorted({s.get("license") or "unknown" for s in up["sources"]})
        info.update(dataset=up["dataset"], version=up["version"], fingerprint=up["fingerprint"],
                    license=src.license or ", ".join(licenses))
    return info


def build_dataset(cfg: DatasetConfig, store: Store, *, runner: str | None = None,
                  beam_args: list[str] = (), on_progress: Callable[[dict], None] | None = None) -> BuildResult:
    kind = kinds.KINDS[cfg.kind]
    args, local = pipeline_args(cfg, runner, list(beam_args))
    options = PipelineOptions(args)

    sources_info, tasks = [], []
    for src in cfg.sources:
        files = list_files(src, resolve_dataset=lambda ref: store.files(store.resolve(ref)))
        tasks.extend((src, i, path) for i, path in enumerate(files))
        sources_info.append(source_info(src, files, store))

    staging = store.new_staging(cfg.name)
    progress_dir = tempfile.mkdtemp(prefix="codekiln-progress-") if local else None
    try:
        p = beam.Pipeline(options=options)
        envelopes, r_read = p | ReadSources(tasks, progress_dir)
        normalise = RowPassthrough(cfg.sources) if kind.reads_rows else Normaliser(cfg.sources)
        records, r_norm = envelopes | Stage("normalise", normalise, progress_dir)
        unique, r_dup = records | DedupeById(fs.join(staging, "_spill"), progress_dir)
        llm_cache = None
        if cfg.llm is not None:  # `llm.cache: off` still caches within the build (batch retries)
            llm_cache = fs.join(store.root, ".cache", "llm") if cfg.llm.cache else fs.join(staging, "_llm_cache")
        ctx = kinds.BuildContext(progress_dir, llm=cfg.llm, llm_cache_dir=llm_cache, sandbox=cfg.sandbox,
                                 exec_cache_dir=fs.join(store.root, ".cache", "exec") if cfg.sandbox.cache else None)
        if kind.heavy:  # spread the records over the workers before the expensive stages
            unique = unique | "Spread" >> beam.Reshuffle()
        rows, r_kind = kind.build(unique, cfg.params, ctx)
        r_write = rows | "WriteData" >> WriteShards(
            fs.join(staging, "data"), kind.schema_of(cfg.params).arrow, progress_dir=progress_dir)
        ((r_read, r_norm, r_dup, *r_kind, r_write)
         | "AllRejects" >> beam.Flatten()
         | "WriteRejects" >> WriteShards(fs.join(staging, "rejects"), REJECT_SCHEMA, stage="write_rejects",
                                         group_fields=("stage", "reason")))

        poller = _ProgressPoller(progress_dir, on_progress) if on_progress and progress_dir else nullcontext()
        with poller:  # the local runner's run() blocks until done: poll from before it starts
            result = p.run()
            result.wait_until_finish()
        names = stage_names(cfg)
        counters = _counters(result)
        stages = counts_table(counters, names) if counters is not None else []
        return _commit(cfg, store, staging, stages, sources_info, args, _llm_usage(cfg, counters or {}))
    except BaseException:
        fs.delete_tree(staging)
        raise
    finally:
        if progress_dir:
            shutil.rmtree(progress_dir, ignore_errors=True)


def _shard_names(summary: dict, directory: str, prefix: str) -> list[tuple[str, str]]:
    """(temp path, final relative path) for each committed shard, Hub-style names."""
    n = len(summary["files"])
    return [(f["path"], f"{directory}/{prefix}-{i:05d}-of-{n:05d}.parquet")
            for i, f in enumerate(summary["files"])]


def _quality(kind: kinds.Kind, files: list[str]) -> dict:
    """The kind's figures (mutation scores, verdict counts, ...) computed by DuckDB over the data."""
    if not kind.quality or not files:
        return {}
    from pipelines.catalog import create_view, new_connection

    con = new_connection()
    create_view(con, "data", files, [])  # files is never empty here
    out = {}
    for name, sql in kind.quality:
        rel = con.sql(sql)
        out[name] = [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    return json.loads(json.dumps(out, default=float))


def dataset_fingerprint(schema_json: list, splits: dict[str, str], rejects: str) -> str:
    """The version fingerprint: schema + per-split and reject content hashes (order-free)."""
    blob = json.dumps({"schema": schema_json, "splits": splits, "rejects": rejects}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _commit(cfg: DatasetConfig, store: Store, staging: str, stages: list[dict],
            sources_info: list[dict], args: list[str], llm: dict | None = None) -> BuildResult:
    kind = kinds.KINDS[cfg.kind]
    data = read_json(fs.join(staging, "data", SHARDS_JSON))
    rejects = read_json(fs.join(staging, "rejects", SHARDS_JSON))
    by_stage: dict[str, dict[str, int]] = {}
    for key, n in rejects["groups"].items():
        stage, reason = key.split("/", 1)
        by_stage.setdefault(stage, {})[reason] = n
    schema_json = schema_to_json(kind.schema_of(cfg.params).arrow)
    fingerprint = dataset_fingerprint(schema_json, {cfg.split: data["content_hash"]}, rejects["content_hash"])

    latest = store.latest(cfg.name)
    if latest and latest["fingerprint"] == fingerprint:
        fs.delete_tree(staging)
        return BuildResult(cfg.name, "unchanged", latest, stages, llm)

    data_moves = _shard_names(data, "data", cfg.split)
    reject_moves = _shard_names(rejects, "rejects", "rejects")
    manifest = {
        "dataset": cfg.name,
        "kind": cfg.kind,
        "method": kind.method,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "codekiln_version": pipelines.__version__,
        "git_revision": _git_revision(),
        "description": cfg.description,
        "license": cfg.license,
        "config": cfg.raw,
        "config_sha256": cfg.sha256,
        "beam_args": args,
        "sources": sources_info,
        "splits": {cfg.split: {"rows": data["rows"], "files": [r for _, r in data_moves],
                               "content_hash": data["content_hash"]}},
        "rejects": {"rows": rejects["rows"], "files": [r for _, r in reject_moves], "by_stage": by_stage,
                    "content_hash": rejects["content_hash"]},
        "stages": stages,
        "llm": llm,
        "sandbox": ({"isolation": cfg.sandbox.isolation, "profile": cfg.sandbox.profile()}
                    if kind.executes else None),
        "quality": _quality(kind, [p for p, _ in data_moves]),
        "schema": schema_json,
        "fingerprint": fingerprint,
    }
    manifest = store.commit(cfg.name, staging, manifest, data_moves + reject_moves)
    return BuildResult(cfg.name, "created", manifest, stages, llm)
