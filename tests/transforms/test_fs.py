"""The filesystem layer on a remote scheme (fsspec's in-memory filesystem) behaves as it does on
local paths: the same answers for the same tree, for every operation the store uses."""

import uuid

import fsspec
import pytest
from codekiln.pipelines.building import distributed
from codekiln.transforms import fs


@pytest.fixture(params=["local", "memory"])
def base(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "root")
        return
    name = f"fs-test-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    mem = fsspec.filesystem("memory")
    if mem.exists(f"/{name}"):
        mem.rm(f"/{name}", recursive=True)


def test_operations_agree_on_local_and_remote(base):
    fs.write_bytes(fs.join(base, "ds", "v1", "manifest.json"), b"{}")
    fs.write_bytes(fs.join(base, "ds", "v1", "data", "a.parquet"), b"12345")
    fs.write_bytes(fs.join(base, "ds", "v2", "data", "b.parquet"), b"x")
    assert fs.children(base) == ["ds"] and fs.children(fs.join(base, "ds")) == ["v1", "v2"]
    assert fs.children(fs.join(base, "nothing")) == []
    assert [p[len(base):] for p in fs.match(fs.join(base, "ds", "*", "manifest.json"))] == ["/ds/v1/manifest.json"]
    # `**` spans any number of directories, none included
    assert [p[len(base):] for p in fs.match(fs.join(base, "ds", "v1", "**", "*.parquet"))] == ["/ds/v1/data/a.parquet"]
    assert [p[len(base):] for p in fs.match(fs.join(base, "ds", "v1", "data", "**", "*.parquet"))] == \
        ["/ds/v1/data/a.parquet"]
    path = fs.join(base, "ds", "v1", "data", "a.parquet")
    assert fs.size(path) == 5 and fs.size(fs.join(base, "ds", "v1", "data")) is None
    assert fs.size(fs.join(base, "missing")) is None and not fs.exists(fs.join(base, "missing"))
    assert fs.read_bytes(path) == b"12345" and fs.file_digest(path)[0] == 5
    fs.rename(path, fs.join(base, "ds", "v1", "data", "c.parquet"))
    assert not fs.exists(path) and fs.read_bytes(fs.join(base, "ds", "v1", "data", "c.parquet")) == b"12345"
    fs.delete(fs.join(base, "ds", "v1", "manifest.json"))
    fs.delete(fs.join(base, "ds", "v1", "manifest.json"))  # gone already: no error
    assert fs.match(fs.join(base, "ds", "*", "manifest.json")) == []
    fs.delete_tree(fs.join(base, "ds", "v2"))
    assert fs.children(fs.join(base, "ds")) == ["v1"]


def test_local_inputs_are_staged_once_content_addressed(tmp_path):
    root = f"memory://stage-{uuid.uuid4().hex[:8]}"
    src = tmp_path / "problems.jsonl"
    src.write_bytes(b'{"id": 1}\n')
    (first,) = distributed.stage_inputs(root, [str(src)], upload=True)
    assert first.startswith(root + "/.inputs/") and first.endswith("/problems.jsonl")
    assert fs.read_bytes(first) == src.read_bytes()
    assert distributed.stage_inputs(root, [str(src)], upload=True) == [first]  # a rerun finds it
    src.write_bytes(b'{"id": 2}\n')
    (second,) = distributed.stage_inputs(root, [str(src)], upload=False)  # a dry run: path only
    assert second != first and not fs.exists(second)
    assert distributed.stage_inputs(root, ["gs://b/x.jsonl"], upload=True) == ["gs://b/x.jsonl"]
