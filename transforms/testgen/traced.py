"""The reference's work on one input, counted instead of timed, and the branches it took.

Which inputs a suite keeps must not depend on how busy the machine was, so a reference's cost on
an input is the number of Python trace events it causes (calls and lines, in every frame), not a
duration: the same program, input and hash seed (the sandbox fixes it) give the same count on any
machine. Inputs past `max_steps` are dropped as too slow, deterministically. The same trace
records the arcs (line -> next line) the reference's own code took: its branch coverage, which
suite reduction uses to keep tests that exercise paths the mutants did not.

The probe runs in the sandbox like any other (the reference is as untrusted as any program); the
host decodes `(value, steps, arcs)` strictly and checks its shape.
"""

from __future__ import annotations

from codekiln.transforms.execution import values
from codekiln.transforms.execution.sandbox import Probe

SETUP = '''
import sys as __ck_sys

class __CkSteps(BaseException):
    pass

def __ck_traced(__ck_thunk, __ck_limit):
    n, arcs = [0], set()

    def local(frame, event, arg):
        n[0] += 1
        if n[0] > __ck_limit:
            raise __CkSteps()
        return local

    def glob(frame, event, arg):
        n[0] += 1
        if n[0] > __ck_limit:
            raise __CkSteps()
        if frame.f_code.co_filename != "<program>":
            return local
        prev = [-frame.f_code.co_firstlineno]

        def mine(frame, event, arg):
            n[0] += 1
            if n[0] > __ck_limit:
                raise __CkSteps()
            if event == "line":
                arcs.add((prev[0], frame.f_lineno))
                prev[0] = frame.f_lineno
            elif event == "return":
                arcs.add((prev[0], -frame.f_code.co_firstlineno))
            return mine
        return mine

    __ck_sys.settrace(glob)
    try:
        value = __ck_thunk()
    finally:
        __ck_sys.settrace(None)
    if n[0] > __ck_limit:  # the program swallowed the signal: still too slow
        raise __CkSteps()
    return (value, n[0], sorted(arcs))
'''

def probe(call: str, max_steps: int) -> Probe:
    return Probe(f"__ck_traced(lambda: {call}, {int(max_steps)})", SETUP)


def probes(calls: list[str], max_steps: int) -> Probe:
    """Several traced calls in one process (each counted on its own; `values` has one record each)."""
    exprs = [f"__ck_traced(lambda: {c}, {int(max_steps)})" for c in calls]
    return Probe(exprs[0], SETUP, tuple(exprs[1:]))


def records(test: dict, n: int) -> list[dict]:
    """The per-call records of a test made by `probes` (the test's own failure for every call
    when it did not run)."""
    got = test.get("values")
    if isinstance(got, list) and len(got) == n:
        return got
    if n == 1 and test.get("verdict") == "passed" and "value" in test:
        return [test]
    return [test if test.get("verdict") != "passed" else {"verdict": "failed", "type": "Harness"}] * n


def too_slow(test: dict) -> bool:
    return "CkSteps" in str(test.get("type") or "")


def decode(raw: str):
    """(value, steps, arcs) from a traced probe's wire value; NonData if it is not that shape."""
    got = values.decode(raw)
    if not (isinstance(got, tuple) and len(got) == 3 and isinstance(got[1], int) and isinstance(got[2], list)):
        raise values.NonData("not a traced result")
    arcs = got[2]
    if not all(isinstance(a, tuple) and len(a) == 2 and all(type(x) is int for x in a) for a in arcs):
        raise values.NonData("not a traced result")
    return got[0], got[1], frozenset(arcs)


def agrees(value, expected) -> bool:
    """The generated tests' rule, judged here: floats within `values.close`, all else `==`."""
    try:
        return bool(values.close(value, expected) if values.has_float(expected) else value == expected)
    except (RecursionError, MemoryError, TypeError, ValueError):
        return False


def verdict(record: dict, expected) -> str:
    """A program's traced answer on one input against the reference's: `passed`, `too_slow`
    (past its step budget: counted, so the same on every machine), or why it failed."""
    if record.get("verdict") != "passed":
        return "too_slow" if too_slow(record) else record.get("verdict") or "failed"
    try:
        value, _, _ = decode(record["value"])
    except values.NonData:
        return "failed"
    return "passed" if agrees(value, expected) else "failed"
