"""Answer matching (`matches_original`) by HF math-verify, from any thread, bounded in work.

math-verify's own timeouts use `signal.alarm`: off the main thread they raise ValueError (every
EFA came out invalid under Beam's multi_threading and multi_processing modes), and where they do
work they turn a slow comparison into a silent "no match" that depends on the machine's load.
So math-verify runs with its timeouts off, in a warm server process of its own
(`match_server.py`): each request in a fresh fork of it, counted in Python calls (a deterministic
budget), with CPU-time and wall-clock limits only as generous backstops. The calling thread just
writes a line and waits on a pipe, which works from any thread.

Limits are not verdicts: an answer over `MAX_ANSWER_CHARS` raises `AnswerLimit("too_large")`, a
comparison over its budget `AnswerLimit("budget_exceeded")`; callers turn them into rejects.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

SERVER_SOURCE = (Path(__file__).parent / "match_server.py").read_text()
MAX_ANSWER_CHARS = 1000  # a seed's answer or a candidate's LaTeX answer, each
MAX_CALLS = 5_000_000  # Python calls per comparison (typical answers: well under 100,000)
CPU_S = 60  # backstop: CPU seconds per comparison (the call budget runs out within ~10)
WALL_S = 300.0  # backstop: wall-clock seconds per comparison (a child that does not compute)
MEMORY_MB = 1024  # address space per comparison, above the server's own
START_S = 120.0  # for the server to import math-verify and warm up


class AnswerLimit(Exception):
    """No verdict: the inputs are too large, or the comparison ran out of its budget."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class MatchError(RuntimeError):
    """math-verify failed on these inputs in some other way (the server says how): the same on
    every run, so the caller may count it as no match."""


class AnswerServerError(RuntimeError):
    """The server itself failed (twice): no verdict."""


class AnswerMatcher:
    """One warm server, started on first use (one comparison at a time: threads that share it
    wait their turn). `close()` ends it; a server that dies is restarted once per request."""

    def __init__(self, max_chars: int = MAX_ANSWER_CHARS, max_calls: int = MAX_CALLS, cpu_s: int = CPU_S,
                 wall_s: float = WALL_S, memory_mb: int = MEMORY_MB):
        self.max_chars = max_chars
        self.cfg = {"max_calls": max_calls, "cpu_s": cpu_s, "wall_s": wall_s, "memory_mb": memory_mb}
        self._proc: subprocess.Popen | None = None
        self._buf = b""
        self._lock = threading.Lock()
        self.last_calls: int | None = None  # work of the last comparison (for tests and tuning)

    def match(self, gold: str, pred: str) -> bool:
        """Does `pred` (LaTeX) equal `gold` (LaTeX or a number), by math-verify?"""
        for what, text in (("the seed's answer", gold), ("the candidate's answer", pred)):
            if len(text) > self.max_chars:
                raise AnswerLimit("too_large", f"{what} has {len(text)} characters (at most {self.max_chars})")
        with self._lock:
            reply = self._ask({"gold": gold, "pred": pred})
        self.last_calls = reply.get("calls")
        if "over" in reply:  # one text whichever limit it was: the reject does not depend on the machine
            raise AnswerLimit("budget_exceeded", f"comparing {pred!r} with {gold!r} exceeded the budget of "
                                                 f"{self.cfg['max_calls']:,} Python calls ({self.cfg['cpu_s']} s of CPU, "
                                                 f"{self.cfg['memory_mb']} MB)")
        if "fault" in reply:
            raise AnswerServerError(str(reply["fault"]))
        if "error" in reply:
            raise MatchError(str(reply["error"]))
        return bool(reply["match"])

    def _ask(self, req: dict) -> dict:
        line = (json.dumps(req) + "\n").encode()
        for attempt in (0, 1):
            try:
                self._start()
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
                return self._read(self.cfg["wall_s"] + 30)
            except (OSError, EOFError, TimeoutError, ValueError) as e:
                self._stop()
                if attempt:
                    raise AnswerServerError(f"the answer server failed: {type(e).__name__}: {e}") from None
        raise AssertionError("unreachable")

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from the answer server")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("the answer server exited")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ValueError("a reply is a JSON object")
        return reply

    def _start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        self._proc = subprocess.Popen([sys.executable, "-P", "-c", SERVER_SOURCE, json.dumps(self.cfg)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      env=env, cwd="/", bufsize=0, close_fds=True)
        self._buf = b""
        if not self._read(START_S).get("ready"):
            raise ValueError("the answer server did not start")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> AnswerMatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


class MatcherPool:
    """Up to `size` matchers (servers, started on demand) shared by every thread of a process:
    a thread takes an idle one, so one slow comparison does not hold up the others."""

    def __init__(self, size: int | None = None, **kw):
        self.size = size or os.cpu_count() or 1
        self.kw = kw
        self._idle: list[AnswerMatcher] = []
        self._all: list[AnswerMatcher] = []
        self._cond = threading.Condition()

    def match(self, gold: str, pred: str) -> bool:
        with self._cond:
            while not self._idle and len(self._all) >= self.size:
                self._cond.wait()
            if self._idle:
                m = self._idle.pop()
            else:
                m = AnswerMatcher(**self.kw)
                self._all.append(m)
        try:
            return m.match(gold, pred)
        finally:
            with self._cond:
                self._idle.append(m)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            for m in self._all:
                m.close()


_DEFAULT: MatcherPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_matcher() -> MatcherPool:
    """The process's matchers: one server per concurrent caller, up to the number of cores
    (each ~80 MB; they end with the process, when their stdin closes)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MatcherPool()
            atexit.register(_DEFAULT.close)
        return _DEFAULT
