import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "configs" / "samples"


def write_jsonl(path: Path, records, *, raw_lines=()) -> Path:
    """Write records as JSON lines (gzip if the name ends in .gz); raw_lines are (index, bytes)."""
    lines = [json.dumps(r).encode() for r in records]
    for index, raw in sorted(raw_lines):
        lines.insert(index, raw)
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def humaneval(n: int | None = None) -> list[dict]:
    """HumanEval records from the slice bundled with the repo (20 problems), so tests need no
    files outside the checkout."""
    with open(SAMPLES / "humaneval.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert n is None or n <= len(records), f"the bundled slice has {len(records)} records"
    return records[:n] if n else records


HUMANEVAL_FIELDS = {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution",
                    "tests": "test", "entry_point": "entry_point"}


def run_cli(*args: str, root: Path | None = None, check: bool = True, env: dict | None = None,
            **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    if root is not None:
        env["CODEKILN_ROOT"] = str(root)
    proc = subprocess.run([sys.executable, "-m", "codekiln.pipelines.cli", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"codekiln {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def store_root(tmp_path) -> Path:
    return tmp_path / "store"


DEMO_DATASETS = ["problems", "instructions", "lintseq", "tests", "labels", "preferences", "pragmatic", "efas", "efa-variants"]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """The bundled demo (every kind but `responses`) built once per test session; read-only."""
    root = tmp_path_factory.mktemp("demo") / "store"
    proc = run_cli("build", "configs/demo.yaml", "--root", str(root))
    (root.parent / "build.out").write_text(proc.stdout)  # its summary, for test_cli
    return root
