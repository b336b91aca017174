"""Is the build that left this there still alive? Leases on staging areas and commit locks.

A lease is a small JSON file naming its owner (build id, host, boot, pid). Locally the owner
also holds an exclusive `flock` on it for as long as it lives, so the kernel answers the
question exactly: a process that died, by SIGKILL or otherwise, holds no lock. On an object
store there are no locks, so the owner rewrites its lease every `HEARTBEAT_S` and a lease is dead
once its heartbeat is `STALE_S` old (or, on the same machine, once its pid is gone).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid

from codekiln.transforms import fs

HEARTBEAT_S = 30.0
STALE_S = 15 * 60.0


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def owner() -> dict:
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid()}


class Lease:
    """Held by a live build: `acquire()` writes and holds it, `release()` lets go."""

    def __init__(self, path: str, build_id: str | None = None, shared: bool = False):
        self.path, self.shared = path, shared
        self.build_id = build_id or uuid.uuid4().hex
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def info(self) -> bytes:
        return json.dumps({"build": self.build_id, **owner(), "heartbeat": time.time()}).encode()

    def acquire(self) -> Lease:
        if fs.is_remote(self.path):
            fs.write_bytes(self.path, self.info())
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        elif self.shared:  # one lock file that every contender opens: wait for the flock
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.write(fd, self.info())
            self._fd = fd
        else:  # this owner's own file: locked before its name appears, so no checker sees it unheld
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{self.build_id}.tmp"
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, self.info())
            os.rename(tmp, self.path)
            self._fd = fd
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                fs.write_bytes(self.path, self.info())
            except Exception:  # a missed beat is survivable; the next one may land
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def alive(path: str) -> bool:
    """True while the lease's owner lives. A missing lease is dead; a local one nobody holds is
    dead; a fresh remote one is alive (or, on this machine, alive while its pid is)."""
    if not fs.is_remote(path):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # (also drops the shared lock just taken)
        return False
    try:
        info = json.loads(fs.read_bytes(path))
    except FileNotFoundError:
        return False
    except (ValueError, OSError):
        return True  # being written, or unreadable for now: assume alive, gc comes again
    me = owner()
    if info.get("host") == me["host"] and info.get("boot") == me["boot"] and info.get("boot"):
        return _pid_alive(int(info.get("pid", 0)))
    return time.time() - float(info.get("heartbeat", 0)) < STALE_S


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


TMP_PREFIX = "codekiln-"
TMP_LEASE = "_lease"  # no .json: a progress folder's .json files are the workers' counts


def leased_tmpdir(what: str) -> tuple[str, Lease]:
    """A local temp folder `codekiln-<what>-*` leased to this process, so that `clean_tmp` can
    tell the folder of a killed process from a live one's. The owner removes it when done."""
    path = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{what}-")
    return path, Lease(os.path.join(path, TMP_LEASE)).acquire()


def release_tmpdir(path: str, lease: Lease | None) -> None:
    if lease is not None:
        lease.release()
    shutil.rmtree(path, ignore_errors=True)


def clean_tmp() -> list[str]:
    """Remove the leased temp folders of processes that died (SIGKILL leaves them)."""
    removed = []
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(base, name)
        lease = os.path.join(path, TMP_LEASE)
        if name.startswith(TMP_PREFIX) and os.path.isfile(lease) and not alive(lease):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
