"""Benchmark items disguised the way contamination arrives (tests and benchmarks/dedup_bench.py)."""

import ast
import io
import tokenize


def rename_identifiers(src: str) -> str:
    """Every name the code binds (functions, arguments, assigned names) renamed, token by token."""
    names = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    mapping = {n: f"q{i}_{n[::-1]}" for i, n in enumerate(sorted(names))}
    toks = [t._replace(string=mapping.get(t.string, t.string)) if t.type == tokenize.NAME else t
            for t in tokenize.generate_tokens(io.StringIO(src).readline)]
    return tokenize.untokenize(toks)
