"""The CLI end to end, as a user runs it (subprocesses of `codekiln`)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, humaneval, run_cli, write_jsonl


def test_demo_builds_once_then_is_unchanged_and_answers_sql(store_root, demo_store):
    """The session's demo build (its summary kept by the fixture), then a rebuild of a copy: every
    dataset unchanged. (Independent builds of the demo, in fresh stores under each runner mode,
    are compared with this one in test_modes.py.)"""
    first = (demo_store.parent / "build.out").read_text()
    assert first.count("created v1") == 9 and "normalise" in first
    shutil.copytree(demo_store, store_root)
    rows = json.loads(run_cli("sql", "select dataset, fingerprint from versions where version = 'v1' "
                                     "order by 1", "--format", "json", root=store_root).stdout)
    assert len(rows) == 9
    second = run_cli("build", "configs/demo.yaml", "--root", str(store_root))
    assert "unchanged" in second.stdout and "created" not in second.stdout
    out = run_cli("sql", "select count(*) as n from problems", "--format", "json", root=store_root)
    assert json.loads(out.stdout) == [{"n": 70}]
    csv_out = run_cli("sql", "select domain, count(*) n from problems group by 1 order by 1",
                      "--format", "csv", root=store_root)
    assert csv_out.stdout.splitlines() == ["domain,n", "code,20", "math,50"]
    ls = run_cli("ls", root=store_root)
    assert "problems" in ls.stdout and "v1" in ls.stdout and "70" in ls.stdout
    manifest = json.loads(run_cli("show", "problems@v1", root=store_root).stdout)
    assert manifest["version"] == "v1" and manifest["splits"]["train"]["rows"] == 70
    assert [s["name"] for s in manifest["sources"]] == ["humaneval", "math500", "gsm8k"]


def test_demo_decontamination_and_near_dedupe_in_manifest_card_and_report(demo_store, tmp_path):
    """The demo's `instructions`: its planted benchmark items are rejected naming benchmark, item
    and span; its near-copies name the kept row; the figures reach the manifest, card and report."""
    from codekiln.pipelines.publishing.card import card_body

    manifest = json.loads(run_cli("show", "instructions", root=demo_store).stdout)
    d = manifest["decontamination"]
    assert {b: v["contaminated_rows"] for b, v in d["benchmarks"].items()} == {
        "humaneval": 1, "mbpp": 1, "math500": 0, "gsm8k": 1}
    assert d["benchmarks"]["mbpp"]["items"] == 500 and d["contaminated_rows"] == 3
    assert manifest["near_dedupe"]["duplicate_rows"] == 2 and manifest["near_dedupe"]["bands"] == 25
    rejects = json.loads(run_cli("sql", "select reason, location, json_extract_string(payload, '$.source_id') id, detail "
                                 "from instructions_rejects order by 2", "--format", "json", root=demo_store).stdout)
    by_id = {r["id"]: r for r in rejects}
    assert {"planted-mbpp", "planted-humaneval", "planted-gsm8k"} <= set(by_id) and len(by_id) == 5
    assert by_id["planted-mbpp"]["detail"].startswith("mbpp:mbpp/12 prompt, exact normalised substring")
    assert by_id["planted-humaneval"]["detail"].startswith("humaneval:HumanEval/0 solution, 13-gram overlap")
    assert "identifiers abstracted" in by_id["planted-humaneval"]["detail"]
    assert by_id["planted-gsm8k"]["detail"].startswith("gsm8k:gsm8k/test/3 prompt")
    assert "James decides to run 3 sprints" in by_id["planted-gsm8k"]["detail"]
    kept = {r["source_id"]: r["id"] for r in json.loads(run_cli(
        "sql", "select source_id, id from instructions", "--format", "json", root=demo_store).stdout)}
    for pair in (("near-copy-0", "clean-0"), ("near-copy-4", "clean-4")):  # the smaller row id is kept
        (lost,) = [x for x in pair if x in by_id]
        (other,) = [x for x in pair if x in kept]
        assert by_id[lost]["reason"] == "near_duplicate" and kept[other] < by_id[lost]["location"]
        assert by_id[lost]["detail"].startswith(f"near-duplicate of kept {kept[other]} (estimated Jaccard")
    card = card_body(manifest, "org/instructions", False, {})
    assert "## Decontamination and near-duplicates" in card and "| mbpp | 500 | cc-by-4.0 | 1 |" in card
    lintseq = json.loads(run_cli("show", "lintseq", root=demo_store).stdout)
    assert lintseq["decontamination"]["benchmarks"]["gsm8k"]["contaminated_rows"] == 0
    assert lintseq["near_dedupe"]["document"] == "source_id"
    plain = json.loads(run_cli("show", "pragmatic", root=demo_store).stdout)
    assert "Not decontaminated" in card_body(plain, "org/p", False, {})
    run_cli("report", "instructions", "-o", str(tmp_path / "r.html"), root=demo_store)
    page = (tmp_path / "r.html").read_text()
    assert "Decontamination and near-duplicates" in page and "<td>gsm8k</td><td>1319</td>" in page


def test_bad_config_fails_before_any_work_naming_the_key(tmp_path, store_root):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nkind: problems\nsource: {path: nowhere.jsonl}\nparams: {}\n")
    proc = run_cli("build", str(cfg), "--root", str(store_root), check=False)
    assert proc.returncode == 2 and "source.path" in proc.stderr and "nowhere.jsonl" in proc.stderr
    assert not store_root.exists()
    proc = run_cli("build", "configs/demo.yaml", "--set", "datasets.0.beam.workers=-1",
                   "--root", str(store_root), check=False)
    assert proc.returncode == 2 and "beam.workers" in proc.stderr


def test_show_unknown_and_sql_error(store_root):
    assert run_cli("show", "nope", root=store_root, check=False).returncode == 1
    proc = run_cli("sql", "select * from nope", root=store_root, check=False)
    assert proc.returncode == 1 and "nope" in proc.stderr
    assert "codekiln build" in run_cli("--help").stdout


def test_killing_a_build_midway_leaves_no_visible_version(tmp_path, store_root):
    records = humaneval()
    big = [dict(r, task_id=f"{r['task_id']}#{i}") for i in range(1000) for r in records]
    src = write_jsonl(tmp_path / "big.jsonl", big)
    cfg = tmp_path / "big.yaml"
    cfg.write_text(json.dumps({"name": "big", "kind": "problems", "source": {
        "path": str(src), "fields": {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution",
                                     "tests": "test", "entry_point": "entry_point"}}}))
    progress_tmp = tmp_path / "tmp"
    progress_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(progress_tmp))
    proc = subprocess.Popen([sys.executable, "-m", "codekiln.pipelines.cli", "build", str(cfg), "--root", str(store_root)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # wait until the build is demonstrably midway: its workers have reported reading records
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(progress_tmp.glob("codekiln-progress-*/*.json"))
            if any(json.loads(f.read_text() or "{}").get("read/in", 0) > 0 for f in files if f.suffix == ".json"):
                break
            time.sleep(0.05)  # polling interval while waiting for the condition above
        assert proc.poll() is None, "the build finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not list(store_root.rglob("manifest.json"))
    assert "no datasets" in run_cli("ls", root=store_root).stdout
    assert json.loads(run_cli("sql", "select count(*) n from versions", "--format", "json",
                              root=store_root).stdout) == [{"n": 0}]
    # and the next build is unaffected by the leftovers
    small = tmp_path / "small.yaml"
    write_jsonl(src, records[:5])
    small.write_text(cfg.read_text())
    assert "created v1" in run_cli("build", str(small), "--root", str(store_root)).stdout


def test_a_dataset_can_read_another_datasets_latest_version(tmp_path, store_root):
    cfg = tmp_path / "two.yaml"
    cfg.write_text(f"""
datasets:
  - name: base
    kind: problems
    source: {{path: {REPO}/configs/samples/humaneval.jsonl,
              fields: {{id: task_id, prompt: prompt, solution: canonical_solution, tests: test, entry_point: entry_point}}}}
  - name: again
    kind: problems
    source: {{dataset: base}}
""")
    run_cli("build", str(cfg), "--root", str(store_root))
    out = run_cli("sql", "select count(*) n, count(distinct a.tests_kind) k, min(a.tests_kind) t "
                  "from again a join base b on a.source_id = b.id and a.prompt = b.prompt and a.tests = b.tests",
                  "--format", "json", root=store_root)
    assert json.loads(out.stdout) == [{"n": 20, "k": 1, "t": "check_function"}]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: problems\nsource: {dataset: nothing}\n")
    proc = run_cli("build", str(bad), "--root", str(store_root), check=False)
    assert proc.returncode == 2 and "source.dataset" not in proc.stderr and "sources[0].dataset" in proc.stderr


def test_init_writes_the_bundled_configs_and_never_overwrites_silently(tmp_path):
    proc = run_cli("init", str(tmp_path / "kit"))
    written = sorted(p.relative_to(tmp_path / "kit").as_posix() for p in (tmp_path / "kit").rglob("*") if p.is_file())
    assert "configs/demo.yaml" in written and "configs/samples/humaneval.jsonl" in written
    assert "configs/corpora/humaneval.jsonl.gz" in written and "configs/__init__.py" not in written
    assert (tmp_path / "kit/configs/demo.yaml").read_bytes() == (REPO / "configs/demo.yaml").read_bytes()
    assert f"wrote {len(written)} files" in proc.stdout
    (tmp_path / "kit/configs/demo.yaml").write_text("mine")
    again = run_cli("init", str(tmp_path / "kit"), check=False)
    assert again.returncode == 2 and "--force" in again.stderr
    assert (tmp_path / "kit/configs/demo.yaml").read_text() == "mine"
    run_cli("init", str(tmp_path / "kit"), "--force")
    assert (tmp_path / "kit/configs/demo.yaml").read_bytes() == (REPO / "configs/demo.yaml").read_bytes()


def test_every_stage_of_the_demo_counts_its_input(demo_store):
    """A kind's stage names are listed apart from its graph's labels: a name that no longer
    matches a label would show a stage that counted nothing."""
    from tests.conftest import DEMO_DATASETS

    for name in DEMO_DATASETS:
        m = json.loads(run_cli("show", name, root=demo_store).stdout)
        assert m["stages"] and all(s["in"] > 0 for s in m["stages"]), (name, m["stages"])
