"""Files by path, local or remote: one small facade over the two ways codekiln touches storage.

Local paths use the standard library (so `codekiln ls`/`sql`/`show` start in a fraction of a
second); any `scheme://` path (gs://, s3://, ...) goes through Beam's FileSystems, imported
only then. Every reader and writer of the store, the sources and the caches uses this module.
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


def _beam():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return _beam().join(base, *parts)
    return os.path.join(base, *parts)


def match(pattern: str) -> list[str]:
    """Sorted paths matching a glob (`**` spans directories, including none)."""
    if is_remote(pattern):
        result = _beam().match([pattern])[0]
        return sorted(m.path for m in result.metadata_list)
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def exists(path: str) -> bool:
    return _beam().exists(path) if is_remote(path) else os.path.exists(path)


def open_read(path: str) -> IO[bytes]:
    """Raw bytes, no decompression (callers decide)."""
    if is_remote(path):
        return _beam().open(path, compression_type="uncompressed")
    return open(path, "rb")


def create(path: str) -> IO[bytes]:
    if is_remote(path):
        return _beam().create(path, compression_type="uncompressed")
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
        _beam().rename([src], [dst])
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
    prefix = path.rstrip("/") + "/"
    return sorted({p[len(prefix):].split("/", 1)[0] for p in match(prefix + "**") if p.startswith(prefix)})


def size(path: str) -> int | None:
    """Bytes of a file, None if it does not exist."""
    if is_remote(path):
        found = _beam().match([path])[0].metadata_list
        return found[0].size_in_bytes if found else None
    try:
        return os.path.getsize(path) if os.path.isfile(path) else None
    except OSError:
        return None


def delete(path: str) -> None:
    """Remove one file if it is there."""
    if is_remote(path):
        if _beam().exists(path):
            _beam().delete([path])
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def delete_tree(path: str) -> None:
    """Remove a directory and everything under it (on an object store: every object under the
    prefix, since the prefix itself is no object)."""
    if is_remote(path):
        objects = match(path.rstrip("/") + "/**")
        if objects:
            _beam().delete(objects)
        if _beam().exists(path):
            _beam().delete([path])
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
