"""Run untrusted Python (model-written programs and their tests) isolated, fast, with verdicts
that the program cannot forge.

A `SandboxPool` keeps `pool_size` warm sandboxes. Each is one bubblewrap sandbox whose PID 1 is
the fork server of `harness.py`: all namespaces unshared, no network, an unprivileged host uid
(as root the pool drops to uid 65534 before bubblewrap starts, so no uid inside maps to host
root), read-only binds of only the interpreter and the system libraries, no /proc or /sys,
a size-capped tmpfs as the only writable place, and a pids and a memory cgroup per slot that
bound the whole task tree. The server is not dumpable, so tasks cannot reach its memory or its
pipes.

Verdicts: a test whose asserts are data (`asserts.split`) is *isolated*: the sandbox evaluates
only the calls and returns their values through a strict encoder; the comparisons run here, on
the host, over decoded plain data (`values.decode`); expected values never enter the sandbox.
Any other test runs as code inside the sandbox and its verdict is marked `in_process`.

Every test runs in a fresh process forked from the server, which never ran untrusted code. A
slot that dies, answers with the wrong request id or breaks the protocol is replaced and the
task retried once; only then does it come back as `sandbox_error`, never as a verdict.

`isolation: none` runs the same fork server as a plain subprocess (limits still apply, but no
namespaces): an explicit choice that logs a warning and is recorded in manifests.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import queue
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from codekiln.transforms import fs
from codekiln.transforms.execution import asserts, values
from codekiln.transforms.lease import leased_tmpdir, release_tmpdir

log = logging.getLogger(__name__)

# Bumped whenever what a verdict means changes: cached results of another protocol are never served.
PROTOCOL = 3
VERDICTS = ("passed", "failed", "timeout", "memory_exceeded", "output_limit", "crashed", "sandbox_error")
ISOLATIONS = ("bwrap", "none")
HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text()
# Warm imports every forked child shares. Each module here makes every fork dearer (page tables
# and copy-on-write faults), so only what model-written solutions commonly import: the rest
# (dataclasses, decimal, fractions, statistics, datetime, ...) still import, at their own cost.
DEFAULT_PRELOAD = ("bisect", "collections", "copy", "functools", "hashlib", "heapq", "itertools", "math",
                   "operator", "random", "re", "string", "typing")
CGROUP_ROOT = "/sys/fs/cgroup"
SANDBOX_UID = 65534  # nobody: what tasks run as on the host when the pool starts as root
SERVER_MB = 64  # the server's share of a slot's memory cgroup, on top of the task's memory_mb
RUNTIME_DIR = os.environ.get("CODEKILN_SANDBOX_RUNTIME", "/var/cache/codekiln/sandbox-runtime")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`), or set "
                "`sandbox.isolation: none` to run untrusted code WITHOUT isolation")


class SandboxUnavailable(RuntimeError):
    """Isolation was asked for and cannot be had: refuse rather than run unisolated."""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and isolation; the `sandbox:` block of a config."""

    isolation: str = "bwrap"
    timeout_s: float = 5.0  # per test, and for loading the program
    memory_mb: int = 512  # address space of a process, and the memory cgroup of the whole task
    file_size_mb: int = 16
    open_files: int = 64
    max_procs: int = 32  # processes and threads a task may have at once
    scratch_mb: int = 64  # the tmpfs that is the only writable place
    output_bytes: int = 65536  # stdout/stderr kept per stream (truncation is flagged)
    output_limit_bytes: int = 4 << 20  # more output than this ends the task: output_limit
    value_bytes: int = 1 << 20  # one returned value, encoded (more: non_data_result)
    values_total_bytes: int = 8 << 20  # every value of one task
    pool_size: int = 0  # warm sandboxes per process; 0 = number of cores
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    packages: tuple[str, ...] = ()  # third-party packages to expose read-only (e.g. sympy, mpmath)
    cache: bool = True  # reuse results of identical executions

    def __post_init__(self):
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of: {', '.join(ISOLATIONS)} (got {self.isolation!r})")
        for name in ("timeout_s", "memory_mb", "file_size_mb", "open_files", "max_procs",
                     "scratch_mb", "output_bytes", "output_limit_bytes", "value_bytes", "values_total_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.value_bytes > values.MAX_BYTES:
            raise ValueError(f"value_bytes must be <= {values.MAX_BYTES}")
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
        d["protocol"] = PROTOCOL
        return d


@dataclass(frozen=True)
class Probe:
    """A test that returns the value of `expr` (evaluated after `setup`, in the program's
    namespace), strictly encoded: how test generation gets a reference's outputs."""

    expr: str
    setup: str = ""
    more: tuple[str, ...] = ()  # further expressions in the same process: one value each (`values`)


@dataclass
class Task:
    program: str
    tests: list[str | Probe] = field(default_factory=list)
    timeout_s: float | None = None  # per test; defaults to the pool's
    memory_mb: int | None = None
    as_main: bool | None = None  # run the program as __main__ (default: only when it has no tests)
    max_timeouts: int = 0  # after this many timed-out tests, skip the rest (verdict timeout, skipped)
    budget_s: float = 0.0  # wall-clock budget of the whole task; 0: none (tests past it: skipped)


@dataclass
class ExecResult:
    verdict: str
    tests: list[dict]  # one per test: verdict, trust, and why it failed (type, message, ...)
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

    @property
    def isolated(self) -> bool:
        """Every verdict was decided outside the untrusted process."""
        return all(t.get("trust") == "isolated" for t in self.tests)

    def value(self, index: int):
        """The decoded value a Probe (or a code test's `__codekiln_value__`) returned; NonData
        when there is none."""
        if index >= len(self.tests) or "value" not in self.tests[index]:
            raise values.NonData("the test returned no value")
        return values.decode(self.tests[index]["value"])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # `verdict` is the first key

    @classmethod
    def from_dict(cls, d: dict) -> ExecResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ---------------------------------------------------------------------------------------------
# what the sandbox is asked, and how its answers are judged


def plan(test: str | Probe) -> tuple[dict, asserts.DataTest | None]:
    """(the server's spec of one test, the host-side judgement or None)."""
    if isinstance(test, Probe):
        return {"kind": "calls", "setup": test.setup, "calls": [test.expr, *test.more]}, None
    data = asserts.split(test)
    if data is None:
        return {"kind": "code", "src": test}, None
    return {"kind": "calls", "setup": data.setup, "calls": list(data.calls)}, data


def _request(task: Task, cfg: SandboxConfig, rlimit_nproc: int | None, specs: list[dict]) -> dict:
    return {
        "program": task.program,
        "tests": specs,
        "as_main": (not task.tests) if task.as_main is None else task.as_main,
        "timeout_s": float(task.timeout_s or cfg.timeout_s),
        "memory_mb": int(task.memory_mb or cfg.memory_mb),
        "file_size_mb": cfg.file_size_mb,
        "open_files": cfg.open_files,
        "output_bytes": cfg.output_bytes,
        "output_limit_bytes": cfg.output_limit_bytes,
        "value_bytes": cfg.value_bytes,
        "values_total_bytes": cfg.values_total_bytes,
        "rlimit_nproc": rlimit_nproc,
        "max_timeouts": task.max_timeouts,
        "budget_s": task.budget_s,
    }


def _probe_value(rec: dict | None, end: dict | None) -> dict:
    """One probed call's result: its value once decoded on the host, or why there is none."""
    if rec is not None and "value" in rec and end is None:
        try:
            values.decode(rec["value"])
            return {"verdict": "passed", "value": rec["value"]}
        except values.NonData as e:
            return {"verdict": "failed", "type": "non_data_result", "message": str(e)}
    if rec is not None and "error" in rec:
        info = rec["error"]
        return dict(info, verdict="memory_exceeded" if info.get("type") == "MemoryError" else "failed")
    if rec is not None and "non_data" in rec:
        return {"verdict": "failed", "type": "non_data_result", "message": rec["non_data"]}
    return dict(end or {"verdict": "failed", "type": "Harness", "message": "no value"})


def _judged(raw: dict, plans: list[tuple[dict, asserts.DataTest | None]], oom: bool) -> dict:
    """The server's raw answer -> the result: data tests judged here, trust on every test."""
    tests = []
    for (spec, data), t in zip(plans, raw["tests"], strict=True):
        trust = "in_process" if spec["kind"] == "code" else "isolated"
        if t is None:
            t = {"verdict": "failed", "type": "Harness", "message": "no report"}
        if "calls" not in t:  # a code test, a skipped test, or the program's own failure
            out = dict(t, trust=trust)
            if "non_data" in out:
                out = dict(out, verdict="failed", type="non_data_result", message=out.pop("non_data"))
            if spec["kind"] == "calls" and out.get("verdict") == "passed":  # only the host passes data tests
                out = dict(out, verdict="failed", type="HarnessTampering", message="a pass reported from inside")
        elif "setup_error" in t:
            out = dict(t["setup_error"], trust=trust)
            if out.get("verdict") == "passed":
                out["verdict"] = "failed"
        elif data is not None:
            out = asserts.judge(data, t["calls"], t.get("end"))
        else:  # a probe: its value is its result, once the host has decoded it
            calls, end = t["calls"] or [None], t.get("end")
            if len(calls) == 1:
                out = _probe_value(calls[0], end)
            else:  # several: the values that arrived; the call the process's end cut off; not run
                records, cut = [], False
                for rec in calls:
                    if rec is not None:
                        records.append(_probe_value(rec, None))
                    elif not cut:
                        records.append(dict(end or {"verdict": "failed", "type": "Harness", "message": "no value"}))
                        cut = True
                    else:
                        records.append({"verdict": "not_run"})
                out = {"verdict": "passed", "values": records}
            out["trust"] = trust
        if "duration_s" in t:
            out["duration_s"] = t["duration_s"]
        out.pop("calls", None)
        out.pop("end", None)
        tests.append({"verdict": out.pop("verdict"), "trust": out.pop("trust", trust), **out})
    program_error = raw.get("program_error")
    if oom:  # the slot's memory cgroup killed something: that SIGKILL was the memory limit
        for t in tests + ([program_error] if program_error else []):
            if t.get("verdict") == "crashed" and t.get("type") == "SIGKILL":
                t.update(verdict="memory_exceeded", message="the task's memory limit was exceeded")
    if program_error is not None:
        verdict = program_error["verdict"]
    else:
        verdict = next((t["verdict"] for t in tests if t["verdict"] != "passed"), "passed")
    return {
        "verdict": verdict,
        "tests": tests,
        "program_error": program_error,
        "stdout": raw.get("stdout", ""),
        "stderr": raw.get("stderr", ""),
        "stdout_truncated": bool(raw.get("stdout_truncated")),
        "stderr_truncated": bool(raw.get("stderr_truncated")),
        "duration_s": raw.get("duration_s", 0.0),
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


def _drops_privileges() -> bool:
    """As root, the sandbox runs as uid 65534 (bubblewrap then maps no uid to host root)."""
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def _readable_by_others(path: str) -> bool:
    """Whether an unprivileged uid can reach `path` (every directory above it searchable)."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        try:
            mode = os.stat(os.sep.join(parts[:i]) or "/").st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


SKIP_STDLIB = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}


def _runtime_copy(kind: str, source: str, build) -> str:
    """A world-readable copy of `source` under RUNTIME_DIR (hard links where possible), made
    once; `build(tmp)` fills it. For interpreters and packages the sandbox uid cannot read."""
    st = os.stat(source)
    key = hashlib.sha256(f"{kind}\0{source}\0{st.st_mtime_ns}\0{sys.version}".encode()).hexdigest()[:16]
    os.makedirs(RUNTIME_DIR, mode=0o755, exist_ok=True)
    root = os.stat(RUNTIME_DIR)
    if root.st_uid != os.geteuid() or root.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SandboxUnavailable(f"{RUNTIME_DIR} must belong to uid {os.geteuid()} and not be writable by others")
    os.chmod(RUNTIME_DIR, 0o755)
    target = os.path.join(RUNTIME_DIR, f"{kind}-{key}")
    if os.path.isdir(target):
        return target
    tmp = tempfile.mkdtemp(prefix=f".{kind}-", dir=RUNTIME_DIR)
    try:
        os.chmod(tmp, 0o755)
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process made it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _sandbox_prefix(prefix: str, exe: str) -> str:
    """The interpreter prefix to bind: the real one when the sandbox uid can read it."""
    if not _drops_privileges() or _readable_by_others(exe) and _readable_by_others(
            os.path.join(prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")):
        return prefix
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"

    def build(tmp):
        os.makedirs(os.path.join(tmp, "bin"), mode=0o755)
        os.makedirs(os.path.join(tmp, "lib"), mode=0o755)
        _link_or_copy(exe, os.path.join(tmp, "bin", version))
        for name in os.listdir(os.path.join(prefix, "lib")):
            if name.startswith("libpython") and ".so" in name:
                src = os.path.join(prefix, "lib", name)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), os.path.join(tmp, "lib", name))
                else:
                    _link_or_copy(src, os.path.join(tmp, "lib", name))
        top = os.path.join(prefix, "lib", version)
        shutil.copytree(top, os.path.join(tmp, "lib", version), copy_function=_link_or_copy, symlinks=True,
                        ignore=lambda d, names: [n for n in names if d == top and n in SKIP_STDLIB])

    return _runtime_copy("python", exe, build)


def _sandbox_package(name: str, directory: str) -> str:
    if not _drops_privileges() or _readable_by_others(directory):
        return directory
    return os.path.join(_runtime_copy(f"pkg-{name}", directory, lambda tmp: shutil.copytree(
        directory, os.path.join(tmp, name), copy_function=_link_or_copy, symlinks=True)), name)


def bwrap_command(cfg: SandboxConfig) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    prefix, exe = _interpreter()
    args = []
    if _drops_privileges():
        args += [shutil.which("setpriv"), f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
    args += [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
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
        args += ["--ro-bind", _sandbox_prefix(prefix, exe), "/opt/python"]
    for name, directory in package_dirs(cfg.packages):  # only these, read-only, nothing else of the venv
        args += ["--ro-bind", _sandbox_package(name, directory), f"/opt/site/{name}"]
    # no /proc and no /sys: no kernel interface at all, and nothing of PID 1 to open
    args += ["--dev", "/dev",
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


class _Cgroups:
    """A pids and a memory cgroup (v1) per slot: they bound everything inside, root included."""

    def __init__(self, max_procs: int, memory_mb: int | None):
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.pids = os.path.join(CGROUP_ROOT, "pids", "codekiln", name)
        os.makedirs(self.pids)
        _write(os.path.join(self.pids, "pids.max"), str(max_procs))
        self.memory = None
        if memory_mb and _Cgroups.memory_available():
            self.memory = os.path.join(CGROUP_ROOT, "memory", "codekiln", name)
            os.makedirs(self.memory)
            limit = str((memory_mb + SERVER_MB) << 20)
            _write(os.path.join(self.memory, "memory.limit_in_bytes"), limit)
            swap = os.path.join(self.memory, "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                _write(swap, limit)  # no swapping past the limit either

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0 and os.access(os.path.join(CGROUP_ROOT, "pids"), os.W_OK)

    @staticmethod
    def memory_available() -> bool:
        return os.geteuid() == 0 and os.access(os.path.join(CGROUP_ROOT, "memory"), os.W_OK)

    @staticmethod
    def clean_stale() -> None:
        """Remove the empty cgroups of pools whose process is gone (a killed build's debris)."""
        for kind in ("pids", "memory"):
            top = os.path.join(CGROUP_ROOT, kind, "codekiln")
            try:
                names = os.listdir(top)
            except OSError:
                continue
            for name in names:
                pid = name.split("-", 1)[0]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    try:
                        os.rmdir(os.path.join(top, name))
                    except OSError:
                        pass

    def wrap(self, command: list[str]) -> list[str]:
        """Join the cgroups first, then exec the sandbox (so nothing runs outside them)."""
        paths = [self.pids] + ([self.memory] if self.memory else [])
        joins = " && ".join(f'echo $$ > "${i + 1}/cgroup.procs"' for i in range(len(paths)))
        return ["/bin/sh", "-c", f'{joins} && shift {len(paths)} && exec "$@"', "sh", *paths, *command]

    def oom_kills(self) -> int:
        if self.memory is None:
            return 0
        try:
            with open(os.path.join(self.memory, "memory.oom_control")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        for path in (self.pids, self.memory):
            if path is None:
                continue
            for _ in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # processes are still being reaped by the kernel


def _has_sigkill(raw: dict) -> bool:
    found = [raw.get("program_error")] + list(raw.get("tests") or [])
    for t in found:
        if isinstance(t, dict) and ("SIGKILL" in (t.get("type"), (t.get("end") or {}).get("type"))):
            return True
    return False


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


class _Slot:
    """One warm sandbox: a fork server speaking JSON lines."""

    def __init__(self, cfg: SandboxConfig, use_cgroup: bool):
        self.cfg = cfg
        self.use_cgroup = use_cgroup
        self.proc: subprocess.Popen | None = None
        self.cgroup: _Cgroups | None = None
        self.python = ""
        self._buf = b""
        self._scratch: str | None = None
        self._scratch_lease = None
        self.start_error: str | None = None
        self.oom_seen = 0  # the memory cgroup's oom_kill counter at the last look (reset on start)
        # the longest answer an honest server gives: values, output, capped messages
        self.max_line = 2 * cfg.values_total_bytes + 4 * cfg.output_bytes + (4 << 20)

    def start(self) -> None:
        cfg = self.cfg
        if cfg.isolation == "bwrap":
            command = bwrap_command(cfg)
            env = {}
            if self.use_cgroup:
                self.cgroup = _Cgroups(cfg.max_procs + 4, cfg.memory_mb)
                command = self.cgroup.wrap(command)
        else:
            command = plain_command(cfg)
            self._scratch, self._scratch_lease = leased_tmpdir("sandbox")
            env = {"PATH": "/usr/bin:/bin", "HOME": self._scratch, "LANG": "C.UTF-8",
                   "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2",
                   "CODEKILN_SCRATCH": self._scratch}
        # stderr is a pipe only the server holds (never a file a task could reach or fill)
        self.oom_seen = 0
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=self._scratch or "/",
                                     start_new_session=True)
        fl = fcntl.fcntl(self.proc.stderr.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(self.proc.stderr.fileno(), fcntl.F_SETFL, fl | os.O_NONBLOCK)
        hello = self._read_line(time.monotonic() + 30)
        if not hello or not hello.get("ready"):
            detail = self._stderr_text()
            self.close()
            raise SandboxUnavailable(f"the sandbox did not start ({detail or 'no output'}); {INSTALL_HINT}")
        if cfg.isolation == "bwrap" and hello.get("dumpable") != 0:
            self.close()
            raise SandboxUnavailable("the sandbox's server could not make itself non-dumpable (prctl)")
        self.python = hello["python"]

    def oom_since_last(self) -> bool:
        """Whether the memory cgroup killed a process since the last look (its counter only grows)."""
        if self.cgroup is None:
            return False
        now = self.cgroup.oom_kills()
        seen, self.oom_seen = self.oom_seen, now
        return now > seen

    def _stderr_text(self) -> str:
        try:
            data = os.read(self.proc.stderr.fileno(), 65536)
        except (OSError, ValueError, AttributeError):
            return ""
        return data.decode("utf-8", "replace").strip()[-2000:]

    def _read_line(self, deadline: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            if len(self._buf) > self.max_line:
                return None  # no honest answer is this long
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            return None
        return answer if isinstance(answer, dict) else None

    def run(self, request: dict, watchdog_s: float) -> dict | None:
        """The server's result, or None when the slot died, stopped answering or misbehaved."""
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
        answer = self._read_line(time.monotonic() + watchdog_s)
        if answer is None or answer.get("id") != request["id"] or not isinstance(answer.get("tests"), list):
            return None  # a reply that is not to this request is nobody's verdict
        if answer.get("verdict") != "sandbox_error" and len(answer["tests"]) != len(request["tests"]):
            return None
        return answer

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._scratch:
            release_tmpdir(self._scratch, self._scratch_lease)
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
        self.use_cgroup = self.cfg.isolation == "bwrap" and _Cgroups.available()
        if self.use_cgroup:
            _Cgroups.clean_stale()
        uid = SANDBOX_UID if self.cfg.isolation == "bwrap" and _drops_privileges() else os.getuid()
        self.rlimit_nproc = None if self.use_cgroup else _nproc_fallback(self.cfg.max_procs, uid)
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

    @property
    def memory_limit(self) -> str:
        slot = self._all[0] if self._all else None
        if slot is not None and slot.cgroup is not None and slot.cgroup.memory:
            return f"memory cgroup ({self.cfg.memory_mb} MB + {SERVER_MB} MB for the server)"
        return f"RLIMIT_AS={self.cfg.memory_mb} MB per process"

    # -- caching ---------------------------------------------------------------------------

    def key(self, task: Task) -> str:
        tests = [[t.expr, t.setup, *t.more] if isinstance(t, Probe) else t for t in task.tests]
        request = _request(task, self.cfg, None, [])
        blob = json.dumps({"task": request, "tests": tests, "profile": self.cfg.profile(),
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
            if hit is not None and hit.get("protocol") != PROTOCOL:
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
            fs.write_bytes(tmp, json.dumps(dict(result, protocol=PROTOCOL)).encode())
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
        plans = [plan(t) for t in task.tests]
        request = _request(task, self.cfg, self.rlimit_nproc, [spec for spec, _ in plans])
        phases = len(request["tests"]) * 2 + 1
        watchdog = request["timeout_s"] * phases * 1.5 + 10
        if request["budget_s"]:
            watchdog = min(watchdog, request["budget_s"] + request["timeout_s"] * 3 + 10)
        slot = self._slots.get()
        try:
            message = "the sandbox stopped answering"
            for _ in range(2):  # one retry on a fresh slot
                request["id"] = uuid.uuid4().hex  # the answer must echo it
                raw = slot.run(request, watchdog)
                if raw is not None and raw.get("verdict") != "sandbox_error":
                    oom = slot.oom_since_last() if _has_sigkill(raw) else False
                    if raw.get("dirty"):  # the scratch space could not be emptied: a fresh slot next
                        self._replace(slot)
                    with self._lock:
                        self.stats["executed"] += 1
                    return _judged(raw, plans, oom)
                message = ((raw or {}).get("message") or slot.start_error or slot._stderr_text()
                           or "the sandbox stopped answering or broke the protocol")
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


def _nproc_fallback(max_procs: int, uid: int) -> int:
    """Without a pids cgroup: RLIMIT_NPROC counts every process of the real uid, so allow the
    ones that exist now plus `max_procs`."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count + max_procs
