"""Files by path, local or remote: the one filesystem layer of the store, the sources and the
caches, on the launcher and on the workers.

Local paths use the standard library (so `codekiln ls`/`sql`/`show` start in a fraction of a
second); any `scheme://` path (gs://, s3://, memory://, ...) goes through fsspec, imported only
then, with whatever implementation fsspec has for the scheme (gcsfs for gs://, in the `gcp`
extra). DuckDB reads the same filesystems (`duckdb_filesystems`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import uuid
from typing import IO


def is_remote(path: str) -> bool:
    return "://" in path


class MissingFilesystem(RuntimeError):
    """No fsspec implementation for a path's scheme here (unknown, or its package not installed)."""


def filesystem(path: str):
    """(fsspec filesystem, path without its scheme) for a remote path."""
    import fsspec

    scheme = path.split("://", 1)[0]
    try:
        return fsspec.core.url_to_fs(path)
    except ImportError as e:  # a known scheme whose package is missing (gs:// without gcsfs)
        hint = " (pip install 'codekiln[gcp]', or bash .ci/setup --gcp)" if scheme in ("gs", "gcs") else ""
        raise MissingFilesystem(f"{path}: {e}{hint}") from None
    except ValueError as e:  # fsspec: "Protocol not known"
        raise MissingFilesystem(f"{path}: no filesystem for {scheme}:// ({e})") from None


def _rebase(url: str, stripped: str, found: list[str]) -> list[str]:
    """Paths fsspec returned (without scheme) in the form the caller wrote the pattern in
    (`memory://a/x`, not fsspec's `memory:///a/x`), so they compare equal to joined paths."""
    cut = min((i for i, c in enumerate(stripped) if c in "*?["), default=len(stripped))
    tail = stripped[cut:]
    sbase = stripped[:cut].rsplit("/", 1)[0]
    ubase = url[:len(url) - len(tail)].rsplit("/", 1)[0]
    return [ubase + p[len(sbase):] for p in found if p.startswith(sbase)]


def duckdb_filesystems(paths) -> list:
    """The fsspec filesystems DuckDB needs to read these paths (one per remote scheme)."""
    import fsspec

    return [fsspec.filesystem(s) for s in sorted({p.split("://", 1)[0] for p in paths if is_remote(p)})]


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])
    return os.path.join(base, *parts)


def match(pattern: str) -> list[str]:
    """Sorted file paths matching a glob (`**` spans directories, including none)."""
    if is_remote(pattern):
        fs, stripped = filesystem(pattern)
        found = fs.glob(stripped, detail=True)
        if "/**/" in stripped:  # fsspec's ** needs at least one directory; match none as well
            found.update(fs.glob(stripped.replace("/**/", "/"), detail=True))
        return sorted(_rebase(pattern, stripped, [p for p, info in found.items() if info.get("type") == "file"]))
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def exists(path: str) -> bool:
    if is_remote(path):
        fs, stripped = filesystem(path)
        return fs.exists(stripped)
    return os.path.exists(path)


def open_read(path: str) -> IO[bytes]:
    """Raw bytes, no decompression (callers decide)."""
    if is_remote(path):
        fs, stripped = filesystem(path)
        return fs.open(stripped, "rb")
    return open(path, "rb")


def create(path: str) -> IO[bytes]:
    if is_remote(path):
        fs, stripped = filesystem(path)
        return fs.open(stripped, "wb")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(path, "wb")


def write_bytes(path: str, data: bytes) -> None:
    with create(path) as f:
        f.write(data)


def read_bytes(path: str) -> bytes:
    with open_read(path) as f:
        return f.read()


def mkdirs(path: str) -> None:
    if not is_remote(path):  # object stores have no directories
        os.makedirs(path, exist_ok=True)


def rename(src: str, dst: str) -> None:
    """Move one file; atomic on a local filesystem."""
    if is_remote(src):
        fs, stripped = filesystem(src)
        fs.mv(stripped, filesystem(dst)[1])
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)


def create_exclusive(path: str, data: bytes) -> bool:
    """Create `path` holding `data` only if nothing is there yet: True if this call created it.

    The primitive the store's commits rest on. Local: the data goes to a temp file that is then
    hard-linked into place (`link` fails if the name exists, atomically). `gs://`: an
    upload with the generation-match precondition 0, which the object store applies atomically.
    Other schemes have no such primitive here and are refused rather than raced."""
    if not is_remote(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, path)  # atomic and exclusive: readers see the whole file or none
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)
        return True
    if path.startswith("gs://"):
        try:
            from google.api_core.exceptions import PreconditionFailed
            from google.cloud import storage
        except ImportError as e:
            raise RuntimeError("committing to gs:// needs google-cloud-storage (pip install "
                               "'apache-beam[gcp]')") from e
        bucket, _, name = path[len("gs://"):].partition("/")
        blob = storage.Client().bucket(bucket).blob(name)
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            return False
        return True
    raise RuntimeError(f"no exclusive create on {path.split('://')[0]}:// (supported: local paths, gs://)")


def children(path: str) -> list[str]:
    """Sorted names directly under `path` (files and directories; [] if there is nothing)."""
    if not is_remote(path):
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, stripped = filesystem(path)
    try:
        return sorted({e.rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(stripped, detail=False)})
    except (FileNotFoundError, NotADirectoryError):
        return []


def size(path: str) -> int | None:
    """Bytes of a file, None if it does not exist."""
    if is_remote(path):
        fs, stripped = filesystem(path)
        try:
            info = fs.info(stripped)
        except FileNotFoundError:
            return None
        return info["size"] if info.get("type") == "file" else None
    try:
        return os.path.getsize(path) if os.path.isfile(path) else None
    except OSError:
        return None


def delete(path: str) -> None:
    """Remove one file if it is there."""
    if is_remote(path):
        fs, stripped = filesystem(path)
        try:
            fs.rm_file(stripped)
        except FileNotFoundError:
            pass
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def delete_tree(path: str) -> None:
    """Remove a directory and everything under it (on an object store: every object under the
    prefix, since the prefix itself is no object)."""
    if is_remote(path):
        fs, stripped = filesystem(path)
        if fs.exists(stripped):
            fs.rm(stripped, recursive=True)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def file_digest(path: str) -> tuple[int, str]:
    """(bytes, sha256) of a file, streamed."""
    h, n = hashlib.sha256(), 0
    with open_read(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()
