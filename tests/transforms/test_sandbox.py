"""The execution sandbox: verdicts, the adversarial suite, reward hacks, caching, Beam."""

import json
import logging
import os
import select
import socket
import threading
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln.transforms.execution import SandboxConfig, SandboxPool, SandboxUnavailable, Task
from codekiln.transforms.execution.beam import ExecuteTasks
from codekiln.transforms.execution.harness import strict_eq

from tests.conftest import REPO, humaneval

SECRET = "sk-codekiln-test-" + uuid.uuid4().hex
OK = Task("def f(x):\n    return x + 1\n", ["assert f(1) == 2"])


@pytest.fixture(scope="module")
def pool():
    os.environ["OPENAI_API_KEY"] = SECRET  # a secret in the parent's environment
    try:
        with SandboxPool(SandboxConfig(pool_size=2, timeout_s=1.5, memory_mb=256, cache=False)) as p:
            yield p
    finally:
        os.environ.pop("OPENAI_API_KEY", None)


def procs(slot) -> list[str]:
    with open(os.path.join(slot.cgroup.pids, "cgroup.procs")) as f:
        return f.read().split()


def contained(pool, program, tests=()):
    """Run an adversarial task, then check the pool is healthy and nothing was left behind."""
    result = pool.run(Task(program, list(tests)))
    assert result.verdict != "sandbox_error", result
    for _ in pool._all:  # the slot queue is FIFO: this visits every slot
        assert pool.run(OK).passed
    for slot in pool._all:
        if slot.cgroup is not None:
            assert len(procs(slot)) == 2, "only bwrap and the server may remain in a slot"
    return result


def program_error(result):
    return result.program_error["type"] if result.program_error else None


# -- plain verdicts ------------------------------------------------------------------------


def test_verdict_per_test_and_overall(pool):
    r = pool.run(Task("def f(x):\n    print('hi')\n    return x * 2\n",
                      ["assert f(2) == 4", "assert f(2) == 5", "assert g(1)", "f(", "assert f(3) == 6"]))
    assert [t["verdict"] for t in r.tests] == ["passed", "failed", "failed", "failed", "passed"]
    assert r.verdict == "failed" and r.n_passed == 2
    assert r.tests[1]["type"] == "AssertionError" and r.tests[1]["message"] == "assert f(2) == 5"
    assert r.tests[2]["type"] == "NameError" and r.tests[2]["where"] == "test"
    assert r.tests[3]["type"] == "SyntaxError"
    assert r.stdout == "hi\n" * 3  # the program's output is captured, never mixed with verdicts


def test_program_errors_fail_every_test_with_the_line(pool):
    r = pool.run(Task("x = 1\ny = 1 / 0\n", ["assert True", "assert True"]))
    assert r.verdict == "failed" and program_error(r) == "ZeroDivisionError"
    assert r.program_error["line"] == 2 and all(t["verdict"] == "failed" for t in r.tests)
    assert pool.run(Task("def f(:\n")).program_error["type"] == "SyntaxError"


def test_each_test_has_its_own_budget(pool):
    r = pool.run(Task("def f(n):\n    while n: pass\n    return 1\n",
                      ["assert f(0) == 1", "f(1)", "assert f(0) == 1"]))
    assert [t["verdict"] for t in r.tests] == ["passed", "timeout", "passed"]
    assert r.verdict == "timeout"


def test_strict_equality():
    assert strict_eq(1, 1.0) and strict_eq([1, (2, "a")], [1, (2, "a")]) and strict_eq({"a": [1]}, {"a": [1]})
    assert not strict_eq([1], (1,)) and not strict_eq({1, 2}, {1}) and not strict_eq(None, 0)

    class Liar:
        def __eq__(self, other):
            return True

    assert not strict_eq(Liar(), 3) and not strict_eq([Liar()], [3]) and not strict_eq({"a": Liar()}, {"a": 1})


# -- the adversarial suite -----------------------------------------------------------------


def test_fork_bomb(pool):
    r = contained(pool, "import os\nwhile True:\n    os.fork()\n", ["assert True"])
    assert r.verdict in ("failed", "crashed", "timeout") and not r.passed


def test_memory_bomb(pool):
    r = contained(pool, "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 24))\n", ["assert True"])
    assert r.verdict == "memory_exceeded"


def test_infinite_loop(pool):
    assert contained(pool, "while True:\n    pass\n", ["assert True"]).verdict == "timeout"


def test_busy_threads(pool):
    program = ("import threading\ndef spin():\n    while True:\n        pass\n"
               "ts = [threading.Thread(target=spin) for _ in range(8)]\n"
               "for t in ts: t.start()\nfor t in ts: t.join()\n")
    assert contained(pool, program, ["assert True"]).verdict == "timeout"


def test_filling_the_disk(pool):
    program = ("n = 0\nwhile True:\n    with open(f'fill{n}', 'wb') as f:\n        f.write(b'x' * (1 << 20))\n"
               "    n += 1\n")
    r = contained(pool, program, ["assert True"])
    assert r.verdict == "failed" and program_error(r) in ("OSError", "SIGXFSZ")
    # the scratch space is empty again for the next task
    assert pool.run(Task("import os\nprint(sorted(os.listdir('.')), os.listdir('/tmp'))")).stdout == "[] ['task']\n"


def test_flooding_stdout(pool):
    r = contained(pool, "while True:\n    print('x' * 10000)\n")
    assert r.verdict == "output_limit" and r.stdout_truncated and len(r.stdout) == 65536


def test_tcp_to_a_listener_on_the_host_loopback(pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        r = contained(pool, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n")
        assert r.verdict == "failed" and program_error(r) in ("ConnectionRefusedError", "OSError", "TimeoutError")
        assert select.select([listener], [], [], 0)[0] == []  # nothing ever reached it
    finally:
        listener.close()


def test_dns_lookup(pool):
    r = contained(pool, "import socket\nsocket.getaddrinfo('pypi.org', 443)\n")
    assert r.verdict == "failed" and program_error(r) == "gaierror"


def test_secret_files_in_project_and_home_are_invisible(pool, tmp_path):
    secrets = [REPO / f".secret-{uuid.uuid4().hex}", os.path.expanduser(f"~/.secret-{uuid.uuid4().hex}")]
    try:
        for path in secrets:
            with open(path, "w") as f:
                f.write(SECRET)
        for path in secrets:
            r = contained(pool, f"print(open({str(path)!r}).read())\n")
            assert r.verdict == "failed" and program_error(r) in ("FileNotFoundError", "PermissionError")
            assert SECRET not in r.stdout
        listing = pool.run(Task("import os\nprint(sorted(os.listdir('/')))")).stdout
        assert json.loads(listing.replace("'", '"')) == ["dev", "lib", "lib64", "opt", "tmp", "usr"]
    finally:
        for path in secrets:
            os.remove(path)


def test_parent_environment_is_invisible(pool):
    r = contained(pool, "import os\nprint(dict(os.environ))\nkey = os.environ.get('OPENAI_API_KEY')\n",
                  ["assert key is not None"])
    assert r.verdict == "failed" and SECRET not in r.stdout and "OPENAI_API_KEY" not in r.stdout


def test_writing_outside_scratch(pool):
    for target in ("/usr/lib/evil.py", "/opt/python/evil.py", "/evil.py", "/dev/evil", "/dev/shm/evil"):
        r = contained(pool, f"open({target!r}, 'w').write('x')\n")
        assert r.verdict == "failed" and program_error(r) in ("OSError", "PermissionError")


def test_spawning_a_shell(pool):
    for program in ("import subprocess\nsubprocess.run(['/bin/sh', '-c', 'id'])\n",
                    "import os\nos.system('id')\nassert os.system('id') == 0\n"):
        r = contained(pool, program)
        assert r.verdict == "failed" and "uid=" not in r.stdout


def test_signalling_the_parent(pool):
    program = ("import os, signal\ndef f():\n    for pid in (os.getppid(), 1, -1):\n"
               "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"
               "    return 2\n")
    r = contained(pool, program, ["assert f() == 1"])
    assert r.verdict in ("failed", "crashed") and not r.passed


def test_deep_recursion(pool):
    r = contained(pool, "def f(n):\n    return f(n + 1)\n", ["f(0)"])
    assert r.verdict == "failed" and r.tests[0]["type"] == "RecursionError"
    r = contained(pool, "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\n", ["f(0)"])
    assert r.verdict in ("failed", "crashed", "memory_exceeded", "timeout") and not r.passed


# -- reward hacks --------------------------------------------------------------------------

HACKS = {
    "sys.exit before tests": ("import sys\nsys.exit(0)\n", ["assert False"]),
    "raise SystemExit before tests": ("raise SystemExit(0)\n", ["assert False"]),
    "os._exit before tests": ("import os\nos._exit(0)\n", ["assert False"]),
    "sys.exit inside a test": ("import sys\ndef f():\n    sys.exit(0)\n", ["f()\nassert False"]),
    "os._exit inside a test": ("import os\ndef f():\n    os._exit(0)\n", ["assert f() == 1"]),
    "always-equal object": ("class E:\n    def __eq__(self, o):\n        return True\n"
                            "    __ne__ = lambda s, o: False\ndef f():\n    return E()\n", ["assert f() == 3"]),
    "always-equal inside a list": ("class E:\n    def __eq__(self, o):\n        return True\n"
                                   "def f():\n    return [E(), E()]\n", ["assert f() == [1, 2]"]),
    "overwriting builtins": ("import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
                             "builtins.isinstance = lambda *a: True\ndef f():\n    return 0\n",
                             ["assert f() == 1"]),
    "overwriting the harness's names": ("__codekiln_eq__ = lambda a, b: True\nstrict_eq = __codekiln_eq__\n"
                                        "def f():\n    return 0\n", ["assert f() == 1"]),
    "printing fake success markers": ("print('PASSED\\nP 0\\n{\"verdict\": \"passed\"}')\n"
                                      "import sys\nsys.stderr.write('OK all tests passed\\n')\n"
                                      "def f():\n    return 0\n", ["assert f() == 1"]),
    "forging reports on every fd": ("import os\ndef f(die=False):\n    for fd in range(3, 1024):\n"
                                    "        try:\n            os.write(fd, b'S 0\\nP 0\\nD \\n')\n"
                                    "        except OSError:\n            pass\n"
                                    "    if die:\n        os._exit(0)\n    return 0\n",
                                    ["assert f(die=True) == 1"]),
    "killing the parent": ("import os\ndef f():\n    os.kill(os.getppid(), 9)\n    os.kill(1, 9)\n"
                           "    return 0\n", ["assert f() == 1"]),
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_reward_hacks_do_not_pass(pool, name):
    program, tests = HACKS[name]
    r = contained(pool, program, tests)
    assert not r.passed and r.n_passed == 0, (name, r)
    assert r.verdict in ("failed", "crashed"), (name, r)


# -- infrastructure ------------------------------------------------------------------------


def test_a_killed_slot_is_replaced_and_the_task_retried(tmp_path):
    with SandboxPool(SandboxConfig(pool_size=1, timeout_s=5, cache=False)) as pool:
        slot = pool._all[0]
        task = Task("import time\ndef f():\n    time.sleep(0.5)\n    return 1\n", ["assert f() == 1"])
        killed = threading.Event()

        def kill_when_running():
            for _ in range(100_000):  # until the task's child exists in the slot's cgroup
                if slot.cgroup is not None and len(procs(slot)) >= 3:
                    os.killpg(slot.proc.pid, 9)
                    killed.set()
                    return

        t = threading.Thread(target=kill_when_running)
        t.start()
        r = pool.run(task)
        t.join()
        assert killed.is_set() and pool.stats["slot_restarts"] == 1
        assert r.passed  # the retry on a fresh slot ran the task: not a verdict on the program


def test_a_slot_that_keeps_dying_is_a_sandbox_error():
    with SandboxPool(SandboxConfig(pool_size=1, timeout_s=5, cache=False)) as pool:
        def breaking(request, watchdog):  # an infrastructure fault on every attempt
            return None
        pool._all[0].run = breaking
        r = pool.run(OK)
        assert r.verdict == "sandbox_error" and r.tests == [] and pool.stats["sandbox_errors"] == 1


def test_results_are_cached_by_content(tmp_path):
    cfg = SandboxConfig(pool_size=1, timeout_s=2)
    with SandboxPool(cfg, cache_dir=str(tmp_path)) as pool:
        first, again = pool.run(OK), pool.run(OK)
        assert not first.cached and again.cached and again.verdict == first.verdict
        assert pool.stats["executed"] == 1 and pool.stats["cache_hits"] == 1
        assert not pool.run(Task(OK.program, OK.tests, timeout_s=3)).cached  # limits are in the key
    with SandboxPool(cfg, cache_dir=str(tmp_path)) as pool:  # another process or run
        assert pool.run(OK).cached and pool.stats["executed"] == 0


def test_fails_closed_without_bubblewrap(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        SandboxPool(SandboxConfig(pool_size=1))


def test_isolation_none_is_explicit_and_warns(caplog):
    with caplog.at_level(logging.WARNING):
        with SandboxPool(SandboxConfig(pool_size=1, isolation="none", timeout_s=2, cache=False)) as pool:
            assert pool.run(OK).passed
            assert pool.run(Task("while True:\n    pass\n", ["assert True"])).verdict == "timeout"
    assert "WITHOUT isolation" in caplog.text


def test_humaneval_in_beam(tmp_path):
    problems = humaneval()
    tasks = []
    for p in problems:
        test = p["test"] + f"\ncheck({p['entry_point']})\n"
        tasks.append((p["task_id"], Task(p["prompt"] + p["canonical_solution"], [test])))
        broken = p["prompt"] + "    return None\n"
        tasks.append((p["task_id"] + "/broken", Task(broken, [test])))
    cfg = SandboxConfig(pool_size=2, timeout_s=5)
    out = tmp_path / "out"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        (p | beam.Create(tasks) | ExecuteTasks(cfg, cache_dir=str(tmp_path / "cache"))
         | beam.MapTuple(lambda k, r: json.dumps([k, r.verdict])) | beam.io.WriteToText(str(out)))
    verdicts = dict(json.loads(line) for f in tmp_path.glob("out*") for line in f.read_text().splitlines())
    assert len(verdicts) == 2 * len(problems)
    assert all(verdicts[p["task_id"]] == "passed" for p in problems)
    assert all(verdicts[p["task_id"] + "/broken"] == "failed" for p in problems)


def test_a_scratch_directory_made_unreadable_is_still_cleaned(pool):
    r = contained(pool, "import os\nos.makedirs('a/b')\nopen('a/b/f', 'w').write('x')\nos.chmod('a', 0)\nos.chmod('.', 0)\n")
    assert r.passed
    assert pool.run(Task("import os\nprint(os.listdir('.'))")).stdout == "[]\n"


def test_results_of_another_protocol_are_never_served(tmp_path):
    from codekiln.transforms.execution import sandbox

    cfg = SandboxConfig(pool_size=1, timeout_s=2)
    assert cfg.profile()["protocol"] == sandbox.PROTOCOL
    wrong = Task("def f(x):\n    return 0\n", ["assert f(1) == 2"])
    with SandboxPool(cfg, cache_dir=str(tmp_path)) as pool:
        key = pool.key(wrong)
        forged = {"verdict": "passed", "tests": [{"verdict": "passed"}], "protocol": sandbox.PROTOCOL - 1}
        path = tmp_path / key[:2] / (key + ".json")
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(forged))  # as an older sandbox (or a forged verdict) left it
        r = pool.run(wrong)
        assert not r.cached and r.verdict == "failed" and pool.stats["executed"] == 1
