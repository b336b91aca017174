"""The attack suite: hostile programs that try to forge a verdict, poison other tasks or touch
the host. Every program here computes the WRONG answer (`add` subtracts) and then cheats.

Each attack must fail: no test passes, the next ordinary tasks on every slot get the right
verdict (passing stays passing, failing stays failing), and no host file changed.
"""

import hashlib
import os
import textwrap

import pytest
from codekiln.transforms.execution import SandboxConfig, SandboxPool, Task

WRONG = "def add(a, b):\n    return a - b\n"
TESTS = [
    "assert add(2, 3) == 5",
    "assert add(-1, 1) == 0",
    "def check(candidate):\n    assert candidate(10, 5) == 15\n    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n\n"
    "check(add)\n",
    "import math\nassert math.isclose(add(0.1, 0.2), 0.3)",
    "assert add(1, 1) is not None and add(1, 1) == 2",
]
GOOD = Task("def add(a, b):\n    return a + b\n", TESTS)
BAD = Task(WRONG, TESTS)
CANARY = "/tmp/codekiln-attack-canary-" + hashlib.sha256(str(os.getpid()).encode()).hexdigest()[:12]
HOST_FILES = [CANARY, "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/etc/passwd"]


def attack(body: str) -> str:
    """A hostile program: the wrong solution, then the trick (run at load time)."""
    return WRONG + textwrap.dedent(body)


ATTACKS = {
    # -- in-process forging: the comparison, the harness, the interpreter ------------------
    "patch strict_eq's code": attack("""
        import __main__
        for name in ("strict_eq", "close_eq"):
            if hasattr(__main__, name):
                getattr(__main__, name).__code__ = (lambda a, b: True).__code__
        """),
    "builtins.exec is a no-op": attack("""
        import builtins
        builtins.exec = lambda *a, **k: None
        """),
    "builtins.eval returns an always-equal object": attack("""
        import builtins
        class E:
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            def __bool__(self): return True
        builtins.eval = lambda *a, **k: E()
        """),
    "always-equal result": attack("""
        class E:
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __hash__ = object.__hash__
        _real = add
        def add(a, b):
            return E()
        """),
    "__bool__ always true": attack("""
        class T:
            def __bool__(self): return True
            def __eq__(self, o): return True
        def add(a, b):
            return T()
        """),
    "int subclass that equals everything": attack("""
        class I(int):
            def __eq__(self, o): return True
            def __ne__(self, o): return False
            __hash__ = int.__hash__
        def add(a, b):
            return I(a - b)
        """),
    "float subclass that lies to abs and isclose": attack("""
        class F(float):
            def __eq__(self, o): return True
            def __sub__(self, o): return 0.0
            def __rsub__(self, o): return 0.0
            def __abs__(self): return 0.0
            __hash__ = float.__hash__
        def add(a, b):
            return F(a - b)
        """),
    "str subclass": attack("""
        class S(str):
            def __eq__(self, o): return True
            __hash__ = str.__hash__
        def add(a, b):
            return S("x")
        """),
    "dict subclass": attack("""
        class D(dict):
            def __eq__(self, o): return True
            __hash__ = None
        def add(a, b):
            return D()
        """),
    "list subclass": attack("""
        class L(list):
            def __eq__(self, o): return True
        def add(a, b):
            return L([a - b])
        """),
    "__class__ lie": attack("""
        class Liar:
            __class__ = property(lambda self: float)
            def __eq__(self, o): return True
            def __sub__(self, o): return 0.0
            def __abs__(self): return 0.0
        def add(a, b):
            return Liar()
        """),
    "fake namedtuple with a rigged __eq__": attack("""
        class N(tuple):
            _fields = ("x",)
            def __eq__(self, o): return True
            def __iter__(self): return iter([o for o in (5, 0, 15)])
        def add(a, b):
            return N((a - b,))
        """),
    "sys.settrace swaps results": attack("""
        import sys
        def tracer(frame, event, arg):
            if event == "return" and frame.f_code.co_name == "add":
                pass
            return tracer
        class E:
            def __eq__(self, o): return True
        sys.settrace(tracer)
        def add(a, b):
            return E()
        """),
    "sys.setprofile": attack("""
        import sys
        sys.setprofile(lambda frame, event, arg: None)
        class E:
            def __eq__(self, o): return True
        def add(a, b):
            return E()
        """),
    "audit hook": attack("""
        import sys
        def hook(event, args):
            if event == "exec":
                raise SystemExit(0)
        sys.addaudithook(hook)
        """),
    "reading the expected value from the caller's bytecode": attack("""
        import sys, dis
        def add(a, b):
            frame = sys._getframe(1)
            consts = [c for c in frame.f_code.co_consts if isinstance(c, (int, float)) and not isinstance(c, bool)]
            return consts[-1] if consts else a - b
        """),
    "reading the expected value from the caller's locals": attack("""
        import sys
        def add(a, b):
            f = sys._getframe(1)
            for _ in range(10):
                if f is None:
                    break
                for v in list(f.f_locals.values()):
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in (a, b):
                        return v
                f = f.f_back
            return a - b
        """),
    "reading the nonce from frames and forging reports on every fd": attack("""
        import os, sys
        def add(a, b):
            f, nonce = sys._getframe(1), None
            while f is not None:
                for v in f.f_locals.values():
                    if isinstance(v, str) and len(v.strip()) == 32:
                        nonce = v.strip()
                f = f.f_back
            for fd in range(3, 1024):
                for kind in ("P", "V 0 5", "V 1 0", "D"):
                    try:
                        os.write(fd, f"{nonce} {kind}\\n".encode())
                    except OSError:
                        pass
            return a - b
        """),
    "gc scan for the nonce, then forged pass lines and exit": attack("""
        import gc, os
        def add(a, b):
            for o in gc.get_objects():
                if isinstance(o, dict):
                    for v in list(o.values()):
                        if isinstance(v, str) and len(v) == 33 and v.endswith(" "):
                            for fd in range(3, 1024):
                                try:
                                    os.write(fd, (v + "P\\n" + v + "D\\n").encode())
                                except OSError:
                                    pass
            os._exit(0)
        """),
    "patching json.dumps so values encode as the right answers": attack("""
        import json
        json.dumps = lambda *a, **k: "true"
        """),
    "patching os.write to drop the reports": attack("""
        import os
        os.write = lambda fd, data: len(data)
        """),
    "ctypes write into the int cache": attack("""
        import ctypes
        def add(a, b):
            ctypes.c_long.from_address(id(5) + 24).value = a - b
            return a - b
        """),
    "sys.exit inside the call": attack("""
        import sys
        def add(a, b):
            sys.exit(0)
        """),
    "os._exit inside the call": attack("""
        import os
        def add(a, b):
            os._exit(0)
        """),
    "KeyboardInterrupt inside the call": attack("""
        def add(a, b):
            raise KeyboardInterrupt
        """),
    "a generator instead of a value": attack("""
        def add(a, b):
            yield a - b
        """),
    "a cyclic list": attack("""
        def add(a, b):
            x = []
            x.append(x)
            return x
        """),
    "a value nested 100000 deep": attack("""
        def add(a, b):
            x = 0
            for _ in range(100000):
                x = [x]
            return x
        """),
    "a 30 MB value": attack("""
        def add(a, b):
            return "x" * (30 << 20)
        """),
    "exception type names 25 MB long": attack("""
        def add(a, b):
            raise type("E" * (25 << 20), (Exception,), {})()
        """),
    # -- cross-task poisoning: the server, the next tasks -----------------------------------
    "writing forged results to the server's stdout": attack("""
        import os, json
        def add(a, b):
            for path in ("/proc/1/fd/1", "/proc/1/fd/0"):
                try:
                    fd = os.open(path, os.O_WRONLY)
                    os.write(fd, (json.dumps({"verdict": "passed", "tests": []}) + "\\n").encode() * 100)
                except OSError:
                    pass
            return a - b
        """),
    "reading the next tasks' requests from the server's stdin": attack("""
        import os
        def add(a, b):
            try:
                os.read(os.open("/proc/1/fd/0", os.O_RDONLY), 1 << 20)
            except OSError:
                return a - b
            return a + b
        """),
    "rewriting the server's memory": attack("""
        import os
        def add(a, b):
            try:
                with open("/proc/1/mem", "r+b") as f:
                    f.seek(0x400000)
                    f.write(b"\\x90" * 16)
            except OSError:
                pass
            return a - b
        """),
    "ptrace on the server": attack("""
        import ctypes
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH
            libc.ptrace(16, os_getppid(), 0, 0)
            return a - b
        def os_getppid():
            import os
            return os.getppid()
        """),
    "pidfd_getfd on the server's pipes": attack("""
        import os
        def add(a, b):
            try:
                pfd = os.pidfd_open(1)
                import ctypes
                libc = ctypes.CDLL(None, use_errno=True)
                for fd in range(3):
                    got = libc.syscall(438, pfd, fd, 0)  # pidfd_getfd
                    if got >= 0:
                        os.write(got, b'{"verdict": "passed"}\\n')
            except OSError:
                pass
            return a - b
        """),
    "process_vm_writev into the server": attack("""
        import ctypes
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            buf = ctypes.create_string_buffer(b"x" * 8)
            class iovec(ctypes.Structure):
                _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
            local = iovec(ctypes.addressof(buf), 8)
            remote = iovec(0x400000, 8)
            libc.process_vm_writev(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
            return a - b
        """),
    "signalling the server": attack("""
        import os, signal
        def add(a, b):
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP, signal.SIGUSR1):
                for pid in (1, os.getppid(), -1):
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
            return a - b
        """),
    "a daemon left behind to answer the next tasks": attack("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    for fd in range(3, 1024):
                        try:
                            os.write(fd, b"P\\nD\\n")
                        except OSError:
                            pass
                    time.sleep(0.01)
            os._exit(0)
        """),
    "files left in the scratch space for the next task": attack("""
        import os
        for name in ("math.py", "collections.py", "sitecustomize.py", "usercustomize.py"):
            with open(name, "w") as f:
                f.write("import os\\nos._exit(0)\\n")
        os.makedirs("/tmp/task/.x", exist_ok=True)
        """),
    "a user namespace to gain capabilities": attack("""
        import os
        def add(a, b):
            try:
                os.unshare(os.CLONE_NEWUSER)
            except OSError:
                pass
            return a - b
        """),
    # -- the host ---------------------------------------------------------------------------
    "kernel settings through /proc/sys": attack("""
        def add(a, b):
            for path, value in (("/proc/sys/kernel/core_pattern", "|/tmp/x"), ("/proc/sys/kernel/hostname", "pwn"),
                                ("/proc/sysrq-trigger", "h")):
                try:
                    with open(path, "w") as f:
                        f.write(value)
                except OSError:
                    pass
            return a - b
        """),
    "the server's stderr": attack("""
        import os
        def add(a, b):
            for path in ("/proc/1/fd/2", "/proc/self/fd/2"):
                try:
                    fd = os.open(path, os.O_WRONLY)
                    os.fchmod(fd, 0o777)
                    os.write(fd, b"x" * (1 << 20))
                except OSError:
                    pass
            return a - b
        """),
    "host files by path": attack(f"""
        def add(a, b):
            for path in ({CANARY!r}, "/etc/passwd", "/root/.bashrc"):
                try:
                    with open(path, "a") as f:
                        f.write("pwned")
                except OSError:
                    pass
            return a - b
        """),
    "memory across many processes": attack("""
        import os
        def add(a, b):
            kids = []
            for _ in range(8):
                pid = os.fork()
                if pid == 0:
                    try:
                        block = bytearray(200 << 20)
                        for i in range(0, len(block), 4096):
                            block[i] = 1
                    finally:
                        os._exit(0)
                kids.append(pid)
            for pid in kids:
                os.waitpid(pid, 0)
            return a - b
        """),
    "a flood on every pipe past the deadline": attack("""
        import os
        def add(a, b):
            while True:
                for fd in range(1, 1024):
                    try:
                        os.write(fd, b"x" * 65536)
                    except OSError:
                        pass
        """),
    "a 1500-deep directory tree": attack("""
        import os
        for i in range(1500):
            os.mkdir("d")
            os.chdir("d")
        os.chmod(".", 0)
        """),
    "raising the hard limits": attack("""
        import resource
        def add(a, b):
            for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC):
                try:
                    resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                except (ValueError, OSError):
                    pass
            return a - b
        """),
}


@pytest.fixture(scope="module")
def pool():
    with open(CANARY, "w") as f:
        f.write("canary")
    cfg = SandboxConfig(pool_size=2, timeout_s=2, memory_mb=512, cache=False)
    with SandboxPool(cfg) as p:
        yield p
    os.remove(CANARY)


def host_state() -> dict:
    out = {}
    for path in HOST_FILES:
        try:
            with open(path, "rb") as f:
                out[path] = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            out[path] = type(e).__name__
    return out


def test_the_suite_is_large_enough():
    assert len(ATTACKS) >= 40


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_fails(pool, name):
    before = host_state()
    r = pool.run(Task(ATTACKS[name], TESTS))
    assert r.verdict != "sandbox_error", r
    assert not r.passed and r.n_passed == 0, (name, r.tests)
    assert all(t["trust"] == "isolated" for t in r.tests)
    assert len(r.stdout) <= pool.cfg.output_bytes and len(r.stderr) <= pool.cfg.output_bytes
    assert all(len(t.get("type") or "") <= 200 and len(t.get("message") or "") <= 2000 for t in r.tests)
    for _ in pool._all:  # the slot queue is FIFO: this visits every slot
        good, bad = pool.run(GOOD), pool.run(BAD)
        assert good.passed and good.n_passed == len(TESTS), (name, good.tests)
        assert bad.verdict == "failed" and bad.n_passed == 0, (name, bad.tests)
    assert pool.run(Task("import os\nprint(sorted(os.listdir('/tmp')), os.listdir('.'))")).stdout == "['task'] []\n"
    for slot in pool._all:
        if slot.cgroup is not None:
            with open(os.path.join(slot.cgroup.pids, "cgroup.procs")) as f:
                assert len(f.read().split()) == 2, "only bwrap and the server may remain in a slot"
    assert host_state() == before


def test_memory_is_bounded_per_slot_not_per_process(pool):
    slot = pool._all[0]
    if slot.cgroup is None or slot.cgroup.memory is None:
        pytest.skip("no memory cgroup here (not root, or cgroup v1 memory not mounted)")
    r = pool.run(Task(ATTACKS["memory across many processes"], ["assert add(1, 1) == 2"]))
    assert not r.passed
    with open(os.path.join(slot.cgroup.memory, "memory.max_usage_in_bytes")) as f:
        peak = int(f.read())
    assert peak <= (pool.cfg.memory_mb + 64) << 20


def test_a_flood_does_not_outlive_the_deadline(pool):
    r = pool.run(Task(ATTACKS["a flood on every pipe past the deadline"], ["assert add(1, 2) == 3"]))
    assert r.tests[0]["verdict"] in ("timeout", "output_limit", "failed")
    assert r.duration_s < 2 * pool.cfg.timeout_s + 2


def test_the_server_is_not_dumpable_and_runs_unprivileged(pool):
    slot = pool._all[0]
    if slot.cgroup is None:
        pytest.skip("needs the slot's cgroup to find its processes")
    with open(os.path.join(slot.cgroup.pids, "cgroup.procs")) as f:
        pids = f.read().split()
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert "0" not in uids, f"a sandbox process runs as host root: {uids}"
    r = pool.run(Task("import os\nfor p in ('/proc/1/fd', '/proc/1/mem', '/proc/1/environ', '/proc/1/maps'):\n"
                      "    try:\n        open(p, 'rb').read(1) if not p.endswith('fd') else os.listdir(p)\n"
                      "        print('OPEN', p)\n    except OSError as e:\n        print(type(e).__name__)\n"))
    assert "OPEN" not in r.stdout and r.stdout.count("FileNotFoundError") == 4  # no /proc at all


# -- tests that stay code: weaker (`in_process`), but the known tricks still fail ---------

CODE_TEST = "pairs = [(2, 3), (-1, 1), (10, 5)]\nfor a, b in pairs:\n    assert add(a, b) == a + b\n"
IN_PROCESS = ["patch strict_eq's code", "builtins.exec is a no-op", "builtins.eval returns an always-equal object",
              "always-equal result", "int subclass that equals everything", "str subclass", "list subclass",
              "sys.exit inside the call", "os._exit inside the call", "writing forged results to the server's stdout",
              "a daemon left behind to answer the next tasks", "patching os.write to drop the reports"]


@pytest.mark.parametrize("name", IN_PROCESS)
def test_known_tricks_fail_against_code_tests_too(pool, name):
    r = pool.run(Task(ATTACKS[name], [CODE_TEST]))
    assert r.tests[0]["trust"] == "in_process"
    assert not r.passed, (name, r.tests)
    good = pool.run(Task(GOOD.program, [CODE_TEST]))
    assert good.passed and good.tests[0]["trust"] == "in_process"


# -- found by an independent attack on this sandbox ----------------------------------------

def frame_forger(*reports: str) -> str:
    """The wrong `add`, which finds the harness's nonce and channel in its callers' frames and
    writes `reports` (report lines without the nonce) on the channel."""
    return attack(f"""
        import os, sys
        def add(a, b):
            f = sys._getframe(1)
            while f is not None and "nonce" not in f.f_locals:
                f = f.f_back
            if f is not None:
                for report in {list(reports)!r}:
                    os.write(f.f_locals["chan"], (f.f_locals["nonce"] + " " + report + "\\n").encode())
            return a - b
        """)


FRAME_FORGER = frame_forger("P ", "F {}")


def test_a_pass_reported_from_inside_never_passes_a_data_test(pool):
    r = pool.run(Task(FRAME_FORGER, TESTS))
    assert not r.passed and r.n_passed == 0, r.tests


@pytest.mark.parametrize("program, test", [
    ("import math\nmath.isclose = lambda *a, **k: True\n", "from math import isclose\nassert isclose(add(0.1, 0.2), 0.3)"),
    ("class math:\n    isclose = staticmethod(lambda *a, **k: True)\n", "assert math.isclose(add(0.1, 0.2), 0.3)"),
    ("import builtins\npow = lambda *a: None\nbuiltins.pow = pow\n", "assert add(2, 3) == pow(5, 1)"),
    ("import builtins\nbuiltins.range = lambda *a: [4]\n", "assert [add(2, 2)] == list(range(4, 5))"),
    ("import builtins\nbuiltins.str = lambda *a: 'x'\n", "assert str(add(2, 2)) == '4'"),
])
def test_library_calls_in_a_judgement_run_on_the_host(pool, program, test):
    r = pool.run(Task(WRONG.replace("a - b", "None") + program, [test]))
    assert not r.passed, r.tests
    good = pool.run(Task(GOOD.program, [test]))
    assert good.passed and good.isolated, good.tests


def test_shared_memory_left_behind_does_not_reach_the_next_task(pool):
    shm = ("import ctypes\nlibc = ctypes.CDLL(None)\nfor _ in range(5):\n"
           "    i = libc.shmget(0, 90 << 20, 0o1600)\n    libc.shmat.restype = ctypes.c_void_p\n"
           "    a = libc.shmat(i, None, 0)\n    if a and a != 2**64 - 1:\n        ctypes.memset(a, 1, 90 << 20)\n"
           + WRONG)
    pool.run(Task(shm, ["assert add(1, 2) == 3"]))
    big = ("def add(a, b):\n    x = bytearray(300 << 20)\n    for i in range(0, len(x), 4096):\n        x[i] = 1\n"
           "    return a + b\n")
    for _ in pool._all:
        assert pool.run(Task(big, ["assert add(1, 2) == 3"])).passed


def test_values_chosen_to_collide_are_refused_quickly(pool):
    import time

    program = "def uniq(n):\n    return [1 + j * (2**61 - 1) for j in range(n)]\n"
    t = time.monotonic()
    r = pool.run(Task(program, ["assert set(uniq(30000)) == {1}", "assert len(uniq(30000)) == 30000"]))
    assert time.monotonic() - t < 5
    assert [x["type"] for x in r.tests] == ["non_data_result", "non_data_result"]


def test_string_formatting_cannot_exhaust_the_host(pool):
    r = pool.run(Task("def add(a, b):\n    return '%0500000000d'\n", ["assert add(2, 2) % 2 == 0"]))
    assert r.tests[0]["verdict"] == "failed" and r.tests[0]["type"] == "HostLimit"


def test_replacing_the_scratch_directory_is_a_failure_not_an_infrastructure_error(pool):
    program = "import os\nos.rmdir('/tmp/task')\nopen('/tmp/task', 'w').write('x')\n" + WRONG
    r = pool.run(Task(program, ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]))
    assert r.verdict == "failed" and [t["verdict"] for t in r.tests] == ["failed", "failed"]


@pytest.mark.parametrize("program, test", [
    # a reference helper the test defines: its namesake in the program must not answer
    ("def ref(a, b):\n    return a - b\n", "def ref(a, b):\n    return a + b\nassert add(2, 3) == ref(2, 3)"),
    # methods of literals and constants the host does not evaluate would run in the sandbox
    ("import gc, ctypes\ngc.get_referents(str.__dict__)[0]['zfill'] = lambda self, n: str(add(2, 3))\n"
     "ctypes.pythonapi.PyType_Modified(ctypes.py_object(str))\n", "assert str(add(2, 3)) == '5'.zfill(1)"),
    ("", "s = '5'\nassert str(add(2, 3)) == s.zfill(1)"),
    # keyword arguments of host methods count
    ("", "assert str(add(2, 3)).split(sep=',') == ['5']"),
])
def test_what_the_judgement_calls_is_never_the_programs(pool, program, test):
    r = pool.run(Task(WRONG + program, [test]))
    assert not r.passed, r.tests
    assert pool.run(Task(GOOD.program, [test])).passed


def test_colliding_values_inside_pairs_and_dict_values_are_refused(pool):
    import time

    t = time.monotonic()
    r = pool.run(Task("def freq(s):\n    return [(1 + j * (2**61 - 1), j) for j in range(25000)]\n"
                      "def index(s):\n    return {j: 1 + j * (2**61 - 1) for j in range(25000)}\n",
                      ["assert dict(freq('aab')) == {'a': 2}", "assert set(index('ab').values()) == {1}"]))
    assert time.monotonic() - t < 5
    assert [x["type"] for x in r.tests] == ["non_data_result", "non_data_result"]


def test_huge_integers_and_ranges_are_bounded_on_the_host(pool):
    r = pool.run(Task("def big():\n    return 3 ** 2_000_000\ndef n():\n    return 10 ** 12\n",
                      ["assert big() % (big() - 1) == 1", "assert divmod(big(), big() - 1)[1] == 1",
                       "assert len(list(range(n()))) == 0"]))
    assert [x["type"] for x in r.tests] == ["HostLimit", "HostLimit", "HostLimit"]


def test_forged_reports_with_odd_indexes_or_a_harness_failure_are_not_infrastructure_errors(pool):
    r = pool.run(Task(frame_forger("V \u00b2 1", 'X {"type": "Boom"}'), TESTS))
    assert r.verdict == "failed" and r.n_passed == 0, r
