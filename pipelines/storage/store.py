"""The versioned store: `<root>/<dataset>/v<N>/{data/,rejects/,manifest.json}`.

The commit protocol (one dataset):

1. A build writes into `<dataset>/_staging/<build id>/`, which holds a lease (`_lease.json`)
   for as long as the build lives.
2. To commit it takes the dataset's commit lock (`_commit.lock`: a `flock` locally; on `gs://`
   an object created with a generation-match precondition, broken only once its owner is dead).
3. Under the lock it decides "unchanged" against the latest committed version, and otherwise
   reserves `v<N>` (one above every version directory present, finished or not) with an
   exclusive create of `v<N>/_reserved.json`, moves exactly its own staged files in, and writes
   `manifest.json` with an exclusive create: that is the commit point. A version exists only once
   its manifest does, so readers never see a half-written build; nothing is ever overwritten.
4. It drops the reservation, the lock and its staging area.

A build killed anywhere in between leaves debris no reader sees; `gc` (run by every build
before it starts, and by `codekiln gc`) removes what dead builds left, under the same lock.
The manifest records each file's size, row count and sha256, which `verify` checks; readers
check sizes and skip (and name) a broken version instead of failing on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid

from codekiln.pipelines.storage.manifest import Manifest
from codekiln.transforms import fs
from codekiln.transforms.fs import file_digest
from codekiln.transforms.lease import Lease, alive

VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
MANIFEST = "manifest.json"
STAGING = "_staging"
LEASE = "_lease.json"
RESERVED = "_reserved.json"
COMMIT_LOCK = "_commit.lock"


class StoreError(RuntimeError):
    pass


def read_json(path: str):
    return json.loads(fs.read_bytes(path).decode())


def _pause(step: str) -> None:
    """Test hook: `CODEKILN_COMMIT_PAUSE=S` waits S seconds after each commit step (`STEP:S`:
    after that step only), and `CODEKILN_COMMIT_TRACE=FILE` appends each step's name, so tests
    can race a commit, or kill it, at any point of it."""
    trace = os.environ.get("CODEKILN_COMMIT_TRACE")
    if trace:
        with open(trace, "a") as f:
            f.write(f"{os.getpid()} {step}\n")
    spec = os.environ.get("CODEKILN_COMMIT_PAUSE") or ""
    only, _, seconds = spec.rpartition(":")
    if seconds and (not only or only == step):
        time.sleep(float(seconds))


class Store:
    def __init__(self, root: str):
        self.root = root.rstrip("/") if fs.is_remote(root) else root
        self.problems: list[str] = []  # broken versions readers skipped: "path: why", one each
        self._leases: dict[str, Lease] = {}

    # -- reading --------------------------------------------------------------------------

    def datasets(self) -> list[str]:
        return [d for d in fs.children(self.root) if not d.startswith((".", "_"))]

    def manifests(self, dataset: str | None = None, check: bool = True) -> list[dict]:
        """Committed versions (those with a manifest), sorted by dataset then version number.
        A version whose manifest does not parse, or (with `check`) whose files are missing or
        of the wrong size, is skipped and named in `self.problems`."""
        out = []
        for path in fs.match(fs.join(self.root, dataset or "*", "v*", MANIFEST)):
            parts = path.replace("\\", "/").split("/")
            if not VERSION_RE.match(parts[-2]):
                continue
            try:
                m = read_json(path)
                if not isinstance(m, dict):
                    raise ValueError("not a codekiln manifest (not a JSON object)")
                Manifest.of(m)  # typed: a manifest that does not fit the model is broken, not half-read
            except (ValueError, UnicodeDecodeError) as e:
                self._problem(f"{path}: the manifest does not parse ({type(e).__name__}: {str(e)[:120]})")
                continue
            bad = self.check(m) if check else []
            if bad:
                self._problem(f"{self.version_dir(m['dataset'], m['version'])}: {bad[0]}"
                              + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
                continue
            out.append(m)
        return sorted(out, key=lambda m: (m["dataset"], m["version_number"]))

    def _problem(self, line: str) -> None:
        if line not in self.problems:
            self.problems.append(line)

    def latest(self, dataset: str) -> dict | None:
        versions = self.manifests(dataset)
        return versions[-1] if versions else None

    def resolve(self, ref: str, check: bool = True) -> dict:
        """`name` (latest) or `name@v3` -> that version's manifest."""
        name, _, version = ref.partition("@")
        versions = self.manifests(name, check=check)
        broken = [p for p in self.problems if f"/{name}/" in p.replace("\\", "/")]
        if not versions:
            hint = f" ({broken[0]})" if broken else ""
            raise StoreError(f"no dataset {name!r} in {self.root}{hint}")
        if not version:
            return versions[-1]
        for m in versions:
            if m["version"] == version:
                return m
        here = [p for p in broken if f"/{name}/{version}" in p.replace("\\", "/")]
        if here:
            raise StoreError(f"{name}@{version} is broken: {here[0]}")
        known = ", ".join(m["version"] for m in versions)
        raise StoreError(f"{name} has no version {version!r} (versions: {known})")

    def version_dir(self, dataset: str, version: str) -> str:
        return fs.join(self.root, dataset, version)

    def files(self, manifest: dict, split: str | None = None) -> list[str]:
        """Paths of a version's data files (one split or all), exactly as its manifest lists them."""
        base = self.version_dir(manifest["dataset"], manifest["version"])
        splits = [split] if split else sorted(manifest["splits"])
        return [fs.join(base, rel) for s in splits for rel in manifest["splits"][s]["files"]]

    def reject_files(self, manifest: dict) -> list[str]:
        base = self.version_dir(manifest["dataset"], manifest["version"])
        return [fs.join(base, rel) for rel in manifest["rejects"]["files"]]

    def _listed(self, manifest: dict) -> list[str]:
        return ([rel for s in sorted(manifest["splits"]) for rel in manifest["splits"][s]["files"]]
                + list(manifest["rejects"]["files"]))

    def check(self, manifest: dict, deep: bool = False) -> list[str]:
        """What is wrong with a version's files: each listed file exists with its recorded size
        and (`deep`) its recorded sha256 and Parquet row count. [] when nothing is."""
        base = self.version_dir(manifest["dataset"], manifest["version"])
        recorded = manifest.get("files") or {}
        bad = []
        for rel in self._listed(manifest):
            path, want = fs.join(base, rel), recorded.get(rel)
            size = fs.size(path)
            if size is None:
                bad.append(f"{path}: missing")
                continue
            if want and size != want["bytes"]:
                bad.append(f"{path}: {size} bytes, the manifest says {want['bytes']}")
                continue
            if not deep:
                continue
            if want and file_digest(path)[1] != want["sha256"]:
                bad.append(f"{path}: sha256 differs from the manifest's")
                continue
            rows = _parquet_rows(path)
            if isinstance(rows, str):
                bad.append(f"{path}: not readable Parquet ({rows})")
            elif want and rows != want["rows"]:
                bad.append(f"{path}: {rows} rows, the manifest says {want['rows']}")
        if deep and not recorded:  # a version from before per-file records: the totals at least
            for split, info in manifest["splits"].items():
                n = sum(r for r in map(_parquet_rows, self.files(manifest, split)) if isinstance(r, int))
                if n != info["rows"]:
                    bad.append(f"{base}: split {split} has {n} rows, the manifest says {info['rows']}")
        return bad

    # -- writing --------------------------------------------------------------------------

    def new_staging(self, dataset: str) -> str:
        """A fresh staging area, leased to this process until `discard_staging`."""
        build = uuid.uuid4().hex
        path = fs.join(self.root, dataset, STAGING, build)
        fs.mkdirs(path)
        self._leases[path] = Lease(fs.join(path, LEASE), build).acquire()
        return path

    def discard_staging(self, staging: str) -> None:
        lease = self._leases.pop(staging, None)
        fs.delete_tree(staging)
        if lease is not None:
            lease.release()

    @contextlib.contextmanager
    def commit_lock(self, dataset: str):
        """Exclusive across processes and machines: one commit (or gc) of a dataset at a time."""
        path = fs.join(self.root, dataset, COMMIT_LOCK)
        if not fs.is_remote(path):
            lease = Lease(path, shared=True).acquire()  # blocks on the flock while another holds it
            try:
                yield
            finally:
                lease.release()
            return
        lease = Lease(path)
        delay = 0.05
        while not fs.create_exclusive(path, lease.info()):
            if not alive(path):  # its owner died holding it
                fs.delete(path)
                continue
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        lease.acquire()  # keep its heartbeat going while the commit runs
        try:
            yield
        finally:
            lease.release()
            fs.delete(path)

    def _version_numbers(self, dataset: str) -> list[int]:
        return sorted(int(m.group(1)) for name in fs.children(fs.join(self.root, dataset))
                      if (m := VERSION_RE.match(name)))

    def commit(self, dataset: str, staging: str, manifest: dict, moves: list[tuple[str, str]]) -> tuple[str, dict]:
        """Commit a finished build's files (temp path -> path relative to the version) as the
        next version, or find its content is the latest's: ("created" | "unchanged", manifest)."""
        _pause("staged")
        with self.commit_lock(dataset):
            _pause("locked")
            latest = self.latest(dataset)
            if latest and latest["fingerprint"] == manifest["fingerprint"]:
                self.discard_staging(staging)
                return "unchanged", latest
            number = max(self._version_numbers(dataset), default=0) + 1
            version = f"v{number}"
            target = self.version_dir(dataset, version)
            reservation = json.dumps({"build": os.path.basename(staging.rstrip("/"))}).encode()
            if not fs.create_exclusive(fs.join(target, RESERVED), reservation):
                raise StoreError(f"{dataset}/{version} is reserved by another build although this one "
                                 "holds the commit lock (a store shared without locking?)")
            _pause("reserved")
            for src, rel in moves:
                fs.rename(src, fs.join(target, rel))
                _pause("moved")
            manifest = dict(manifest, version=version, version_number=number,
                            parent=latest["version"] if latest else None)
            if not fs.create_exclusive(fs.join(target, MANIFEST), json.dumps(manifest, indent=2).encode()):
                raise StoreError(f"{dataset}/{version} already has a manifest")
            _pause("manifest")
            fs.delete(fs.join(target, RESERVED))
        self.discard_staging(staging)
        _pause("done")
        return "created", manifest

    def gc(self, dataset: str | None = None, dry_run: bool = False) -> list[str]:
        """Remove what dead builds left: staging areas whose lease nobody holds, version
        directories without a manifest, reservations left in committed versions. Returns the
        paths removed (or that would be, with `dry_run`)."""
        removed = []
        for name in [dataset] if dataset else self.datasets():
            base, dead = fs.join(self.root, name), []
            with self.commit_lock(name):
                for build in fs.children(fs.join(base, STAGING)):
                    path = fs.join(base, STAGING, build)
                    if not alive(fs.join(path, LEASE)) and _old_enough(path):
                        dead.append(path)
                for number in self._version_numbers(name):
                    path = fs.join(base, f"v{number}")
                    if not fs.exists(fs.join(path, MANIFEST)):
                        dead.append(path)  # no commit is running: we hold the lock
                    elif fs.exists(fs.join(path, RESERVED)):
                        dead.append(fs.join(path, RESERVED))
                if not dry_run:
                    for path in dead:
                        fs.delete_tree(path)
            removed += dead
        return removed


def _old_enough(path: str, grace_s: float = 60.0) -> bool:
    """A staging area is leased right after it is made: one without a lease is debris only once
    it is older than a moment (local; an object store's lease is its first object)."""
    if fs.is_remote(path) or fs.exists(fs.join(path, LEASE)):
        return True
    try:
        return time.time() - os.path.getmtime(path) > grace_s
    except OSError:
        return False


def _parquet_rows(path: str) -> int | str:
    import pyarrow.parquet as pq

    try:
        with fs.open_read(path) as f:
            return pq.ParquetFile(f).metadata.num_rows
    except Exception as e:  # truncated, not Parquet, unreadable
        return f"{type(e).__name__}: {str(e)[:120]}"
