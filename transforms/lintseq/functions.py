"""Programs from bare code files: the whole file, or each top-level function on its own.

A function alone usually needs its module's imports, so each function program is the module's
top-level import statements followed by the function (decorators included). Functions that still
use other module-level names fail the linter and are rejected with the findings, never guessed.
"""

from __future__ import annotations

import ast
import warnings

from codekiln.transforms import pyast


class NotPython(ValueError):
    pass


def top_level_functions(source: str) -> list[tuple[str, str]]:
    """[(function name, program text)] in source order."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(source)
    except (SyntaxError, ValueError) as e:
        raise NotPython(str(e)) from None
    lines = source.split("\n")

    def segment(node: ast.stmt) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(lines[first - 1:node.end_lineno]) + "\n"

    imports = "".join(segment(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.name, (imports + "\n\n" if imports else "") + segment(node)))
    return out
