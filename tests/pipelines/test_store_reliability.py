"""The store under overlap, kills and damage, with real processes and real files:

- concurrent builds of one dataset leave consistent versions (identical inputs: exactly one);
- a build killed at any step of its commit leaves no visible version, and the next build (or
  `codekiln gc`) removes what it left; SIGTERM cleans up as ^C does; nothing stays under /tmp;
- each file is recorded (size, rows, sha256) and `verify` names a bad one; readers skip and name
  a broken version and keep serving the others;
- builds that reject most of their input fail loudly and commit nothing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import HUMANEVAL_FIELDS, REPO, humaneval, run_cli, write_jsonl


def _config(tmp_path, name: str, records: list[dict], dataset: str = "he", **extra) -> str:
    src = write_jsonl(tmp_path / f"{name}.jsonl", records)
    doc = {"name": dataset, "kind": "problems", "license": "mit",
           "source": {"name": "humaneval", "path": str(src), "fields": HUMANEVAL_FIELDS}, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(doc))
    return str(path)


def _env(tmp_path, **extra) -> dict:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, TMPDIR=str(tmp), **extra)


def _start(config: str, root, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codekiln.pipelines.cli", "build", config, "--root", str(root), "-q"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _versions(root, dataset="he") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / dataset).glob("v*/manifest.json"))]


def _sql_count(root, view: str) -> int:
    out = run_cli("sql", f"select count(*) n from {view}", "--format", "json", root=root).stdout
    return json.loads(out)[0]["n"]


def _consistent(root, dataset="he") -> list[dict]:
    """Every version's manifest agrees with its files and with SQL; nothing half-made is left."""
    versions = _versions(root, dataset)
    for m in versions:
        rows = m["splits"]["train"]["rows"]
        assert _sql_count(root, f"{dataset}_{m['version']}") == rows
        assert sum(f["rows"] for rel, f in m["files"].items() if rel.startswith("data/")) == rows
    run_cli("verify", dataset, root=root)
    numbers = sorted(m["version_number"] for m in versions)
    assert numbers == list(range(1, len(numbers) + 1)), numbers  # dense, no gaps
    assert not list((root / dataset).glob("v*/_reserved.json"))
    assert not list((root / dataset / "_staging").glob("*")) if (root / dataset / "_staging").exists() else True
    return versions


# -- concurrent commits ----------------------------------------------------------------------

@pytest.mark.parametrize("identical,different", [(3, 0), (4, 4)])
def test_concurrent_builds_leave_consistent_versions(tmp_path, identical, different):
    root = tmp_path / "store"
    records = humaneval(12)
    same = _config(tmp_path, "same", records[:6])
    others = [_config(tmp_path, f"other{i}", records[: 7 + i]) for i in range(different)]
    env = _env(tmp_path, CODEKILN_COMMIT_PAUSE="0.2")  # every commit step slowed: they overlap
    procs = [_start(same, root, env) for _ in range(identical)] + [_start(c, root, env) for c in others]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    versions = _consistent(root)
    fingerprints = [m["fingerprint"] for m in versions]
    assert len(set(fingerprints)) == len(fingerprints) or different  # identical inputs: one version
    by_rows = {}
    for m in versions:
        by_rows.setdefault(m["splits"]["train"]["rows"], []).append(m)
    assert sorted(by_rows) == sorted({6, *(7 + i for i in range(different))})
    if not different:
        assert len(versions) == 1
        created = sum("created v1" in out for out, _ in outs)
        unchanged = sum("unchanged" in out for out, _ in outs)
        assert (created, unchanged) == (1, identical - 1)
    for m in versions[1:]:
        assert m["parent"] == f"v{m['version_number'] - 1}"
    assert not list((tmp_path / "tmp").iterdir())  # nothing left under the temp dir


# -- killed while committing ------------------------------------------------------------------

def _wait_for(trace, step: str, proc, timeout=180.0):
    """Until the build's commit has reached `step` (it writes each step to the trace file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if trace.exists() and any(line.split()[-1] == step for line in trace.read_text().splitlines()):
            return
        time.sleep(0.02)  # polling interval while waiting for the condition above
    raise AssertionError(f"the build never reached {step} (exit {proc.poll()})")


@pytest.mark.parametrize("step", ["locked", "reserved", "moved", "manifest"])
def test_a_build_killed_at_any_commit_step_leaves_no_half_version(tmp_path, step):
    root, trace = tmp_path / "store", tmp_path / "trace"
    config = _config(tmp_path, "c", humaneval(5))
    env = _env(tmp_path, CODEKILN_COMMIT_PAUSE=f"{step}:60", CODEKILN_COMMIT_TRACE=str(trace))
    proc = _start(config, root, env)
    try:
        _wait_for(trace, step, proc)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    listed = run_cli("ls", root=root).stdout
    if step == "manifest":  # past the commit point: a whole version
        assert "v1" in listed
        run_cli("verify", root=root)
    else:
        assert "no datasets" in listed
    assert list((tmp_path / "tmp").iterdir())  # SIGKILL: the progress folder is left...
    run_cli("build", config, "--root", str(root), "-q", env=_env(tmp_path))  # ...and the next build cleans up
    assert not list((tmp_path / "tmp").iterdir())
    versions = _consistent(root)
    assert [m["version"] for m in versions] == ["v1"]


def test_gc_removes_what_a_killed_build_left(tmp_path):
    root, trace = tmp_path / "store", tmp_path / "trace"
    config = _config(tmp_path, "c", humaneval(5))
    proc = _start(config, root, _env(tmp_path, CODEKILN_COMMIT_PAUSE="staged:60", CODEKILN_COMMIT_TRACE=str(trace)))
    try:
        _wait_for(trace, "staged", proc)  # built, about to commit
        live = run_cli("gc", "--dry-run", root=root, env=_env(tmp_path)).stdout
        assert "nothing to remove" in live  # a running build's files are not debris
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    (root / "he" / "v7").mkdir()  # and a version folder a commit never finished
    out = run_cli("gc", root=root, env=_env(tmp_path)).stdout
    assert "_staging" in out and "/he/v7" in out and "codekiln-progress-" in out
    assert not list((root / "he" / "_staging").iterdir()) and not (root / "he" / "v7").exists()
    assert not list((tmp_path / "tmp").iterdir())
    assert "nothing to remove" in run_cli("gc", root=root, env=_env(tmp_path)).stdout


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    root, trace = tmp_path / "store", tmp_path / "trace"
    config = _config(tmp_path, "c", humaneval(5))
    proc = _start(config, root, _env(tmp_path, CODEKILN_COMMIT_PAUSE="locked:60", CODEKILN_COMMIT_TRACE=str(trace)))
    try:
        _wait_for(trace, "locked", proc)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "nothing was committed" in err
    assert not list((root / "he" / "_staging").iterdir())
    assert not list((tmp_path / "tmp").iterdir())


# -- verified files, broken versions ----------------------------------------------------------

def test_verify_and_readers_with_a_broken_version(tmp_path):
    root = tmp_path / "store"
    env = _env(tmp_path)
    records = humaneval(20)
    many = [dict(r, task_id=f"{r['task_id']}#{i}") for i in range(4) for r in records]  # 80 rows
    run_cli("build", _config(tmp_path, "a", many, dataset="a"), "--root", str(root), "-q", env=env)
    run_cli("build", _config(tmp_path, "b", records[:5], dataset="b"), "--root", str(root), "-q", env=env)
    run_cli("build", _config(tmp_path, "c", records[:4], dataset="c"), "--root", str(root), "-q", env=env)
    assert "ok a@v1" in run_cli("verify", root=root).stdout
    m = json.loads((root / "a" / "v1" / "manifest.json").read_text())
    rel = next(r for r in m["files"] if r.startswith("data/"))
    assert m["files"][rel]["rows"] == 80 and len(m["files"][rel]["sha256"]) == 64

    # a: a shard truncated to 10 of its rows (a valid Parquet file, so only the record tells)
    shard = root / "a" / "v1" / rel
    pq.write_table(pq.read_table(shard).slice(0, 10), shard)
    # b: a deleted data file; c: a hand-broken manifest
    for f in (root / "b" / "v1" / "data").iterdir():
        f.unlink()
    (root / "c" / "v1" / "manifest.json").write_text('{"dataset": "c", oops')

    v = run_cli("verify", root=root, check=False)
    assert v.returncode == 1
    assert str(shard) in v.stdout and "missing" in v.stdout and "c/v1/manifest.json" in v.stdout
    ls = run_cli("ls", root=root)
    assert ls.returncode == 0 and "no datasets" in ls.stdout
    assert ls.stderr.count("warning: skipped a broken version") == 3
    run_cli("build", _config(tmp_path, "d", records[:3], dataset="d"), "--root", str(root), "-q", env=env)
    assert _sql_count(root, "d") == 3  # the other datasets keep working
    assert run_cli("sql", "select count(*) from d", root=root).stderr.count("warning:") == 3
    assert run_cli("cache", "stats", root=root).returncode == 0
    pub = run_cli("publish", "a", "--repo", "me/x", "--dry-run", str(tmp_path / "pub"), root=root, check=False)
    assert pub.returncode == 1 and "a" in pub.stderr and not (tmp_path / "pub").exists()
    rep = run_cli("report", "b", "-o", str(tmp_path / "b.html"), root=root, check=False)
    assert rep.returncode == 1 and "missing" in rep.stderr


# -- fail loudly ------------------------------------------------------------------------------

def test_a_build_that_rejects_most_input_fails_and_commits_nothing(tmp_path):
    root = tmp_path / "store"
    records = humaneval(6)
    bad = [dict(r, canonical_solution="    return (\n") for r in records[:4]] + records[4:]
    src = write_jsonl(tmp_path / "bad.jsonl", bad)
    config = tmp_path / "bad.yaml"
    config.write_text(json.dumps({"name": "he", "kind": "lintseq", "source": {"name": "humaneval", "path": str(src),
                      "fields": dict(HUMANEVAL_FIELDS, solution="{prompt}{canonical_solution}")}}))
    config = str(config)
    proc = run_cli("build", config, "--root", str(root), "-q", check=False, env=_env(tmp_path))
    assert proc.returncode == 1
    err = proc.stderr
    assert "stage lintseq" in err and "4 of its 6" in err and "syntax" in err and "HumanEval/" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(root.rglob("manifest.json")) and not list((tmp_path / "tmp").iterdir())
    ok = run_cli("build", config, "--root", str(root), "-q", "--allow-rejects", env=_env(tmp_path))
    assert "created v1" in ok.stdout
    run_cli("build", config, "--root", str(root), "-q", "--set", "max_reject_fraction=0.7", env=_env(tmp_path))


def test_bad_runner_and_bad_set_fail_before_any_work(tmp_path):
    root = tmp_path / "store"
    config = _config(tmp_path, "c", humaneval(2))
    r = run_cli("build", config, "--root", str(root), "--runner", "NoSuchRunner", check=False)
    assert r.returncode == 2 and "NoSuchRunner" in r.stderr and not root.exists()
    s = run_cli("build", config, "--root", str(root), "--set", "params.no_such_key=1", check=False)
    assert s.returncode == 2 and "params.no_such_key" in s.stderr and not root.exists()


def test_quiet_multiprocess_build_prints_no_worker_logs(tmp_path):
    root = tmp_path / "store"
    config = _config(tmp_path, "c", humaneval(4), beam={"mode": "multi_processing", "workers": 2})
    r = run_cli("build", config, "--root", str(root), "-q", env=_env(tmp_path))
    assert "created v1" in r.stdout
    assert "INFO" not in r.stderr and "WARNING" not in r.stderr, r.stderr
    assert not list((tmp_path / "tmp").iterdir()) and not (root / "_logs").exists()


def test_a_mapping_typo_is_a_config_error_before_any_work(tmp_path):
    root = tmp_path / "store"
    src = write_jsonl(tmp_path / "he.jsonl", humaneval(3))
    config = tmp_path / "typo.yaml"
    config.write_text(json.dumps({"name": "he", "kind": "problems", "source": {
        "path": str(src), "fields": dict(HUMANEVAL_FIELDS, prompt="promt")}}))
    r = run_cli("build", str(config), "--root", str(root), check=False)
    assert r.returncode == 2 and "source.fields.prompt" in r.stderr and "'promt'" in r.stderr
    assert "task_id" in r.stderr and not root.exists()


def test_a_manifest_that_does_not_fit_the_model_is_broken_not_half_read(tmp_path):
    from codekiln.pipelines.storage.manifest import Manifest
    from codekiln.pipelines.storage.store import Store

    root = tmp_path / "store"
    run_cli("build", _config(tmp_path, "a", humaneval(3), dataset="a"), "--root", str(root), "-q", env=_env(tmp_path))
    path = root / "a" / "v1" / "manifest.json"
    good = json.loads(path.read_text())
    assert Manifest.of(good).rows == 3 and Manifest.of(good).ref == "a@v1"
    bad = dict(good, splits={"train": dict(good["splits"]["train"], rows="three")})
    path.write_text(json.dumps(bad))
    store = Store(str(root))
    assert store.manifests() == [] and "does not parse" in store.problems[0] and "rows" in store.problems[0]
