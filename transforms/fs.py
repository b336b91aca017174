"""Files by path, local or remote: one small facade over the two ways codekiln touches storage.

Local paths use the standard library (so `codekiln ls`/`sql`/`show` start in a fraction of a
second); any `scheme://` path (gs://, s3://, ...) goes through Beam's FileSystems, imported
only then. Every reader and writer of the store, the sources and the caches uses this module.
"""

from __future__ import annotations

import glob
import os
import shutil
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


def delete_tree(path: str) -> None:
    if is_remote(path):
        fs = _beam()
        if fs.exists(path):
            fs.delete([path])
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)
