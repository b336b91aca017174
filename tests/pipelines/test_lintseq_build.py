"""LintSeq datasets built through the CLI, checked row by row."""

import json
from pathlib import Path

import pyarrow.parquet as pq
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.lintseq import Ruff, apply_edits
from codekiln.transforms.lintseq.linter import syntax_error

from tests.conftest import run_cli


def rows_of(root: Path, name: str) -> list[dict]:
    store = Store(str(root))
    return [r for f in store.files(store.resolve(name)) for r in pq.read_table(f).to_pylist()]


def check_every_row(rows: list[dict]) -> None:
    """Every row replays from its start state (the prompt when the edits start from it), every
    state in between parses and is lint-clean, and a program's paths are distinct sequences, as
    many as its rows say."""
    by_program: dict[str, list[dict]] = {}
    for row in rows:
        by_program.setdefault(row["source_id"], []).append(row)
    for source_id, paths in by_program.items():
        assert len({tuple(r["edits"]) for r in paths}) == len(paths), source_id
        assert {r["distinct_paths"] for r in paths} == {len(paths)}, source_id
    states = []
    for row in rows:
        start = row["prompt"] if row["starts_from_prompt"] else ""
        assert apply_edits(row["edits"], start) == row["program"], row["id"]
        assert row["n_edits"] == len(row["edits"])
        assert row["text"] == row["prompt"] + row["completion"]
        assert row["completion"].count("<|diff|>") == row["n_edits"]
        for k in range(1, row["n_edits"]):
            states.append(apply_edits(row["edits"][:k], start))
    assert all(syntax_error(s) is None for s in states)
    with Ruff() as ruff:
        assert all(f == () for f in ruff.check_many(states))


def test_lintseq_config_on_humaneval(tmp_path):
    run_cli("build", "configs/lintseq.yaml", "--root", str(tmp_path))  # all of HumanEval, bundled
    rows = rows_of(tmp_path, "lintseq-humaneval")
    programs = 164
    assert len({r["source_id"] for r in rows}) == programs
    check_every_row(rows)
    per_program = {r["source_id"]: r["distinct_paths"] for r in rows}
    assert max(per_program.values()) == 5  # paths_per_program, never more
    # a one-statement body has one path from its prompt; most programs have the five asked for
    assert sum(n == 5 for n in per_program.values()) > programs / 2
    out = run_cli("sql", "select count(*) n, round(avg(n_edits), 2) mean_edits from "
                  "(select source_id, avg(n_edits) n_edits from lintseq_humaneval group by 1)",
                  "--format", "json", root=tmp_path)
    (answer,) = json.loads(out.stdout)
    assert answer["n"] == programs and answer["mean_edits"] > 1


def test_demo_lintseq_rows_and_determinism(tmp_path):
    run_cli("build", "configs/demo.yaml", "--only", "lintseq", "--root", str(tmp_path / "a"))
    rows = rows_of(tmp_path / "a", "lintseq")
    assert len({r["source_id"] for r in rows}) == 20 and len(rows) > 20
    check_every_row(rows)
    assert all(r["starts_from_prompt"] for r in rows)  # HumanEval's programs continue their prompts
    run_cli("build", "configs/demo.yaml", "--only", "lintseq", "--root", str(tmp_path / "b"),
            "--set", "lintseq.beam.workers=2")
    a, b = (json.loads(run_cli("show", "lintseq", root=tmp_path / x).stdout) for x in "ab")
    assert a["fingerprint"] == b["fingerprint"]  # same rows with separate worker processes
    assert b["config"]["beam"]["mode"] == "multi_processing"


def test_functions_of_a_code_directory(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "good.py").write_text("import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\n"
                                  "def twice(x):\n    y = x * 2\n    return y\n")
    (code / "globals.py").write_text("LIMIT = 3\n\n\ndef capped(x):\n    return min(x, LIMIT)\n")
    (code / "prose.py").write_text("This is not Python at all.\n")
    cfg = tmp_path / "fn.yaml"
    cfg.write_text(f"name: fns\nkind: lintseq\nsource: {{path: {code}, format: code}}\n"
                   "params: {unit: function, paths_per_program: 2}\n")
    out = run_cli("build", str(cfg), "--root", str(tmp_path / "store"))
    assert "split_functions" in out.stdout
    rows = rows_of(tmp_path / "store", "fns")
    assert sorted({r["source_id"] for r in rows}) == ["good.py::area", "good.py::twice"]
    check_every_row(rows)
    rejects = json.loads(run_cli("sql", "select stage, reason, source_id from (select stage, reason, "
                                 "json_extract_string(payload, '$.source_id') source_id from fns_rejects) order by 1",
                                 "--format", "json", root=tmp_path / "store").stdout)
    assert rejects == [{"stage": "lintseq", "reason": "lint_errors", "source_id": "globals.py::capped"},
                       {"stage": "split_functions", "reason": "syntax_error", "source_id": "prose.py"}]


def test_bounded_work_rejects_in_the_reject_dataset(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "small.py").write_text("def twice(x):\n    y = x * 2\n    return y\n")
    (code / "long.py").write_text("".join(f"v{i} = {i}\n" for i in range(40)))
    cfg = tmp_path / "bounded.yaml"
    cfg.write_text(f"name: bounded\nkind: lintseq\nsource: {{path: {code}, format: code}}\n"
                   "params: {paths_per_program: 2, max_program_lines: 30}\n")
    run_cli("build", str(cfg), "--root", str(tmp_path / "store"))
    rows = rows_of(tmp_path / "store", "bounded")
    assert {r["source_id"] for r in rows} == {"small.py"} and len(rows) == rows[0]["distinct_paths"] <= 2
    check_every_row(rows)
    rejects = json.loads(run_cli("sql", "select reason, detail, json_extract_string(payload, '$.source_id') source_id "
                                 "from bounded_rejects", "--format", "json", root=tmp_path / "store").stdout)
    assert rejects == [{"reason": "too_large", "source_id": "long.py",
                        "detail": "40 lines, over the cap of 30 (max_program_lines)"}]
