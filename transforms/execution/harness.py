"""The in-sandbox fork server. Standard library only: it is passed to `python -S -c` inside
bubblewrap, where nothing of the project is visible.

One server (H) lives per pool slot. Under bubblewrap it is PID 1 of the sandbox's PID namespace,
so the code it runs cannot kill it (the kernel drops signals sent to a namespace's init from
inside unless it handles them, and H handles none) and `kill(-1)` reaches every process a task
left behind. H never runs untrusted code and is not dumpable, so no task (the same uid) can
ptrace it or read its memory or pipes (and the sandbox has no /proc to try through).

For every test of a task, H forks a fresh child (P) from itself: a template that never saw
another test. P applies the per-task limits, loads the program, then runs that one test:

- a *calls* test (a data test: the host found its asserts' shape statically) evaluates each
  call expression and sends the value back through a strict encoder. P never sees an expected
  value; the host decodes the values and does every comparison.
- a *code* test (anything else) runs in P with `==` rewritten to `strict_eq`, and P reports
  pass or fail: a verdict the program could forge, which the host marks `in_process`.

H enforces every deadline on its own clock, caps every stream and field, and answers each
request with a JSON line that echoes the request's id.
"""

import ast
import builtins
import collections
import gc
import json
import os
import random
import resource
import select
import signal
import stat
import sys
import time

PASSED, FAILED, TIMEOUT, MEMORY, OUTPUT, CRASHED = (
    "passed", "failed", "timeout", "memory_exceeded", "output_limit", "crashed")
SCALARS = (int, float, complex, str, bytes, bool, type(None))
TAMPERED = {"verdict": FAILED, "type": "HarnessTampering"}
MAX_DEPTH = 100  # nesting of a returned value
MAX_TEXT = 2000  # characters kept of any message
MAX_NAME = 200  # characters kept of an exception's type name

# Taken before any untrusted code runs (the program may rebind the module attributes).
BUILTINS = dict(vars(builtins))
_exit, _write, _read, _fork, _dumps = os._exit, os.write, os.read, os.fork, json.dumps
_Counter, _OrderedDict, _defaultdict, _deque = (collections.Counter, collections.OrderedDict,
                                                 collections.defaultdict, collections.deque)
_VIEWS = {type({}.keys()): "K", type({}.values()): "W", type({}.items()): "I"}
_FACTORIES = {int: "int", list: "list", set: "set", dict: "dict", str: "str", float: "float", tuple: "tuple"}
_ITERATORS = tuple(type(x) for x in (iter([]), iter(()), iter(""), iter({}), iter(set()), reversed([]),
                                     iter(range(0)), (lambda: (yield))(), map(abs, []), filter(None, []),
                                     zip(), enumerate([])))


try:
    from fractions import Fraction as _Fraction
except ImportError:  # pragma: no cover
    _Fraction = None

# ------------------------------------------------------------------------------------------
# the strict value encoder (the host decodes and re-checks everything it receives)


class NonData(Exception):
    """A value that is not plain data: a failed test (`non_data_result`), never a pass."""


def encode(value, max_items=1_000_000):
    """`value` as tagged JSON-able data; exact builtin types only (see `values.decode`)."""
    budget = [max_items]

    def pairs(d, depth):
        return [[enc(k, depth), enc(v, depth)] for k, v in dict.items(d)]

    def enc(v, depth):
        budget[0] -= 1
        if budget[0] < 0:
            raise NonData(f"more than {max_items} items")
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            return v if -(1 << 63) <= v < (1 << 63) else ["i", format(v, "x")]  # hex: linear time
        if t is complex:
            return ["c", v.real, v.imag]
        if t is bytes:
            return ["b", v.hex()]
        if depth >= MAX_DEPTH:
            raise NonData(f"nested deeper than {MAX_DEPTH}")
        depth += 1
        if t is list:
            return ["l"] + [enc(x, depth) for x in list.__iter__(v)]
        if t is tuple or (isinstance(v, tuple) and t.__bases__ == (tuple,)
                          and type(getattr(t, "_fields", None)) is tuple):  # namedtuples as tuples
            return ["t"] + [enc(x, depth) for x in tuple.__iter__(v)]
        if t is dict:
            return ["d"] + pairs(v, depth)
        if t is set or t is frozenset:
            return ["s" if t is set else "f"] + [enc(x, depth) for x in (set.__iter__(v) if t is set
                                                                          else frozenset.__iter__(v))]
        if t is _Counter:
            return ["C"] + pairs(v, depth)
        if t is _OrderedDict:
            return ["o"] + pairs(v, depth)
        if t is _defaultdict:
            return ["D", _FACTORIES.get(v.default_factory)] + pairs(v, depth)
        if t is range:
            return ["r", v.start, v.stop, v.step]
        if t in _VIEWS:
            tag = _VIEWS[t]
            return [tag] + [enc(x, depth) for x in v] if tag != "I" else [tag] + [[enc(a, depth), enc(b, depth)]
                                                                                   for a, b in v]
        if t in _ITERATORS or type(getattr(t, "__module__", None)) is str and t.__module__ == "itertools":
            return ["g"] + [enc(x, depth) for x in v]  # a lazy result, consumed here (the budget bounds it)
        if _Fraction is not None and t is _Fraction:
            return ["F", enc(v.numerator, depth), enc(v.denominator, depth)]
        if t is _deque:
            return ["q"] + [enc(x, depth) for x in _deque.__iter__(v)]
        raise NonData(f"a {_type_name(t)} is not plain data")

    return enc(value, 0)


def _type_name(t):
    try:
        name = type.__getattribute__(t, "__qualname__")
        return name[:MAX_NAME] if type(name) is str else "?"
    except BaseException:
        return "?"


_ENCODER = json.JSONEncoder(allow_nan=True, separators=(",", ":"))


def encode_text(value, max_bytes):
    t = type(value)  # the common scalars need no walk
    raw = value if value is None or t is bool or t is str or t is float or (
        t is int and -(1 << 63) <= value < (1 << 63)) else encode(value)
    text = _ENCODER.encode(raw)
    if len(text) > max_bytes:
        raise NonData(f"the value is larger than {max_bytes} bytes encoded")
    return text


# ------------------------------------------------------------------------------------------
# code tests (in_process): `==` that an object with a rigged `__eq__` cannot satisfy


def strict_eq(a, b):
    """`==` for code tests that an object with a rigged `__eq__` cannot satisfy.

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
        if type(message) is not str:
            message = "<unprintable>"
    except BaseException:
        message = "<unprintable>"
    where, line = None, None
    try:
        if isinstance(exc, SyntaxError) and exc.filename in ("<program>", "<test>"):
            where, line = exc.filename.strip("<>"), exc.lineno
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name in ("<program>", "<test>"):
                where, line = name.strip("<>"), tb.tb_lineno
            tb = tb.tb_next
    except BaseException:
        pass
    return {"type": _type_name(type(exc)), "message": message[:MAX_TEXT], "where": where,
            "line": line if type(line) is int else None}


# ------------------------------------------------------------------------------------------
# the child (P): limits, the program, one test


def _child(req, test, code, chan_w, out_w, err_w, scratch, nonce):
    try:
        gc.freeze()  # the collector never walks (and so never copies) what the server had
        os.setpgid(0, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        chan = random.randint(300, 900)  # not a number a program can guess
        os.dup2(chan_w, chan)
        os.closerange(3, chan)
        os.closerange(chan + 1, 1024)
        flush_out = _flusher()
        # sys.stdout/sys.stderr (inherited, flushed by the server) now write to the capture
        # pipes; stdin is replaced so nothing the server had read ahead is visible
        sys.stdin = open(0, closefd=False, encoding="utf-8")
        _limits(req)
        os.chdir(scratch)
    except BaseException as e:  # the harness itself failed: an infrastructure fault
        _write(chan_w, (nonce + " X " + _dumps(error_info(e)) + "\n").encode())
        _exit(70)

    # what the harness uses after the program ran, taken before it runs: rebinding builtins or
    # the harness's globals (`import __main__`) does not reach these (in-process defences only)
    run, evaluate, private = exec, eval, dict(globals())
    private["__builtins__"] = dict(BUILTINS)
    eq = type(strict_eq)(strict_eq.__code__, private, "strict_eq")
    private["strict_eq"] = eq
    tag = nonce + " "  # reports without this child's nonce are ignored by the server
    pending = []
    max_bytes = req["value_bytes"]

    def send(kind, payload=""):
        pending.append(tag + kind + " " + payload + "\n")

    def emit():  # one write per step: the server wakes once, not once per message
        data = "".join(pending).encode()
        pending.clear()
        while data:
            n = _write(chan, data)
            data = data[n:]

    def fail(info):  # the test failed: report it and end
        flush_out()
        send("F", _dumps(info))
        send("D")
        emit()
        _exit(0)

    namespace = {"__name__": "__main__" if req.get("as_main") else "__codekiln_program__",
                 "__builtins__": dict(BUILTINS)}
    _write(chan, (tag + "G \n").encode())  # from here on, untrusted code runs in this process
    try:
        run(compile(req["program"], "<program>", "exec"), namespace)
    except BaseException as e:
        flush_out()
        send("E", _dumps(error_info(e)))
        emit()
        _exit(0)
    flush_out()
    send("L")
    emit()  # the server starts the test's clock now
    if test["kind"] == "calls":
        setup, calls = code
        scope = dict(namespace)
        scope["__builtins__"] = dict(BUILTINS)
        try:
            if isinstance(setup, BaseException):
                raise setup
            run(setup, scope)
        except BaseException as e:
            fail(error_info(e))
        for k, expr in enumerate(calls):
            try:
                if isinstance(expr, BaseException):
                    raise expr
                value = evaluate(expr, scope)
                try:
                    send("V", str(k) + " " + encode_text(value, max_bytes))
                except NonData as e:
                    send("N", str(k) + " " + _dumps(str(e)[:MAX_TEXT]))
                except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as e:
                    send("N", str(k) + " " + _dumps(f"cannot encode: {_type_name(type(e))}"))
            except BaseException as e:
                send("R", str(k) + " " + _dumps(error_info(e)))
            value = None
            flush_out()
            emit()  # before the next call: a value that arrived counts even if a later call hangs

    else:
        scope = dict(namespace)
        scope["__builtins__"] = dict(BUILTINS)
        scope["__codekiln_eq__"] = eq
        try:
            if isinstance(code, BaseException):
                raise code
            run(code, scope)
        except BaseException as e:
            info = error_info(e)
            if info["type"] == "AssertionError" and not info["message"] and info["where"] == "test":
                lines = test["src"].splitlines()
                if info["line"] and 0 < info["line"] <= len(lines):  # say which assert failed
                    info["message"] = lines[info["line"] - 1].strip()[:500]
            fail(info)
        flush_out()
        if "__codekiln_value__" in scope:  # a test that computes a value returns it, strictly
            try:
                send("V", "0 " + encode_text(scope["__codekiln_value__"], max_bytes))
            except BaseException as e:
                send("N", "0 " + _dumps(str(e)[:MAX_TEXT] if isinstance(e, NonData) else "cannot encode"))
        send("P")
    send("D")
    emit()
    _exit(0)


def _flusher():
    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    return flush


def _limits(req):
    mb = 1024 * 1024
    cpu = int(req["timeout_s"] * 2) + 1  # loading the program, then the test
    rl = resource
    rl.setrlimit(rl.RLIMIT_AS, (req["memory_mb"] * mb, req["memory_mb"] * mb))
    rl.setrlimit(rl.RLIMIT_CPU, (cpu, cpu + 1))
    rl.setrlimit(rl.RLIMIT_FSIZE, (req["file_size_mb"] * mb, req["file_size_mb"] * mb))
    rl.setrlimit(rl.RLIMIT_NOFILE, (req["open_files"], req["open_files"]))
    rl.setrlimit(rl.RLIMIT_CORE, (0, 0))
    rl.setrlimit(rl.RLIMIT_MSGQUEUE, (0, 0))  # POSIX queues outlive a task and cannot be listed
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
            result = self._run_task(req)
        finally:
            dirty = self._clean()
        result["dirty"] = dirty
        return result

    def _compile(self, key, make):
        """Tests compile once per server: a problem's tests run against many candidates."""
        code = self._compiled.get(key)
        if code is None:
            try:
                code = make()
            except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                code = e  # a broken test is the test's fault, reported per test
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[key] = code
        return code

    def _code_of(self, test):
        if test["kind"] == "calls":
            setup = self._compile(("s", test["setup"]), lambda: compile(test["setup"], "<test>", "exec"))
            calls = [self._compile(("e", c), lambda c=c: compile(c, "<test>", "eval")) for c in test["calls"]]
            return setup, calls
        return self._compile(("c", test["src"]), lambda: compile_test(test["src"]))

    def _run_task(self, req):
        t0 = time.monotonic()
        tests = req["tests"]
        results = [None] * len(tests)
        out = {"stdout": bytearray(), "stderr": bytearray(), "total": 0, "truncated": set(),
               "values": 0}
        program_error = None
        timeouts, max_timeouts = 0, req.get("max_timeouts") or 0
        self._task_deadline = t0 + req["budget_s"] if req.get("budget_s") else float("inf")
        for i, test in enumerate(tests or [None]):
            reason = None
            if max_timeouts and timeouts >= max_timeouts:  # a hopeless program: stop waiting
                reason = f"not run: {timeouts} tests already timed out"
            elif time.monotonic() >= self._task_deadline:  # the task's whole budget is spent
                reason = f"not run: the task's budget of {req['budget_s']} s is spent"
            if reason:
                for j in range(i, len(tests)):
                    results[j] = {"verdict": TIMEOUT, "type": None, "skipped": True, "message": reason}
                break
            outcome = self._run_child(req, test, out)
            if outcome.get("program") is not None:  # the program itself did not load
                program_error = outcome["program"]
                for j in range(i, len(tests)):
                    results[j] = dict(program_error, program=True)
                break
            if test is not None:
                results[i] = outcome["test"]
                timeouts += results[i].get("verdict") == TIMEOUT or results[i].get("end", {}).get("verdict") == TIMEOUT
        return {
            "verdict": program_error["verdict"] if program_error else None,
            "tests": results,
            "program_error": program_error,
            "stdout": out["stdout"].decode("utf-8", "backslashreplace"),
            "stderr": out["stderr"].decode("utf-8", "backslashreplace"),
            "stdout_truncated": "stdout" in out["truncated"],
            "stderr_truncated": "stderr" in out["truncated"],
            "duration_s": round(time.monotonic() - t0, 6),
        }

    def _run_child(self, req, test, out):
        """Run `test` (None: only load the program) in a fresh child; what it reported."""
        scratch = self._scratch()
        code = self._code_of(test) if test is not None else None
        n_calls = len(test["calls"]) if test is not None and test["kind"] == "calls" else 0
        chan_r, chan_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        nonce = os.urandom(16).hex()
        sys.stdout.flush()
        pid = _fork()
        if pid == 0:
            os.close(chan_r)
            os.close(out_r)
            os.close(err_r)
            if test is None:
                test = {"kind": "code", "src": ""}
                code = compile("", "<test>", "exec")
            _child(req, test, code, chan_w, out_w, err_w, scratch, nonce)
            _exit(70)
        for fd in (chan_w, out_w, err_w):
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        timeout = req["timeout_s"]
        line_cap = req["value_bytes"] + 4096
        t_start = time.monotonic()
        deadline = t_start + timeout
        st = {"loaded": False, "done": False, "program": None, "calls": [None] * n_calls,
              "data": test is not None and test["kind"] == "calls", "untrusted": False,
              "code": None, "value": None, "started": t_start, "ended": None, "abuse": None}
        killed_for = None
        pending = b""
        names = {out_r: "stdout", err_r: "stderr"}
        open_fds = [chan_r, out_r, err_r]
        status = None
        drain_until = None
        test_clock = False
        while True:
            now = time.monotonic()
            if status is None and now >= min(deadline, self._task_deadline):  # holds while output streams
                killed_for = TIMEOUT if now >= deadline else "budget"
                self._kill(pid)
                status = self._wait(pid)
            if status is not None:
                if drain_until is None:
                    self._kill(pid)  # nothing the child started may outlive it (or hold a pipe)
                    drain_until = now + 0.5
                if not open_fds or now >= drain_until:
                    break
            watch = list(open_fds) + ([pidfd] if pidfd is not None and status is None else [])
            limit = drain_until if status is not None else min(deadline, self._task_deadline)
            wait = max(0.0, limit - now)
            ready, _, _ = select.select(watch, [], [], min(wait, 0.25) if pidfd is None else wait)
            if pidfd is None and status is None:
                status = self._poll(pid)
            for fd in ready:
                if fd == pidfd:
                    status = self._wait(pid)
                    continue
                data = _read(fd, 65536)
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
                if st["done"]:
                    continue
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self._message(line, nonce, st, out, req)
                    if st["loaded"] and not test_clock:
                        deadline, test_clock = st["started"] + timeout, True  # the test's own clock
                if len(pending) > line_cap:  # a report no honest child sends: stop reading it
                    st["abuse"] = "a report longer than the result cap"
                    pending = b""
                    if status is None:
                        self._kill(pid)
                        status = self._wait(pid)
                if st["done"] and status is None:  # everything is reported: do not wait on pipes
                    self._kill(pid)
                    status = self._wait(pid)
        for fd in open_fds:
            os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
        return self._outcome(st, status, killed_for, test)

    def _message(self, line, nonce, st, out, req):
        tag, _, rest = line.decode("utf-8", "replace").partition(" ")
        if tag != nonce:
            return  # not the harness speaking
        kind, _, payload = rest.partition(" ")
        now = time.monotonic()
        if kind == "G":
            st["untrusted"] = True
            return
        if kind == "X":
            if not st["untrusted"]:  # the harness itself failed, before any untrusted code ran
                raise RuntimeError("harness failed in the child: " + payload[:MAX_TEXT])
            return
        if not st["loaded"]:
            if kind == "L":
                st["loaded"], st["started"] = True, now
            elif kind == "E" and st["program"] is None:
                info = _loads(payload)
                st["program"] = dict(info, verdict=_verdict_of(info))
            return
        if st["done"]:
            return
        if kind in ("V", "N", "R"):
            index, _, body = payload.partition(" ")
            k = int(index) if index.isascii() and index.isdigit() and len(index) < 9 else -1
            if kind == "V":
                out["values"] += len(body)
                if out["values"] > req["values_total_bytes"]:
                    kind, body = "N", _dumps(f"the task's values exceed {req['values_total_bytes']} bytes")
            record = ({"value": body} if kind == "V" else {"non_data": _loads_text(body)} if kind == "N"
                      else {"error": _loads(body)})
            if st["calls"] and 0 <= k < len(st["calls"]):
                if st["calls"][k] is None:
                    st["calls"][k] = record
            elif k == 0 and st["value"] is None:  # a code test's computed value
                st["value"] = record
        elif kind == "P" and st["code"] is None and not st["data"]:  # a data test never reports a pass
            st["code"] = {"verdict": PASSED}
        elif kind == "F" and st["code"] is None:
            st["code"] = dict(_loads(payload), verdict=FAILED)
            st["code"]["verdict"] = _verdict_of(st["code"])
        elif kind == "D":
            st["done"], st["ended"] = True, now

    def _outcome(self, st, status, killed_for, test):
        if not st["loaded"]:
            program = st["program"] or self._abnormal(status, killed_for, "while loading the program")
            return {"program": program}
        if test is None:
            return {}
        duration = round((st["ended"] or time.monotonic()) - st["started"], 6)
        end = None
        if not st["done"]:
            end = self._abnormal(status, killed_for, "before the test finished")
        if st["abuse"]:
            end = {"verdict": FAILED, "type": "non_data_result", "message": st["abuse"]}
        if test["kind"] == "calls":
            result = {"calls": st["calls"], "duration_s": duration}
            if st["code"] is not None:  # the setup failed
                result["setup_error"] = st["code"]
            if end is not None:
                result["end"] = end
            return {"test": result}
        if end is not None:
            if st["code"] is not None and st["code"]["verdict"] == PASSED and not st["abuse"]:
                # it stopped right after a pass was reported, before the harness could go on: only
                # code that is not the harness (a thread, a forged report) gets there
                return {"test": dict(TAMPERED, message="the process ended right after a pass was reported")}
            return {"test": dict(end, duration_s=duration)}
        result = dict(st["code"] or {"verdict": FAILED, "type": "Harness", "message": "no verdict"})
        result["duration_s"] = duration
        if st["value"] is not None:
            result.update(st["value"])
        return {"test": result}

    @staticmethod
    def _abnormal(status, killed_for, when):
        if killed_for == "budget":
            return {"verdict": TIMEOUT, "type": None, "skipped": True,
                    "message": f"the task's time budget ran out {when}"}
        if killed_for == TIMEOUT:
            return {"verdict": TIMEOUT, "type": None, "message": f"time limit exceeded {when}"}
        if killed_for == OUTPUT:
            return {"verdict": OUTPUT, "type": None, "message": f"output limit exceeded {when}"}
        if status is None:
            return {"verdict": CRASHED, "type": None, "message": f"stopped {when}"}
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

    def _is_clean(self):
        """Whether the scratch space holds nothing but the empty scratch directory."""
        scratch = os.path.join(self.tmp, "task")
        try:
            return os.listdir(self.tmp) == ["task"] and not os.path.islink(scratch) and not os.listdir(scratch)
        except OSError:  # the task took the permission away
            return False

    def _scratch(self):
        """An empty scratch directory for the next test: no test sees another's files."""
        scratch = os.path.join(self.tmp, "task")
        if self._is_clean():
            return scratch
        self._kill_all()
        if not remove_contents(self.tmp, time.monotonic() + 5.0):
            raise RuntimeError("the scratch space could not be emptied")
        os.mkdir(scratch)
        return scratch

    def _kill_all(self):
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

    def _clean(self):
        """No process, file or IPC object of a task survives it; True if the scratch stayed dirty."""
        self._kill_all()
        if self.pid1:
            remove_sysv_ipc()
        if self._is_clean():
            return False  # nothing was written: keep the empty scratch directory
        return not remove_contents(self.tmp, time.monotonic() + 5.0)


_LIBC = _CTYPES = None  # libc through ctypes, bound by the server at start


def remove_sysv_ipc():
    """Remove every System V shared memory segment, semaphore set and message queue of the
    sandbox's IPC namespace: they outlive the processes that made them (and stay charged to the
    slot's memory) unless removed."""
    libc = _LIBC
    if libc is None:
        return
    buf = (_CTYPES.c_char * 512)()
    for info_cmd, stat_cmd, ctl in ((14, 13, libc.shmctl), (19, 18, None), (12, 11, libc.msgctl)):
        try:
            if ctl is None:  # semctl(id, semnum, cmd, ...)
                top = libc.semctl(0, 0, info_cmd, buf)
            else:
                top = ctl(0, info_cmd, buf)
            for index in range(max(top, -1) + 1):
                if ctl is None:
                    ident = libc.semctl(index, 0, stat_cmd, buf)
                    if ident >= 0:
                        libc.semctl(ident, 0, 0)  # IPC_RMID
                else:
                    ident = ctl(index, stat_cmd, buf)
                    if ident >= 0:
                        ctl(ident, 0, None)  # IPC_RMID
        except (OSError, AttributeError, _CTYPES.ArgumentError):
            pass


def remove_contents(top, deadline):
    """Empty directory `top` without recursion (trees of any depth, any permissions); False if
    the deadline passed or something would not go (the host then replaces the slot)."""
    try:
        os.chmod(top, 0o700)
    except OSError:
        pass
    stack = [top]
    while stack:
        if time.monotonic() > deadline:
            return False
        path = stack[-1]
        try:
            entries = os.listdir(path)
        except PermissionError:
            try:
                os.chmod(path, 0o700)
                entries = os.listdir(path)
            except OSError:
                return False
        except OSError:
            return False
        pushed = False
        for name in entries:
            child = os.path.join(path, name)
            try:
                mode = os.lstat(child).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                try:
                    os.rmdir(child)
                except OSError:
                    try:
                        os.chmod(child, 0o700)
                    except OSError:
                        return False
                    stack.append(child)
                    pushed = True
                    break
            else:
                try:
                    os.unlink(child)
                except OSError:
                    return False
        if not pushed:
            stack.pop()
            if path != top:
                try:
                    os.rmdir(path)
                except OSError:
                    return False
    return True


def _loads(payload):
    try:
        info = json.loads(payload)
    except (ValueError, RecursionError):
        return {"type": "Harness", "message": "unreadable report: " + payload[:200]}
    if not isinstance(info, dict):
        return {"type": "Harness", "message": payload[:200]}
    out = {"type": info.get("type"), "message": info.get("message"), "where": info.get("where"),
           "line": info.get("line")}
    out["type"] = out["type"][:MAX_NAME] if isinstance(out["type"], str) else None
    out["message"] = out["message"][:MAX_TEXT] if isinstance(out["message"], str) else None
    out["where"] = out["where"] if out["where"] in ("program", "test") else None
    out["line"] = out["line"] if type(out["line"]) is int else None
    return out


def _loads_text(payload):
    try:
        text = json.loads(payload)
    except (ValueError, RecursionError):
        return "unreadable"
    return text[:MAX_TEXT] if isinstance(text, str) else "unreadable"


def _verdict_of(info):
    return MEMORY if info.get("type") == "MemoryError" else FAILED


def _not_dumpable():
    """Tasks are the server's own uid: without this they could ptrace it, or reach its memory and
    pipes (pidfd_getfd, process_vm_writev, /proc/1/fd wherever a /proc is mounted)."""
    global _LIBC, _CTYPES
    try:
        import ctypes

        _CTYPES, _LIBC = ctypes, ctypes.CDLL(None)
        prctl = _LIBC.prctl
        prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
        return prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE: 0
    except (OSError, AttributeError, ImportError):
        return -1


def main():
    preload = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    sys.path.extend(json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])  # third-party packages
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # no handler: tasks cannot signal PID 1
    for name in preload:  # warm imports, shared by every forked child
        try:
            __import__(name)
        except Exception:
            pass
    dumpable = _not_dumpable()
    server = Server(pid1=os.getpid() == 1)
    gc.freeze()  # what is loaded now is shared by every fork: keep the collector off its pages
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write((json.dumps({"ready": True, "python": sys.version, "pid1": server.pid1,
                              "dumpable": dumpable}) + "\n").encode())
    stdout.flush()
    for line in stdin:
        try:
            req = json.loads(line)
            rid = req.get("id")
        except ValueError:
            req, rid = None, None
        try:
            if req is None:
                raise ValueError("unreadable request")
            result = server.run_task(req)
        except Exception as e:  # an infrastructure fault, never a verdict on the program
            result = {"verdict": "sandbox_error", "tests": [], "program_error": None,
                      "message": f"{type(e).__name__}: {e}"[:MAX_TEXT], "stdout": "", "stderr": "",
                      "stdout_truncated": False, "stderr_truncated": False, "duration_s": 0.0,
                      "dirty": True}
        result["id"] = rid
        stdout.write((json.dumps(result) + "\n").encode())
        stdout.flush()


if __name__ == "__main__":
    main()
