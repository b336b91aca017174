"""LintSeq: units, linter, walks and the invariants, including property-based tests."""

import ftplib
import random
from collections import Counter
from pathlib import Path

import pytest
from codekiln.pipelines.config import ConfigError, parse_params
from codekiln.pipelines.kinds import KINDS
from codekiln.transforms.lintseq import (
    Job,
    ProgramRejected,
    Ruff,
    apply_edits,
    completion_edits,
    lintseq_batch,
    sample_edit_paths,
)
from codekiln.transforms.lintseq.beam import LintSeqFn, LintSeqParams
from codekiln.transforms.lintseq.core import _Fenwick, _forward_hunks, hunks, training_text
from codekiln.transforms.lintseq.functions import top_level_functions
from codekiln.transforms.lintseq.linter import syntax_error
from codekiln.transforms.lintseq.program import Program
from codekiln.transforms.stage import Reject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import humaneval


@pytest.fixture(scope="module")
def ruff():
    with Ruff() as r:
        yield r


def assert_invariants(program: str, paths, ruff: Ruff, start: str = "") -> None:
    """Replays exactly; insertion-only; every state parses and is lint-clean; ends at the program."""
    for path in paths:
        assert path.start == start
        assert apply_edits(path.edits, start) == program
        assert path.states[0] == start and path.states[-1] == program
        for k, edit in enumerate(path.edits):
            assert edit.startswith("@@ -")
            assert not any(line.startswith("-") for line in edit.split("\n"))
            assert apply_edits(path.edits[:k + 1], start) == path.states[k + 1]
        for state in path.states:
            assert syntax_error(state) is None, state
        assert all(f == () for f in ruff.check_many(path.states)), path.states


# -- units ---------------------------------------------------------------------------------


def test_units_blocks_depths_and_attached_comments():
    src = ("import os\n"
           "\n"
           "# helper\n"
           "@decorator\n"
           "def f(a,\n"
           "      b):\n"
           "    '''doc\n"
           "    string'''\n"
           "    for x in a:\n"
           "        if x:\n"
           "            return x\n"
           "    return b\n"
           "# trailing\n")
    prog = Program(src)
    codes = [prog.lines[u.code].strip() for u in prog.units]
    assert codes == ["import os", "@decorator", "def f(a,", "'''doc", "for x in a:", "if x:",
                     "return x", "return b"]
    assert prog.units[1].start == 1  # the blank line and the comment travel with the decorator
    assert prog.units[2].end - prog.units[2].code == 2  # a two-line header is one unit
    assert prog.depth == [0, 0, 0, 1, 1, 2, 3, 1]
    assert [prog.weight(i) for i in range(len(prog))] == [1, 1, 1, 1, 1, 2, 3, 1]
    assert prog.block_end[1] == 8 and prog.block_end[2] == 8  # decorator takes the function along
    assert prog.block_end[4] == 7 and prog.block_end[6] == 7
    assert prog.units[-1].end == len(prog.lines)  # the trailing comment goes with the last unit
    assert prog.text(range(len(prog))) == src


def test_hunks_are_zero_context_insertions():
    prog = Program("a = 1\nb = 2\nc = 3\nd = 4")  # no newline at the end
    full = frozenset(range(4))
    edit = hunks(prog, frozenset({1}), full)
    assert edit == ("@@ -0,0 +1,1 @@\n+a = 1\n"
                    "@@ -1,0 +3,2 @@\n+c = 3\n+d = 4\n\\ No newline at end of file\n")
    assert apply_edits([edit], "b = 2\n") == prog.source
    assert training_text("Write it.", ["E1\n", "E2\n"]) == "Write it.\n<|diff|>\nE1\n<|diff|>\nE2\n"


# -- the linter ----------------------------------------------------------------------------


def test_linter_rules_and_batching(ruff):
    texts = ["def f():\n    return x\n", "import os\nx = 1\n", "break\n", "return 1\n",
             "def g():\n    nonlocal q\n", "y = 1\n", ""]
    calls = ruff.calls
    found = ruff.check_many(texts)
    assert ruff.calls == calls + 1  # one ruff process for the whole batch
    assert [[f.code for f in fs] for fs in found] == [["F821"], [], ["F701"], ["F706"], ["PLE0117"], [], []]
    assert ruff.check_one(texts[0]) == found[0]
    assert ruff.check_many(texts[:1]) == found[:1] and ruff.calls == calls + 2  # cached, no new call


# -- walks ---------------------------------------------------------------------------------


def test_humaneval_sample_invariants_and_determinism(ruff):
    for rec in humaneval():
        program = rec["prompt"] + rec["canonical_solution"]
        paths = sample_edit_paths(program, 5, seed=7, source_id=rec["task_id"], ruff=ruff)
        indices = [p.path_index for p in paths]
        assert 1 <= len(paths) <= 5 and indices == sorted(indices) and indices[0] == 0 and max(indices) < 20
        assert len({tuple(p.edits) for p in paths}) == len(paths)  # distinct sequences, never copies
        assert_invariants(program, paths, ruff)
        again = sample_edit_paths(program, 5, seed=7, source_id=rec["task_id"], ruff=ruff)
        assert [p.edits for p in again] == [p.edits for p in paths]
        if len(Program(program)) >= 6:  # room for different paths
            assert len(paths) > 1


def paths_first_walk(program: str, ruff) -> list[str]:
    (paths,) = lintseq_batch([Job(program, "two", 1, 0)], ruff)
    return paths[0].edits


def test_walks_go_on_until_the_paths_are_distinct_or_the_tries_are_spent(ruff):
    """A two-statement program has exactly two orders of insertion: asked for five distinct paths
    it gives those two, after spending its tries; with enough room it gives five."""
    two = "a = 1\nb = 2\n"
    (paths,) = lintseq_batch([Job(two, "two", 5, 0)], ruff)
    assert sorted(tuple(p.edits) for p in paths) == sorted(
        [("@@ -0,0 +1,1 @@\n+a = 1\n", "@@ -1,0 +2,1 @@\n+b = 2\n"),
         ("@@ -0,0 +1,1 @@\n+b = 2\n", "@@ -0,0 +1,1 @@\n+a = 1\n")])
    # two walks that happen to agree, and no more tries: one path (tries are never below paths)
    (capped,) = lintseq_batch([Job(two, "two", 2, 0, tries=2)], ruff)
    assert len(capped) == 1 and capped[0].edits == paths_first_walk(two, ruff)
    many = "".join(f"v{i} = {i}\n" for i in range(8))
    (paths,) = lintseq_batch([Job(many, "many", 5, 0)], ruff)
    assert len(paths) == 5 and len({tuple(p.edits) for p in paths}) == 5


def test_lockstep_and_per_check_give_the_same_paths(ruff):
    jobs = [Job(r["prompt"] + r["canonical_solution"], r["task_id"], 3, 1) for r in humaneval(8)]
    batched = lintseq_batch(jobs, ruff)
    one_by_one = lintseq_batch(jobs, ruff, per_check=True)
    assert [[p.edits for p in paths] for paths in batched] == [[p.edits for p in paths] for paths in one_by_one]
    alone = lintseq_batch(jobs[3:4], ruff)  # batch composition does not change a path
    assert [p.edits for p in alone[0]] == [p.edits for p in batched[3]]


def test_max_edits_cuts_into_a_final_jump(ruff):
    rec = humaneval(1)[0]
    program = rec["prompt"] + rec["canonical_solution"]
    full = {p.path_index: p for p in sample_edit_paths(program, 3, seed=0, ruff=ruff)}
    capped = sample_edit_paths(program, 3, seed=0, ruff=ruff, max_edits=2)
    for c in capped:  # the same walks, cut (cut paths can coincide: then the next walk is taken)
        if c.path_index in full:
            f = full[c.path_index]
            assert len(c.edits) == min(2, len(f.edits)) and c.edits[0] == f.edits[0]
        assert len(c.edits) <= 2 and apply_edits(c.edits) == program


@pytest.mark.parametrize("program, reason", [
    ("", "empty_program"),
    ("   \n\n", "empty_program"),
    ("# only a comment\n", "empty_program"),
    ("This is prose, not Python.\n", "syntax_error"),
    ("def f(:\n", "syntax_error"),
    ("def f():\n    return undefined_name\n", "lint_errors"),
])
def test_programs_that_cannot_start_are_rejected(program, reason, ruff):
    with pytest.raises(ProgramRejected) as e:
        sample_edit_paths(program, 2, ruff=ruff)
    assert e.value.reason == reason
    if reason == "lint_errors":
        assert "F821" in e.value.detail and "undefined_name" in e.value.detail


def test_top_level_functions_bring_the_imports():
    src = "import os\nfrom x import y\n\nCONST = 1\n\n@dec\ndef a():\n    return os.sep\n\nclass K:\n    def m(self): pass\n\nasync def b():\n    pass\n"
    funcs = top_level_functions(src)
    assert [n for n, _ in funcs] == ["a", "b"]
    assert funcs[0][1] == "import os\nfrom x import y\n\n\n@dec\ndef a():\n    return os.sep\n"


# -- property-based: random well-formed programs -------------------------------------------

NAMES = ["a", "b", "c", "d"]


@st.composite
def programs(draw, depth=0):
    """Small programs mixing definitions, blocks, comments, blank lines and multi-line values."""
    lines, defined = [], set()
    indent = "    " * depth
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["assign", "use", "if", "for", "def", "comment", "blank", "multiline"]))
        name = draw(st.sampled_from(NAMES))
        if kind == "assign":
            lines.append(f"{indent}{name} = {draw(st.integers(0, 9))}")
            defined.add(name)
        elif kind == "use" and defined:
            lines.append(f"{indent}print({draw(st.sampled_from(sorted(defined)))})")
        elif kind in ("if", "for", "def") and depth < 2:
            header = {"if": f"if {draw(st.booleans())}:", "for": f"for {name} in range(3):",
                      "def": f"def fn_{name}{depth}():"}[kind]
            body = draw(programs(depth=depth + 1))
            lines.append(indent + header)
            lines.extend(body)
        elif kind == "comment":
            lines.append(f"{indent}# note {name}")
        elif kind == "blank":
            lines.append("")
        elif kind == "multiline":
            lines.append(f"{indent}{name} = [\n{indent}    1,\n{indent}    2,\n{indent}]")
            defined.add(name)
    if not any(x.strip() and not x.strip().startswith("#") for x in lines):
        lines.append(f"{indent}pass")
    if depth:
        return lines
    end = draw(st.sampled_from(["\n", ""]))
    return "\n".join(lines) + end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 10_000))
def test_property_invariants_on_random_programs(program, seed):
    if syntax_error(program) is not None or not Program(program).units:
        return  # e.g. a comment-only draw: not a program (the rejects above cover it)
    with Ruff() as r:
        try:
            paths = sample_edit_paths(program, 3, seed=seed, ruff=r)
        except ProgramRejected as e:
            assert e.reason == "lint_errors"  # e.g. a name used in a def before any assignment
            return
        assert_invariants(program, paths, r)


# -- views: the program linted in parts (layout.py) ----------------------------------------


MODULE = """import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from x import Y

try:
    import json
except ImportError as e:
    json = None

_tmp = 1
del _tmp


class K:
    z = 1

    def m(self):
        return os.sep

    @property
    def p(self):
        return self.m()


def f(a):
    def g():
        return a
    return g


def h():
    global COUNT
    COUNT = 1


if os:
    def inner():
        return 2
"""


def test_layout_regions_chunks_and_order_dependent_names():
    prog = Program(MODULE)
    L = prog.layout
    code = [prog.lines[u.code].strip() for u in prog.units]
    assert L.regular and len(L.chunk_start) == 10  # one per top-level statement
    regions = sorted(code[d] for d in L.region_def)
    assert regions == ["def f(a):", "def m(self):", "def p(self):"]  # not h (global), not inner (under if)
    m = L.region_def[[code[d] for d in L.region_def].index("def m(self):")]
    assert [code[u] for u in L.region_chain[L.region_of_def[m]]] == ["class K:"]
    assert L.region[code.index("return g")] == L.region_of_def[code.index("def f(a):")]  # nested def inside
    assert L.exotic == {"e", "_tmp"}  # `except ... as` and a module-level `del`
    binds = {code[u]: b for u, b in enumerate(L.binds) if b}
    assert binds["import os"] == ("os",) and binds["from x import Y"] == ("Y",)
    assert binds["global COUNT"] == ("COUNT",) and binds["class K:"] == ("K",)
    assert "z = 1" not in binds and "return a" not in binds  # class and function scopes are not the module's
    inert = {c for c, a, b in zip(code, L.always, L.local, strict=True) if not a and not b}  # never need ruff
    assert dict(zip(code, L.local, strict=True))["return g"] == () and L.local[code.index("_tmp = 1")] == ("_tmp",)
    assert {"return os.sep", "return self.m()", "return 2"} <= inert
    assert not inert & {"def f(a):", "_tmp = 1", "except ImportError as e:", "import os", "global COUNT", "del _tmp"}


def test_views_give_the_plain_algorithms_paths_on_humaneval(ruff):
    """On HumanEval the views decide exactly as linting every state whole does."""
    jobs = [Job(r["prompt"] + r["canonical_solution"], r["task_id"], 3, 2) for r in humaneval(20)]
    views = lintseq_batch(jobs, ruff)
    whole = lintseq_batch(jobs, ruff, whole_program=True)
    assert [[p.edits for p in ps] for ps in views] == [[p.edits for p in ps] for ps in whole]


def test_views_on_module_level_code_keep_the_invariants(ruff):
    paths = sample_edit_paths(MODULE, 8, seed=3, ruff=ruff)
    assert_invariants(MODULE, paths, ruff)


def test_forward_hunks_match_hunks_of_whole_states():
    prog = Program(MODULE + "x = 1")  # and a last line without a newline
    rng = random.Random(0)
    order = list(range(len(prog)))
    rng.shuffle(order)
    cuts = sorted(rng.sample(range(1, len(order)), 6)) + [len(order)]
    inserts, states, k = [], [frozenset()], 0
    for c in cuts:
        inserts.append(order[k:c])
        states.append(states[-1] | set(order[k:c]))
        k = c
    assert _forward_hunks(prog, inserts) == [hunks(prog, a, b) for a, b in zip(states, states[1:], strict=False)]


def test_fenwick_prefix_and_find():
    rng = random.Random(1)
    values = [rng.randrange(4) for _ in range(57)]
    tree = _Fenwick(values)
    for _ in range(30):
        i = rng.randrange(len(values))
        delta = rng.choice([-values[i], 1, 2]) if values[i] else 3
        values[i] += delta
        tree.add(i, delta)
        assert all(tree.prefix(j) == sum(values[:j]) for j in range(len(values) + 1))
        for r in range(sum(values)):
            assert tree.find(r) == next(j for j in range(len(values)) if sum(values[:j + 1]) > r)


# -- bounded work --------------------------------------------------------------------------


def lintseq_fn(records, **params):
    fn = LintSeqFn(LintSeqParams(**params))
    fn.setup()
    try:
        return fn(records)
    finally:
        fn.teardown()


def test_a_program_over_the_line_cap_is_too_large(ruff):
    program = "".join(f"x{i} = {i}\n" for i in range(30))
    with pytest.raises(ProgramRejected) as e:
        sample_edit_paths(program, 2, ruff=ruff, max_lines=29)
    assert e.value.reason == "too_large"
    assert "30 lines" in e.value.detail and "29" in e.value.detail and "max_program_lines" in e.value.detail
    assert len(sample_edit_paths(program, 2, ruff=ruff, max_lines=30)) == 2  # at the cap: fine
    record = {"id": "r", "source_id": "s", "prompt": "", "solution": program}
    (out,) = lintseq_fn([record], max_program_lines=29)
    assert isinstance(out, Reject) and out.reason == "too_large" and "30 lines" in out.detail
    (rows,) = lintseq_fn([record], max_program_lines=0)  # 0: no cap
    assert len(rows) == 5


def test_over_budget_is_budget_exceeded_counted_not_timed(ruff):
    rec = humaneval(4)[3]
    program = rec["prompt"] + rec["canonical_solution"]
    stats = Counter()
    (paths,) = lintseq_batch([Job(program, rec["task_id"], 3, 0)], ruff, stats=stats)
    need = stats["checked_lines"]  # the counted work of all 3 paths
    assert need > 0 and len(paths) == 3
    others = [Job(r["prompt"] + r["canonical_solution"], r["task_id"], 3, 0) for r in humaneval(3)]
    for budget, fits in ((need, True), (need - 1, False)):
        job = Job(program, rec["task_id"], 3, 0, budget=budget)
        runs = [lintseq_batch([job], ruff)[0], lintseq_batch(others + [job], ruff)[-1],
                lintseq_batch([job], ruff, per_check=True)[0], lintseq_batch([job], Ruff())[0]]  # cold cache too
        for result in runs:
            if fits:
                assert [p.edits for p in result] == [p.edits for p in paths]
            else:
                assert isinstance(result, ProgramRejected) and result.reason == "budget_exceeded"
                assert result.detail == runs[0].detail and str(need - 1) in result.detail
    record = {"id": "r", "source_id": rec["task_id"], "prompt": "", "solution": program}
    out = lintseq_fn([record, record], max_checked_lines=need - 1, paths_per_program=3)
    assert all(isinstance(o, Reject) and o.reason == "budget_exceeded" for o in out)


def test_the_wall_clock_backstop_is_its_own_reason(ruff):
    rec = humaneval(1)[0]
    (result,) = lintseq_batch([Job(rec["prompt"] + rec["canonical_solution"], "t", 2, 0)], ruff,
                              backstop_seconds=1e-9)
    assert isinstance(result, ProgramRejected) and result.reason == "timeout"


def test_a_thousand_line_module_completes(ruff):
    program = Path(ftplib.__file__).read_text(encoding="utf-8")  # ~1,000 lines: classes, try/except, del
    assert 900 < program.count("\n") < 2000
    stats = Counter()
    (paths,) = lintseq_batch([Job(program, "ftplib", 2, 0)], ruff, stats=stats)
    assert stats["checked_lines"] <= LintSeqParams().max_checked_lines
    for path in paths:
        assert len(path.edits) > 50 and apply_edits(path.edits) == program
        states = path.states
        sample = states[::7] + [states[-2]]
        assert all(syntax_error(s) is None for s in sample)
        assert all(f == () for f in ruff.check_many(sample))


@pytest.mark.parametrize("key, value", [("max_program_lines", -1), ("max_checked_lines", -5),
                                        ("max_checked_lines", 1.5), ("backstop_seconds", -1),
                                        ("backstop_seconds", "soon")])
def test_new_params_are_validated_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        LintSeqParams(**{key: value})
    with pytest.raises(ConfigError) as e:
        parse_params(KINDS["lintseq"], {key: value}, "params")
    assert key in str(e.value)


def test_param_defaults():
    p = LintSeqParams()
    assert (p.max_program_lines, p.max_checked_lines, p.backstop_seconds) == (2000, 2_000_000, 3600.0)


# -- property-based: random modules with classes, methods and module-level code ------------


@st.composite
def modules(draw):
    """Modules mixing what the views treat apart: functions, classes with methods, `global`,
    module-level `if`/`try`/`del`/`except ... as`, star imports, names bound late or early."""
    names = ["a", "b", "c", "e"]
    out = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["assign", "func", "class", "if", "try", "del", "star", "global", "use"]))
        n = draw(st.sampled_from(names))
        m = draw(st.sampled_from(names))
        if kind == "assign":
            out.append(f"{n} = 1")
        elif kind == "func":
            out.append(f"def f_{n}(x):\n    y = x\n    if y:\n        return {m}\n    return y")
        elif kind == "class":
            out.append(f"class K_{n}:\n    z = 1\n\n    def m(self):\n        return {m}\n\n"
                       f"    @staticmethod\n    def s():\n        w = {m}\n        return w")
        elif kind == "if":
            out.append(f"if True:\n    {n} = 2\nelse:\n    {m} = 3")
        elif kind == "try":
            out.append(f"try:\n    {n} = 4\nexcept Exception as {m}:\n    print({m})")
        elif kind == "del":
            out.append(f"{n} = 5\ndel {n}")
        elif kind == "star":
            out.append("from os import *")
        elif kind == "global":
            out.append(f"def g_{n}():\n    global {m}\n    {m} = 6\n    return {m}")
        else:
            out.append(f"print({n})")
    return "\n".join(out) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules(), st.integers(0, 10_000))
def test_property_invariants_on_random_modules(program, seed):
    with Ruff() as r:
        try:
            paths = sample_edit_paths(program, 3, seed=seed, ruff=r)
        except ProgramRejected as e:
            assert e.reason == "lint_errors"
            return
        assert_invariants(program, paths, r)


# -- starting from the prompt ----------------------------------------------------------------


def test_a_program_that_continues_its_prompt_is_edited_from_the_prompt(ruff):
    """HumanEval's prompt (imports, signature, docstring) is the start state: no edit re-writes it,
    every state keeps it as its beginning, and the invariants hold from there."""
    recs = humaneval(12)
    jobs = [Job(r["prompt"] + r["canonical_solution"], r["task_id"], 3, 0, prefix=r["prompt"]) for r in recs]
    for rec, job, paths in zip(recs, jobs, lintseq_batch(jobs, ruff), strict=True):
        assert_invariants(job.program, paths, ruff, start=rec["prompt"])
        prompt_lines = {line for line in rec["prompt"].splitlines() if line.strip()}
        for path in paths:
            assert all(state.startswith(rec["prompt"]) for state in path.states)
            written = {line[1:] for edit in path.edits for line in edit.splitlines() if line.startswith("+")}
            assert not (prompt_lines & written) - {line for line in rec["canonical_solution"].splitlines()}
    # the same program without the prefix is edited from nothing, as the paper does
    (paths,) = lintseq_batch([Job(jobs[0].program, recs[0]["task_id"], 3, 0)], ruff)
    assert_invariants(jobs[0].program, paths, ruff)


@pytest.mark.parametrize("prefix, why", [
    ("import os\n\n\ndef f(x):\n", "not a clean state alone (unused import, a header without a body)"),
    ("import os\n\n\ndef f(x):\n    # add\n    return (os.sep +\n", "ends inside a statement"),
    ("import sys\n", "not what the program starts with"),
])
def test_a_prompt_that_is_no_clean_start_state_falls_back_to_nothing(ruff, prefix, why):
    program = "import os\n\n\ndef f(x):\n    # add\n    return (os.sep +\n            x)\n"
    paths = sample_edit_paths(program, 3, seed=1, prefix=prefix, ruff=ruff)
    assert_invariants(program, paths, ruff)  # from the empty program: {why}


@pytest.mark.parametrize("prompt", [
    'def f(x):\n    """Add one."""\n\n    # the body:\n',  # a comment, then the body
    'def f(x):\n    """Add one."""\n\n\n',  # blank lines
])
def test_a_prompt_ending_in_comments_or_blank_lines_is_still_the_start(ruff, prompt):
    """Comment and blank lines travel with the code below them, except across the prompt's end."""
    program = prompt + "    y = x + 1\n    return y\n"
    paths = sample_edit_paths(program, 3, seed=2, prefix=prompt, ruff=ruff)
    assert_invariants(program, paths, ruff, start=prompt)


def test_a_walk_that_must_delete_a_prompt_line_redoes_the_program_from_nothing(ruff, monkeypatch):
    """If getting clean would delete a prompt unit, the start state cannot hold: the program's
    walks are redone unpinned (here forced by seeding a prompt unit), and still valid."""
    from codekiln.transforms.lintseq import core

    rec = humaneval(1)[0]
    program = rec["prompt"] + rec["canonical_solution"]
    real = core._Walk._delete_seed
    calls = Counter()

    def seed_a_prompt_unit_first(self):
        calls[self.pinned > 0] += 1
        if self.pinned:
            self._delete(0)  # what a linter finding on a prompt line would do
        else:
            real(self)

    monkeypatch.setattr(core._Walk, "_delete_seed", seed_a_prompt_unit_first)
    paths = sample_edit_paths(program, 2, seed=0, prefix=rec["prompt"], ruff=ruff)
    assert calls[True] == 2 and calls[False] > 0  # both pinned walks broke, the redo ran unpinned
    assert_invariants(program, paths, ruff)


def test_lintseq_rows_are_prompt_completion_pairs(ruff):
    """The Beam stage's rows: `text == prompt + completion`, the completion the edits after the
    diff token; `from_prompt: false` keeps the paper's from-nothing sequences (other ids)."""
    recs = humaneval(3)
    records = [{"id": r["task_id"], "source_id": r["task_id"], "prompt": r["prompt"],
                "solution": r["prompt"] + r["canonical_solution"]} for r in recs]
    rows = {}
    for from_prompt in (True, False):
        fn = LintSeqFn(LintSeqParams(paths_per_program=2, from_prompt=from_prompt))
        fn.setup()
        try:
            rows[from_prompt] = [row for out in fn(records) for row in out]
        finally:
            fn.teardown()
    for from_prompt, out in rows.items():
        per_program = {}
        for row in out:
            per_program.setdefault(row["source_id"], []).append(row)
        assert len(per_program) == 3
        assert all(len(v) == v[0]["distinct_paths"] <= 2 for v in per_program.values())
        assert len(out) > 3  # from the prompt, one program here has a single path
        for row in out:
            assert row["text"] == row["prompt"] + row["completion"]
            assert completion_edits(row["completion"]) == row["edits"]
            assert row["completion"].startswith("<|diff|>\n") and row["starts_from_prompt"] is from_prompt
            start = row["prompt"] if from_prompt else ""
            assert apply_edits(row["edits"], start) == row["program"]
    assert not {r["id"] for r in rows[True]} & {r["id"] for r in rows[False]}
    # from nothing, the first edits re-write the prompt's code; from the prompt, they never do
    assert sum(len(r["completion"]) for r in rows[False]) > sum(len(r["completion"]) for r in rows[True])
    # a bare instruction (no newline at its end) still gives text == prompt + completion
    fn = LintSeqFn(LintSeqParams(paths_per_program=1))
    fn.setup()
    try:
        (row,) = fn([{"id": "x", "source_id": "x", "prompt": "Write it.", "solution": "x = 1\n"}])[0]
    finally:
        fn.teardown()
    assert row["prompt"] == "Write it.\n"  # ends with a newline: the completion starts a token
    assert row["completion"] == "<|diff|>\n@@ -0,0 +1,1 @@\n+x = 1\n" and not row["starts_from_prompt"]
    assert completion_edits(row["completion"]) == row["edits"]
