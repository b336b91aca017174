"""Run untrusted Python (model-written programs and their tests) isolated, fast, with verdicts.

A `SandboxPool` keeps `pool_size` warm sandboxes. Each is one bubblewrap sandbox (all namespaces
unshared, no network, uid 65534, read-only binds of only the interpreter and the system
libraries, a size-capped tmpfs as its only writable place, a pids cgroup) whose PID 1 is the
fork server of `harness.py`. A task is a program plus tests; the server forks a child per task
that applies the per-task limits (address space, CPU, file size, open files, no core dumps),
runs the program and each test with its own time budget, and reports over a channel the program
cannot reach by printing. A slot that dies or stops answering is replaced and the task retried
once; only then does it come back as `sandbox_error`, never as a verdict on the program.

`isolation: none` runs the same fork server as a plain subprocess (limits still apply, but no
namespaces): an explicit choice that logs a warning and is recorded in manifests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from transforms import fs

log = logging.getLogger(__name__)

VERDICTS = ("passed", "failed", "timeout", "memory_exceeded", "output_limit", "crashed", "sandbox_error")
ISOLATIONS = ("bwrap", "none")
HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text()
DEFAULT_PRELOAD = (
    "abc", "array", "bisect", "cmath", "collections", "copy", "dataclasses", "datetime", "decimal",
    "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math", "numbers",
    "operator", "random", "re", "statistics", "string", "typing",
)
CGROUP_PIDS = "/sys/fs/cgroup/pids"
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`), or set "
                "`sandbox.isolation: none` to run untrusted code WITHOUT isolation")


class SandboxUnavailable(RuntimeError):
    """Isolation was asked for and cannot be had: refuse rather than run unisolated."""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and isolation; the `sandbox:` block of a config."""

    isolation: str = "bwrap"
    timeout_s: float = 5.0  # per test, and for loading the program
    memory_mb: int = 512  # address space of the task's process
    file_size_mb: int = 16
    open_files: int = 64
    max_procs: int = 32  # processes and threads a task may have at once
    scratch_mb: int = 64  # the tmpfs that is the only writable place
    output_bytes: int = 65536  # stdout/stderr kept per stream (truncation is flagged)
    output_limit_bytes: int = 4 << 20  # more output than this ends the task: output_limit
    pool_size: int = 0  # warm sandboxes per process; 0 = number of cores
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    packages: tuple[str, ...] = ()  # third-party packages to expose read-only (e.g. sympy, mpmath)
    cache: bool = True  # reuse results of identical executions

    def __post_init__(self):
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of: {', '.join(ISOLATIONS)} (got {self.isolation!r})")
        for name in ("timeout_s", "memory_mb", "file_size_mb", "open_files", "max_procs",
                     "scratch_mb", "output_bytes", "output_limit_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.pool_size < 0:
            raise ValueError("pool_size must be >= 0")

    @property
    def slots(self) -> int:
        return self.pool_size or os.cpu_count() or 1

    def profile(self) -> dict:
        """What, besides the task, decides a result (part of the cache key and the manifest)."""
        d = dataclasses.asdict(self)
        for k in ("pool_size", "cache"):
            d.pop(k)
        d["preload"] = list(self.preload)
        d["packages"] = list(self.packages)
        return d


@dataclass
class Task:
    program: str
    tests: list[str] = field(default_factory=list)
    timeout_s: float | None = None  # per test; defaults to the pool's
    memory_mb: int | None = None
    as_main: bool | None = None  # run the program as __main__ (default: only when it has no tests)
    max_timeouts: int = 0  # after this many timed-out tests, skip the rest (verdict timeout, skipped)
    budget_s: float = 0.0  # wall-clock budget of the whole task; 0: none (tests past it: skipped)


@dataclass
class ExecResult:
    verdict: str
    tests: list[dict]
    program_error: dict | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    cached: bool = False
    message: str | None = None  # for sandbox_error: what went wrong

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def n_passed(self) -> int:
        return sum(1 for t in self.tests if t.get("verdict") == "passed")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # `verdict` is the first key

    @classmethod
    def from_dict(cls, d: dict) -> ExecResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _request(task: Task, cfg: SandboxConfig, rlimit_nproc: int | None) -> dict:
    return {
        "program": task.program,
        "tests": list(task.tests),
        "as_main": (not task.tests) if task.as_main is None else task.as_main,
        "timeout_s": float(task.timeout_s or cfg.timeout_s),
        "memory_mb": int(task.memory_mb or cfg.memory_mb),
        "file_size_mb": cfg.file_size_mb,
        "open_files": cfg.open_files,
        "output_bytes": cfg.output_bytes,
        "output_limit_bytes": cfg.output_limit_bytes,
        "rlimit_nproc": rlimit_nproc,
        "max_timeouts": task.max_timeouts,
        "budget_s": task.budget_s,
    }


# ---------------------------------------------------------------------------------------------
# how a slot is started


def _interpreter() -> tuple[str, str]:
    """(prefix, executable) of the real interpreter behind this process (not a venv's link)."""
    prefix = os.path.realpath(sys.base_prefix)
    exe = os.path.realpath(sys.executable)
    if not exe.startswith(prefix + os.sep):
        exe = os.path.join(prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}")
    return prefix, exe


def bwrap_command(cfg: SandboxConfig) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    prefix, exe = _interpreter()
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--clearenv", "--as-pid-1", "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox"]
    for d in ("/usr/lib", "/usr/lib64"):
        if os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for d in ("/lib", "/lib64"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    if prefix == "/usr":  # a system interpreter: its stdlib is already under /usr/lib
        inside, libdir = exe, "/usr/lib"
        args += ["--ro-bind", exe, exe]
    else:  # bound at a neutral path, so no home or project directory appears inside
        inside, libdir = "/opt/python" + exe[len(prefix):], "/opt/python/lib"
        args += ["--ro-bind", prefix, "/opt/python"]
    for name, directory in package_dirs(cfg.packages):  # only these, read-only, nothing else of the venv
        args += ["--ro-bind", directory, f"/opt/site/{name}"]
    args += ["--dev", "/dev", "--proc", "/proc",
             "--size", str(cfg.scratch_mb << 20), "--tmpfs", "/tmp",
             "--remount-ro", "/dev", "--remount-ro", "/",
             "--chdir", "/tmp"]  # /tmp is the only writable place, and it is emptied after each task
    env = {"PATH": os.path.dirname(inside), "LD_LIBRARY_PATH": libdir, "HOME": "/tmp",
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
           "MALLOC_ARENA_MAX": "2"}
    for k, v in env.items():
        args += ["--setenv", k, v]
    paths = ["/opt/site"] if cfg.packages else []
    return args + [inside, "-S", "-B", "-c", HARNESS_SOURCE, json.dumps(list(cfg.preload) + list(cfg.packages)),
                   json.dumps(paths)]


def package_dirs(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, directory) of each top-level package, as this interpreter would import it."""
    import importlib.util

    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxUnavailable(f"package {name!r} is not installed (sandbox.packages)")
        out.append((name, list(spec.submodule_search_locations)[0]))
    return out


def plain_command(cfg: SandboxConfig) -> list[str]:
    _, exe = _interpreter()
    paths = sorted({os.path.dirname(d) for _, d in package_dirs(cfg.packages)})
    return [exe, "-S", "-B", "-c", HARNESS_SOURCE, json.dumps(list(cfg.preload) + list(cfg.packages)),
            json.dumps(paths)]


class _PidsCgroup:
    """A pids cgroup (v1) per slot: caps the processes of everything inside, root included."""

    def __init__(self, limit: int):
        self.path = os.path.join(CGROUP_PIDS, "codekiln", f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.path)
        with open(os.path.join(self.path, "pids.max"), "w") as f:
            f.write(str(limit))

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0 and os.access(CGROUP_PIDS, os.W_OK)

    def wrap(self, command: list[str]) -> list[str]:
        """Join the cgroup first, then exec the sandbox (so nothing runs outside it)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path, *command]

    def remove(self) -> None:
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)  # processes are still being reaped by the kernel


class _Slot:
    """One warm sandbox: a fork server speaking JSON lines."""

    def __init__(self, cfg: SandboxConfig, use_cgroup: bool):
        self.cfg = cfg
        self.use_cgroup = use_cgroup
        self.proc: subprocess.Popen | None = None
        self.cgroup: _PidsCgroup | None = None
        self.python = ""
        self._buf = b""
        self._scratch: str | None = None

    def start(self) -> None:
        cfg = self.cfg
        if cfg.isolation == "bwrap":
            command = bwrap_command(cfg)
            env = {}
            if self.use_cgroup:
                self.cgroup = _PidsCgroup(cfg.max_procs + 4)
                command = self.cgroup.wrap(command)
        else:
            command = plain_command(cfg)
            self._scratch = tempfile.mkdtemp(prefix="codekiln-sandbox-")
            env = {"PATH": "/usr/bin:/bin", "HOME": self._scratch, "LANG": "C.UTF-8",
                   "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2",
                   "CODEKILN_SCRATCH": self._scratch}
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=self._scratch or "/",
                                     start_new_session=True)
        hello = self._read_line(time.monotonic() + 30)
        if not hello or not hello.get("ready"):
            detail = self._stderr_text()
            self.close()
            raise SandboxUnavailable(f"the sandbox did not start ({detail or 'no output'}); {INSTALL_HINT}")
        self.python = hello["python"]

    def _stderr_text(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace").strip()[-2000:]
        except (OSError, ValueError):
            return ""

    def _read_line(self, deadline: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(self, request: dict, watchdog_s: float) -> dict | None:
        """The server's result, or None when the slot died or stopped answering."""
        if self.proc is None:
            try:
                self.start()
            except SandboxUnavailable as e:
                self.start_error = str(e)
                return None
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read_line(time.monotonic() + watchdog_s)

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._buf = b""


class SandboxPool:
    """`pool_size` warm sandboxes; thread-safe; results cached by content.

    `cache_dir` (any `transforms.fs` path) keeps results across processes and runs, so a rerun
    or a retried Beam bundle does not execute again.
    """

    def __init__(self, cfg: SandboxConfig | None = None, cache_dir: str | None = None):
        self.cfg = cfg or SandboxConfig()
        self.cache_dir = cache_dir if self.cfg.cache else None
        self._memo: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.stats = {"executed": 0, "cache_hits": 0, "slot_restarts": 0, "sandbox_errors": 0}
        if self.cfg.isolation == "none":
            log.warning("sandbox.isolation=none: untrusted code runs WITHOUT isolation "
                        "(no namespaces, no network block, host files readable)")
        self.use_cgroup = self.cfg.isolation == "bwrap" and _PidsCgroup.available()
        self.rlimit_nproc = None if self.use_cgroup else _nproc_fallback(self.cfg.max_procs)
        self._slots: queue.Queue[_Slot] = queue.Queue()
        self._all: list[_Slot] = []
        try:
            for _ in range(self.cfg.slots):
                slot = _Slot(self.cfg, self.use_cgroup)
                slot.start()
                self._all.append(slot)
                self._slots.put(slot)
        except BaseException:
            self.close()
            raise
        self.python = self._all[0].python
        self._executor = ThreadPoolExecutor(max_workers=self.cfg.slots, thread_name_prefix="sandbox")

    @property
    def process_limit(self) -> str:
        return "pids cgroup" if self.use_cgroup else f"RLIMIT_NPROC={self.rlimit_nproc}"

    # -- caching ---------------------------------------------------------------------------

    def key(self, task: Task) -> str:
        blob = json.dumps({"task": _request(task, self.cfg, None), "profile": self.cfg.profile(),
                           "python": self.python}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_get(self, key: str) -> dict | None:
        with self._lock:
            hit = self._memo.get(key)
        if hit is None and self.cache_dir:
            path = fs.join(self.cache_dir, key[:2], key + ".json")
            try:
                hit = json.loads(fs.read_bytes(path))
            except (OSError, ValueError):
                hit = None
        return hit

    def _cache_put(self, key: str, result: dict) -> None:
        with self._lock:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = result
        if self.cache_dir:
            path = fs.join(self.cache_dir, key[:2], key + ".json")
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            fs.write_bytes(tmp, json.dumps(result).encode())
            fs.rename(tmp, path)

    # -- running ---------------------------------------------------------------------------

    def run(self, task: Task) -> ExecResult:
        key = self.key(task) if self.cfg.cache else None
        if key:
            hit = self._cache_get(key)
            if hit is not None:
                with self._lock:
                    self.stats["cache_hits"] += 1
                return ExecResult.from_dict(dict(hit, cached=True))
        result = self._execute(task)
        if key and result["verdict"] != "sandbox_error":
            self._cache_put(key, result)
        return ExecResult.from_dict(result)

    def run_many(self, tasks: list[Task]) -> list[ExecResult]:
        """Run tasks concurrently on the pool's slots; results in the order of `tasks`."""
        return list(self._executor.map(self.run, tasks))

    def _execute(self, task: Task) -> dict:
        request = _request(task, self.cfg, self.rlimit_nproc)
        phases = len(request["tests"]) + 1
        watchdog = request["timeout_s"] * phases * 2 + 10
        if request["budget_s"]:
            watchdog = min(watchdog, request["budget_s"] + request["timeout_s"] * 2 + 10)
        slot = self._slots.get()
        try:
            for _ in range(2):  # one retry on a fresh slot
                result = slot.run(request, watchdog)
                if result is not None and result.get("verdict") != "sandbox_error":
                    with self._lock:
                        self.stats["executed"] += 1
                    result.pop("id", None)
                    return result
                message = (result or {}).get("message") or slot._stderr_text() or "the sandbox stopped answering"
                slot = self._replace(slot)
            with self._lock:
                self.stats["sandbox_errors"] += 1
            return {"verdict": "sandbox_error", "tests": [], "message": message}
        finally:
            self._slots.put(slot)

    def _replace(self, slot: _Slot) -> _Slot:
        """Discard a dead or poisoned slot; it restarts on its next use."""
        slot.close()
        with self._lock:
            self.stats["slot_restarts"] += 1
        return slot

    def close(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
        for slot in self._all:
            slot.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _nproc_fallback(max_procs: int) -> int:
    """Without a pids cgroup: RLIMIT_NPROC counts every process of the real uid, so allow the
    ones that exist now plus `max_procs`."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count + max_procs
