"""Publishing to the Hub: dry-run folders load with `datasets`, and a push round-trips through a
loopback Hub (tests/hub_server.py) with the real huggingface_hub and datasets libraries, each run
in its own process so HF_ENDPOINT is read at import time as in production."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from codekiln.schemas import REJECT_SCHEMA
from codekiln.schemas.problems import PROBLEMS

from tests.conftest import DEMO_DATASETS, REPO, humaneval, run_cli, write_jsonl
from tests.hub_server import FakeHub, Repo

TOKEN = "hf_codekiln_secret_0123456789"


def _config(tmp_path, records, raw_lines=()) -> str:
    data = write_jsonl(tmp_path / "he.jsonl", records, raw_lines=raw_lines)
    cfg = tmp_path / "pub.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "he-problems", "kind": "problems", "license": "mit", "description": "HumanEval problems.",
        "source": {"name": "humaneval", "path": str(data), "license": "mit", "domain": "code",
                   "fields": {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution",
                              "tests": "test", "entry_point": "entry_point"}},
    }))
    return str(cfg)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """A store with he-problems v1 (5 rows + 1 reject) and v2 (one row gone, three new); the
    tests only read it."""
    tmp_path = tmp_path_factory.mktemp("pub")
    root = tmp_path / "store"
    records = humaneval(10)
    run_cli("build", _config(tmp_path, records[:5], raw_lines=[(2, b"{not json")]), "--root", str(root), "-q")
    run_cli("build", _config(tmp_path, records[1:8]), "--root", str(root), "-q")
    return root


def _load(folder, tmp_path, config=None):
    """load_dataset on a folder with a cache of the test's own (the user's cache is keyed by the
    folder's name and would serve a previous run's tables)."""
    return datasets.load_dataset(str(folder), config, cache_dir=str(tmp_path / "hf-cache"))


def _sql_rows(root, view: str) -> list[dict]:
    out = run_cli("sql", f"select * from {view} order by id", "--format", "json", "--root", str(root))
    return json.loads(out.stdout)


def _hub_env(hub: FakeHub, tmp_path, token: str | None = TOKEN) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if token:
        env["HF_TOKEN"] = token
    return env


def _publish(root, env, *args, check=True):
    return run_cli("publish", *args, "--root", str(root), env=env, check=check)


def test_dry_run_folder_loads_with_datasets(two_versions, tmp_path):
    out = tmp_path / "dry"
    proc = run_cli("publish", "he-problems@v1", "--repo", "me/he", "--dry-run", str(out), "--root", str(two_versions))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["README.md", "data/train-00000-of-00001.parquet", "manifest.json",
                       "rejects/rejects-00000-of-00001.parquet"]
    for path in written:
        assert path in proc.stdout

    ds = _load(out, tmp_path)
    assert list(ds) == ["train"]
    assert ds["train"].features == datasets.Features.from_arrow_schema(PROBLEMS.arrow)
    assert sorted(ds["train"].to_list(), key=lambda r: r["id"]) == _sql_rows(two_versions, "he_problems_v1")
    rejects = _load(out, tmp_path, "rejects")["train"]
    assert rejects.features == datasets.Features.from_arrow_schema(REJECT_SCHEMA)
    assert rejects.num_rows == 1 and rejects[0]["reason"] == "malformed_json"

    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "mit" and meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] and "codekiln" in meta["tags"]
    assert {c["config_name"] for c in meta["configs"]} == {"default", "rejects"}
    manifest = json.loads(run_cli("show", "he-problems@v1", "--root", str(two_versions)).stdout)
    assert meta["codekiln"]["fingerprint"] == manifest["fingerprint"]
    body = card.split("---", 2)[2]
    for expected in (manifest["method"], manifest["fingerprint"], manifest["sources"][0]["sha256"][:16],
                     "| humaneval |", "load_dataset(\"me/he\"", "hf://datasets/me/he@v1", "malformed_json"):
        assert expected in body, expected
    assert str(tmp_path) not in card and str(tmp_path) not in (out / "manifest.json").read_text()
    assert rejects[0]["source"] == "he.jsonl"  # reject rows name the input file, not the local path

    again = run_cli("publish", "he-problems@v1", "--repo", "me/he", "--dry-run", str(out), "--root",
                    str(two_versions), check=False)
    assert again.returncode == 2 and "new or empty folder" in again.stderr


def test_publish_round_trips_through_the_hub(two_versions, tmp_path):
    root = two_versions
    with FakeHub(token=TOKEN) as hub:
        env = _hub_env(hub, tmp_path)
        first = _publish(root, env, "he-problems@v1", "--repo", "org/he", "--private")
        assert "published he-problems@v1 to org/he" in first.stdout
        repo = hub.repo("org/he")
        assert repo.private and set(repo.tags) == {"v1"} and repo.tags["v1"] == repo.branches["main"]
        v1_files = set(repo.get(repo.tags["v1"]).files)
        assert v1_files == {".gitattributes", "README.md", "manifest.json", "data/train-00000-of-00001.parquet",
                            "rejects/rejects-00000-of-00001.parquet"}
        local = root / "he-problems" / "v1" / "data" / "train-00000-of-00001.parquet"
        assert repo.get(repo.tags["v1"]).files["data/train-00000-of-00001.parquet"] == local.read_bytes()
        # Parquet goes through Git LFS as on the real Hub (.gitattributes), the card inline
        assert hashlib.sha256(local.read_bytes()).hexdigest() in hub.lfs_uploads
        assert "README.md" not in repo.get(repo.tags["v1"]).lfs
        commits = len(repo.commits)

        again = _publish(root, env, "he-problems@v1", "--repo", "org/he")
        assert "already has he-problems@v1" in again.stdout and "nothing to do" in again.stdout
        assert len(repo.commits) == commits

        second = _publish(root, env, "he-problems", "--repo", "org/he")  # latest = v2
        assert "published he-problems@v2" in second.stdout and "1 stale removed" in second.stdout
        assert set(repo.tags) == {"v1", "v2"} and repo.tags["v2"] == repo.branches["main"]
        assert len(repo.commits) == commits + 1
        main_files = set(repo.get(repo.branches["main"]).files)
        assert "rejects/rejects-00000-of-00001.parquet" not in main_files  # v2 has no rejects

        older = _publish(root, env, "he-problems@v1", "--repo", "org/he", check=False)
        assert older.returncode == 0 and "already has" in older.stdout  # v1 is there: still a no-op
        writes = [r for r in hub.requests if r[0] == "POST"]
        assert writes and all(auth == f"Bearer {TOKEN}" for _, _, auth in writes)
        for proc in (first, again, second, older):
            assert TOKEN not in proc.stdout + proc.stderr
        assert hub.unhandled == []

        # the real `datasets` reads both versions back from the Hub: the rows `codekiln sql` gives
        for version, view in (("v1", "he_problems_v1"), ("v2", "he_problems_v2"), ("main", "he_problems")):
            rows = _load_from_hub(env, "org/he", version)
            assert rows == _sql_rows(root, view), version
        rejects = _load_from_hub(env, "org/he", "v1", config="rejects")
        assert [r["reason"] for r in rejects] == ["malformed_json"]


def _load_from_hub(env: dict, repo_id: str, revision: str, config: str | None = None) -> list[dict]:
    code = textwrap.dedent(f"""
        import json, datasets
        ds = datasets.load_dataset({repo_id!r}, {config!r}, split="train", revision={revision!r})
        print(json.dumps(sorted(ds.to_list(), key=lambda r: r.get("id") or r["location"] or "")))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_publish_refuses_what_it_must(two_versions, tmp_path):
    root = two_versions
    with FakeHub(token=TOKEN) as hub:
        env = _hub_env(hub, tmp_path)
        no_token = _publish(root, _hub_env(hub, tmp_path, token=None), "he-problems", "--repo", "org/x", check=False)
        assert no_token.returncode == 2 and "HF_TOKEN" in no_token.stderr
        bad_repo = _publish(root, env, "he-problems", "--repo", "not a repo", check=False)
        assert bad_repo.returncode == 2 and "ORG/NAME" in bad_repo.stderr
        wrong = _publish(root, _hub_env(hub, tmp_path, token="hf_wrong"), "he-problems", "--repo", "org/x", check=False)
        assert wrong.returncode == 1 and "hf_wrong" not in wrong.stdout + wrong.stderr
        assert ("dataset", "org/x") not in hub.repos

        _publish(root, env, "he-problems@v2", "--repo", "org/he")
        older = _publish(root, env, "he-problems@v1", "--repo", "org/he", check=False)
        assert older.returncode == 1 and "newer than v1" in older.stderr
        assert set(hub.repo("org/he").tags) == {"v2"}

        _publish(root, env, "he-problems@v1", "--repo", "org/public")
        private = _publish(root, env, "he-problems@v2", "--repo", "org/public", "--private", check=False)
        assert private.returncode == 1 and "is public" in private.stderr

        # a repo someone filled by hand is never overwritten
        foreign = hub.repos[("dataset", "org/theirs")] = Repo("dataset", "org/theirs", private=False)
        hub.add_commit(foreign, "main", "by hand", {"README.md": b"# mine", "data/notes.csv": b"a,b\n"})
        theirs = _publish(root, env, "he-problems", "--repo", "org/theirs", check=False)
        assert theirs.returncode == 1 and "codekiln did not publish" in theirs.stderr
        assert len(foreign.commits) == 1 and not foreign.tags

        unreachable = dict(env, HF_ENDPOINT="http://127.0.0.1:9")
        down = _publish(root, unreachable, "he-problems", "--repo", "org/y", check=False)
        assert down.returncode == 1 and "failed" in down.stderr and "Traceback" not in down.stderr


def test_published_shards_are_the_store_files(two_versions, tmp_path):
    """The upload is the version's own Parquet: nothing is re-encoded on the way."""
    out = tmp_path / "dry"
    run_cli("publish", "he-problems@v2", "--repo", "me/he", "--dry-run", str(out), "--root", str(two_versions))
    for shard in (out / "data").iterdir():
        assert shard.read_bytes() == (two_versions / "he-problems" / "v2" / "data" / shard.name).read_bytes()
        assert pq.read_metadata(shard).num_rows == 7




@pytest.mark.parametrize("dataset", DEMO_DATASETS)
def test_every_demo_kind_publishes_a_folder_datasets_loads(demo_store, tmp_path, dataset, capsys):
    from codekiln.pipelines.cli import main
    from codekiln.pipelines.kinds import KINDS
    from codekiln.pipelines.storage.store import Store

    manifest = Store(str(demo_store)).resolve(dataset)
    out = tmp_path / "dry"
    assert main(["publish", dataset, "--repo", f"org/{dataset}", "--dry-run", str(out), "--root", str(demo_store)]) == 0
    ds = _load(out, tmp_path)
    assert list(ds) == list(manifest["splits"])
    assert ds["train"].num_rows == manifest["splits"]["train"]["rows"]
    schema = pq.read_schema(demo_store / dataset / manifest["version"] / manifest["splits"]["train"]["files"][0])
    assert ds["train"].features == datasets.Features.from_arrow_schema(schema)
    assert [f["name"] for f in manifest["schema"]] == list(ds["train"].features)
    card = (out / "README.md").read_text()
    kind = KINDS[manifest["kind"]]
    assert manifest["method"] in card and "## Quality" in card
    for name in manifest["quality"]:
        assert f"**{name.replace('_', ' ')}**" in card
    if kind.training:  # the recipe, for this repo and version (run by test_trl_recipes.py)
        assert f'load_dataset("org/{dataset}", split="train", revision="{manifest["version"]}")' in card
        assert f"from trl import {kind.training.trainer}Config, {kind.training.trainer}Trainer" in card


def test_an_empty_version_is_refused_with_the_reason(tmp_path):
    """0 rows (every input rejected): `datasets` cannot load an empty split, so nothing is written."""
    root = tmp_path / "store"
    run_cli("build", _config(tmp_path, [], raw_lines=[(0, b"{not json")]), "--root", str(root), "-q",
            "--allow-rejects")  # committed on purpose
    out = tmp_path / "dry"
    proc = run_cli("publish", "he-problems", "--repo", "me/empty", "--dry-run", str(out), "--root", str(root),
                   check=False)
    assert proc.returncode == 1 and "no rows in split 'train' (1 rejects)" in proc.stderr
    assert not out.exists()


def test_card_features_are_what_datasets_writes_for_every_schema():
    """The card writes `dataset_info.features` itself (so publishing starts without importing
    `datasets`): it must be exactly what `datasets` writes, for every kind's schema."""
    import pyarrow as pa
    from codekiln.pipelines.kinds import KINDS
    from codekiln.pipelines.publishing.card import hf_features
    from codekiln.schemas.preferences import PREFERENCES_CONVERSATIONAL

    schemas = [k.schema.arrow for k in KINDS.values()] + [PREFERENCES_CONVERSATIONAL.arrow, REJECT_SCHEMA]
    schemas.append(pa.schema([("f", pa.float32()), ("nested", pa.list_(pa.list_(pa.int32()))),
                              ("s", pa.struct([("a", pa.list_(pa.string()))]))]))
    for schema in schemas:
        assert hf_features(schema) == datasets.Features.from_arrow_schema(schema)._to_yaml_list(), schema
