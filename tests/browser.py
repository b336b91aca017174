"""A small stdlib-only driver for Debian's headless Chromium, for browser tests.

It speaks the Chrome DevTools Protocol over ``--remote-debugging-pipe``: Chromium reads commands
from its fd 3 and writes responses and events to its fd 4, each message JSON ended by a NUL byte.
No websocket library, no Playwright, no Selenium, and no network: the browser is started with
background networking off and every host name failing to resolve (except localhost), so a page
that tries to reach the network shows up in ``failed_requests`` instead of hanging.

    from tests.browser import CHROMIUM, open_page

    @pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (bash .ci/setup --dev)")
    def test_report_draws_a_chart(tmp_path):
        page = open_page(tmp_path / "report.html", "document.querySelector('svg rect') !== null")
        assert page.value is True and page.console_errors == [] and page.failed_requests == []
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM: str | None = shutil.which("chromium")

POLL_INTERVAL_S = 0.05  # between two evaluations of `until`
_STOP_GRACE_S = 2.0  # Browser.close, then SIGTERM, then SIGKILL, each given this long
_FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
    "--metrics-recording-only",
    "--password-store=basic",
    "--mute-audio",
    # The network is closed: no name lookups leave the machine; requests fail at once instead.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--remote-debugging-pipe",
)


@dataclass
class PageResult:
    """What open_page saw. console_errors holds console.error/console.assert calls, uncaught
    exceptions and rejections, and Log errors (these include "Failed to load resource: ..." for
    each failed request, also listed in failed_requests as "URL: net::ERR_...")."""

    value: object  # the final value of the awaited expression (JSON-able)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)


class PageTimeoutError(TimeoutError):
    """`until` never became truthy (or the page never loaded) in time; `.result` holds the last
    value of `until` and the errors seen so far."""

    def __init__(self, message: str, result: PageResult):
        super().__init__(message)
        self.result = result


class BrowserError(RuntimeError):
    """Chromium failed: it exited, the page crashed, a command was refused, or `result` threw."""


def open_page(
    path_or_url: str | os.PathLike[str],
    until: str,
    *,
    timeout_s: float = 30.0,
    result: str | None = None,
) -> PageResult:
    """Load the page in a fresh headless Chromium, wait until the JS expression `until` is truthy,
    then evaluate `result` (defaults to `until`) and return it with the errors seen.

    A path is loaded as a file:// URL; anything with a scheme (file:, data:, http:...) as it is.
    Expressions may return promises (they are awaited) and must give JSON-able values. An
    exception thrown by `until` counts as falsy (the page may not have defined things yet). The
    whole call, browser start included, is bounded by `timeout_s`: past it a PageTimeoutError (a
    TimeoutError) is raised naming the expression, its last value and the errors collected.
    """
    if CHROMIUM is None:
        raise BrowserError("chromium is not installed (Debian: apt-get install chromium)")
    url = _to_url(path_or_url)
    deadline = time.monotonic() + timeout_s
    with _Chromium(CHROMIUM) as browser:
        return browser.run(url, until, result, deadline, timeout_s)


def _to_url(path_or_url: str | os.PathLike[str]) -> str:
    text = os.fspath(path_or_url)
    if isinstance(path_or_url, str) and (
        "://" in text or text.startswith(("about:", "data:", "file:"))
    ):
        return text
    path = Path(text).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no page at {path}")
    return path.as_uri()


def _truthy(obj: dict) -> bool:
    """JavaScript truthiness of a CDP RemoteObject fetched with returnByValue."""
    kind = obj.get("type")
    if kind == "undefined":
        return False
    if kind == "object":
        return obj.get("subtype") != "null"  # {} and [] are truthy in JS
    if "unserializableValue" in obj:
        return obj["unserializableValue"] not in ("NaN", "-0", "0n")
    if kind in ("function", "symbol"):
        return True
    return bool(obj.get("value"))  # strings, numbers, booleans: as in Python


def _value(obj: dict) -> object:
    if "value" in obj:
        return obj["value"]
    return obj.get("unserializableValue")  # "NaN", "Infinity", "5n"...; None for undefined


def _describe(obj: dict) -> str:
    """A console argument as DevTools would print it."""
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(obj.get("unserializableValue") or obj.get("description") or obj.get("type"))


def _where(url: str | None, line: int | None) -> str:
    if not url:
        return ""
    return f" ({url}:{line + 1})" if line is not None else f" ({url})"


class _Chromium:
    """One headless Chromium process, its CDP pipes, and one page session with its errors."""

    def __init__(self, executable: str):
        self.executable = executable
        self.pid: int | None = None
        self.tmp = self.log = ""
        self.fds: list[int] = []
        self.write_fd = self.read_fd = -1
        self.buffer = b""
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.session: str | None = None
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.requests: dict[str, str] = {}  # requestId -> URL
        self.main_frame_navigated = False
        self.loaded = False
        self.broken: str | None = None  # why the page can no longer answer

    # -- process ---------------------------------------------------------------------------------

    def __enter__(self) -> _Chromium:
        self.tmp = tempfile.mkdtemp(prefix="chromium-test-")
        try:
            self._spawn()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _spawn(self) -> None:
        self.log = os.path.join(self.tmp, "chromium.log")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        self.fds = [to_chrome_r, to_chrome_w, from_chrome_r, from_chrome_w]
        # Move the child's ends above 10 so that dup2 onto 3 and 4 cannot clobber one another;
        # the originals are close-on-exec, as Python makes every fd.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        self.fds.append(child_in)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        self.fds.append(child_out)
        args = [
            self.executable,
            *_FLAGS,
            f"--user-data-dir={os.path.join(self.tmp, 'profile')}",
            "about:blank",
        ]
        # posix_spawn rather than subprocess: Popen can pass fds but not renumber them to 3 and 4
        # without a preexec_fn. setsid puts Chromium and its helpers in a process group of their
        # own, so cleanup can signal all of them by the group id.
        self.pid = os.posix_spawn(
            self.executable,
            args,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                # Chromium's stderr noise goes to a file, so no pipe of ours can fill and block it.
                (os.POSIX_SPAWN_OPEN, 2, self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                (os.POSIX_SPAWN_DUP2, 2, 1),
                (os.POSIX_SPAWN_DUP2, child_in, 3),
                (os.POSIX_SPAWN_DUP2, child_out, 4),
            ],
            setsid=True,
        )
        # Keep only our ends, so that Chromium's exit shows as EOF on the read end.
        for fd in (to_chrome_r, from_chrome_w, child_in, child_out):
            self._close_fd(fd)
        self.write_fd, self.read_fd = to_chrome_w, from_chrome_r
        os.set_blocking(self.write_fd, False)

    def _close_fd(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.remove(fd)
            os.close(fd)

    def _exited(self, within: float) -> bool:
        """Has Chromium exited (within `within` seconds)? It is left a zombie (WNOWAIT), so its
        pid cannot be reused before the process group is swept."""
        end = time.monotonic() + within
        while True:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None and info.si_pid == self.pid:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.02)  # polling for exit during cleanup, not synchronising the page

    def __exit__(self, *exc_info) -> None:
        try:
            if self.pid is not None:
                if not self._exited(0) and self.write_fd in self.fds:
                    try:
                        self._send("Browser.close")
                    except (OSError, BrowserError, TimeoutError):
                        pass
                if not self._exited(_STOP_GRACE_S):
                    self._signal_group(signal.SIGTERM)
                    self._exited(_STOP_GRACE_S)
                self._signal_group(signal.SIGKILL)  # helpers left behind, or a hung browser
                os.waitpid(self.pid, 0)
                self.pid = None
        finally:
            for fd in list(self.fds):
                self._close_fd(fd)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def _stderr_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # -- protocol --------------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None,
              deadline: float | None = None) -> int:
        self.next_id += 1
        message: dict = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        end = time.monotonic() + 1.0 if deadline is None else deadline
        while data:
            try:
                data = data[os.write(self.write_fd, data):]
            except BlockingIOError:
                poller = select.poll()
                poller.register(self.write_fd, select.POLLOUT)
                if not poller.poll(max(0.0, end - time.monotonic()) * 1000):
                    raise TimeoutError(f"chromium does not read its pipe ({method})") from None
            except BrokenPipeError:
                raise self._died() from None
        return self.next_id

    def _died(self) -> BrowserError:
        return BrowserError(f"chromium exited unexpectedly; its stderr ends:\n{self._stderr_tail()}")

    def _pump(self, deadline: float) -> bool:
        """Handle the messages that arrive before `deadline`; return after the first batch (True),
        or False if none came in time."""
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            return False
        chunk = os.read(self.read_fd, 1 << 16)
        if not chunk:
            raise self._died()
        self.buffer += chunk
        *messages, self.buffer = self.buffer.split(b"\0")
        for raw in messages:
            message = json.loads(raw)
            if "id" in message:
                self.responses[message["id"]] = message
            else:
                self._on_event(message)
        return True

    def _drain(self, until: float, idle_return: bool = False) -> None:
        """Handle events until `until` (or, with idle_return, until none is waiting)."""
        while time.monotonic() < until:
            if not self._pump(time.monotonic() if idle_return else until) and idle_return:
                return

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             deadline: float) -> dict:
        """Send a command and wait for its result, handling the events that come meanwhile."""
        sent = self._send(method, params, session, deadline)
        while sent not in self.responses:
            if self.broken:
                raise BrowserError(f"{self.broken} (during {method})")
            if not self._pump(deadline) and time.monotonic() >= deadline:
                raise TimeoutError(f"no answer to {method}")
        response = self.responses.pop(sent)
        if "error" in response:
            error = response["error"]
            raise BrowserError(f"{method} failed: {error.get('message')} {error.get('data', '')}")
        return response.get("result", {})

    def _on_event(self, message: dict) -> None:
        method, params = message["method"], message.get("params", {})
        if method == "Target.detachedFromTarget" and params.get("sessionId") == self.session:
            self.broken = "the page was closed"
        if self.session is None or message.get("sessionId") != self.session:
            return
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(_describe(arg) for arg in params.get("args", []))
            if params["type"] == "assert":
                text = f"Assertion failed: {text}" if text else "Assertion failed"
            frames = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            where = _where(frames[0].get("url"), frames[0].get("lineNumber"))
            self.console_errors.append(f"console.{params['type']}: {text}{where}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception") or {}
            text = (exception.get("description") or _describe(exception)) if exception else ""
            where = _where(details.get("url"), details.get("lineNumber"))
            self.console_errors.append(f"{details.get('text', 'Uncaught')} {text}{where}".strip())
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                where = _where(entry.get("url"), entry.get("lineNumber"))
                self.console_errors.append(f"[{entry.get('source')}] {entry.get('text')}{where}")
        elif method == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = params.get("request", {}).get("url", "?")
        elif method == "Network.loadingFailed":
            url = self.requests.get(params.get("requestId"), "?")
            reason = params.get("blockedReason") or params.get("corsErrorStatus") or ""
            canceled = " (canceled)" if params.get("canceled") else ""
            detail = f" [{reason}]" if reason else ""
            self.failed_requests.append(f"{url}: {params.get('errorText')}{detail}{canceled}")
        elif method == "Page.frameNavigated" and not params.get("frame", {}).get("parentId"):
            self.main_frame_navigated, self.loaded = True, False
        elif method == "Page.loadEventFired" and self.main_frame_navigated:
            self.loaded = True
        elif method in ("Inspector.targetCrashed", "Target.targetCrashed"):
            self.broken = "the page crashed"
        elif method == "Inspector.detached":
            self.broken = f"the page detached: {params.get('reason')}"

    # -- the page --------------------------------------------------------------------------------

    def _evaluate(self, expression: str, deadline: float) -> dict:
        return self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True,
             "userGesture": False},
            session=self.session,
            deadline=deadline,
        )

    def _result(self, value: object) -> PageResult:
        return PageResult(value, list(self.console_errors), list(self.failed_requests))

    def run(self, url: str, until: str, result: str | None, deadline: float,
            timeout_s: float) -> PageResult:
        stage = "starting chromium"
        last: dict | None = None  # the last answer to `until`
        last_error = ""
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)
            attached = self.call(
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
                deadline=deadline,
            )
            self.session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=self.session, deadline=deadline)

            stage = f"loading {url}"
            navigation = self.call("Page.navigate", {"url": url}, session=self.session,
                                   deadline=deadline)
            if navigation.get("errorText"):
                raise BrowserError(f"could not load {url}: {navigation['errorText']}")
            while not self.loaded:
                if self.broken:
                    raise BrowserError(f"{self.broken} ({stage})")
                if not self._pump(deadline) and time.monotonic() >= deadline:
                    raise TimeoutError(stage)

            stage = f"waiting for {until!r}"
            while True:
                try:
                    answer = self._evaluate(until, deadline)
                except BrowserError as error:  # e.g. the context was replaced mid-navigation
                    if self.broken:
                        raise
                    last_error = str(error)
                else:
                    last = answer.get("result", {})
                    details = answer.get("exceptionDetails")
                    if details:
                        exception = details.get("exception") or {}
                        last_error = exception.get("description") or details.get("text", "")
                    elif _truthy(last):
                        break
                # Keep reading events between polls; return early only when the deadline is near.
                self._drain(min(deadline, time.monotonic() + POLL_INTERVAL_S))
                if time.monotonic() >= deadline:
                    raise TimeoutError(stage)

            stage = f"evaluating {result!r}"
            if result is not None:
                answer = self._evaluate(result, deadline)
                if answer.get("exceptionDetails"):
                    details = answer["exceptionDetails"]
                    exception = details.get("exception") or {}
                    raise BrowserError(
                        f"{result!r} threw: {exception.get('description') or details.get('text')}"
                        f"; console errors: {self.console_errors}"
                    )
                last = answer.get("result", {})
            self._drain(time.monotonic() + POLL_INTERVAL_S, idle_return=True)
            return self._result(_value(last))
        except TimeoutError:
            partial = self._result(None if last is None else _value(last))
            lines = [f"timed out after {timeout_s:g}s {stage}"]
            if last is not None:
                lines.append(f"last value: {json.dumps(partial.value)}")
            if last_error:
                lines.append(f"last error: {last_error}")
            lines.append(f"console errors: {partial.console_errors or 'none'}")
            lines.append(f"failed requests: {partial.failed_requests or 'none'}")
            raise PageTimeoutError("\n  ".join(lines), partial) from None
