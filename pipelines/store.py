"""The versioned store: `<root>/<dataset>/v<N>/{data/,rejects/,manifest.json}`.

A build writes into `<root>/<dataset>/_staging/<build id>/`; committing moves the files into
the next `v<N>/` and writes `manifest.json` last. A version exists only once its manifest does,
so readers (the catalog, `ls`, publishing) never see a half-written build. Versions are never
rewritten. Paths go through `transforms.fs`, so the root may be local or `gs://...`.
"""

from __future__ import annotations

import json
import re
import uuid

from transforms import fs

VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
MANIFEST = "manifest.json"
STAGING = "_staging"


class StoreError(RuntimeError):
    pass


def read_json(path: str):
    return json.loads(fs.read_bytes(path).decode())


class Store:
    def __init__(self, root: str):
        self.root = root.rstrip("/") if fs.is_remote(root) else root

    # -- reading --------------------------------------------------------------------------

    def manifests(self, dataset: str | None = None) -> list[dict]:
        """Committed versions (those with a manifest), sorted by dataset then version number."""
        out = []
        for path in fs.match(fs.join(self.root, dataset or "*", "v*", MANIFEST)):
            parts = path.replace("\\", "/").split("/")
            if VERSION_RE.match(parts[-2]):
                out.append(read_json(path))
        return sorted(out, key=lambda m: (m["dataset"], m["version_number"]))

    def latest(self, dataset: str) -> dict | None:
        versions = self.manifests(dataset)
        return versions[-1] if versions else None

    def resolve(self, ref: str) -> dict:
        """`name` (latest) or `name@v3` -> that version's manifest."""
        name, _, version = ref.partition("@")
        versions = self.manifests(name)
        if not versions:
            raise StoreError(f"no dataset {name!r} in {self.root}")
        if not version:
            return versions[-1]
        for m in versions:
            if m["version"] == version:
                return m
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

    # -- writing --------------------------------------------------------------------------

    def new_staging(self, dataset: str) -> str:
        path = fs.join(self.root, dataset, STAGING, uuid.uuid4().hex)
        fs.mkdirs(path)
        return path

    def commit(self, dataset: str, staging: str, manifest: dict, moves: list[tuple[str, str]]) -> dict:
        """Move a finished build's files (temp path -> path relative to the version) into the
        next version and write its manifest last."""
        latest = self.latest(dataset)
        number = (latest["version_number"] + 1) if latest else 1
        version = f"v{number}"
        target = self.version_dir(dataset, version)
        if fs.exists(fs.join(target, MANIFEST)):
            raise StoreError(f"{dataset}/{version} appeared during this build (a concurrent build?)")
        fs.delete_tree(target)  # left by a build that died while committing: never visible
        for src, rel in moves:
            fs.rename(src, fs.join(target, rel))
        manifest = dict(manifest, version=version, version_number=number,
                        parent=latest["version"] if latest else None)
        tmp = fs.join(target, MANIFEST + ".tmp")
        fs.write_bytes(tmp, json.dumps(manifest, indent=2).encode())
        fs.rename(tmp, fs.join(target, MANIFEST))  # the commit point
        fs.delete_tree(staging)
        return manifest
