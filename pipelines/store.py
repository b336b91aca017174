"""The versioned store: `<root>/<dataset>/v<N>/{data/,rejects/,manifest.json}`.

A build writes into `<root>/<dataset>/_staging/<build id>/`; committing moves the files into
the next `v<N>/` and writes `manifest.json` last. A version exists only once its manifest does,
so readers (the catalog, `ls`, publishing) never see a half-written build. Versions are never
rewritten. Every path goes through Beam's `FileSystems`, so the root may be local or `gs://...`.
"""

from __future__ import annotations

import json
import re
import uuid

from apache_beam.io.filesystems import FileSystems

VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
MANIFEST = "manifest.json"
STAGING = "_staging"


class StoreError(RuntimeError):
    pass


def join(*parts: str) -> str:
    return FileSystems.join(*parts) if len(parts) > 1 else parts[0]


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path) as f:
        f.write(data)


def read_json(path: str):
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return json.loads(f.read().decode())


def _children(path: str, pattern: str) -> list[str]:
    try:
        return [m.path for m in FileSystems.match([join(path, pattern)])[0].metadata_list]
    except Exception:
        return []


class Store:
    def __init__(self, root: str):
        self.root = root.rstrip("/") if "://" in root else root

    # -- reading --------------------------------------------------------------------------

    def manifests(self, dataset: str | None = None) -> list[dict]:
        """Committed versions (those with a manifest), sorted by dataset then version number."""
        pattern = join(self.root, dataset or "*", "v*", MANIFEST)
        try:
            paths = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        except Exception:
            paths = []
        out = []
        for path in paths:
            parts = path.replace("\\", "/").rstrip("/").split("/")
            if not VERSION_RE.match(parts[-2]):
                continue
            out.append(read_json(path))
        return sorted(out, key=lambda m: (m["dataset"], m["version_number"]))

    def datasets(self) -> list[str]:
        return sorted({m["dataset"] for m in self.manifests()})

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
        return join(self.root, dataset, version)

    def files(self, manifest: dict, split: str | None = None) -> list[str]:
        """Absolute paths of a version's data files (one split or all), as the manifest lists them."""
        base = self.version_dir(manifest["dataset"], manifest["version"])
        splits = [split] if split else sorted(manifest["splits"])
        return [join(base, rel) for s in splits for rel in manifest["splits"][s]["files"]]

    def reject_files(self, manifest: dict) -> list[str]:
        base = self.version_dir(manifest["dataset"], manifest["version"])
        return [join(base, rel) for rel in manifest["rejects"]["files"]]

    # -- writing --------------------------------------------------------------------------

    def new_staging(self, dataset: str) -> str:
        path = join(self.root, dataset, STAGING, uuid.uuid4().hex)
        if "://" not in path:
            FileSystems.mkdirs(path)
        return path

    def discard(self, path: str) -> None:
        if FileSystems.exists(path):
            FileSystems.delete([path])

    def commit(self, dataset: str, staging: str, manifest: dict, relative_files: list[str]) -> dict:
        """Move a finished build's files into the next version and write its manifest last."""
        latest = self.latest(dataset)
        number = (latest["version_number"] + 1) if latest else 1
        version = f"v{number}"
        target = self.version_dir(dataset, version)
        if FileSystems.exists(join(target, MANIFEST)):
            raise StoreError(f"{dataset}/{version} appeared during this build (a concurrent build?)")
        if FileSystems.exists(target):  # left by a build that died while committing: never visible
            FileSystems.delete([target])
        if "://" not in target:
            for sub in sorted({rel.rsplit("/", 1)[0] for rel in relative_files} | {""}):
                path = join(target, sub) if sub else target
                if not FileSystems.exists(path):
                    FileSystems.mkdirs(path)
        FileSystems.rename([join(staging, r) for r in relative_files],
                           [join(target, r) for r in relative_files])
        manifest = dict(manifest, version=version, version_number=number,
                        parent=latest["version"] if latest else None)
        tmp = join(target, MANIFEST + ".tmp")
        write_bytes(tmp, json.dumps(manifest, indent=2, sort_keys=False).encode())
        FileSystems.rename([tmp], [join(target, MANIFEST)])  # the commit point
        self.discard(staging)
        return manifest
