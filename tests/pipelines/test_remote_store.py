"""`sql`, `report`, `diff`, `verify`, `ls` and `show` read a store behind any `scheme://` root
through the one filesystem layer (fsspec; DuckDB reads through the same filesystems): the
in-memory filesystem in-process, and fsspec's `file://` (a local folder behind a URL) from a
separate process; both must answer what the plain local store answers."""

import json
import os
import shutil

import fsspec
import pytest
from codekiln.pipelines.cli import main

from tests.conftest import run_cli

QUERY = "select kind_count, n from (select count(*) as n, count(distinct id) as kind_count from lintseq)"


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def memory_store(demo_store):
    mem = fsspec.filesystem("memory")
    base = "/kiln-test/store"
    for folder, _, files in os.walk(demo_store):
        for name in files:
            local = os.path.join(folder, name)
            mem.pipe(base + "/" + os.path.relpath(local, demo_store), open(local, "rb").read())
    yield "memory://" + base.lstrip("/"), mem, base
    mem.rm(base, recursive=True)


def test_commands_read_a_memory_store_as_the_local_one(memory_store, demo_store, capsys, tmp_path):
    root, mem, base = memory_store
    for args in (["sql", QUERY, "--format", "json"], ["ls"], ["show", "labels@v1"],
                 ["diff", "lintseq@v1", "lintseq@v1", "--json"]):
        local = _run(capsys, *args, "--root", str(demo_store))
        remote = _run(capsys, *args, "--root", root)
        assert remote[0] == local[0] == 0, (args, remote[2])
        assert remote[1] == local[1].replace(str(demo_store), root), args
    assert json.loads(_run(capsys, "sql", QUERY, "--format", "json", "--root", root)[1]) == [{"kind_count": 65, "n": 65}]
    code, out, _ = _run(capsys, "verify", "--root", root)
    assert code == 0 and "ok" in out.lower()
    code, _, err = _run(capsys, "report", "labels", "-o", str(tmp_path / "labels.html"), "--root", root)
    assert code == 0, err
    local_html = tmp_path / "local.html"
    assert _run(capsys, "report", "labels", "-o", str(local_html), "--root", str(demo_store))[0] == 0
    assert (tmp_path / "labels.html").read_text().replace(root, "") == local_html.read_text().replace(str(demo_store), "")
    shard = next(p for p in mem.find(base + "/labels") if p.endswith(".parquet") and "/data/" in p)
    data = bytearray(mem.cat_file(shard))
    data[len(data) // 2] ^= 0xFF
    mem.pipe(shard, bytes(data))  # one flipped byte in a committed shard
    code, out, err = _run(capsys, "verify", "labels", "--root", root)
    assert code == 1 and os.path.basename(shard) in out + err


def test_a_file_url_root_from_another_process(demo_store, tmp_path):
    local = tmp_path / "store"
    shutil.copytree(demo_store, local)
    root = local.as_uri()  # file:///...: fsspec's local filesystem behind a scheme:// root
    a = run_cli("sql", QUERY, "--format", "json", "--root", root)
    b = run_cli("sql", QUERY, "--format", "json", "--root", str(local))
    assert a.stdout == b.stdout and json.loads(a.stdout)[0]["n"] == 65
    assert run_cli("verify", "--root", root).returncode == 0
    run_cli("report", "tests", "-o", str(tmp_path / "t.html"), "--root", root)
    assert (tmp_path / "t.html").stat().st_size > 10_000


def test_a_root_without_a_filesystem_is_a_clear_error(capsys):
    code, out, err = _run(capsys, "ls", "--root", "nosuchscheme://bucket/store")
    assert code == 2 and err.startswith("error: nosuchscheme://bucket/store") and "no filesystem for nosuchscheme://" in err
    assert "Traceback" not in err
