"""Publishing a version to the Hugging Face Hub (or, for a dry run, to a local folder).

A published version is one commit on the repo's `main` holding exactly that version's files:
`data/<split>-XXXXX-of-NNNNN.parquet`, `rejects/...parquet` (the `rejects` config; input paths reduced to file names), the
version's `manifest.json` and the dataset card `README.md`; the commit is tagged with the version
(`v3`). Files of an earlier version that the new one does not have are deleted in the same
commit, so `main` always equals one version and every tag still reaches its own.

Publishing is idempotent: a version whose tag is on the repo with the same fingerprint is a
no-op. A tag holding a different build, a repo holding another dataset or files codekiln did not
publish, or a version older than one already published are refused before anything is uploaded.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from codekiln.pipelines.publishing.card import build_card, public_manifest, public_path
from codekiln.pipelines.storage.store import Store
from codekiln.transforms import fs

VERSION_TAG = re.compile(r"^v([1-9][0-9]*)$")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DATA_DIRS = ("data/", "rejects/")


class PublishError(RuntimeError):
    pass


@dataclass
class RepoFile:
    path: str  # path in the repo
    source: str | bytes  # a store path (local or remote) or the content itself


@dataclass
class PublishResult:
    status: str  # "published" or "unchanged"
    repo_id: str
    version: str
    commit: str | None
    files: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    url: str | None = None


def check_repo_id(repo_id: str) -> str:
    """ORG/NAME as the Hub accepts it (huggingface_hub's own validation, offline)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not REPO_ID.match(repo_id or ""):
        raise PublishError(f"--repo must be ORG/NAME (letters, digits, '-', '_', '.'), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PublishError(f"--repo {repo_id!r} is not a valid Hub repo id: {str(e).splitlines()[0]}") from None
    return repo_id


def repo_files(store: Store, manifest: dict, repo_id: str, with_rejects: bool = True) -> list[RepoFile]:
    """Exactly the files a version publishes, in a stable order; the card comes last."""
    base = store.version_dir(manifest["dataset"], manifest["version"])
    data = {split: store.files(manifest, split) for split in sorted(manifest["splits"])}
    rejects = store.reject_files(manifest) if with_rejects else []
    empty = [split for split, info in manifest["splits"].items() if not info["rows"]]
    if empty:  # `datasets` refuses a split without rows ("corresponds to no data")
        raise PublishError(f"{manifest['dataset']}@{manifest['version']} has no rows in split {empty[0]!r} "
                           f"({manifest['rejects']['rows']} rejects): nothing loadable to publish")
    out = []
    for split in sorted(manifest["splits"]):
        out += [RepoFile(rel, fs.join(base, rel)) for rel in manifest["splits"][split]["files"]]
    # rejects name the input files they came from: reduced to file names, like the card's paths
    out += [RepoFile(rel, _public_rejects(fs.join(base, rel))) for rel in (manifest["rejects"]["files"] if with_rejects else [])]
    out.append(RepoFile("manifest.json", (json.dumps(public_manifest(manifest), indent=2) + "\n").encode()))
    card = build_card(manifest, repo_id, data, rejects, with_rejects)
    out.append(RepoFile("README.md", str(card).encode()))
    return out


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _public_rejects(path: str) -> bytes:
    with fs.open_read(path) as f:
        table = pq.read_table(f)
    i = table.schema.get_field_index("source")
    sources = pa.array([None if v is None else public_path(v) for v in table.column(i).to_pylist()], pa.string())
    return _parquet_bytes(table.set_column(i, table.schema.field(i), sources))


def _content(f: RepoFile) -> bytes:
    return f.source if isinstance(f.source, bytes) else fs.read_bytes(f.source)


def write_dir(files: list[RepoFile], directory: str) -> list[str]:
    """The dry run: write the files into an empty (or new) local folder, as the repo would hold them."""
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise PublishError(f"--dry-run {directory} must be a new or empty folder")
    written = []
    for f in files:
        target = os.path.join(directory, *f.path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(_content(f))
        written.append(f.path)
    return written


def _card_meta(api, repo_id: str, revision: str) -> dict | None:
    """The `codekiln` block of the card at a revision (None when there is no codekiln card)."""
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError

    try:
        path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    except (EntryNotFoundError, RemoteEntryNotFoundError):
        return None
    meta = DatasetCard.load(path).data.to_dict().get("codekiln")
    return meta if isinstance(meta, dict) else None


def publish(store: Store, manifest: dict, repo_id: str, *, private: bool = False, token: str | None = None,
            with_rejects: bool = True, log=print) -> PublishResult:
    """Upload one version as one commit on `main`, then tag it with the version."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    check_repo_id(repo_id)
    version = manifest["version"]
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.repo_info(repo_id, repo_type="dataset")
    if private and not info.private:
        raise PublishError(f"{repo_id} exists and is public; refusing to publish to it with --private")

    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    tags = {t.name: t.target_commit for t in refs.tags}
    main = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    if version in tags:
        meta = _card_meta(api, repo_id, tags[version]) or {}
        if meta.get("dataset") == manifest["dataset"] and meta.get("fingerprint") == manifest["fingerprint"]:
            return PublishResult("unchanged", repo_id, version, tags[version], url=str(url))
        raise PublishError(f"{repo_id} already has a tag {version} holding another build "
                           f"({meta.get('dataset', '?')} fingerprint {str(meta.get('fingerprint', '?'))[:12]}); "
                           "versions are immutable: publish to another repo")
    published = sorted(int(m.group(1)) for t in tags if (m := VERSION_TAG.match(t)))
    if published and published[-1] > manifest["version_number"]:
        raise PublishError(f"{repo_id} already has v{published[-1]}, newer than {version}: publishing {version} "
                           f"would move main backwards (older versions stay reachable by their tags)")
    existing = api.list_repo_files(repo_id, repo_type="dataset", revision=main) if main else []
    if set(existing) - {".gitattributes"}:  # only ever replace what codekiln put there
        meta = _card_meta(api, repo_id, main)
        if meta is None:
            raise PublishError(f"{repo_id} already holds files that codekiln did not publish "
                               f"({len(existing)} files, no codekiln dataset card): publish to another repo")
        if meta.get("dataset") != manifest["dataset"]:
            raise PublishError(f"{repo_id} holds codekiln dataset {meta.get('dataset')!r}, not "
                               f"{manifest['dataset']!r}: publish to another repo")

    files = repo_files(store, manifest, repo_id, with_rejects)
    new_paths = {f.path for f in files}
    stale = sorted(p for p in existing if p.startswith(DATA_DIRS) and p not in new_paths)
    # local shards are streamed from disk; remote ones (gs://...) are read into memory first
    ops = [CommitOperationAdd(f.path, f.source if isinstance(f.source, bytes) or not fs.is_remote(f.source)
                              else _content(f)) for f in files]
    ops += [CommitOperationDelete(p) for p in stale]
    log(f"uploading {len(files)} files to {repo_id} ({len(stale)} stale files removed)")
    commit = api.create_commit(
        repo_id, ops, repo_type="dataset", parent_commit=main,
        commit_message=f"codekiln: {manifest['dataset']} {version}",
        commit_description=f"fingerprint {manifest['fingerprint']}\nconfig sha256 {manifest['config_sha256']}")
    api.create_tag(repo_id, tag=version, revision=commit.oid, repo_type="dataset",
                   tag_message=f"{manifest['dataset']} {version} (fingerprint {manifest['fingerprint'][:12]})")
    return PublishResult("published", repo_id, version, commit.oid, sorted(new_paths), stale, url=str(url))
