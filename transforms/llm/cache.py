"""Content-addressed response cache under the store root (`<root>/.cache/llm/`).

A response is written here before it is used, so a rerun after a crash or a retried batch sends
only what is missing. Keys are sha256 over (base_url, model, messages, sampling parameters,
sample index). Files go through `transforms.fs`, so the cache may live on GCS with the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

from codekiln.transforms import fs


def request_key(base_url: str, model: str, messages: list[dict], sampling: dict, sample_index: int) -> str:
    # seeds: "per_choice" since each choice got its own seed (seed + k*n + c); responses cached
    # before, when every sample of a prompt had the same seed, are not reused
    blob = json.dumps({"base_url": base_url, "model": model, "messages": messages,
                       "sampling": sampling, "sample_index": sample_index, "seeds": "per_choice"},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, key: str, suffix: str) -> str:
        return fs.join(self.directory, key[:2], key + suffix)

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(fs.read_bytes(self._path(key, ".json")))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        path = self._path(key, ".json")
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        fs.write_bytes(tmp, json.dumps(value, ensure_ascii=False).encode())
        fs.rename(tmp, path)  # readers see a whole response or none

    def put_error(self, key: str, error: dict) -> None:
        """The last failure of a request (not a response: never served as one)."""
        fs.write_bytes(self._path(key, ".error.json"), json.dumps(error).encode())

    def get_error(self, key: str) -> dict | None:
        try:
            return json.loads(fs.read_bytes(self._path(key, ".error.json")))
        except (OSError, ValueError):
            return None


def cache_stats(directory: str) -> dict:
    """Entries and bytes of a cache directory (for `codekiln cache stats`)."""
    entries = errors = size = 0
    for path in fs.match(fs.join(directory, "*", "*.json")):
        if path.endswith(".error.json"):
            errors += 1
        else:
            entries += 1
        try:
            size += os.path.getsize(path) if not fs.is_remote(path) else 0
        except OSError:
            pass
    return {"responses": entries, "failed_requests": errors, "bytes": size}
