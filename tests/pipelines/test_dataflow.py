"""The Dataflow translation, offline: `codekiln build --runner DataflowRunner -- --dry_run=True`
translates every demo dataset's job without submitting it or touching the store, every DoFn in
it unpickles, and the only paths its steps read or write are under the store root."""

import base64
import bz2
import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_DATASETS, REPO, run_cli

pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs the `gcp` extra")

ROOT = "gs://codekiln-dry-run/store"
IMAGE = "europe-docker.pkg.dev/codekiln-dry-run/images/codekiln:0.1.0"
DATAFLOW = ["--project=codekiln-dry-run", "--region=europe-west1", "--temp_location=gs://codekiln-dry-run/tmp",
            f"--sdk_container_image={IMAGE}", "--no_auth", "--dry_run=True"]
B64 = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")
LOCAL = re.compile(rb"(?<![\w:/.])/(?:[\w.-]+/)+[\w.-]+")


def _texts(blob: bytes, depth: int = 0):
    """The bytes and every base64 / zlib / bz2 layer inside them (how Beam stores pickled DoFns,
    sources and coders in the proto)."""
    yield blob
    if depth > 5:
        return
    for m in B64.finditer(blob):
        try:
            raw = base64.b64decode(m.group(0), validate=True)
        except ValueError:
            continue
        yield from _texts(raw, depth + 1)
        for decompress in (zlib.decompress, bz2.decompress):
            try:
                yield from _texts(decompress(raw), depth + 1)
            except (OSError, ValueError, zlib.error):
                pass


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataflow")
    proc = run_cli("build", "configs/demo.yaml", "--root", ROOT, "--runner", "DataflowRunner",
                   "--graph", str(out), "-q", "--", *DATAFLOW)
    return proc.stdout, {p.name.removesuffix(".pipeline.json"): json.loads(p.read_text())
                         for p in out.glob("*.pipeline.json")}


def _sources(dataset: str) -> list[Path]:
    cfg = yaml.safe_load((REPO / "configs/demo.yaml").read_text())
    ds = next(d for d in cfg["datasets"] if d["name"] == dataset)
    srcs = ds.get("sources") or [ds["source"]]
    return [REPO / "configs" / s["path"] for s in srcs if "path" in s] + \
        [REPO / "configs" / m["path"] for s in srcs for m in s.get("with", []) if "path" in m]


def test_every_demo_dataset_translates_for_dataflow(translated):
    stdout, graphs = translated
    assert sorted(graphs) == sorted(DEMO_DATASETS)
    for name in DEMO_DATASETS:
        assert f"{name}: dry run on DataflowRunner: " in stdout and "nothing submitted, read or written" in stdout
    for name, g in graphs.items():
        envs = g["components"]["environments"]
        images = {json.dumps(e.get("payload")) for e in envs.values()}
        assert envs and all(e["urn"] == "beam:env:docker:v1" for e in envs.values()), name
        decoded = {base64.b64decode(json.loads(i)) for i in images}
        assert all(IMAGE.encode() in d for d in decoded), (name, decoded)  # the custom container


def test_every_dofn_unpickles(translated):
    from apache_beam.internal import pickler
    from apache_beam.portability.api import beam_runner_api_pb2 as pb
    from google.protobuf import json_format

    _, graphs = translated
    ours = set()
    for g in graphs.values():
        proto = json_format.ParseDict(g, pb.Pipeline())
        for t in proto.components.transforms.values():
            if t.spec.urn == "beam:transform:pardo:v1":
                fn = pb.ParDoPayload.FromString(t.spec.payload).do_fn
                if fn.urn == "beam:dofn:pickled_python_info:v1":
                    obj = pickler.loads(fn.payload)
                    ours.add(type(obj[0]).__module__)
    assert any(m.startswith("codekiln.") for m in ours), ours  # codekiln's own DoFns were among them


def test_steps_name_only_paths_under_the_store_root(translated):
    _, graphs = translated
    for name, g in graphs.items():
        components = dict(g["components"])
        artifacts = json.dumps(components.pop("environments")).encode()  # Beam's own staged files
        blob = json.dumps(components).encode()
        local, remote, texts = set(), set(), list(_texts(blob))
        for text in texts:
            local.update(p for m in LOCAL.finditer(text)  # (binary noise can look like /ab/c)
                         if os.path.isdir("/" + (p := m.group(0).decode()).split("/")[1]))
            remote.update(m.group(0).decode() for m in re.finditer(rb"gs://[\w./-]+", text))
        sources = {str(p) for p in _sources(name)}
        code = {p for p in local if p.endswith(".py")}  # code objects' file names (debug info)
        assert local - code <= sources, (name, sorted(local - code - sources))  # sources: as rows name them
        for path in sources:  # ... while workers read the copy staged in the store
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            staged_copy = f"{ROOT}/.inputs/{digest}/{Path(path).name}".encode()
            assert any(staged_copy in t for t in texts), (name, path)
        assert remote and all(p.startswith((ROOT + "/", "gs://codekiln-dry-run/tmp")) for p in remote), remote
        assert f"{ROOT}/{name}/_staging/dry-run/data" in remote  # its shards go to the store
        staged = re.findall(rb'"path":\s*"([^"]+)"', artifacts) + re.findall(rb"/tmp/\w+/[\w.]+", artifacts)
        assert all(Path(p.decode()).name in ("pickled_main_session", "submission_environment_dependencies.txt")
                   for p in staged), staged


def test_distributed_build_refuses_a_local_store_and_local_dry_run(tmp_path):
    proc = run_cli("build", "configs/demo.yaml", "--root", str(tmp_path / "out"), "--runner", "DataflowRunner",
                   "--", *DATAFLOW, check=False)
    assert proc.returncode == 2 and "--root" in proc.stderr and "cannot see the local store root" in proc.stderr
    proc = run_cli("build", "configs/demo.yaml", "--root", str(tmp_path / "out"), "--", "--dry_run=True", check=False)
    assert proc.returncode == 2 and "--dry_run" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any work
