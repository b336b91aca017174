"""The `llm:` block: which OpenAI-compatible endpoint, how to sample, how hard to push it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LLMConfig:
    base_url: str  # any OpenAI-compatible /v1 endpoint: OpenAI, vLLM, SGLang, Ollama, llama.cpp
    model: str
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable, never from a file
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 1024
    n: int = 1  # choices per request
    seed: int | None = 0
    concurrency: int = 8  # requests of a batch in flight at once
    timeout_s: float = 120.0
    max_retries: int = 3  # per request, by the openai client (honours Retry-After)
    batch_retries: int = 2  # per batch, by Beam's RemoteModelHandler (retry filter below)
    requests_per_minute: int = 0  # per worker process; 0: no limit
    batch_size: int = 16
    cache: bool = True

    def __post_init__(self):
        if not re.match(r"^https?://", self.base_url):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        for name in ("max_tokens", "n", "concurrency", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("max_retries", "batch_retries", "requests_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    def sampling(self) -> dict:
        """What, besides the messages, decides a response (part of every request's hash)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "n": self.n, "seed": self.seed}

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def public(self) -> dict:
        """For manifests and logs: no key, no credentials in the URL."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["base_url"] = redact_url(self.base_url)
        return d


def redact_url(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)
