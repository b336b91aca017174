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
import subprocess
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln import pipelines
from codekiln.pipelines import kinds
from codekiln.pipelines.building import distributed
from codekiln.pipelines.building.mapping import DedupeById, Normaliser, RowPassthrough
from codekiln.pipelines.building.shards import SHARDS_JSON, WriteShards
from codekiln.pipelines.building.sources import ReadSources, list_files, sha256_files
from codekiln.pipelines.config import ConfigError, DatasetConfig
from codekiln.pipelines.storage.store import STAGING, Store, read_json
from codekiln.schemas import REJECT_SCHEMA, schema_to_json
from codekiln.transforms import fs
from codekiln.transforms.decontaminate.beam import STAGE as DECONTAMINATE
from codekiln.transforms.decontaminate.beam import DecontaminateFn
from codekiln.transforms.lease import clean_tmp, leased_tmpdir, release_tmpdir
from codekiln.transforms.neardup.beam import STAGE as NEAR_DEDUPE
from codekiln.transforms.neardup.beam import NearDedupe
from codekiln.transforms.stage import METRICS_NAMESPACE, Stage, graph_stages, read_progress

LOCAL_RUNNER = "FnApiRunner"  # DirectRunner would first try to download Prism on every run


@dataclass
class BuildResult:
    dataset: str
    status: str  # "created" | "unchanged"
    manifest: dict
    stages: list[dict] = field(default_factory=list)
    llm: dict | None = None  # this run's model usage (also when nothing new was committed)


WRITE_REJECTS = "write_rejects"


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
    here = os.path.dirname(os.path.dirname(os.path.abspath(pipelines.__file__)))
    if not os.path.isfile(os.path.join(here, "pyproject.toml")):  # an installed package: no checkout
        return None
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
        for what in ("requests_sent", "cache_hits", "prompt_tokens", "completion_tokens", "failed_attempts",
                     "n_ignored", "requests_per_choice"):
            usage.setdefault(what, 0)
        usage["rejected"] = counters.get(f"{stage}/rejected/llm_error", 0)
        # a server that answers fewer choices than `n` asks for gets one request per choice
        usage["choices"] = "one request per choice (the server ignored n)" if usage["n_ignored"] else (
            "n per request" if usage["requests_sent"] else "cached")
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


def check_fields(configs: list[DatasetConfig]) -> None:
    """Every mapped source field exists in the source's first records (a typo is a config error)."""
    from codekiln.pipelines.building.sources import unmapped_fields
    from codekiln.pipelines.config import ConfigError

    for ci, cfg in enumerate(configs):
        for si, src in enumerate(cfg.sources):
            if src.format == "dataset":
                continue
            try:
                files = list_files(src)
            except Exception:
                continue  # reported by the build itself
            for canonical, message in unmapped_fields(src, files):
                prefix = f"datasets[{ci}]." if len(configs) > 1 else ""
                where = f"sources[{si}]" if len(cfg.sources) > 1 else "source"
                raise ConfigError(f"{prefix}{where}.fields.{canonical}", message)


def check_references(configs: list[DatasetConfig], store: Store) -> None:
    """Every `dataset:` source names a committed version or a dataset declared earlier in the file."""
    from codekiln.pipelines.config import ConfigError
    from codekiln.pipelines.storage.store import StoreError

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


class BuildRefused(RuntimeError):
    """The build ran but what it made must not be committed (most of a stage rejected, or an
    infrastructure failure behind its rejects)."""


INFRA_REASONS = ("sandbox_error", "llm_error")


def _infra(reason: str) -> bool:
    return reason in INFRA_REASONS or reason.startswith("unexpected_")


@dataclass
class DryRun:
    """A translated, unsubmitted job (Beam's `--dry_run=True`): nothing was read or written."""

    dataset: str
    runner: str
    graph: dict  # distributed.translated(): transform count, worker images, the pipeline proto


def check_runner(cfg: DatasetConfig, root: str, runner: str | None, beam_args: list[str]) -> tuple[list[str], bool, bool]:
    """(Beam args, local?, dry run?) for this build, or a ConfigError before any work: a
    distributed runner needs a store its workers reach, and a dry run needs a runner to translate for."""
    args, local = pipeline_args(cfg, runner, list(beam_args))
    dry = distributed.is_dry_run(PipelineOptions(args))
    name = runner or cfg.beam.runner
    if dry and local:
        raise ConfigError("--dry_run", f"a dry run translates a job for a service runner (--runner DataflowRunner); "
                                       f"the {name} runner has nothing to translate")
    if not local:
        distributed.check_root(root, name)
    return args, local, dry


def build_dataset(cfg: DatasetConfig, store: Store, *, runner: str | None = None,
                  beam_args: list[str] = (), on_progress: Callable[[list[dict]], None] | None = None,
                  allow_rejects: bool = False) -> BuildResult | DryRun:
    kind = kinds.KINDS[cfg.kind]
    args, local, dry = check_runner(cfg, store.root, runner, list(beam_args))
    options = PipelineOptions(args)
    if not dry:  # a dry run touches no store
        store.gc(cfg.name)  # what dead builds of this dataset left (never a live build's files)
    clean_tmp()

    def upstream(ref: str) -> list[str]:
        return distributed.placeholder_files(store.root, ref) if dry else store.files(store.resolve(ref))

    sources_info, tasks = [], []
    for src in cfg.sources:
        files = list_files(src, resolve_dataset=upstream)
        if not dry:
            sources_info.append(source_info(src, files, store))
        # (source, file index, the path workers read, the path rows and rejects name): a distributed
        # build's workers read the store's copy of each local file, named as the local build names it
        read = distributed.stage_inputs(store.root, files, upload=not dry) if not local else files
        tasks.extend((src, i, path, shown) for i, (path, shown) in enumerate(zip(read, files, strict=True)))

    staging = fs.join(store.root, cfg.name, STAGING, "dry-run") if dry else store.new_staging(cfg.name)
    progress_dir, progress_lease = leased_tmpdir("progress") if local else (None, None)
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
        rows, r_kind = kind.builder()(unique, cfg.params, ctx)
        rows, r_filters = _filters(cfg, rows, staging, progress_dir)
        r_write = rows | "WriteData" >> WriteShards(
            fs.join(staging, "data"), kind.schema_of(cfg.params).arrow, progress_dir=progress_dir)
        ((r_read, r_norm, r_dup, *r_kind, *r_filters, r_write)
         | "AllRejects" >> beam.Flatten()
         | "WriteRejects" >> WriteShards(fs.join(staging, "rejects"), REJECT_SCHEMA, stage=WRITE_REJECTS,
                                         group_fields=("stage", "reason")))
        # the dataset's stages, as the graph counts them (the rejects' own writer is not one)
        names = [s for s in graph_stages(p) if s != WRITE_REJECTS]

        poller = (_ProgressPoller(progress_dir, lambda counters: on_progress(counts_table(counters, names)))
                  if on_progress and progress_dir else nullcontext())
        with poller:  # the local runner's run() blocks until done: poll from before it starts
            result = p.run()
            result.wait_until_finish()
        if dry:
            return DryRun(cfg.name, runner or cfg.beam.runner, distributed.translated(result, p))
        counters = _counters(result)
        stages = counts_table(counters, names) if counters is not None else []
        return _commit(cfg, store, staging, stages, sources_info, args, _llm_usage(cfg, counters or {}),
                       allow_rejects=allow_rejects)
    except BaseException:
        if not dry:
            store.discard_staging(staging)
        raise
    finally:
        if progress_dir:
            release_tmpdir(progress_dir, progress_lease)


def _filters(cfg: DatasetConfig, rows, staging: str, progress_dir: str | None):
    """The filters every kind can turn on, over its output rows (what is trained on): benchmark
    decontamination, then near-dedupe (so a cluster's kept row is a clean one)."""
    kind = kinds.KINDS[cfg.kind]
    rejects = []
    if cfg.decontaminate:
        fields = cfg.decontaminate.fields or kind.text_fields_of(cfg.params)
        rows, r = rows | Stage(DECONTAMINATE, DecontaminateFn(cfg.decontaminate, fields), progress_dir)
        rejects.append(r)
    if cfg.dedupe.near:
        fields = cfg.dedupe.fields or kind.text_fields_of(cfg.params)
        rows, r = rows | NearDedupe(cfg.dedupe, fields, kind.document, fs.join(staging, "_spill"), progress_dir)
        rejects.append(r)
    return rows, rejects


def filter_figures(cfg: DatasetConfig, reject_files: list[str], by_stage: dict) -> dict:
    """The manifest's `decontamination` and `near_dedupe` sections: settings and what they caught
    (contaminated rows per benchmark, from the reject rows themselves)."""
    from codekiln.transforms.decontaminate.benchmarks import BENCHMARKS, item_counts
    from codekiln.transforms.neardup.minhash import lsh_bands

    kind = kinds.KINDS[cfg.kind]
    out: dict = {"decontamination": None, "near_dedupe": None}
    if cfg.decontaminate:
        d = cfg.decontaminate
        caught = _contaminated_by_benchmark(reject_files)
        items = item_counts(d.benchmarks)
        out["decontamination"] = {
            "fields": list(d.fields or kind.text_fields_of(cfg.params)),
            "ngram": d.ngram, "threshold": d.threshold, "min_tokens": d.min_tokens, "code": d.code,
            "benchmarks": {b: {"title": BENCHMARKS[b].title, "license": BENCHMARKS[b].license,
                               "items": items[b], "contaminated_rows": caught.get(b, 0)} for b in d.benchmarks},
            "contaminated_rows": sum(caught.values()),
            "too_large_to_check": (by_stage.get(DECONTAMINATE) or {}).get("too_large_to_check", 0),
        }
    if cfg.dedupe.near:
        n = cfg.dedupe
        bands, rows_per_band = lsh_bands(n.threshold, n.num_perm)
        out["near_dedupe"] = {
            "fields": list(n.fields or kind.text_fields_of(cfg.params)), "document": kind.document,
            "threshold": n.threshold, "num_perm": n.num_perm, "ngram": n.ngram, "seed": n.seed,
            "bands": bands, "rows_per_band": rows_per_band, "library": _library("rensa"),
            "duplicate_rows": (by_stage.get(NEAR_DEDUPE) or {}).get("near_duplicate", 0),
        }
    return out


def _library(name: str) -> str:
    from importlib.metadata import version

    return f"{name} {version(name)}"


def _contaminated_by_benchmark(reject_files: list[str]) -> dict[str, int]:
    if not reject_files:
        return {}
    from codekiln.pipelines.storage.catalog import create_view, new_connection

    con = new_connection()
    create_view(con, "rejects", reject_files, [])
    rel = con.sql(f"select split_part(split_part(detail, ' ', 1), ':', 1) b, count(*) n from rejects "
                  f"where stage = '{DECONTAMINATE}' and reason = 'contaminated' group by 1")
    return {b: int(n) for b, n in rel.fetchall()}


def _shard_names(summary: dict, directory: str, prefix: str) -> list[tuple[str, str]]:
    """(temp path, final relative path) for each committed shard, Hub-style names."""
    n = len(summary["files"])
    return [(f["path"], f"{directory}/{prefix}-{i:05d}-of-{n:05d}.parquet")
            for i, f in enumerate(summary["files"])]


def _quality(kind: kinds.Kind, files: list[str]) -> dict:
    """The kind's figures (mutation scores, verdict counts, ...) computed by DuckDB over the data."""
    if not kind.quality or not files:
        return {}
    from codekiln.pipelines.storage.catalog import create_view, new_connection

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


def check_rejects(stages: list[dict], rejects_by_stage: dict[str, dict[str, int]], rows: int,
                  max_fraction: float) -> tuple[str, str] | None:
    """(stage, why) for the first stage that rejected more than `max_fraction` of its input or
    whose rejects are mostly infrastructure failures; None when the build may be committed."""
    if not stages:  # a runner without metrics: judge the whole build by its reject dataset
        total = sum(sum(r.values()) for r in rejects_by_stage.values())
        stages = [{"stage": st, "in": rows + total, "rejected": sum(r.values()), "reasons": r}
                  for st, r in rejects_by_stage.items()]
    for row in stages:
        if not row["in"] or not row["rejected"]:
            continue
        infra = sum(n for reason, n in row["reasons"].items() if _infra(reason))
        share = row["rejected"] / row["in"]
        if share > max_fraction:
            return row["stage"], (f"rejected {row['rejected']} of its {row['in']} inputs ({share:.0%}, "
                                  f"more than max_reject_fraction {max_fraction:g})")
        if 2 * infra > row["rejected"]:
            return row["stage"], (f"{infra} of its {row['rejected']} rejects are infrastructure failures "
                                  "(the sandbox, the model endpoint, or an exception in the method)")
    return None


def _example(files: list[str], stage: str, reason: str) -> str:
    import pyarrow.parquet as pq

    for path in files:
        with fs.open_read(path) as f:
            t = pq.read_table(f, columns=["stage", "reason", "source", "location", "detail", "payload"])
        for r in t.to_pylist():
            if r["stage"] == stage and r["reason"] == reason:
                try:  # a record's own name (HumanEval/3) says more than its content id
                    named = json.loads(r["payload"] or "null").get("source_id")
                except (ValueError, AttributeError):
                    named = None
                where = " ".join(str(x) for x in (r["source"], named or r["location"]) if x)
                return f"{where}: {(r['detail'] or '').splitlines()[0][:300] if r['detail'] else reason}"
    return reason


def _refuse(store: Store, staging: str, stage: str, why: str, by_stage: dict,
            reject_files: list[str]) -> BuildRefused:
    reasons = sorted((by_stage.get(stage) or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    top = ", ".join(f"{r}={n}" for r, n in reasons[:3])
    example = _example(reject_files, stage, reasons[0][0]) if reasons else ""
    store.discard_staging(staging)
    return BuildRefused(f"stage {stage} {why}; top reasons: {top}; e.g. {example}. Nothing was committed "
                        "(--allow-rejects commits anyway)")


def _commit(cfg: DatasetConfig, store: Store, staging: str, stages: list[dict],
            sources_info: list[dict], args: list[str], llm: dict | None = None,
            allow_rejects: bool = False) -> BuildResult:
    kind = kinds.KINDS[cfg.kind]
    data = read_json(fs.join(staging, "data", SHARDS_JSON))
    rejects = read_json(fs.join(staging, "rejects", SHARDS_JSON))
    by_stage: dict[str, dict[str, int]] = {}
    for key, n in rejects["groups"].items():
        stage, reason = key.split("/", 1)
        by_stage.setdefault(stage, {})[reason] = n
    schema_json = schema_to_json(kind.schema_of(cfg.params).arrow)
    fingerprint = dataset_fingerprint(schema_json, {cfg.split: data["content_hash"]}, rejects["content_hash"])

    if not allow_rejects:
        refused = check_rejects(stages, by_stage, data["rows"], cfg.max_reject_fraction)
        if refused:
            raise _refuse(store, staging, *refused, by_stage, [f["path"] for f in rejects["files"]])

    data_moves = _shard_names(data, "data", cfg.split)
    reject_moves = _shard_names(rejects, "rejects", "rejects")
    files = {rel: {"rows": f["rows"], "bytes": f["bytes"], "sha256": f["sha256"]}
             for summary, moves in ((data, data_moves), (rejects, reject_moves))
             for f, (_, rel) in zip(summary["files"], moves, strict=True)}
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
        **filter_figures(cfg, [p for p, _ in reject_moves], by_stage),
        "schema": schema_json,
        "files": files,
        "fingerprint": fingerprint,
    }
    status, manifest = store.commit(cfg.name, staging, manifest, data_moves + reject_moves)
    return BuildResult(cfg.name, status, manifest, stages, llm)
