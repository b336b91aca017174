"""The LLM stage against a loopback OpenAI-compatible server, with the real `openai` client."""

import json
import os
import signal
import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest
from codekiln.pipelines.building.build import build_dataset
from codekiln.pipelines.config import ConfigError, parse
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.llm.parse import Unparseable, parse_python_block
from codekiln.transforms.llm.prompts import PromptTemplate

from tests.conftest import REPO, run_cli
from tests.llm_server import FakeOpenAI, Reply, completion, echo, error, wait_for

SECRET = "sk-codekiln-SECRET-" + "7" * 24
SAMPLE = REPO / "configs" / "samples" / "humaneval.jsonl"
N_RECORDS = 20


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def doc(base_url, **llm):
    return {"name": "answers", "kind": "responses",
            "source": {"name": "he", "path": str(SAMPLE), "fields": {"id": "task_id", "prompt": "prompt"}},
            "llm": {"base_url": base_url, "model": "test-model", "batch_retries": 0, "max_retries": 1,
                    "batch_size": 4, "timeout_s": 5, **llm}}


def build(tmp_path, server, **llm):
    """These builds fail requests on purpose: their rejects are committed to be looked at."""
    (cfg,) = parse(doc(server.base_url, **llm), str(tmp_path))
    return build_dataset(cfg, Store(str(tmp_path / "store")), allow_rejects=True)


def rows(tmp_path, result):
    store = Store(str(tmp_path / "store"))
    return [r for f in store.files(result.manifest) for r in pq.read_table(f).to_pylist()]


def rejects(tmp_path, result):
    store = Store(str(tmp_path / "store"))
    return [r for f in store.reject_files(result.manifest) for r in pq.read_table(f).to_pylist()]


def about(name):
    """A script condition: the prompt of the HumanEval problem with this entry point."""
    return lambda body: f"def {name}(" in body["messages"][-1]["content"]


def test_success_with_n_choices_tokens_and_traceable_prompts(tmp_path):
    with FakeOpenAI() as server:
        result = build(tmp_path, server, n=3)
    out = rows(tmp_path, result)
    assert len(out) == N_RECORDS * 3 and len(server.requests) == N_RECORDS
    assert all(r["n"] == 3 and r["model"] == "test-model" for r in server.requests)
    usage = result.manifest["llm"]["stages"]["llm"]
    assert usage["requests_sent"] == N_RECORDS and usage["cache_hits"] == 0
    assert usage["prompt_tokens"] == 11 * N_RECORDS and usage["completion_tokens"] == 7 * N_RECORDS
    template = PromptTemplate.load("solve")
    row = out[0]
    assert row["template"] == "solve" and row["template_version"] == template.version
    messages = row["prompt"]  # TRL's conversational prompt/completion, real message lists
    assert row["completion"] == [{"role": "assistant", "content": row["response"].lstrip("\n")}]
    assert row["messages"] == messages + row["completion"]
    assert messages[0]["role"] == "system" and row["response"].startswith("answer ")
    assert messages[-1]["content"][:40] in row["response"]  # this row answers this prompt
    assert sorted({r["choice_index"] for r in out}) == [0, 1, 2]


def test_rate_limited_then_success(tmp_path):
    def script(body, count):
        if about("has_close_elements")(body) and count == 1:
            return error(429, "Rate limit reached", **{"retry-after": "0"})
        return echo(body, count)

    with FakeOpenAI(script) as server:
        result = build(tmp_path, server)
    assert len(rows(tmp_path, result)) == N_RECORDS and result.manifest["rejects"]["rows"] == 0
    assert len(server.requests) == N_RECORDS + 1  # the 429 was retried, once


def test_server_errors_until_the_retry_budget_is_spent(tmp_path):
    def script(body, count):
        return error(500, "internal error") if about("truncate_number")(body) else echo(body, count)

    with FakeOpenAI(script) as server:
        result = build(tmp_path, server, max_retries=2, batch_retries=1)
    assert len(rows(tmp_path, result)) == N_RECORDS - 1  # the job finished with the others
    (rej,) = rejects(tmp_path, result)
    assert (rej["stage"], rej["reason"], rej["location"]) == ("llm", "llm_error", "HumanEval/2")
    assert rej["detail"].startswith("status 500") and "internal error" in rej["detail"]
    assert "messages" in json.loads(rej["payload"])
    failing = [r for r in server.requests if about("truncate_number")(r)]
    assert len(failing) == 3 * 2  # (1 + max_retries) per attempt, 1 + batch_retries attempts
    # the batch that failed did not re-send its answered requests
    assert len(server.requests) - len(failing) == N_RECORDS - 1


def test_a_timeout_is_retried(tmp_path):
    release = threading.Event()

    def script(body, count):
        if about("below_zero")(body) and count == 1:
            return Reply(body=completion(body, ["too late"]), wait=release)
        return echo(body, count)

    try:
        with FakeOpenAI(script) as server:
            result = build(tmp_path, server, timeout_s=0.5)
    finally:
        release.set()
    out = rows(tmp_path, result)
    assert len(out) == N_RECORDS and not any(r["response"] == "too late" for r in out)
    assert sum(1 for r in server.requests if about("below_zero")(r)) == 2


@pytest.mark.parametrize("reply, reason, words", [
    (Reply(200, b'{"id": "x", "choices": [{"index": 0, "mess'), "llm_error", "status"),
    (Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}),
     "llm_error", "no choices"),
    (None, "refusal", "I cannot help with that"),
    (Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "  "}}]}),
     "unparseable_response", "empty"),
])
def test_bad_responses_become_rejects(tmp_path, reply, reason, words):
    def script(body, count):
        if about("mean_absolute_deviation")(body):
            return reply or Reply(body=completion(body, [None], refusal="I cannot help with that"))
        return echo(body, count)

    with FakeOpenAI(script) as server:
        result = build(tmp_path, server)
    assert len(rows(tmp_path, result)) == N_RECORDS - 1
    (rej,) = rejects(tmp_path, result)
    assert rej["reason"] == reason and words in rej["detail"] and rej["location"] == "HumanEval/4"
    assert len(server.requests) in (N_RECORDS, N_RECORDS + 1)


def test_cache_makes_a_rebuild_free_and_can_be_turned_off(tmp_path):
    with FakeOpenAI() as server:
        first = build(tmp_path, server)
        assert len(server.requests) == N_RECORDS
        again = build(tmp_path, server)
        assert again.status == "unchanged" and len(server.requests) == N_RECORDS
        assert again.llm["stages"]["llm"]["cache_hits"] == N_RECORDS
        (cfg,) = parse(doc(server.base_url, batch_retries=0), str(tmp_path), ["llm.cache=off"])
        assert cfg.llm.cache is False
        off = build_dataset(cfg, Store(str(tmp_path / "store")))
        assert len(server.requests) == 2 * N_RECORDS and off.status == "unchanged"
    assert first.manifest["llm"]["stages"]["llm"]["requests_sent"] == N_RECORDS
    stats = json.loads(run_cli("cache", "stats", "--root", str(tmp_path / "store")).stdout)
    assert stats["llm"]["responses"] == N_RECORDS and stats["llm_usage_in_versions"]["requests_sent"] == N_RECORDS


def test_the_key_never_leaves_the_process(tmp_path):
    def script(body, count):
        if about("has_close_elements")(body):  # a server that echoes the credential back
            return error(401, f"Incorrect API key provided: {SECRET}")
        return echo(body, count)

    with FakeOpenAI(script) as server:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps(doc(server.base_url)))
        out = run_cli("build", str(cfg), "--root", str(tmp_path / "store"), "--allow-rejects")
        shown = run_cli("show", "answers", "--root", str(tmp_path / "store"))
    auth = [{k.lower(): v for k, v in h.items()}.get("authorization") for h in server.headers]
    assert auth and all(a == f"Bearer {SECRET}" for a in auth)  # the key was used
    (rej,) = [r for r in json.loads(run_cli("sql", "select * from answers_rejects", "--format", "json",
                                            root=tmp_path / "store").stdout)]
    assert rej["detail"].startswith("status 401") and "***" in rej["detail"]
    for text in (out.stdout, out.stderr, shown.stdout):
        assert SECRET not in text
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_killed_build_resumes_sending_only_the_missing_requests(tmp_path):
    blocked = threading.Event()
    release = threading.Event()

    def script(body, count):
        if about("make_palindrome")(body) and not release.is_set():  # HumanEval/10: hold it, then die
            blocked.set()
            return Reply(body=completion(body, ["never delivered"]), wait=release, wait_s=60)
        return echo(body, count)

    with FakeOpenAI(script) as server:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps(doc(server.base_url, concurrency=1, batch_size=1)))
        store = tmp_path / "store"
        proc = subprocess.Popen([sys.executable, "-m", "codekiln.pipelines.cli", "build", str(cfg), "--root", str(store)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            assert wait_for(blocked.is_set), "the build never reached the held request"
            answered = len(server.requests) - 1
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
            release.set()
        assert not list(store.rglob("manifest.json"))
        before = len(server.requests)
        result = run_cli("build", str(cfg), "--root", str(store))
        resent = server.prompts_seen()
    sent_now = len(server.requests) - before
    assert sent_now == N_RECORDS - answered  # the answered ones came from the cache
    assert "created v1" in result.stdout
    assert max(resent.values()) <= 2  # no prompt was sent more than once per build
    manifest = json.loads(run_cli("show", "answers", "--root", str(store)).stdout)
    assert manifest["llm"]["stages"]["llm"]["cache_hits"] == answered
    assert manifest["llm"]["stages"]["llm"]["requests_sent"] == sent_now


def test_config_and_parsers():
    with pytest.raises(ConfigError) as e:
        parse({"name": "x", "kind": "responses", "source": {"path": str(SAMPLE)}}, str(REPO))
    assert e.value.key == "llm"
    with pytest.raises(ConfigError) as e:
        parse({**doc("http://x/v1"), "llm": {"base_url": "http://x/v1"}}, str(REPO))
    assert e.value.key == "llm.model"
    with pytest.raises(ConfigError) as e:
        parse({**doc("ftp://x"), "params": {}}, str(REPO))
    assert e.value.key == "llm.base_url"
    with pytest.raises(ConfigError) as e:
        parse({**doc("http://x/v1"), "params": {"template": "nope"}}, str(REPO))
    assert e.value.key == "params.template" and "solve" in str(e.value)
    assert parse_python_block("x\n```python\ndef f(:\n```\n```python\ndef f():\n    return 1\n```\n") == \
        "def f():\n    return 1\n"
    with pytest.raises(Unparseable):
        parse_python_block("no code here")


def test_token_bucket_spaces_batches_by_the_rate():
    from codekiln.transforms.llm.handler import TokenBucket

    bucket = TokenBucket(per_minute=6000)  # one request per 10 ms
    assert bucket.allow(hits_added=3) is True
    first = bucket._next
    assert bucket.allow(hits_added=2) is True
    assert bucket._next - first == pytest.approx(0.02)  # the next batch waits for 2 more slots


def ignores_n(body, _count):
    """Like llama.cpp's server: one choice whatever `n` asks, its text decided by the seed."""
    prompt = body["messages"][-1]["content"]
    return Reply(body=completion(body, [f"seed {body.get('seed')} to: {prompt[:40]}"]))


def test_a_server_that_ignores_n_gets_one_request_per_choice(tmp_path):
    with FakeOpenAI(ignores_n) as server:
        result = build(tmp_path, server, n=3, seed=100)
        sent = len(server.requests)
        rebuilt = build(tmp_path, server, n=3, seed=100)
        assert len(server.requests) == sent  # a rebuild answers from the cache: nothing is sent
    out = rows(tmp_path, result)
    assert len(out) == N_RECORDS * 3 and result.manifest["rejects"]["rows"] == 0
    assert rebuilt.status == "unchanged"
    by_record: dict = {}
    for r in out:
        by_record.setdefault(r["source_id"], []).append((r["choice_index"], r["response"].split(" to:")[0]))
    # every record has choices 0, 1, 2 with seeds 100, 101, 102: distinct samples, the same set
    # whichever request detected the server's manners
    assert len(by_record) == N_RECORDS
    assert all(sorted(v) == [(0, "seed 100"), (1, "seed 101"), (2, "seed 102")] for v in by_record.values())
    usage = result.manifest["llm"]["stages"]["llm"]
    assert usage["n_ignored"] >= 1 and usage["choices"].startswith("one request per choice")
    assert usage["requests_per_choice"] >= 2 * N_RECORDS
    assert usage["requests_sent"] == sent == usage["n_ignored"] + usage["requests_per_choice"]
    assert usage["requests_sent"] <= 3 * N_RECORDS + usage["n_ignored"]


def test_choices_of_a_server_that_ignores_n_are_cached_one_by_one(tmp_path):
    """A build that failed after some choices resends only the missing ones."""
    broken = threading.Event()
    broken.set()

    def flaky(body, count):
        if broken.is_set() and about("truncate_number")(body) and body.get("seed") == 102:
            return error(400, "bad request")
        return ignores_n(body, count)

    with FakeOpenAI(flaky) as server:
        first = build(tmp_path, server, n=3, seed=100)
        (rej,) = rejects(tmp_path, first)
        assert rej["location"] == "HumanEval/2" and rej["reason"] == "llm_error"
        broken.clear()
        sent = len(server.requests)
        second = build(tmp_path, server, n=3, seed=100)
        # only the failed choice went out again (the request's other choices were cached)
        assert [r.get("seed") for r in server.requests[sent:]] == [102]
    assert second.manifest["rejects"]["rows"] == 0 and len(rows(tmp_path, second)) == 3 * N_RECORDS


@pytest.mark.parametrize("text, code", [
    # what small models write: a missing opening fence, a missing closing fence (max_tokens),
    # a stray fence before the real block
    ("def f(x):\n    return x\n```\nThe function f returns x.", "def f(x):\n    return x\n"),
    ("```python\ndef f():\n    return 1", "def f():\n    return 1\n"),
    ("```\nHere is the code:\n\n```python\ndef g(a):\n  return a\n```", "def g(a):\n  return a\n"),
    ("assert f(1) == 2\nassert f(2) == 3", "assert f(1) == 2\nassert f(2) == 3\n"),
    ("```python\n[(1, 2), (3, 4)]\n```", "[(1, 2), (3, 4)]\n"),
])
def test_python_blocks_with_missing_fences_are_taken_when_they_parse(text, code):
    assert parse_python_block(text) == code


@pytest.mark.parametrize("text", [
    "Sure!", "Here is a function that adds two numbers.", "```\nI cannot do that.\n```",
    "def f(:\n    return\n```", "hello", "Yes, indeed", "Hello, world", "not sure", "a.b",
    "```python\ndef f(:\n```\nf(2)",
])
def test_prose_and_broken_code_stay_unparseable(text):
    with pytest.raises(Unparseable):
        parse_python_block(text)


def test_a_response_cut_at_max_tokens_gives_code_only_from_a_closed_fence():
    from codekiln.transforms.llm.parse import parse_choice
    from codekiln.transforms.stage import Reject

    cut = "```python\ndef f(x):\n    y = x + 1\n    return y"  # parses, but the model was not done
    assert parse_choice(cut, None, parse_python_block, "stop") == "def f(x):\n    y = x + 1\n    return y\n"
    with pytest.raises(Reject) as e:
        parse_choice(cut, None, parse_python_block, "length")
    assert e.value.reason == "truncated_response" and "def f(x)" in e.value.detail
    closed = "```python\ndef f(x):\n    return x\n```\nThis function returns its argu"
    assert parse_choice(closed, None, parse_python_block, "length") == "def f(x):\n    return x\n"


def caps_n(body, _count):
    """A server that answers at most 2 choices, each decided by the seed and the choice index."""
    prompt = body["messages"][-1]["content"]
    k = min(body.get("n", 1), 2)
    return Reply(body=completion(body, [f"seed {body.get('seed')} choice {i} to: {prompt[:40]}" for i in range(k)]))


@pytest.mark.parametrize("script", [ignores_n, caps_n])
def test_choices_do_not_depend_on_which_request_noticed_the_server(tmp_path, script):
    """Two cold builds, one request at a time and eight in flight: the same rows."""
    results = []
    with FakeOpenAI(script) as server:
        for i, concurrency in enumerate((1, 8)):
            (cfg,) = parse(doc(server.base_url, n=3, seed=100, concurrency=concurrency, batch_size=20),
                           str(tmp_path))
            results.append(build_dataset(cfg, Store(str(tmp_path / f"store{i}")), allow_rejects=True))
    a, b = results
    assert a.manifest["rejects"]["rows"] == b.manifest["rejects"]["rows"] == 0
    assert a.manifest["fingerprint"] == b.manifest["fingerprint"]
    store = Store(str(tmp_path / "store0"))
    out = [r for f in store.files(a.manifest) for r in pq.read_table(f).to_pylist()]
    texts = {r["source_id"]: set() for r in out}
    for r in out:
        texts[r["source_id"]].add(r["response"].split(" to:")[0].removesuffix(" choice 0"))
    # three different samples per record, each the first choice of a request with its own seed
    assert len(texts) == N_RECORDS
    assert all(v == {"seed 100", "seed 101", "seed 102"} for v in texts.values())
