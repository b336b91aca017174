"""The EFA contract (EFAGen: "Executable Functional Abstractions: Inferring Generative Programs
for Advanced Math Problems", Khan et al.) and the checks that run outside the sandbox.

An EFA is a Python class `Problem`:
- `__init__(self, **params)` keeps the parameters;
- classmethod `original()` returns the seed problem's instance;
- classmethod `sample(rng: random.Random)` returns a new valid instance;
- `render() -> str` is the problem text;
- `solve()` is the answer: int, Fraction, float, str, or a tuple of them.
Only the standard library, `sympy` and `fractions` may be imported.
"""

from __future__ import annotations

import ast
import warnings

from codekiln.transforms import pyast
from codekiln.transforms.llm.parse import Unparseable, parse_python_block

CONTRACT = __doc__.split("\n\n", 1)[1].strip()
MEMBERS = ("__init__", "original", "sample", "render", "solve")
TESTS = ("is_extractable", "is_executable", "has_dof", "is_single_valued", "matches_original")
ALLOWED_IMPORTS = {"sympy", "fractions", "math", "random", "itertools", "functools", "collections",
                   "decimal", "numbers", "string", "statistics", "cmath", "operator", "typing", "dataclasses"}


class Invalid(Exception):
    """A candidate failed one of the tests (in order); `test` names it."""

    def __init__(self, test: str, reason: str):
        super().__init__(f"{test}: {reason}")
        self.test, self.reason = test, reason


def extract(text: str) -> str:
    """is_extractable: one Python block defining `Problem` with all five members, importing only
    what the contract allows. A bare program (no fence) is accepted too."""
    try:
        program = parse_python_block(text) if "```" in text else text
    except Unparseable as e:
        raise Invalid("is_extractable", str(e)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(program)
    except SyntaxError as e:
        raise Invalid("is_extractable", f"syntax error line {e.lineno}: {e.msg}") from None
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Problem"]
    if len(classes) != 1:
        raise Invalid("is_extractable", "no class named Problem" if not classes else "Problem defined twice")
    members = {n.name for n in classes[0].body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [m for m in MEMBERS if m not in members]
    if missing:
        raise Invalid("is_extractable", f"Problem lacks {', '.join(missing)}")
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        bad = [n for n in names if n not in ALLOWED_IMPORTS]
        if bad:
            raise Invalid("is_extractable", f"imports {bad[0]!r} (allowed: stdlib math modules, sympy, fractions)")
    return program
