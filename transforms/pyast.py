"""`ast.parse` (and compiling an AST object) safe under threads.

CPython 3.11 keeps the AST converter's recursion depth in per-interpreter state, so two threads
converting at once (Beam's multi_threading mode, the worker harness threads of Dataflow) can fail
with a spurious `SystemError: AST constructor recursion depth mismatch` (python/cpython#106905 and
kin). Every in-process conversion goes through one lock per process; the sandbox's own code runs
single-threaded in its own processes and needs none.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source, *args, **kwargs) -> ast.AST:
    with _LOCK:
        return ast.parse(source, *args, **kwargs)


def compile_tree(tree: ast.AST, filename: str, mode: str):
    with _LOCK:
        return compile(tree, filename, mode)


def literal_eval(node_or_string):
    """`ast.literal_eval`, parsing a string under the lock (the walk itself is plain Python)."""
    if isinstance(node_or_string, str):
        node_or_string = parse(node_or_string.lstrip(" \t"), mode="eval")
    return ast.literal_eval(node_or_string)
