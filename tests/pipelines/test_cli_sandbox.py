"""`codekiln sandbox run`: one JSON object on stdout, verdict first, exit 0 whatever the verdict."""

import json

from tests.conftest import run_cli


def test_sandbox_run_prints_one_json_object_with_the_verdict_first(tmp_path):
    prog = tmp_path / "sol.py"
    prog.write_text("def f(x):\n    print('working on', x)\n    return x + 1\n")
    out = run_cli("sandbox", "run", str(prog), "--test", "assert f(1) == 2", "--test", "assert f(1) == 3")
    result = json.loads(out.stdout)  # the program's prints are inside, not mixed into stdout
    assert next(iter(result)) == "verdict" and result["verdict"] == "failed"
    assert [t["verdict"] for t in result["tests"]] == ["passed", "failed"]
    assert result["stdout"] == "working on 1\n" * 2


def test_sandbox_run_timeout_memory_and_stdin(tmp_path):
    out = run_cli("sandbox", "run", "-", "--timeout", "0.5", input="while True:\n    pass\n")
    assert json.loads(out.stdout)["verdict"] == "timeout"
    hog = tmp_path / "hog.py"
    hog.write_text("x = bytearray(300 * 1024 * 1024)\n")
    out = run_cli("sandbox", "run", str(hog), "--memory", "128")
    assert json.loads(out.stdout)["verdict"] == "memory_exceeded"
    out = run_cli("sandbox", "run", str(hog), "--memory", "1024")
    assert json.loads(out.stdout)["verdict"] == "passed"


def test_sandbox_run_refuses_without_bubblewrap(tmp_path):
    import os
    prog = tmp_path / "p.py"
    prog.write_text("print(1)\n")
    env_path = os.environ["PATH"]
    try:
        os.environ["PATH"] = "/nonexistent"
        proc = run_cli("sandbox", "run", str(prog), check=False)
    finally:
        os.environ["PATH"] = env_path
    assert proc.returncode == 1 and proc.stdout == "" and "apt-get install bubblewrap" in proc.stderr


def test_a_build_that_executes_code_refuses_without_bubblewrap(tmp_path):
    import os

    from tests.conftest import REPO
    env_path = os.environ["PATH"]
    try:
        os.environ["PATH"] = "/nonexistent"
        proc = run_cli("build", str(REPO / "configs" / "demo.yaml"), "--only", "tests",
                       "--root", str(tmp_path), check=False)
    finally:
        os.environ["PATH"] = env_path
    assert proc.returncode == 2 and "apt-get install bubblewrap" in proc.stderr
    assert not list(tmp_path.rglob("manifest.json"))
