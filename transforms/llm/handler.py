"""Asking a model inside Beam: a `RemoteModelHandler` for OpenAI-compatible chat completions,
used through `RunInference(...).with_exception_handling()`.

Layers of resilience, each where it belongs:
- the official `openai` client retries each request (`max_retries`, honouring `Retry-After`);
- Beam's `RemoteModelHandler` retries a batch that still has a retryable failure (429, 5xx,
  timeouts, connection errors; never 400/401/403/404/422), with its client-side adaptive
  throttling and an optional rate limiter (`requests_per_minute`);
- every response is written to the content-addressed cache as it arrives, so a batch retry or a
  rerun after a crash sends only what is missing;
- what still fails becomes a reject row (`llm_error` with status and message), never a crash.
The API key is read from the environment on the worker, is never pickled, cached, logged or
written, and is scrubbed from any error text a server sends back.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import apache_beam as beam
import openai
from apache_beam.io.components.rate_limiter import RateLimiter
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult, RemoteModelHandler, RunInference
from codekiln.transforms.llm.cache import ResponseCache, request_key
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.stage import (
    METRICS_NAMESPACE,
    REJECTS,
    CountingDoFn,
    StageCounter,
    reject_row,
)

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
             openai.APIConnectionError)


def is_retryable(e: Exception) -> bool:
    """Beam's retry filter: transient server or network trouble only."""
    if isinstance(e, RETRYABLE):
        return True
    status = getattr(e, "status_code", None)
    return isinstance(status, int) and (status >= 500 or status in (408, 409, 429))


@dataclass(frozen=True)
class LLMRequest:
    key: str  # content hash: base_url, model, messages, sampling, sample index
    row_id: str  # the record this asks about
    source: str | None
    messages: list[dict]
    sample_index: int
    template: str
    template_version: str
    record: dict = field(default_factory=dict, compare=False)  # carried to the parser

    def reject_info(self) -> tuple[str | None, str, dict]:
        """(source, location, payload) for a reject row: the prompt, never a credential."""
        return self.source, self.record.get("source_id", self.row_id), {"messages": self.messages, "sample_index": self.sample_index,
                                          "template": self.template, "template_version": self.template_version}


def requests_for(llm: LLMConfig, template, messages: list[dict], samples: int, row_id: str,
                 source: str | None, record: dict) -> list[LLMRequest]:
    """`samples` content-addressed requests for one rendered prompt (sample index k of each)."""
    return [LLMRequest(request_key(llm.base_url, llm.model, messages, llm.sampling(), k), row_id, source,
                       messages, k, template.name, template.version, record) for k in range(samples)]


@dataclass
class LLMChoice:
    request: LLMRequest
    index: int
    text: str | None
    finish_reason: str | None
    refusal: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool

    def reject_info(self) -> tuple[str | None, str, dict]:
        source, location, payload = self.request.reject_info()
        return source, location, dict(payload, choice_index=self.index, response=self.text,
                                      refusal=self.refusal, finish_reason=self.finish_reason)


class TokenBucket(RateLimiter):
    """A local rate limiter (Beam's interface): at most `per_minute` requests per minute in this
    process; `allow` blocks until the batch may go."""

    def __init__(self, per_minute: int):
        super().__init__(namespace=METRICS_NAMESPACE)
        self.interval = 60.0 / per_minute
        self._next = 0.0
        self._lock = threading.Lock()

    def allow(self, hits_added: int = 1, **_) -> bool:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + hits_added * self.interval
        if start > now:
            time.sleep(start - now)  # rate limiting is waiting by definition
        return True


def _error(e: Exception, secret: str | None) -> dict:
    status = getattr(e, "status_code", None)
    message = getattr(e, "message", None) or str(e)
    if secret:
        message = message.replace(secret, "***")
    return {"status": status, "type": type(e).__name__, "message": message[:2000]}


class ChatCompletionsHandler(RemoteModelHandler):
    def __init__(self, cfg: LLMConfig, cache_dir: str, stage: str):
        self.bucket = TokenBucket(cfg.requests_per_minute) if cfg.requests_per_minute else None
        super().__init__(
            namespace=METRICS_NAMESPACE, num_retries=cfg.batch_retries, throttle_delay_secs=1,
            retry_filter=is_retryable, rate_limiter=self.bucket)
        self.cfg = cfg
        self.cache_dir = cache_dir
        self.stage = stage
        self.ignores_n = False  # set when a response has fewer choices than `n` asked for

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.cfg.batch_size}

    def create_client(self):
        return openai.OpenAI(base_url=self.cfg.base_url, api_key=self.cfg.api_key() or "EMPTY",
                             max_retries=self.cfg.max_retries, timeout=self.cfg.timeout_s)

    def _count(self, what: str, n: int = 1) -> None:
        if n:
            Metrics.counter(METRICS_NAMESPACE, f"llm_usage/{self.stage}/{what}").inc(n)

    def _create(self, client, req: LLMRequest, n: int, seed: int | None) -> dict:
        cfg = self.cfg
        resp = client.chat.completions.create(
            model=cfg.model, messages=req.messages, temperature=cfg.temperature,
            top_p=cfg.top_p, max_tokens=cfg.max_tokens, n=n, seed=seed)
        usage = resp.usage
        return {
            "model": resp.model or cfg.model,
            "choices": [{"index": c.index, "text": c.message.content if c.message else None,
                         "finish_reason": c.finish_reason,
                         "refusal": getattr(c.message, "refusal", None) if c.message else None}
                        for c in (resp.choices or [])],
            "usage": {"prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                      "completion_tokens": getattr(usage, "completion_tokens", 0) or 0},
        }

    def request(self, batch, client, inference_args=None):
        cache = ResponseCache(self.cache_dir)
        secret = self.cfg.api_key()
        cfg = self.cfg
        tally = {"sent": 0, "prompt_tokens": 0, "completion_tokens": 0, "n_ignored": 0, "per_choice": 0}
        lock = threading.Lock()

        def sent(value: dict, **more) -> None:
            with lock:
                tally["sent"] += 1
                tally["prompt_tokens"] += value["usage"]["prompt_tokens"]
                tally["completion_tokens"] += value["usage"]["completion_tokens"]
                for k, v in more.items():
                    tally[k] += v

        def one_choice(req: LLMRequest, c: int) -> dict:
            """Choice c of a request on its own (n=1, its own seed), cached under its own key."""
            key = choice_key(req.key, c)
            hit = cache.get(key)
            if hit is not None:
                return hit
            if c and self.bucket is not None:  # Beam charged one request per element
                self.bucket.allow(1)
            value = self._create(client, req, 1, choice_seed(cfg, req.sample_index, c))
            if not value["choices"]:
                raise EmptyChoices()
            sent(value, per_choice=1)
            cache.put(key, value)
            return value

        def one(req: LLMRequest):
            hit = cache.get(req.key)
            if hit is not None:
                return "hit", hit
            try:
                got: list[dict] = []
                usage = {"prompt_tokens": 0, "completion_tokens": 0}
                model = cfg.model
                # a request answered choice by choice before (a crashed build) resumes that way
                if not self.ignores_n and cache.get(choice_key(req.key, 0)) is None:
                    value = self._create(client, req, cfg.n, choice_seed(cfg, req.sample_index, 0))
                    if not value["choices"]:
                        raise EmptyChoices()
                    short = len(value["choices"]) < cfg.n
                    sent(value, n_ignored=int(short))
                    if not short:
                        cache.put(req.key, value)  # written before it is used
                        return "sent", value
                    # fewer choices than asked: this server does not honour `n` (llama.cpp's
                    # ignores it); from now on every choice is its own request, own seed, own key.
                    self.ignores_n = True
                    usage = dict(value["usage"])
                    model = value["model"]
                    if len(value["choices"]) == 1:  # n had no effect: this is the n=1 answer
                        got = value["choices"]
                        cache.put(choice_key(req.key, 0), value)
                    # a server that caps n answered something else: every choice is asked anew
                for c in range(len(got), cfg.n):
                    v = one_choice(req, c)
                    got.append(v["choices"][0])
                    usage = {k: usage[k] + v["usage"][k] for k in usage}
                    model = v["model"]
            except Exception as e:  # noqa: BLE001 - every failure is classified, none is lost
                err = _error(e, secret)
                cache.put_error(req.key, err)
                return ("retry", e) if is_retryable(e) else ("error", err)
            value = {"model": model, "usage": usage, "one_request_per_choice": True,
                     "choices": [dict(ch, index=i) for i, ch in enumerate(got)]}
            cache.put(req.key, value)
            return "assembled", value

        with ThreadPoolExecutor(max_workers=min(cfg.concurrency, len(batch))) as pool:
            outcomes = list(pool.map(one, batch))
        # counted here, in the bundle's thread (Beam metrics are thread-local)
        self._count("requests_sent", tally["sent"])
        self._count("cache_hits", sum(1 for kind, _ in outcomes if kind == "hit"))
        self._count("prompt_tokens", tally["prompt_tokens"])
        self._count("completion_tokens", tally["completion_tokens"])
        self._count("n_ignored", tally["n_ignored"])
        self._count("requests_per_choice", tally["per_choice"])
        self._count("failed_attempts", sum(1 for kind, _ in outcomes if kind in ("retry", "error")))
        retry = next((v for kind, v in outcomes if kind == "retry"), None)
        if retry is not None:
            raise retry  # Beam retries the batch; answered requests come from the cache
        return [PredictionResult(req, {"cached": kind == "hit", **v} if kind != "error" else {"error": v})
                for req, (kind, v) in zip(batch, outcomes, strict=True)]


class EmptyChoices(Exception):
    status_code = 200
    message = "the response has no choices"


def choice_seed(cfg: LLMConfig, sample_index: int, choice: int) -> int | None:
    """A seed per sample: request k asks with seed + k*n, its choice c alone with seed + k*n + c,
    so samples of one prompt differ, and a server that ignores `n` gives the same choices
    whether it was detected before or at this request."""
    return None if cfg.seed is None else cfg.seed + sample_index * cfg.n + choice


def choice_key(request_key: str, choice: int) -> str:
    return hashlib.sha256(f"{request_key}/choice/{choice}".encode()).hexdigest()


def _choices(req: LLMRequest, value: dict) -> list[LLMChoice]:
    usage = value.get("usage", {})
    return [LLMChoice(req, c["index"], c.get("text"), c.get("finish_reason"), c.get("refusal"),
                      value.get("model", ""), usage.get("prompt_tokens", 0),
                      usage.get("completion_tokens", 0), bool(value.get("cached")))
            for c in value["choices"]]


class _Route(CountingDoFn):
    """Predictions and failed batches -> choices, or `llm_error` rejects; counts the stage."""

    def __init__(self, stage: str, cache_dir: str, progress_dir: str | None):
        self.stage, self.cache_dir, self.progress_dir = stage, cache_dir, progress_dir

    def setup(self):
        self.counter = StageCounter(self.stage, self.progress_dir)
        self.cache = ResponseCache(self.cache_dir)

    def _reject(self, req: LLMRequest, err: dict):
        self.counter.inc("rejected/llm_error")
        detail = f"status {err.get('status')}: {err.get('type')}: {err.get('message')}"
        source, location, payload = req.reject_info()
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(
            self.stage, "llm_error", source=source, location=location, detail=detail, payload=payload))

    def _accept(self, req: LLMRequest, value: dict):
        choices = _choices(req, value)
        self.counter.inc("accepted")
        self.counter.inc("out", len(choices))
        yield from choices

    def process(self, item, failed: bool):
        if not failed:
            result: PredictionResult = item
            self.counter.inc("in")
            if "error" in result.inference:
                yield self._reject(result.example, result.inference["error"])
            else:
                yield from self._accept(result.example, result.inference)
            return
        batch, exc = item  # a batch that kept failing: recover what was answered meanwhile
        for req in batch:
            self.counter.inc("in")
            hit = self.cache.get(req.key)
            if hit is not None:
                yield from self._accept(req, dict(hit, cached=False))
            else:
                err = self.cache.get_error(req.key) or {"status": None, "type": type(exc).__name__,
                                                         "message": str(exc)[:2000]}
                yield self._reject(req, err)

    def finish_bundle(self):
        self.counter.flush()


class AskLLM(beam.PTransform):
    """`LLMRequest`s -> (`LLMChoice`s, reject rows). Stage counts: in = requests, out = choices."""

    def __init__(self, cfg: LLMConfig, cache_dir: str, stage: str = "llm", progress_dir: str | None = None):
        super().__init__(label=stage)
        self.cfg, self.cache_dir, self.stage, self.progress_dir = cfg, cache_dir, stage, progress_dir

    def expand(self, requests):
        main, other = (requests | "RunInference" >> RunInference(
            ChatCompletionsHandler(self.cfg, self.cache_dir, self.stage)).with_exception_handling())
        route = _Route(self.stage, self.cache_dir, self.progress_dir)
        ok = main | "Answered" >> beam.ParDo(route, failed=False).with_outputs(REJECTS, main="main")
        bad = other.failed_inferences | "Failed" >> beam.ParDo(route, failed=True).with_outputs(REJECTS, main="main")
        choices = (ok.main, bad.main) | "Choices" >> beam.Flatten()
        rejects = (ok[REJECTS], bad[REJECTS]) | "Rejects" >> beam.Flatten()
        return choices, rejects
