"""The in-sandbox fork server. Standard library only: it is passed to `python -S -c` inside
bubblewrap, where nothing of the project is visible.

One server (H) lives per pool slot. Under bubblewrap it is PID 1 of the sandbox's PID namespace,
so the code it runs cannot kill it (the kernel drops SIGKILL sent to a namespace's init from
inside) and `kill(-1)` reaches every process the task left behind. For each task H forks a child
(P) that applies the per-task limits, runs the program in a fresh scratch directory, then each
test, and reports over a private pipe; the program's own stdout/stderr go to other pipes that H
caps. A test passes only if H saw P announce it, then report it finished: exiting, crashing,
printing, or skipping tests all leave it unpassed. When a test times out or crashes P, H forks a
new P for the remaining tests, so one bad test does not hide the others.

Requests and results are JSON lines on H's stdin/stdout.
"""

import ast
import builtins
import gc
import json
import os
import random
import resource
import select
import shutil
import signal
import sys
import time

PASSED, FAILED, TIMEOUT, MEMORY, OUTPUT, CRASHED = (
    "passed", "failed", "timeout", "memory_exceeded", "output_limit", "crashed")
SCALARS = (int, float, complex, str, bytes, bool, type(None))
TAMPERED = {"verdict": FAILED, "type": "HarnessTampering"}

# A pristine copy of the builtins, taken before any untrusted code runs. Programs and tests
# each get their own copy, so overwriting a builtin affects only the code that did it.
BUILTINS = dict(vars(builtins))


def strict_eq(a, b):
    """`==` for tests that an object with a rigged `__eq__` cannot satisfy.

    Builtin values compare as Python compares them (so `1 == 1.0` still holds); containers are
    compared element by element with the same rule; a value of a user-defined type never equals a
    builtin value. Two user-defined objects compare with their own `__eq__` (the test's choice).
    """
    ta, tb = type(a), type(b)
    if ta in SCALARS and tb in SCALARS:
        return a == b
    if ta in (list, tuple) or tb in (list, tuple):
        return ta is tb and len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict or tb is dict:
        if ta is not tb or len(a) != len(b):
            return False
        return all(type(k) in SCALARS and k in b and strict_eq(v, b[k]) for k, v in a.items())
    if ta in (set, frozenset) or tb in (set, frozenset):
        return (ta in (set, frozenset) and tb in (set, frozenset)
                and all(type(x) in SCALARS or type(x) is tuple for x in a) and a == b)
    if ta in SCALARS or tb in SCALARS:
        return False
    return a == b


def close_eq(a, b, rel=1e-6, abs_tol=1e-9):
    """`strict_eq` with a tolerance for floats (generated tests compare float outputs with it)."""
    ta, tb = type(a), type(b)
    if ta is float or tb is float:
        if ta in (int, float) and tb in (int, float) and ta is not bool and tb is not bool:
            return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_tol)
        return False
    if ta in (list, tuple) and ta is tb:
        return len(a) == len(b) and all(close_eq(x, y, rel, abs_tol) for x, y in zip(a, b, strict=True))
    if ta is dict and tb is dict:
        return a.keys() == b.keys() and all(close_eq(v, b[k], rel, abs_tol) for k, v in a.items())
    return strict_eq(a, b)


class _StrictCompare(ast.NodeTransformer):
    """Rewrites `x == y` / `x != y` in test code to calls of `strict_eq`."""

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return node
        call = ast.Call(func=ast.Name("__codekiln_eq__", ast.Load()),
                        args=[node.left, node.comparators[0]], keywords=[])
        new = call if isinstance(node.ops[0], ast.Eq) else ast.UnaryOp(ast.Not(), call)
        return ast.copy_location(new, node)


def compile_test(src):
    tree = _StrictCompare().visit(ast.parse(src, "<test>"))
    return compile(ast.fix_missing_locations(tree), "<test>", "exec")


def error_info(exc):
    """Type, message and the line (in the program or a test) where an exception arose."""
    try:
        message = str(exc)
    except BaseException:
        message = "<unprintable>"
    where, line = None, None
    if isinstance(exc, SyntaxError) and exc.filename in ("<program>", "<test>"):
        where, line = exc.filename.strip("<>"), exc.lineno
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in ("<program>", "<test>"):
            where, line = name.strip("<>"), tb.tb_lineno
        tb = tb.tb_next
    return {"type": type(exc).__name__, "message": message[:2000], "where": where, "line": line}


# ------------------------------------------------------------------------------------------
# the child (P): limits, program, tests


def _child(req, tests, start, chan_w, out_w, err_w, scratch, nonce):
    try:
        os.setpgid(0, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        chan = random.randint(300, 900)  # not a number a program can guess
        os.dup2(chan_w, chan)
        os.closerange(3, chan)
        os.closerange(chan + 1, 1024)
        write, dumps, flush_out = os.write, json.dumps, _flusher()
        # sys.stdout/sys.stderr (inherited, flushed by the server) now write to the capture
        # pipes; stdin is replaced so nothing the server had read ahead is visible
        sys.stdin = open(0, closefd=False, encoding="utf-8")
        _limits(req, len(tests) - start + 1)
        os.chdir(scratch)
    except BaseException as e:  # the harness itself failed: an infrastructure fault
        os.write(chan_w, (nonce + " X " + json.dumps(error_info(e)) + "\n").encode())
        os._exit(70)

    tag = nonce + " "  # reports without this child's nonce are ignored by the server
    pending = []

    def send(kind, payload=""):
        pending.append(tag + kind + " " + payload + "\n")

    def emit():  # one write per step: the server wakes once, not once per message
        write(chan, "".join(pending).encode())
        pending.clear()

    namespace = {"__name__": "__main__" if req.get("as_main") else "__codekiln_program__",
                 "__builtins__": dict(BUILTINS)}
    try:
        exec(compile(req["program"], "<program>", "exec"), namespace)
    except BaseException as e:
        flush_out()
        send("E", dumps(error_info(e)))
        emit()
        os._exit(0)
    flush_out()
    send("L")
    for i in range(start, len(tests)):
        send("S", str(i))
        emit()  # the server starts this test's clock now
        code = tests[i]
        try:
            if isinstance(code, BaseException):
                raise code
            scope = dict(namespace)
            scope["__builtins__"] = dict(BUILTINS)
            scope["__codekiln_eq__"] = strict_eq
            scope["__codekiln_close__"] = close_eq
            exec(code, scope)
        except BaseException as e:
            flush_out()
            info = error_info(e)
            if info["type"] == "AssertionError" and not info["message"] and info["where"] == "test":
                lines = req["tests"][i].splitlines()
                if info["line"] and 0 < info["line"] <= len(lines):  # say which assert failed
                    info["message"] = lines[info["line"] - 1].strip()[:500]
            send("F", str(i) + " " + dumps(info))
            continue
        flush_out()
        if "__codekiln_value__" in scope:  # a test that computes a value reports its repr
            try:
                value = repr(scope["__codekiln_value__"])[:100_000]
            except BaseException:
                value = None
            send("P", str(i) + " " + dumps({"value": value}))
        else:
            send("P", str(i))
    send("D")
    emit()
    os._exit(0)


def _flusher():
    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    return flush


def _limits(req, phases):
    mb = 1024 * 1024
    cpu = int(req["timeout_s"] * phases) + 1
    rl = resource
    rl.setrlimit(rl.RLIMIT_AS, (req["memory_mb"] * mb, req["memory_mb"] * mb))
    rl.setrlimit(rl.RLIMIT_CPU, (cpu, cpu + 1))
    rl.setrlimit(rl.RLIMIT_FSIZE, (req["file_size_mb"] * mb, req["file_size_mb"] * mb))
    rl.setrlimit(rl.RLIMIT_NOFILE, (req["open_files"], req["open_files"]))
    rl.setrlimit(rl.RLIMIT_CORE, (0, 0))
    if req.get("rlimit_nproc"):
        rl.setrlimit(rl.RLIMIT_NPROC, (req["rlimit_nproc"], req["rlimit_nproc"]))


# ------------------------------------------------------------------------------------------
# the server (H)


class Server:
    def __init__(self, pid1: bool):
        self.pid1 = pid1
        self.tmp = "/tmp" if pid1 else os.environ.get("CODEKILN_SCRATCH", "/tmp")
        self._compiled = {}
        self._task_deadline = float("inf")

    def run_task(self, req):
        try:
            return self._run_task(req)
        finally:
            self._clean()

    def _compile(self, src):
        """Tests compile once per server: a problem's tests run against many candidates."""
        code = self._compiled.get(src)
        if code is None:
            try:
                code = compile_test(src)
            except SyntaxError as e:  # a broken test is the test's fault, reported per test
                code = e
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[src] = code
        return code

    def _run_task(self, req):
        t0 = time.monotonic()
        tests = [self._compile(src) for src in req["tests"]]
        results = [None] * len(tests)
        out = {"stdout": bytearray(), "stderr": bytearray(), "total": 0, "truncated": set()}
        program_error = None
        start = 0
        first = True
        timeouts, budget = 0, req.get("max_timeouts") or 0
        self._task_deadline = t0 + req["budget_s"] if req.get("budget_s") else float("inf")
        while first or start < len(tests):
            first = False
            reason = None
            if budget and timeouts >= budget:  # a hopeless program: do not wait on every test
                reason = f"not run: {timeouts} tests already timed out"
            elif time.monotonic() >= self._task_deadline:  # the task's whole budget is spent
                reason = f"not run: the task's budget of {req['budget_s']} s is spent"
            if reason:
                for i in range(start, len(tests)):
                    results[i] = {"verdict": TIMEOUT, "type": None, "skipped": True, "message": reason}
                break
            outcome = self._run_child(req, tests, start, results, out)
            timeouts = sum(1 for r in results if r is not None and r["verdict"] == TIMEOUT)
            if outcome["program"] is not None:  # the program itself did not load
                program_error = outcome["program"]
                for i in range(start, len(tests)):
                    results[i] = dict(program_error, verdict=program_error["verdict"], program=True)
                break
            start = outcome["next"]
        if program_error is not None:
            verdict = program_error["verdict"]
        else:
            verdict = next((r["verdict"] for r in results if r["verdict"] != PASSED), PASSED)
        return {
            "verdict": verdict,
            "tests": results,
            "program_error": program_error,
            "stdout": out["stdout"].decode("utf-8", "backslashreplace"),
            "stderr": out["stderr"].decode("utf-8", "backslashreplace"),
            "stdout_truncated": "stdout" in out["truncated"],
            "stderr_truncated": "stderr" in out["truncated"],
            "duration_s": round(time.monotonic() - t0, 6),
        }

    def _run_child(self, req, tests, start, results, out):
        scratch = os.path.join(self.tmp, "task")
        os.makedirs(scratch, exist_ok=True)
        chan_r, chan_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        nonce = os.urandom(16).hex()
        pid = os.fork()
        if pid == 0:
            os.close(chan_r)
            os.close(out_r)
            os.close(err_r)
            _child(req, tests, start, chan_w, out_w, err_w, scratch, nonce)
            os._exit(70)
        for fd in (chan_w, out_w, err_w):
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        timeout = req["timeout_s"]
        deadline = time.monotonic() + timeout
        loaded, current, killed_for, program = False, None, None, None
        expected, last_passed, done, started = start, None, False, 0.0
        pending = b""
        names = {out_r: "stdout", err_r: "stderr"}
        open_fds = [chan_r, out_r, err_r]
        status = None
        while True:
            watch = list(open_fds) + ([pidfd] if pidfd is not None and status is None else [])
            if not open_fds and status is not None:
                break
            wait = max(0.0, min(deadline, self._task_deadline) - time.monotonic())
            ready, _, _ = select.select(watch, [], [], min(wait, 0.5 if pidfd is None else wait))
            if pidfd is None and status is None:
                status = self._poll(pid)
                if status is not None:
                    self._kill(pid)
            if not ready and time.monotonic() >= min(deadline, self._task_deadline):
                if status is None:  # the program or a test overran its budget
                    killed_for = TIMEOUT if time.monotonic() >= deadline else "budget"
                    self._kill(pid)
                    status = self._wait(pid)
                else:  # the child is gone but something it started still holds a pipe
                    self._kill(pid)
                    for fd in open_fds:
                        os.close(fd)
                    open_fds = []
                continue
            for fd in ready:
                if fd == pidfd:
                    status = self._wait(pid)
                    self._kill(pid)  # nothing the child started may outlive it (or hold a pipe)
                    continue
                data = os.read(fd, 65536)
                if not data:
                    open_fds.remove(fd)
                    os.close(fd)
                    continue
                if fd != chan_r:
                    if self._capture(out, names[fd], data, req) and status is None:
                        killed_for = OUTPUT
                        self._kill(pid)
                        status = self._wait(pid)
                    continue
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    tag, _, rest = line.decode("utf-8", "replace").partition(" ")
                    if tag != nonce:
                        continue  # not the harness speaking
                    kind, _, payload = rest.partition(" ")
                    now = time.monotonic()
                    if kind == "L":
                        loaded, deadline = True, now + timeout
                    elif kind == "E" and not loaded:
                        info = _loads(payload)
                        program = dict(info, verdict=_verdict_of(info))
                    elif kind == "S" and loaded and current is None and payload == str(expected):
                        current, deadline, last_passed = expected, now + timeout, None
                        started = now
                    elif kind in ("P", "F"):
                        index, _, rest = payload.partition(" ")
                        index = int(index) if index.isdigit() else -1
                        if current is not None and index == current:
                            if kind == "P":
                                results[current] = {"verdict": PASSED}
                                if rest:
                                    results[current]["value"] = _loads(rest).get("value")
                                last_passed = current
                            else:
                                info = _loads(rest)
                                results[current] = dict(info, verdict=_verdict_of(info))
                            results[current]["duration_s"] = round(now - started, 6)
                            current, expected, deadline = None, expected + 1, now + timeout
                        elif 0 <= index < len(results) and results[index] is not None:
                            results[index] = dict(TAMPERED, message="two reports for one test")
                    elif kind == "D" and loaded and current is None:
                        done = True
                    elif kind == "X":
                        raise RuntimeError("harness failed in the child: " + payload)
            if done:  # the child has reported everything and is exiting: do not wait on pipes
                self._kill(pid)
                if status is None:
                    status = self._wait(pid)
                self._drain(open_fds, names, out, req)
                open_fds = []
                break
        if pidfd is not None:
            os.close(pidfd)
        if status is None:
            status = self._wait(pid)
        # what did the child not finish?
        if loaded and not done and last_passed is not None and killed_for is None:
            # it stopped right after a pass was reported, before the harness could go on: only
            # code that is not the harness (a thread, a forged report) gets there
            results[last_passed] = dict(TAMPERED, message="the process exited right after a pass was reported")
        if not loaded and program is None:
            program = self._abnormal(status, killed_for, "while loading the program")
        elif current is not None:
            results[current] = self._abnormal(status, killed_for, "before the test finished")
            return {"program": None, "next": current + 1}
        if program is not None:
            return {"program": program, "next": len(tests)}
        nxt = next((i for i in range(start, len(tests)) if results[i] is None), len(tests))
        if nxt < len(tests):  # the child stopped between tests (exited from a test's side effect)
            results[nxt] = self._abnormal(status, killed_for, "before the test started")
            nxt += 1
        return {"program": None, "next": nxt}

    def _drain(self, fds, names, out, req):
        """Read what the child wrote before it ended (its processes are gone, so EOF comes)."""
        deadline = time.monotonic() + 1.0
        for fd in fds:
            if fd not in names:  # the report channel: nothing more to hear
                os.close(fd)
        fds = [fd for fd in fds if fd in names]
        while fds and time.monotonic() < deadline:
            ready, _, _ = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))
            for fd in ready:
                data = os.read(fd, 65536)
                if data:
                    self._capture(out, names[fd], data, req)
                else:
                    fds.remove(fd)
                    os.close(fd)
        for fd in fds:
            os.close(fd)

    @staticmethod
    def _abnormal(status, killed_for, when):
        if killed_for == "budget":
            return {"verdict": TIMEOUT, "type": None, "skipped": True,
                    "message": f"the task's time budget ran out {when}"}
        if killed_for == TIMEOUT:
            return {"verdict": TIMEOUT, "type": None, "message": f"time limit exceeded {when}"}
        if killed_for == OUTPUT:
            return {"verdict": OUTPUT, "type": None, "message": f"output limit exceeded {when}"}
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGXCPU:
                return {"verdict": TIMEOUT, "type": None, "message": f"CPU time limit exceeded {when}"}
            if sig == signal.SIGXFSZ:
                return {"verdict": FAILED, "type": "SIGXFSZ", "message": f"file size limit exceeded {when}"}
            return {"verdict": CRASHED, "type": name, "message": f"killed by {name} {when}"}
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return {"verdict": FAILED, "type": "Exit", "message": f"exited with status {code} {when}"}

    @staticmethod
    def _capture(out, name, data, req):
        """Keep up to `output_bytes` per stream; True when the hard limit is crossed."""
        out["total"] += len(data)
        buf = out[name]
        room = req["output_bytes"] - len(buf)
        if room > 0:
            buf += data[:room]
        if len(data) > max(room, 0):
            out["truncated"].add(name)
        return out["total"] > req["output_limit_bytes"]

    def _kill(self, pid):
        try:
            if self.pid1:
                os.kill(-1, signal.SIGKILL)  # everything in the sandbox but this server
            else:
                os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _poll(pid):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        return status if done else None

    @staticmethod
    def _wait(pid):
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 0

    def _clean(self):
        """No process and no file of a task survives it."""
        if self.pid1:
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
        names = os.listdir(self.tmp)
        try:
            if names == ["task"] and not os.listdir(os.path.join(self.tmp, "task")):
                return  # nothing was written: keep the empty scratch directory for the next task
        except OSError:  # the task took the permission away: remove it the hard way
            pass
        for name in names:
            path = os.path.join(self.tmp, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, onerror=_force_remove)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass


def _force_remove(func, path, _exc):
    """rmtree's error handler: give the owner its permissions back, then try again."""
    try:
        os.chmod(os.path.dirname(path) or ".", 0o700)
        os.chmod(path, 0o700)
    except OSError:
        return  # not ours to fix: leave it (the slot is recycled if /tmp fills up)
    try:
        if func in (os.rmdir, os.unlink, os.remove):
            func(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=_force_remove)
    except OSError:
        pass


def _loads(payload):
    try:
        info = json.loads(payload)
        return info if isinstance(info, dict) else {"type": "Harness", "message": payload[:200]}
    except ValueError:
        return {"type": "Harness", "message": "unreadable report: " + payload[:200]}


def _verdict_of(info):
    return MEMORY if info.get("type") == "MemoryError" else FAILED


def main():
    preload = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    sys.path.extend(json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])  # third-party packages
    for name in preload:  # warm imports, shared by every forked child
        try:
            __import__(name)
        except Exception:
            pass
    server = Server(pid1=os.getpid() == 1)
    gc.freeze()  # what is loaded now is shared by every fork: keep the collector off its pages
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write((json.dumps({"ready": True, "python": sys.version, "pid1": server.pid1}) + "\n").encode())
    stdout.flush()
    for line in stdin:
        req = json.loads(line)
        try:
            result = server.run_task(req)
        except Exception as e:  # an infrastructure fault, never a verdict on the program
            result = {"verdict": "sandbox_error", "tests": [], "program_error": None,
                      "message": f"{type(e).__name__}: {e}", "stdout": "", "stderr": "",
                      "stdout_truncated": False, "stderr_truncated": False, "duration_s": 0.0}
        result["id"] = req.get("id")
        stdout.write((json.dumps(result) + "\n").encode())
        stdout.flush()


if __name__ == "__main__":
    main()
