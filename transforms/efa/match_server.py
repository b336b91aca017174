"""The answer-matching server: HF `math-verify` in a process of its own. Standard library and
math-verify only: `transforms/efa/matching.py` starts it as `python -P -c SOURCE CONFIG` with
`PYTHONHASHSEED=0`, and talks to it over its stdin/stdout.

math-verify bounds its own work with `signal.alarm`, which raises ValueError off the main thread
(Beam's multi_threading and multi_processing modes, Dataflow's threaded workers) and, on the main
thread, turns a slow comparison into a silent "no match" that depends on the machine's load. Here
its timeouts are off (`parsing_timeout=None`, `timeout_seconds=None`) and the work is bounded
another way:

- every request runs in a child forked from this server after a fixed warm-up (imports done,
  parsers and caches primed, random generators seeded: sympy compares at random points), so a
  request's work and verdict depend on nothing but the request: not on which requests came
  before, nor on the calling process's hash seed (this one's is fixed);
- the child counts Python calls (profile `call` and `c_call` events) and stops at `max_calls`:
  a deterministic work budget, the same on an idle and a loaded machine;
- a CPU-time limit (`cpu_s`, RLIMIT_CPU) and a wall-clock deadline (`wall_s`, kept by this server)
  are generous backstops for work the count does not see (one huge C-level operation);
- an address-space limit (`memory_mb` above the server's own) keeps a runaway child from the
  host, and a MemoryError anywhere (even one a library catches) ends the request as over budget.

Protocol: one JSON request per line, `{"gold": LATEX, "pred": LATEX}`; one JSON reply per line:
`{"match": bool, "calls": N}`, `{"over": "calls" | "cpu" | "wall" | "memory", "calls": N}` (the
budget ran out: no verdict), `{"error": TEXT}` (math-verify failed on these inputs some other
way, or the child crashed), or `{"fault": TEXT}` (this machinery failed: no verdict).
"""

import gc
import json
import os
import resource
import select
import signal
import sys
import time

WARMUP = (("\\frac{14}{3}", "\\frac{14}{3}"), ("3\\sqrt{13}", "3 \\sqrt{13}"), ("18", "18"), ("9", "8"),
          ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\frac{\\pi}{2} \\right)"),
          ("x^2+2x+1", "(x+1)^2"), ("0.5", "\\frac{1}{2}"), ("\\text{(A)}", "A"))


def _match(parse, verify, gold: str, pred: str) -> bool:
    g = parse(f"${gold}$", parsing_timeout=None)
    p = parse(f"${pred}$", parsing_timeout=None)
    return bool(g) and bool(p) and bool(verify(g, p, timeout_seconds=None))


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(req: dict, cfg: dict, parse, verify, w: int) -> None:
    """In the forked child: limits, the counted match, one JSON reply on `w`, exit."""

    def reply(obj):
        data = json.dumps(obj).encode()
        while data:
            data = data[os.write(w, data):]
        os._exit(0)

    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # nothing the libraries print reaches the protocol
            os.dup2(devnull, fd)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        cpu = int(cfg["cpu_s"])
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1 if hard == resource.RLIM_INFINITY else min(hard, cpu + 1)))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = _vm_bytes() + int(cfg["memory_mb"]) * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        gold, pred = req["gold"], req["pred"]
        if not isinstance(gold, str) or not isinstance(pred, str):
            raise TypeError("gold and pred must be strings")
    except BaseException as e:  # noqa: BLE001 - the harness failed: say so, never a verdict
        reply({"fault": f"setup: {type(e).__name__}: {e}"[:500]})

    limit = int(cfg["max_calls"])
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1
            if calls > limit:  # over budget: no verdict, whatever the libraries would catch
                stop()
                reply({"over": "calls", "calls": calls})

    def watch(frame, event, arg):  # every Python frame: its exceptions, not its lines
        frame.f_trace_lines = False
        return seen

    def seen(frame, event, arg):
        if event == "exception" and issubclass(arg[0], MemoryError):  # even one the libraries catch
            stop()
            reply({"over": "memory", "calls": calls})
        return seen

    def stop():
        sys.setprofile(None)
        sys.settrace(None)

    sys.settrace(watch)
    sys.setprofile(count)
    try:
        ok = _match(parse, verify, gold, pred)
    except MemoryError:
        stop()
        reply({"over": "memory", "calls": calls})
    except BaseException as e:  # noqa: BLE001 - math-verify catches its own; anything else is an error
        stop()
        reply({"error": f"{type(e).__name__}: {e}"[:500]})
    stop()
    reply({"match": ok, "calls": calls})


def _run(req: dict, cfg: dict, parse, verify) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        _child(req, cfg, parse, verify, w)
        os._exit(70)
    os.close(w)
    deadline = time.monotonic() + float(cfg["wall_s"])
    data, killed = b"", False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if killed:
        return {"over": "wall"}
    if data:
        try:
            return json.loads(data)
        except ValueError:
            return {"fault": "an unreadable reply from the child"}
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return {"over": "cpu"}  # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one
    if os.WIFSIGNALED(status):
        return {"error": f"the child was killed by signal {os.WTERMSIG(status)}"}
    return {"error": f"the child exited with status {os.WEXITSTATUS(status)} without a reply"}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    proto = os.dup(1)  # the protocol's channel; fd 1 itself goes nowhere (libraries may print)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    import logging

    logging.disable(logging.CRITICAL)  # math-verify warns once that its timeouts are off: they are meant to be
    import random

    import sympy.core.random
    from math_verify import parse, verify

    def reseed():  # sympy tests equality at random points: seeded from os.urandom unless told
        random.seed(0)
        sympy.core.random.seed(0)

    reseed()
    for gold, pred in WARMUP:  # the state every request starts from: the same in every server
        _match(parse, verify, gold, pred)
    reseed()
    gc.collect()
    gc.freeze()
    os.write(proto, b'{"ready": true}\n')
    stdin = sys.stdin.buffer
    for line in stdin:
        try:
            req = json.loads(line)
            out = _run(req, cfg, parse, verify) if isinstance(req, dict) else {"fault": "a request is a JSON object"}
        except Exception as e:  # noqa: BLE001 - one bad request never ends the server
            out = {"fault": f"server: {type(e).__name__}: {e}"[:500]}
        data = (json.dumps(out) + "\n").encode()
        while data:
            data = data[os.write(proto, data):]


if __name__ == "__main__":
    main()
