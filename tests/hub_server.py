"""A loopback fake of the Hugging Face Hub HTTP API, for tests that must run offline.

Point a client process at it with ``HF_ENDPOINT=<FakeHub.url>`` (read by ``huggingface_hub`` at
import time), ``HF_HUB_DISABLE_XET=1`` and ``HF_TOKEN=<token>``; the real ``huggingface_hub`` and
``datasets`` libraries then create repos, commit, tag, list and download against it.

Repos live in memory, keyed by (repo type, repo id). Like on the Hub, a new repo starts with an
"initial commit" holding ``.gitattributes`` (``*.parquet`` goes to LFS). Every commit is an
immutable ``{path: bytes}`` snapshot (real contents, LFS files too) with a 40-hex oid, a parent and
the set of its paths stored as LFS; branches and tags map names to commit oids. A revision is a
branch, a tag or a full commit oid. Writes need ``Authorization: Bearer <token>`` (else 401 + JSON
error); reads are anonymous for public repos, private repos answer "not found" without the token.

Git LFS works as on the Hub: preupload answers ``lfs`` for paths matched by a ``filter=lfs`` line of
the branch's ``.gitattributes`` (fnmatch on the full path and on the basename) and for files over
10 MB; the client then asks the LFS batch endpoint, PUTs each missing object to the presigned-style
URL it got (no Authorization header; the sha256 and size are checked), verifies it, and commits an
``lfsFile`` line naming the sha256. Each repo keeps its LFS objects in ``Repo.lfs_objects``; every
completed PUT appends the object's sha256 to ``FakeHub.lfs_uploads``. For LFS files the tree and
paths-info entries carry ``lfs: {oid, size, pointerSize}`` (and ``oid`` is the git oid of the
pointer file), siblings carry ``lfs: {sha256, size, pointerSize}``, and resolve adds
``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``. Resolve serves the bytes itself rather than
redirecting to a CDN.

Endpoints (``{t}`` is models|datasets|spaces, ``{repo}`` is ``namespace/name``):

* ``POST /api/repos/create`` -- 409 with the repo ``url`` if it exists (``exist_ok`` relies on it).
* ``GET /api/{t}/{repo}[/revision/{rev}]`` -- repo info (sha, private, siblings).
* ``GET /api/{t}/{repo}/refs``, ``GET /api/{t}/{repo}/commits/{rev}`` -- refs and history.
* ``GET /api/{t}/{repo}/tree/{rev}[/{path}]`` -- ``recursive`` and ``expand`` (lastCommit) params.
* ``POST /api/{t}/{repo}/paths-info/{rev}`` -- form body ``paths=...&expand=...``.
* ``POST /api/{t}/{repo}/preupload/{rev}`` -- ``uploadMode`` lfs or regular (see above), and the
  remote ``oid`` (sha256 for LFS files, git blob sha1 otherwise) so unchanged files are skipped.
* ``POST /[datasets/|spaces/]{repo}.git/info/lfs/objects/batch`` -- LFS batch API, ``upload`` only,
  ``basic`` transfer (never multipart): per object ``actions.upload`` + ``actions.verify``, or no
  actions when the repo already stores it. Invalid oids/sizes get a per-object ``error``.
* ``PUT /lfs-upload/{id}`` -- the upload href; 400 on sha256/size mismatch or an Authorization
  header (like S3 presigned URLs), 403 for an unknown id.
* ``POST /[datasets/|spaces/]{repo}.git/info/lfs/objects/verify`` -- ``{oid, size}``; 404 if not
  stored.
* ``POST /api/{t}/{repo}/commit/{branch}`` -- NDJSON: header, file, lfsFile (400 if the object was
  not uploaded or its size differs), deletedFile, deletedFolder.
* ``POST /api/{t}/{repo}/tag/{rev}`` -- 409 if the tag exists.
* ``POST /api/validate-yaml`` (create_commit checks README.md with it), ``GET /api/whoami-v2``.
* ``HEAD|GET /[datasets/|spaces/]{repo}/resolve/{rev}/{path}`` -- with ETag, X-Repo-Commit and
  Content-Length headers (plus X-Linked-Etag/X-Linked-Size for LFS files) as ``hf_hub_download``
  expects, and ``Range`` support for HfFileSystem.

Errors carry the ``X-Error-Code`` header (RepoNotFound, RevisionNotFound, EntryNotFound) that
``huggingface_hub`` maps to its exception types. Anything else answers 404 and is appended to
``FakeHub.unhandled``; every request is recorded in ``FakeHub.requests``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import posixpath
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
API_RE = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/([a-z-]+)(?:/(.*))?)?$")
API_ROUTES = {  # (method, action) -> handler method name
    ("GET", None): "_get_info",
    ("GET", "revision"): "_get_info",
    ("GET", "refs"): "_get_refs",
    ("GET", "commits"): "_get_commits",
    ("GET", "tree"): "_get_tree",
    ("POST", "paths-info"): "_post_paths_info",
    ("POST", "preupload"): "_post_preupload",
    ("POST", "commit"): "_post_commit",
    ("POST", "tag"): "_post_tag",
}
WRITE_ACTIONS = {"preupload", "commit", "tag"}
RESOLVE_RE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
LFS_API_RE = re.compile(
    r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)\.git/info/lfs/objects/(batch|verify)$"
)
LFS_UPLOAD_RE = re.compile(r"^/lfs-upload/([0-9a-f]{32})$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub stores files larger than this in LFS whatever the path


def blob_oid(data: bytes) -> str:
    """Git blob sha1, what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The Git LFS pointer file git stores in place of an LFS file's contents."""
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n".encode()


def matches_lfs(gitattributes: bytes, path: str) -> bool:
    """Whether ``.gitattributes`` puts ``path`` in LFS: the last line whose pattern matches the path
    (or its basename) and that sets ``filter`` decides. Simple globs only (no ``**`` semantics)."""
    lfs, name = False, posixpath.basename(path)
    for line in gitattributes.decode("utf-8", "replace").splitlines():
        pattern, *attrs = line.split() or ["#"]
        pattern = pattern.lstrip("/")
        matched = fnmatchcase(path, pattern) or fnmatchcase(name, pattern)
        if pattern.startswith("#") or not matched:
            continue
        for attr in attrs:
            if attr.startswith("filter="):
                lfs = attr == "filter=lfs"
            elif attr in ("-filter", "!filter"):
                lfs = False
    return lfs


@dataclass(frozen=True)
class Commit:
    """An immutable snapshot of the whole repo; ``parent`` is None for the initial commit."""

    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    date: str
    lfs: frozenset[str] = frozenset()  # paths of ``files`` stored as LFS objects

    def git_oid(self, path: str) -> str:
        """The oid git (and the tree API) gives the file: of the pointer file for LFS files."""
        data = self.files[path]
        return blob_oid(lfs_pointer(data) if path in self.lfs else data)

    def remote_oid(self, path: str) -> str:
        """The oid preupload reports, compared by the client with its local one: sha256 for LFS."""
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if path in self.lfs else blob_oid(data)

    def lfs_info(self, path: str) -> dict | None:
        """``{oid, size, pointerSize}`` like tree entries show for LFS files, else None."""
        if path not in self.lfs:
            return None
        data = self.files[path]
        oid, pointer_size = hashlib.sha256(data).hexdigest(), len(lfs_pointer(data))
        return {"oid": oid, "size": len(data), "pointerSize": pointer_size}


@dataclass
class Repo:
    """One repo's history; ``branches`` and ``tags`` map names to commit oids."""

    repo_type: str
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)  # oldest first
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> contents

    def get(self, oid: str | None) -> Commit | None:
        return next((c for c in self.commits if c.oid == oid), None)

    def resolve(self, revision: str) -> Commit | None:
        return self.get(self.branches.get(revision) or self.tags.get(revision) or revision)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **extra: str):
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


class FakeHub:
    """The fake Hub server and its state. Inspect it from tests while (or after) it runs.

    * ``url`` -- ``http://127.0.0.1:PORT`` once started; use it as ``HF_ENDPOINT``.
    * ``requests`` -- ``(method, path, Authorization header or None)`` per request; the path is
      as sent (percent-encoded), without the query string.
    * ``unhandled`` -- ``(method, raw path)`` of requests no endpoint matched (answered 404).
    * ``lfs_uploads`` -- sha256 oid of every LFS object uploaded (PUT accepted), in order.
    * ``repo(repo_id, repo_type="dataset")`` -- the :class:`Repo` (KeyError if missing).
    """

    def __init__(self, token: str = "hf_test_token", username: str = "test-user"):
        self.token, self.username = token, username
        self.url = ""
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.lfs_uploads: list[str] = []
        self.upload_urls: dict[str, tuple[Repo, str, int]] = {}  # upload id -> (repo, oid, size)
        self.lock = threading.RLock()
        self._counter = itertools.count()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def repo_url(self, repo: Repo) -> str:
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return f"{self.url}/{prefix}{repo.repo_id}"

    def add_commit(
        self,
        repo: Repo,
        branch: str,
        message: str,
        files: dict[str, bytes],
        lfs: Iterable[str] = (),
    ) -> Commit:
        """Append a snapshot on top of ``branch`` (created if missing) and move the branch to it.
        ``lfs`` names the paths stored as LFS; their contents join the repo's LFS objects."""
        lfs_paths = frozenset(lfs)
        if missing := lfs_paths - files.keys():
            raise ValueError(f"LFS paths not in the commit: {sorted(missing)}")
        for path in lfs_paths:
            repo.lfs_objects[hashlib.sha256(files[path]).hexdigest()] = files[path]
        parent = repo.branches.get(branch)
        seed = json.dumps([next(self._counter), parent, message, sorted(files)]).encode()
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        oid = hashlib.sha1(seed).hexdigest()
        commit = Commit(oid, parent, message, dict(files), date, lfs_paths)
        repo.commits.append(commit)
        repo.branches[branch] = commit.oid
        return commit

    def last_commit(self, repo: Repo, head: Commit, path: str) -> dict[str, str]:
        """The most recent ancestor of ``head`` that changed ``path`` (a file or a folder)."""

        def view(c: Commit) -> dict[str, tuple[bytes, bool]]:
            return {
                p: (d, p in c.lfs)
                for p, d in c.files.items()
                if p == path or p.startswith(path + "/")
            }

        cur = head
        while (parent := repo.get(cur.parent)) is not None and view(parent) == view(cur):
            cur = parent
        return {"id": cur.oid, "title": cur.message, "date": cur.date}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined]

    def _handle(self) -> None:
        split = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.body = self._read_chunked()
        else:
            self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.hub.requests.append((self.command, split.path, self.headers.get("Authorization")))
        headers: dict[str, str] = {"Content-Type": "application/json"}
        try:
            with self.hub.lock:
                status, payload = self._route(split.path, headers)
        except HubError as e:
            status, payload = e.status, {"error": str(e)}
            message = str(e).encode("ascii", "replace").decode()  # headers must be latin-1
            headers.update({"X-Error-Message": message, **e.extra})
            if e.code:
                headers["X-Error-Code"] = e.code
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after the chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _require_write(self) -> None:
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._authorized()):
            status = 404 if self._authorized() else 401
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _json(self) -> dict:
        return json.loads(self.body or b"{}")

    # -- routing ------------------------------------------------------------------------------
    def _route(self, path: str, headers: dict[str, str]) -> tuple[int, object]:
        method = self.command
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo()
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if method == "GET" and path == "/api/whoami-v2":
            self._require_write()
            return 200, {"type": "user", "name": self.hub.username, "orgs": []}
        if m := RESOLVE_RE.match(path):
            if method in ("GET", "HEAD"):
                repo = self._repo((m[1] or "models")[:-1], m[2])
                return self._resolve(repo, unquote(m[3]), unquote(m[4]), headers)
        elif m := LFS_API_RE.match(path):
            if method == "POST":
                self._require_write()
                repo = self._repo((m[1] or "models")[:-1], m[2])
                if m[3] == "batch":
                    return self._lfs_batch(repo, headers)
                return self._lfs_verify(repo)
        elif m := LFS_UPLOAD_RE.match(path):
            if method == "PUT":
                return self._lfs_put(m[1])
        elif (m := API_RE.match(path)) and (name := API_ROUTES.get((method, m[3]))):
            if m[3] in WRITE_ACTIONS:
                self._require_write()
            repo = self._repo(m[1][:-1], m[2])
            revision, _, sub_path = (m[4] or "").partition("/")
            return getattr(self, name)(repo, unquote(revision), unquote(sub_path))
        self.hub.unhandled.append((method, self.path))
        raise HubError(404, f"FakeHub does not implement {method} {path}")

    # -- read endpoints -----------------------------------------------------------------------
    def _resolve(self, repo: Repo, rev: str, path: str, headers: dict) -> tuple[int, bytes]:
        commit = self._commit(repo, rev)
        headers["X-Repo-Commit"] = commit.oid
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound", **{"X-Repo-Commit": commit.oid})
        data = commit.files[path]
        headers["Content-Type"] = "application/octet-stream"
        headers["ETag"] = f'"{commit.git_oid(path)}"'
        if lfs := commit.lfs_info(path):  # what hf_hub_download reads first for LFS files
            headers["X-Linked-Etag"] = f'"{lfs["oid"]}"'
            headers["X-Linked-Size"] = str(lfs["size"])
        headers["Accept-Ranges"] = "bytes"
        if r := re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "")):
            if r[1]:  # bytes=start-[end]
                start, end = int(r[1]), min(int(r[2] or len(data) - 1), len(data) - 1)
            else:  # bytes=-suffix_length
                start, end = max(len(data) - int(r[2] or 0), 0), len(data) - 1
            if start > end:
                raise HubError(416, f"Range not satisfiable for {len(data)} bytes")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, data[start : end + 1]
        return 200, data

    def _get_info(self, repo: Repo, revision: str, _: str) -> tuple[int, dict]:
        commit = self._commit(repo, revision or "main")
        siblings = []
        for path, data in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path, "size": len(data)}
            if lfs := commit.lfs_info(path):  # repo info spells the LFS oid "sha256"
                sibling["lfs"] = {
                    "sha256": lfs["oid"],
                    "size": lfs["size"],
                    "pointerSize": lfs["pointerSize"],
                }
            siblings.append(sibling)
        return 200, {
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "createdAt": repo.commits[0].date,
            "lastModified": commit.date,
            "tags": [],
            "siblings": siblings,
        }

    def _get_refs(self, repo: Repo, *_: str) -> tuple[int, dict]:
        def refs(names: dict[str, str], kind: str) -> list[dict]:
            return [
                {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": o} for n, o in names.items()
            ]

        branches, tags = refs(repo.branches, "heads"), refs(repo.tags, "tags")
        return 200, {"branches": branches, "tags": tags, "converts": [], "pullRequests": []}

    def _get_commits(self, repo: Repo, revision: str, _: str) -> tuple[int, list]:
        commit: Commit | None = self._commit(repo, revision)
        history = []  # newest first, like the Hub
        while commit is not None:
            author = {"user": self.hub.username}
            info = {"id": commit.oid, "title": commit.message, "message": "", "date": commit.date}
            history.append({**info, "authors": [author]})
            commit = repo.get(commit.parent)
        return 200, history

    def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict:
        if path in commit.files:
            oid, size = commit.git_oid(path), len(commit.files[path])
            entry: dict = {"type": "file", "oid": oid, "size": size, "path": path}
            if lfs := commit.lfs_info(path):
                entry["lfs"] = lfs
        else:
            under = sorted((p, commit.git_oid(p)) for p in commit.files if p.startswith(path + "/"))
            tree_oid = hashlib.sha1(json.dumps(under).encode()).hexdigest()
            entry = {"type": "directory", "oid": tree_oid, "size": 0, "path": path}
        if expand:
            entry["lastCommit"] = self.hub.last_commit(repo, commit, path)
        return entry

    def _get_tree(self, repo: Repo, revision: str, base: str) -> tuple[int, list]:
        commit = self._commit(repo, revision)
        prefix = base.strip("/") + "/" if base.strip("/") else ""
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        expand = self.query.get("expand", "").lower() in ("1", "true")
        paths: dict[str, None] = {}  # insertion-ordered set: folders before their contents
        for path in sorted(p for p in commit.files if p.startswith(prefix)):
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts) + 1 if recursive else 2):
                paths[prefix + "/".join(parts[:depth])] = None
        if prefix and not paths:
            raise HubError(404, f"{base} does not exist on {commit.oid}", "EntryNotFound")
        return 200, [self._entry(repo, commit, p, expand) for p in paths]

    def _post_paths_info(self, repo: Repo, revision: str, _: str) -> tuple[int, list]:
        commit = self._commit(repo, revision)
        form = parse_qs(self.body.decode())
        expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        paths = [p.strip("/") for p in form.get("paths", [])]
        found = [
            p
            for p in paths
            if p in commit.files or any(f.startswith(p + "/") for f in commit.files)
        ]
        return 200, [self._entry(repo, commit, p, expand) for p in found]

    # -- write endpoints ----------------------------------------------------------------------
    def _create_repo(self) -> tuple[int, dict]:
        self._require_write()
        body = self._json()
        repo_type = body.get("type") or "model"
        repo_id = f"{body.get('organization') or self.hub.username}/{body['name']}"
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        if (repo_type, repo_id) in self.hub.repos:
            url = self.hub.repo_url(self.hub.repos[(repo_type, repo_id)])
            return 409, {"error": f"You already created this {repo_type} repo", "url": url}
        repo = self.hub.repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, private)
        self.hub.add_commit(repo, "main", "initial commit", {".gitattributes": GITATTRIBUTES})
        return 200, {"url": self.hub.repo_url(repo), "name": repo_id, "id": repo_id}

    def _branch_head(self, repo: Repo, branch: str) -> Commit:
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch} is not a branch", "RevisionNotFound")
        return self._commit(repo, branch)

    def _post_preupload(self, repo: Repo, branch: str, _: str) -> tuple[int, dict]:
        head = self._branch_head(repo, branch)
        gitattributes = head.files.get(".gitattributes", b"")
        files = []
        for f in self._json().get("files", []):
            path = f["path"]
            lfs = f.get("size", 0) > LFS_MIN_SIZE or matches_lfs(gitattributes, path)
            # the remote oid lets the client skip files that did not change
            oid = head.remote_oid(path) if path in head.files else None
            mode = "lfs" if lfs else "regular"
            files.append(dict(path=path, uploadMode=mode, shouldIgnore=False, oid=oid))
        return 200, {"files": files, "commitOid": head.oid}

    def _post_commit(self, repo: Repo, branch: str, _: str) -> tuple[int, dict]:
        if self.query.get("create_pr"):
            raise HubError(400, "FakeHub does not support create_pr")
        head = self._branch_head(repo, branch)
        files, lfs, message = dict(head.files), set(head.lfs), ""
        for line in filter(None, self.body.splitlines()):
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value["summary"]
                parent = value.get("parentCommit")
                if parent and parent != head.oid:
                    raise HubError(412, f"parentCommit {parent} is not the head of {branch}")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
                lfs.discard(value["path"])
            elif key == "lfsFile":
                files[value["path"]] = self._lfs_object(repo, value)
                lfs.add(value["path"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].strip("/") + "/"
                files = {p: d for p, d in files.items() if not p.startswith(folder)}
            else:
                raise HubError(400, f"FakeHub does not support commit operation {key!r}")
        commit = self.hub.add_commit(repo, branch, message, files, lfs & files.keys())
        commit_url = f"{self.hub.repo_url(repo)}/commit/{commit.oid}"
        return 200, {"success": True, "commitOid": commit.oid, "commitUrl": commit_url}

    def _lfs_object(self, repo: Repo, value: dict) -> bytes:
        """The contents an ``lfsFile`` commit line names: an object the repo stores."""
        path, oid, size = value["path"], value.get("oid"), value.get("size")
        if value.get("algo", "sha256") != "sha256":
            raise HubError(400, f"{path}: unsupported LFS algo {value.get('algo')!r}")
        data = repo.lfs_objects.get(oid) if isinstance(oid, str) else None
        if data is None:
            raise HubError(400, f"{path}: LFS object {oid} was not uploaded to this repo")
        if size is not None and size != len(data):  # copies of LFS files send no size
            raise HubError(400, f"{path}: LFS object {oid} has {len(data)} bytes, not {size}")
        return data

    # -- Git LFS ------------------------------------------------------------------------------
    def _lfs_batch(self, repo: Repo, headers: dict[str, str]) -> tuple[int, dict]:
        body = self._json()
        if body.get("operation") != "upload":
            raise HubError(400, f"FakeHub only supports LFS uploads, not {body.get('operation')!r}")
        if "basic" not in body.get("transfers", ["basic"]):
            raise HubError(400, "FakeHub only supports the basic LFS transfer")
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        verify = f"{self.hub.url}/{prefix}{repo.repo_id}.git/info/lfs/objects/verify"
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            if not (isinstance(oid, str) and SHA256_RE.match(oid)):
                error = {"code": 422, "message": f"invalid sha256 oid {oid!r}"}
            elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
                error = {"code": 422, "message": f"invalid size {size!r}"}
            else:
                error = None
            if error:
                size = size if isinstance(size, int) else 0
                objects.append({"oid": str(oid), "size": size, "error": error})
            elif oid in repo.lfs_objects and len(repo.lfs_objects[oid]) == size:
                objects.append({"oid": oid, "size": size})  # already stored: nothing to do
            else:  # no chunk_size in the header: the client does one plain PUT, never multipart
                upload_id = secrets.token_hex(16)
                self.hub.upload_urls[upload_id] = (repo, oid, size)
                actions = {
                    "upload": {"href": f"{self.hub.url}/lfs-upload/{upload_id}", "expires_in": 900},
                    "verify": {"href": verify, "header": {}},
                }
                objects.append(
                    {"oid": oid, "size": size, "authenticated": True, "actions": actions}
                )
        headers["Content-Type"] = "application/vnd.git-lfs+json"
        return 200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def _lfs_put(self, upload_id: str) -> tuple[int, bytes]:
        target = self.hub.upload_urls.get(upload_id)
        if target is None:
            raise HubError(403, "Request has expired or the upload URL is invalid")
        if self.headers.get("Authorization"):  # S3 refuses a presigned URL plus a header
            raise HubError(400, "Only one auth mechanism allowed (URL signature or Authorization)")
        repo, oid, size = target
        if len(self.body) != size:
            raise HubError(400, f"LFS object {oid}: got {len(self.body)} bytes, expected {size}")
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, f"LFS object {oid}: the uploaded content has another sha256")
        repo.lfs_objects[oid] = self.body
        self.hub.lfs_uploads.append(oid)
        return 200, b""

    def _lfs_verify(self, repo: Repo) -> tuple[int, dict]:
        body = self._json()
        oid, size = body.get("oid"), body.get("size")
        data = repo.lfs_objects.get(oid) if isinstance(oid, str) else None
        if data is None:
            raise HubError(404, f"LFS object {oid} not found")
        if size != len(data):
            raise HubError(400, f"LFS object {oid} has {len(data)} bytes, not {size}")
        return 200, {"success": True}

    def _post_tag(self, repo: Repo, revision: str, _: str) -> tuple[int, dict]:
        commit, tag = self._commit(repo, revision), self._json()["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        return 200, {}
