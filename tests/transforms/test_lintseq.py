"""LintSeq: units, linter, walks and the invariants, including property-based tests."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import humaneval
from transforms.lintseq import (
    Job,
    ProgramRejected,
    Ruff,
    apply_edits,
    lintseq_batch,
    sample_edit_paths,
)
from transforms.lintseq.core import hunks, training_text
from transforms.lintseq.functions import top_level_functions
from transforms.lintseq.linter import syntax_error
from transforms.lintseq.program import Program


@pytest.fixture(scope="module")
def ruff():
    with Ruff() as r:
        yield r


def assert_invariants(program: str, paths, ruff: Ruff) -> None:
    """Replays exactly; insertion-only; every state parses and is lint-clean; ends at the program."""
    for path in paths:
        assert apply_edits(path.edits) == program
        assert path.states[0] == "" and path.states[-1] == program
        for k, edit in enumerate(path.edits):
            assert edit.startswith("@@ -")
            assert not any(line.startswith("-") for line in edit.split("\n"))
            assert apply_edits(path.edits[:k + 1]) == path.states[k + 1]
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
        assert len(paths) == 5 and [p.path_index for p in paths] == list(range(5))
        assert_invariants(program, paths, ruff)
        again = sample_edit_paths(program, 5, seed=7, source_id=rec["task_id"], ruff=ruff)
        assert [p.edits for p in again] == [p.edits for p in paths]
        if len(Program(program)) >= 6:  # room for different paths
            assert len({tuple(p.edits) for p in paths}) > 1


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
    full = sample_edit_paths(program, 3, seed=0, ruff=ruff)
    capped = sample_edit_paths(program, 3, seed=0, ruff=ruff, max_edits=2)
    for f, c in zip(full, capped, strict=True):
        assert len(c.edits) == min(2, len(f.edits)) and apply_edits(c.edits) == program
        assert c.edits[0] == f.edits[0]


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
