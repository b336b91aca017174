"""A loopback fake of the Hugging Face Hub HTTP API, for tests that must run offline.

Point a client process at it with ``HF_ENDPOINT=<FakeHub.url>`` (read by ``huggingface_hub`` at
import time), ``HF_HUB_DISABLE_XET=1`` and ``HF_TOKEN=<token>``; the real ``huggingface_hub`` and
``datasets`` libraries then create repos, commit, tag, list and download against it.

Repos live in memory, keyed by (repo type, repo id). Like on the Hub, a new repo starts with an
"initial commit" holding ``.gitattributes``. Every commit is an immutable ``{path: bytes}`` snapshot
with a 40-hex oid and a parent; branches and tags map names to commit oids. A revision is a branch,
a tag or a full commit oid. Writes need ``Authorization: Bearer <token>`` (else 401 + JSON error);
reads are anonymous for public repos, private repos answer "not found" without the token.

Endpoints (``{t}`` is models|datasets|spaces, ``{repo}`` is ``namespace/name``):

* ``POST /api/repos/create`` -- 409 with the repo ``url`` if it exists (``exist_ok`` relies on it).
* ``GET /api/{t}/{repo}[/revision/{rev}]`` -- repo info (sha, private, siblings).
* ``GET /api/{t}/{repo}/refs``, ``GET /api/{t}/{repo}/commits/{rev}`` -- refs and history.
* ``GET /api/{t}/{repo}/tree/{rev}[/{path}]`` -- ``recursive`` and ``expand`` (lastCommit) params.
* ``POST /api/{t}/{repo}/paths-info/{rev}`` -- form body ``paths=...&expand=...``.
* ``POST /api/{t}/{repo}/preupload/{rev}`` -- always ``uploadMode: regular``, so no LFS/xet upload
  happens and the commit carries base64 contents.
* ``POST /api/{t}/{repo}/commit/{branch}`` -- NDJSON: header, file, deletedFile, deletedFolder.
* ``POST /api/{t}/{repo}/tag/{rev}`` -- 409 if the tag exists.
* ``POST /api/validate-yaml`` (create_commit checks README.md with it), ``GET /api/whoami-v2``.
* ``HEAD|GET /[datasets/|spaces/]{repo}/resolve/{rev}/{path}`` -- with ETag, X-Repo-Commit and
  Content-Length headers as ``hf_hub_download`` expects, and ``Range`` support for HfFileSystem.

Errors carry the ``X-Error-Code`` header (RepoNotFound, RevisionNotFound, EntryNotFound) that
``huggingface_hub`` maps to its exception types. Anything else answers 404 and is appended to
``FakeHub.unhandled``; every request is recorded in ``FakeHub.requests``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


def blob_oid(data: bytes) -> str:
    """Git blob sha1, what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Commit:
    """An immutable snapshot of the whole repo; ``parent`` is None for the initial commit."""

    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    date: str


@dataclass
class Repo:
    """One repo's history; ``branches`` and ``tags`` map names to commit oids."""

    repo_type: str
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)  # oldest first
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

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
    * ``repo(repo_id, repo_type="dataset")`` -- the :class:`Repo` (KeyError if missing).
    """

    def __init__(self, token: str = "hf_test_token", username: str = "test-user"):
        self.token, self.username = token, username
        self.url = ""
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.unhandled: list[tuple[str, str]] = []
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

    def add_commit(self, repo: Repo, branch: str, message: str, files: dict[str, bytes]) -> Commit:
        """Append a snapshot on top of ``branch`` (created if missing) and move the branch to it."""
        parent = repo.branches.get(branch)
        seed = json.dumps([next(self._counter), parent, message, sorted(files)]).encode()
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent, message, dict(files), date)
        repo.commits.append(commit)
        repo.branches[branch] = commit.oid
        return commit

    def last_commit(self, repo: Repo, head: Commit, path: str) -> dict[str, str]:
        """The most recent ancestor of ``head`` that changed ``path`` (a file or a folder)."""

        def view(c: Commit) -> dict[str, bytes]:
            return {p: d for p, d in c.files.items() if p == path or p.startswith(path + "/")}

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
        headers["ETag"] = f'"{blob_oid(data)}"'
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
        siblings = [{"rfilename": p, "size": len(d)} for p, d in sorted(commit.files.items())]
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
            data = commit.files[path]
            entry = {"type": "file", "oid": blob_oid(data), "size": len(data), "path": path}
        else:
            under = sorted(
                (p, blob_oid(d)) for p, d in commit.files.items() if p.startswith(path + "/")
            )
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
        remote = {p: blob_oid(d) for p, d in head.files.items()}  # lets the client skip no-ops
        files = [
            dict(
                path=f["path"], uploadMode="regular", shouldIgnore=False, oid=remote.get(f["path"])
            )
            for f in self._json().get("files", [])
        ]
        return 200, {"files": files, "commitOid": head.oid}

    def _post_commit(self, repo: Repo, branch: str, _: str) -> tuple[int, dict]:
        if self.query.get("create_pr"):
            raise HubError(400, "FakeHub does not support create_pr")
        head = self._branch_head(repo, branch)
        files, message = dict(head.files), ""
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
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].strip("/") + "/"
                files = {p: d for p, d in files.items() if not p.startswith(folder)}
            else:  # lfsFile never happens: preupload answers "regular" for every file
                raise HubError(400, f"FakeHub does not support commit operation {key!r}")
        commit = self.hub.add_commit(repo, branch, message, files)
        commit_url = f"{self.hub.repo_url(repo)}/commit/{commit.oid}"
        return 200, {"success": True, "commitOid": commit.oid, "commitUrl": commit_url}

    def _post_tag(self, repo: Repo, revision: str, _: str) -> tuple[int, dict]:
        commit, tag = self._commit(repo, revision), self._json()["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        return 200, {}
