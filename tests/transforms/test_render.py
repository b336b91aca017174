"""Canonical rendering of candidates (transforms/preferences/render.py) on the real HumanEval
problems and real StarCoder2 samples (EvalPlus completions: bodies to append to the prompt)."""

import ast
import gzip
import io
import json
import random
import signal
import tokenize
from pathlib import Path

import pytest
from codekiln.transforms.preferences.render import MAX_CHARS, Rendered, normalise_prompt, render
from codekiln.transforms.testgen.mutants import mutants

CORPORA = Path(__file__).resolve().parents[2] / "configs" / "corpora"  # bundled: HumanEval and StarCoder2's samples

with gzip.open(CORPORA / "humaneval.jsonl.gz", "rt") as f:
    PROBLEMS = [json.loads(line) for line in f]
with open(CORPORA / "starcoder2_humaneval_samples.jsonl") as f:
    SAMPLES = {r["task_id"]: r for r in map(json.loads, f)}
IDS = [p["task_id"] for p in PROBLEMS]


def reference(p: dict) -> str:
    return p["prompt"] + p["canonical_solution"]


def assert_canonical(r: Rendered, prompt: str) -> None:
    assert ast.parse(r.program)
    assert "\r" not in r.program and "\t" not in r.completion
    assert r.program.endswith("\n") and not r.program.endswith("\n\n")
    assert all(line == line.rstrip() for line in r.completion.split("\n"))
    assert not r.completion.startswith(prompt)
    if r.continues_prompt:
        assert r.program == normalise_prompt(prompt) + r.completion
        body = r.completion.split("\n\n")[0]  # the entry function's body comes before any extra
        assert body.strip() and "\n\n" not in body.rstrip("\n")
    else:
        assert r.program == r.completion


def messy(src: str, unit: str = "\t", docstrings: bool = True) -> str:
    """The same program as typed by someone else: `unit` per indentation level (docstrings
    re-indented so too, unless not `docstrings`: one with a "\\n" escape, as HumanEval/51's, is
    the same only with tabs), a comment and a blank line after every logical line, CRLF."""
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    ends = {t.start[0] for t in toks if t.type == tokenize.NEWLINE}
    depth, depths, docs = 0, {}, {}  # docs: continuation lines of docstrings, at their depth
    for prev, t in zip([None, *toks], toks, strict=False):
        depth += {tokenize.INDENT: 1, tokenize.DEDENT: -1}.get(t.type, 0)
        if t.type not in (tokenize.INDENT, tokenize.DEDENT):
            depths.setdefault(t.start[0], depth)
        if t.type == tokenize.STRING and (prev is None or prev.type in (
                tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)):
            docs.update(dict.fromkeys(range(t.start[0] + 1, t.end[0] + 1), depth))
    out = []
    for n, line in enumerate(src.split("\n"), 1):
        if n in depths:
            line = unit * depths[n] + line.lstrip(" ")
        elif docstrings and n in docs and line.startswith("    " * docs[n]):
            line = unit * docs[n] + line[4 * docs[n]:]
        out.append(line + ("  # note\r\n" if n in ends else ""))
    return "\r\n".join(out)


@pytest.mark.parametrize("task_id", IDS)
def test_reference_renders_the_same_from_every_form(task_id):
    p = PROBLEMS[IDS.index(task_id)]
    prompt, entry = p["prompt"], p["entry_point"]
    full = render(reference(p), prompt, entry)
    assert full.continues_prompt and full.program == prompt + full.completion
    assert_canonical(full, prompt)
    assert render(p["canonical_solution"], prompt, entry) == full  # EvalPlus-style body
    assert render(ast.unparse(ast.parse(reference(p))), prompt, entry) == full  # a mutant's style
    assert render(messy(reference(p)), prompt, entry) == full
    assert render(messy(reference(p), "  ", False), prompt, entry) == full
    assert render(full.program, prompt, entry) == full  # idempotent


@pytest.mark.parametrize("task_id", IDS[::8])
def test_reference_and_its_mutants_share_the_style(task_id):
    p = PROBLEMS[IDS.index(task_id)]
    prompt, entry = p["prompt"], p["entry_point"]
    ref = render(reference(p), prompt, entry)
    ref_lines, checked = ref.completion.split("\n"), 0
    for _, src in mutants(reference(p), 8, random.Random(0)):
        m = render(src, prompt, entry)
        if m is None or not m.continues_prompt:  # a mutation of the prompt's part (say, its docstring)
            continue
        checked += 1
        assert_canonical(m, prompt)
        assert render(messy(m.program), prompt, entry) == m
        lines = m.completion.split("\n")
        if len(lines) == len(ref_lines):  # a mutation changes its line only
            assert sum(a != b for a, b in zip(lines, ref_lines, strict=True)) <= 2
    assert checked


def test_starcoder2_samples_continue_the_prompt():
    counts = {"continues": 0, "full": 0, "unparsable": 0}
    for p in PROBLEMS:
        prompt, entry = p["prompt"], p["entry_point"]
        body = SAMPLES[p["task_id"]]["completion"]
        r = render(body, prompt, entry)
        if r is None:
            counts["unparsable"] += 1
            continue
        counts["continues" if r.continues_prompt else "full"] += 1
        assert_canonical(r, prompt)
        assert render(prompt + body, prompt, entry) == r  # the same sample as a full program
        assert render(messy(prompt + body), prompt, entry) == r
        assert render(messy(prompt + body, "  ", False), prompt, entry) == r
        assert render(r.program, prompt, entry) == r
    print(counts)
    assert counts["continues"] >= 0.95 * len(PROBLEMS), counts


def passes(program: str, p: dict) -> bool:
    """HumanEval's verdict, in process (the reference and these samples are trusted)."""
    def alarm(*_):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(10)
    try:
        ns: dict = {}
        exec(compile(program + "\n" + p["test"], "<candidate>", "exec"), ns)
        ns["check"](ns[p["entry_point"]])
        return True
    except Exception:
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


EXEC_IDS = [t for t in IDS[:24] if t != "HumanEval/18"]  # 18's sample loops on `while True`


@pytest.mark.parametrize("task_id", EXEC_IDS)
def test_behaviour_is_preserved(task_id):
    p = PROBLEMS[IDS.index(task_id)]
    prompt, entry = p["prompt"], p["entry_point"]
    sample = prompt + SAMPLES[task_id]["completion"]
    helper_first = "import math\n\ndef _unused(x):\n    return math.floor(x)\n" + messy(reference(p))
    for original in (reference(p), sample, helper_first):
        r = render(original, prompt, entry)
        assert r.continues_prompt
        assert passes(r.program, p) == passes(original, p)
    assert passes(render(reference(p), prompt, entry).program, p)


def test_behaviour_verdicts_cover_pass_and_fail():
    verdicts = {passes(prompt + SAMPLES[t]["completion"], p)
                for t in EXEC_IDS for p in [PROBLEMS[IDS.index(t)]] for prompt in [p["prompt"]]}
    assert verdicts == {True, False}


P0 = PROBLEMS[0]
PROMPT0, ENTRY0, BODY0 = P0["prompt"], P0["entry_point"], P0["canonical_solution"]


HEADER0 = "from typing import List\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
DOC0 = ast.get_docstring(ast.parse(reference(P0)).body[-1], clean=False)


def test_a_restated_function_gives_the_body_only_completion():
    llm = HEADER0 + "    '''" + DOC0 + "'''\n\n    # the answer\n" + BODY0.replace("\n\n", "\n\n\n")
    assert render(llm, PROMPT0, ENTRY0) == render(BODY0, PROMPT0, ENTRY0)
    reindented = HEADER0 + '    """' + DOC0.replace("\n    ", "\n        ") + '"""\n' + BODY0
    assert render(reindented, PROMPT0, ENTRY0) == render(BODY0, PROMPT0, ENTRY0)


def test_extras_move_after_the_entry_function():
    helpers = "import math\nimport itertools as it\n\ndef _gap(a, b):\n    return abs(a - b)\n\n"
    tail = "\n\nSENTINEL = _gap(1, 2)\nif __name__ == '__main__':\n    print(SENTINEL)\n"
    r = render(helpers + reference(P0) + tail, PROMPT0, ENTRY0)
    assert r.continues_prompt
    body = render(BODY0, PROMPT0, ENTRY0).completion
    assert r.completion == (body + "\nimport math\n\nimport itertools as it\n\ndef _gap(a, b):\n    return abs(a - b)\n"
                            "\nSENTINEL = _gap(1, 2)\n\nif __name__ == '__main__':\n    print(SENTINEL)\n")


@pytest.mark.parametrize("before", [
    "print('side effect')\n",  # executable code whose order matters
    "LIMIT = 3\n",
    "class Helper:\n    pass\n",  # class bodies run when defined
    "from __future__ import annotations\n",
    "from math import *\n",
    "from math import floor as List\n",  # rebinds a name the prompt binds
    "def _h(x=print('hi')):\n    return x\n",  # a default that calls
    "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    return True\n",
])
def test_extras_that_may_change_behaviour_select_the_full_form(before):
    src = before + reference(P0)
    r = render(src, PROMPT0, ENTRY0)
    assert not r.continues_prompt
    assert r.program == r.completion == ast.unparse(ast.parse(src)) + "\n"


def test_a_name_needed_at_definition_time_keeps_the_full_form():
    p = PROBLEMS[32]  # prompt: import math, def poly(...), def find_zero(...)
    src = "def _pi(x=math.pi):\n    return x\n" + reference(p)  # reads math, bound by a later import
    assert not render(src, p["prompt"], p["entry_point"]).continues_prompt
    src = "import cmath\n\ndef _pi(x=cmath.pi):\n    return x\n" + reference(p)
    assert render(src, p["prompt"], p["entry_point"]).continues_prompt


@pytest.mark.parametrize("src", [
    reference(P0).replace("threshold: float", "threshold"),  # another signature
    reference(P0).replace("Check if in given list", "Check whether in given list"),  # another docstring
    reference(P0).replace("from typing import List", "from typing import List, Tuple"),
    HEADER0 + BODY0,  # the docstring left out
])
def test_a_candidate_disagreeing_with_the_prompt_gets_the_full_form(src):
    assert src != reference(P0)
    r = render(src, PROMPT0, ENTRY0)
    assert r is not None and not r.continues_prompt
    assert r.program == ast.unparse(ast.parse(src)) + "\n"


def test_natural_language_prompt():
    prompt = "Write a function that returns True if any two numbers are closer than the threshold.\n"
    r = render(reference(P0), prompt, ENTRY0)
    assert r == Rendered(ast.unparse(ast.parse(reference(P0))) + "\n",
                         ast.unparse(ast.parse(reference(P0))) + "\n", False)
    assert_canonical(r, prompt)
    assert render(BODY0, prompt, ENTRY0) is None  # a body needs a code prompt


def test_prompt_without_docstring_or_final_newline():
    r = render("def add(a, b):\n  # adds\n  return a+b\n", "def add(a, b):\n", "add")
    assert r == Rendered("def add(a, b):\n    return a + b\n", "    return a + b\n", True)
    assert render("\n    return a+b\n", "def add(a, b):\n", "add") == r
    prompt = PROMPT0.rstrip("\n")
    r = render(reference(P0), prompt, ENTRY0)
    assert r.continues_prompt and r.completion == "\n" + render(BODY0, PROMPT0, ENTRY0).completion
    assert r.program == prompt + r.completion and ast.parse(r.program)


def test_prompt_with_crlf_and_tabs_is_normalised_and_continued():
    lines = PROMPT0.split("\n")
    prompt = "\r\n".join("\t" * ((len(s) - len(s.lstrip(" "))) // 4) + s.lstrip(" ") for s in lines)
    assert normalise_prompt(prompt) == PROMPT0
    assert normalise_prompt("a\rb\r\n\t  c\td\n") == "a\nb\n      c\td\n"
    r = render(BODY0, prompt, ENTRY0)
    assert r == render(BODY0, PROMPT0, ENTRY0) and r.continues_prompt


def test_a_program_that_does_not_parse_or_is_too_big_is_refused():
    assert render("def has_close_elements(:\n", PROMPT0, ENTRY0) is None
    assert render("    return (\n", PROMPT0, ENTRY0) is None
    assert render("", "Write a function.", "f") is None
    assert render("x = 1\n" * (MAX_CHARS // 6 + 1), PROMPT0, ENTRY0) is None
    assert render("x = " + "(" * 300 + "1" + ")" * 300 + "\n", PROMPT0, ENTRY0) is None
    deep = render("x = " + "-" * 20_000 + "1\n", "Write a function.", "f")  # parser or unparser limits
    assert deep is None or ast.parse(deep.program)
    assert render("x = 1\0\n", PROMPT0, ENTRY0) is None


def test_docstrings_of_the_candidate_are_reindented_where_rendered():
    src = ("def add(a, b):\n"
           "\tdef inner(x):\n\t\t'''Twice x.\n\n\t\tPlain.\n\t\t  Indented.   \n\t\t'''\n\t\treturn 2 * x\n"
           "\tif a:\n\t\tpass\n\telif b:\n\t\tclass K:\n\t\t\t'''K.\n\t\t\tdoc'''\n"
           "\treturn inner(a) + b\n"
           "def helper():\n  '''Help.\n\n  more\n  '''\n")
    r = render(src, "def add(a, b):\n", "add")
    assert r.continues_prompt
    assert r.completion == (
        '    def inner(x):\n        """Twice x.\n\n        Plain.\n          Indented.\n        """\n        return 2 * x\n'
        '    if a:\n        pass\n    elif b:\n        class K:\n            """K.\n            doc"""\n'
        '    return inner(a) + b\n\ndef helper():\n    """Help.\n\n    more\n    """\n')
