"""A loopback OpenAI-compatible chat-completions server for tests (stdlib only).

It speaks the real HTTP protocol to the real `openai` client and is scripted per test: `script`
gets (request body, how many requests this prompt has had) and returns a `Reply`. It checks
plumbing only (retries, errors, caching, secrets); it is no stand-in for a model.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | None = None
    headers: dict = field(default_factory=dict)
    wait: threading.Event | None = None  # hold the response until set (or wait_s passes)
    wait_s: float = 5.0


def completion(body: dict, texts: list[str | None], *, refusal: str | None = None) -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
        "choices": [{"index": i, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": t, "refusal": refusal}}
                    for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def echo(body: dict, _count: int) -> Reply:
    """The default: n choices that quote the start of the prompt."""
    prompt = body["messages"][-1]["content"]
    return Reply(body=completion(body, [f"answer {i} to: {prompt[:40]}" for i in range(body.get("n", 1))]))


def error(status: int, message: str, **headers) -> Reply:
    # retry-after-ms keeps client retries fast in tests; real servers send Retry-After
    return Reply(status, {"error": {"message": message, "type": "test", "code": status}},
                 {"retry-after-ms": "1", **headers})


class FakeOpenAI:
    def __init__(self, script=echo):
        self.script = script
        self.requests: list[dict] = []  # every request body received
        self.headers: list[dict] = []
        self.per_prompt: Counter = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompts_seen(self) -> Counter:
        return Counter(r["messages"][-1]["content"] for r in self.requests)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    return self._send(Reply(404, {"error": {"message": "not found"}}))
                prompt = body["messages"][-1]["content"]
                with fake.lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.per_prompt[prompt] += 1
                    count = fake.per_prompt[prompt]
                reply = fake.script(body, count)
                if reply.wait is not None:
                    reply.wait.wait(reply.wait_s)
                self._send(reply)

            def _send(self, reply: Reply):
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body or {}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Poll a condition (a test waiting for another process to get somewhere)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
